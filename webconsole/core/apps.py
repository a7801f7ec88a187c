from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "webconsole.core"
    label = "wrd_core"

    def ready(self) -> None:
        # Their signal receivers count in every process that runs Django: failed logins at any
        # door (the RDP server's too), jobs published and run.
        from webconsole.core import metrics, task_metrics  # noqa: F401
