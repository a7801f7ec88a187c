"""Celery tasks: fetch by id, call a service. Queued on commit, on the session's node queue."""

from celery import shared_task

from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession


@shared_task
def desktop_start_task(session_id: int) -> None:
    session = DesktopSession.objects.filter(pk=session_id).first()
    if session is not None:
        services.desktop_start(session=session)


@shared_task
def desktop_stop_task(session_id: int) -> None:
    session = DesktopSession.objects.filter(pk=session_id).first()
    if session is not None:
        services.desktop_stop(session=session)


@shared_task
def desktop_restart_task(session_id: int) -> None:
    session = DesktopSession.objects.filter(pk=session_id).first()
    if session is not None:
        services.desktop_restart_finish(session=session)


@shared_task
def desktop_reconcile_task() -> dict:
    return services.desktop_reconcile()


@shared_task
def desktop_reap_idle_task() -> list:
    return services.desktop_reap_idle()
