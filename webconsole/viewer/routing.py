from django.urls import path

from webconsole.viewer.consumers import ViewerConsumer

websocket_urlpatterns = [
    path("ws/desktops/<int:desktop_id>/", ViewerConsumer.as_asgi()),
]
