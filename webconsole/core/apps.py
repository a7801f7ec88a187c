from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "webconsole.core"
    label = "wrd_core"

    def ready(self) -> None:
        # Their signal receivers count in every process that runs Django: failed logins at any
        # door (the RDP server's too), jobs published and run.
        # Account and policy changes pushed to the front ends' open connections.
        from webconsole.core import change_signals, metrics, task_metrics  # noqa: F401

        change_signals.connect()
