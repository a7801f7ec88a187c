from django.urls import path

from webconsole.viewer import views

app_name = "viewer"

urlpatterns = [
    path("<int:desktop_id>/view", views.desktop_view, name="view"),
]
