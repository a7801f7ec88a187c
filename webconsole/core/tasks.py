"""Jobs of the console itself; each calls one service."""

from celery import shared_task
from django.conf import settings

from webconsole.core import login_throttle


@shared_task
def login_failure_logs_prune_task() -> int:
    return login_throttle.failure_logs_prune(age_days=settings.WRD_LOGIN_FAILURE_LOG_DAYS)
