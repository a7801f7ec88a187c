from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    name = "webconsole.recordings"
    label = "recordings"
    verbose_name = "Recordings and connection history"
