"""Celery tasks of the dashboard's actions: fetch by id, call a service."""

from celery import shared_task

from webconsole.dashboard import services
from webconsole.desktops.models import DesktopSession


@shared_task
def desktop_restart_task(session_id: int) -> None:
    session = DesktopSession.objects.filter(pk=session_id).first()
    if session is not None:
        services.desktop_restart(session=session)
