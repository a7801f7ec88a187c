from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "webconsole.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from webconsole.audit import signals  # noqa: F401  (connects the receivers)
