from django.urls import path

from webconsole.dashboard import views as dashboard_views
from webconsole.desktops import apis, file_apis, views

app_name = "desktops"

urlpatterns = [
    path("", dashboard_views.dashboard_view, name="list"),
    path("start", dashboard_views.desktop_start_view, name="start"),
    path("attach", views.desktop_attach_view, name="attach"),
    path("<int:desktop_id>/stop", views.desktop_stop_view, name="stop"),
    path("<int:desktop_id>/screenshot.png", views.desktop_screenshot_view, name="screenshot"),
]

api_urlpatterns = [
    path("desktops/", apis.DesktopListApi.as_view(), name="api-list"),
    path("desktops/start", apis.DesktopCreateApi.as_view(), name="api-create"),
    path("desktops/attach", apis.DesktopAttachApi.as_view(), name="api-attach"),
    path("desktops/<int:desktop_id>/", apis.DesktopDetailApi.as_view(), name="api-detail"),
    path("desktops/<int:desktop_id>/stop", apis.DesktopStopApi.as_view(), name="api-stop"),
    path("desktops/<int:desktop_id>/restart", apis.DesktopRestartApi.as_view(), name="api-restart"),
    path("desktops/<int:desktop_id>/resize", apis.DesktopResizeApi.as_view(), name="api-resize"),
    path("desktops/<int:desktop_id>/screenshot.png", apis.DesktopScreenshotApi.as_view(), name="api-screenshot"),
    path("desktops/<int:desktop_id>/uploads/", file_apis.UploadCreateApi.as_view(), name="api-upload-create"),
    path("desktops/<int:desktop_id>/uploads/<str:token>", file_apis.UploadApi.as_view(), name="api-upload"),
    path("desktops/<int:desktop_id>/files/", file_apis.FileListApi.as_view(), name="api-files"),
    path("desktops/<int:desktop_id>/files/<str:name>", file_apis.FileDownloadApi.as_view(), name="api-file"),
]
