from django.urls import path

from webconsole.recordings import apis, views

app_name = "recordings"

urlpatterns = [
    path("recordings/", views.recording_list_view, name="list"),
    path("recordings/<int:recording_id>/", views.recording_player_view, name="player"),
    path("recordings/<int:recording_id>/file.mp4", views.recording_file_view, name="file"),
    path("recordings/<int:recording_id>/stop", views.recording_stop_view, name="stop"),
    path("desktops/<int:desktop_id>/recordings", views.desktop_recordings_view, name="desktop"),
    path("desktops/<int:desktop_id>/recordings/start", views.recording_start_view, name="start"),
]

api_urlpatterns = [
    path("desktops/<int:desktop_id>/recordings/", apis.RecordingListApi.as_view(), name="api-recordings"),
    path("desktops/<int:desktop_id>/recordings/start", apis.RecordingStartApi.as_view(), name="api-recording-start"),
    path("recordings/<int:recording_id>/stop", apis.RecordingStopApi.as_view(), name="api-recording-stop"),
    path("recordings/<int:recording_id>/file.mp4", apis.RecordingFileApi.as_view(), name="api-recording-file"),
]
