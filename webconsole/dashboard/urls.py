from django.urls import path

from webconsole.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("all", views.admin_view, name="admin"),
    path("<int:desktop_id>/restart", views.desktop_restart_view, name="restart"),
    path("<int:desktop_id>/resize", views.desktop_resize_view, name="resize"),
    path("<int:desktop_id>/thumbnail.jpg", views.desktop_thumbnail_view, name="thumbnail"),
    path("<int:desktop_id>/connect.rdp", views.desktop_rdp_file_view, name="rdp-file"),
]
