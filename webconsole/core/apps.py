from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "webconsole.core"
    label = "wrd_core"
