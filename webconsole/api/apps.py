from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "webconsole.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from webconsole.api import authentication, schema  # noqa: F401  (register the schema extensions)
