"""Jobs of the audit log; each calls one service."""

from celery import shared_task
from django.conf import settings

from webconsole.audit import services


@shared_task
def audit_prune_task() -> int:
    return services.audit_prune(age_days=settings.WRD_AUDIT_RETENTION_DAYS)
