from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "webconsole.audit"
    label = "audit"
    verbose_name = "Audit log"
