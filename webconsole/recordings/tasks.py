"""Celery tasks: fetch by id, call a service. The launch runs on the desktop's node queue."""

from celery import shared_task

from webconsole.recordings import services
from webconsole.recordings.models import Recording


@shared_task
def recording_launch_task(recording_id: int) -> None:
    recording = Recording.objects.filter(pk=recording_id).first()
    if recording is not None:
        services.recording_launch(recording=recording)


@shared_task
def recordings_reconcile_task() -> dict:
    return services.recordings_reconcile()


@shared_task
def recordings_prune_task() -> int:
    return services.recordings_prune()
