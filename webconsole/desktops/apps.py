from django.apps import AppConfig


class DesktopsConfig(AppConfig):
    name = "webconsole.desktops"
    label = "desktops"
    verbose_name = "Desktop sessions"
