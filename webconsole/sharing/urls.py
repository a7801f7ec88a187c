from django.urls import path

from webconsole.sharing import views

app_name = "sharing"

urlpatterns = [
    path("desktops/<int:desktop_id>/sharing", views.sharing_view, name="panel"),
    path("desktops/<int:desktop_id>/sharing/<int:share_id>/revoke", views.share_revoke_view, name="revoke"),
    path("desktops/<int:desktop_id>/sharing/<int:share_id>/control", views.share_control_view, name="control"),
    path("desktops/<int:desktop_id>/sharing/viewers/<int:connection_id>/control", views.viewer_control_view,
         name="viewer-control"),
    path("s/<str:token>", views.share_link_view, name="link"),
]
