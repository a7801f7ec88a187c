from django.apps import AppConfig


class ViewerConfig(AppConfig):
    name = "webconsole.viewer"
    label = "viewer"
    verbose_name = "Browser viewer"
