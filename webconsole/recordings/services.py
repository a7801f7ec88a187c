"""Writes of recordings: start and stop (on demand or by policy), launch the recorder
process, follow its progress, reconcile recorders with the rows, prune old files.

Each recording has a process of its own (``manage.py record <id>``) of the service account,
detached from whoever launched it (a Celery worker, reconcile): a worker or console restart
leaves recordings running, and a desktop's user, who can take over their own session host,
never holds the file. Reconcile (beat, every ``WRD_RECONCILE_SECONDS``) starts what the policy
asks for and continues in a new file a recording whose recorder died while its desktop runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compositor import processes
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.recordings.models import Recording, RecordingState

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
LAUNCH_GRACE = timedelta(seconds=30)  # a recording row may wait this long for its recorder's pid
STOP_RETRY = timedelta(seconds=5)  # a recorder still running this long after its stop is signalled again


def recordings_dir() -> Path:
    """The recordings directory, made if missing: the service account's alone (0700)."""
    path = Path(settings.WRD_RECORDINGS_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _check_admin(user: AbstractBaseUser | None) -> None:
    if user is not None and not user.is_staff:
        raise PermissionDenied("only admins can start or stop recordings")


def recording_start(*, desktop: DesktopSession, user: AbstractBaseUser | None, enqueue: bool = True) -> Recording:
    """A new recording of ``desktop`` (``user``: the admin asking; None: the policy), its
    recorder launched on the desktop's node. A desktop already being recorded keeps its
    recording (returned as it is)."""
    from webconsole.recordings.tasks import recording_launch_task

    _check_admin(user)
    if desktop.state != DesktopState.RUNNING:
        raise ValidationError(f"desktop {desktop.pk} is not running ({desktop.state})", code="state")
    with transaction.atomic():
        DesktopSession.objects.select_for_update().filter(pk=desktop.pk).first()
        current = Recording.objects.filter(desktop=desktop, state=RecordingState.RECORDING).first()
        if current is not None:
            return current
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        recording = Recording.objects.create(desktop=desktop, requested_by=user, node=desktop.node, file="")
        recording.file = f"desktop-{desktop.pk}-{stamp}-{recording.pk}.mp4"
        recording.save(update_fields=["file"])
        if enqueue:
            pk, queue = recording.pk, f"wrd.node.{desktop.node}"
            transaction.on_commit(lambda: recording_launch_task.apply_async((pk,), queue=queue))
    log.info("recording %s of desktop %s asked by %s", recording.pk, desktop.pk, user or "policy")
    return recording


def recording_stop(*, recording: Recording, user: AbstractBaseUser | None) -> None:
    """Ask the recorder to finish the file (it ends within a moment; reconcile settles a lost one)."""
    _check_admin(user)
    if recording.state != RecordingState.RECORDING:
        return
    Recording.objects.filter(pk=recording.pk).update(stop_requested_at=timezone.now())
    if recording.node == settings.WRD_NODE:
        _signal_stop(recording)
    # On another node, that node's reconcile sends the signal (its pid means nothing here).
    log.info("recording %s stop asked by %s", recording.pk, user or "policy")


def _signal_stop(recording: Recording) -> None:
    if recording.recorder_pid and recorder_alive(recording):
        try:
            os.kill(recording.recorder_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def recorder_alive(recording: Recording) -> bool:
    """Whether ``recording``'s recorder process runs (its pid, and its command line naming it:
    a reused pid is not taken for it)."""
    pid = recording.recorder_pid
    if not pid or not processes.pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"record" in argv and str(recording.pk).encode() in argv


def recording_launch(*, recording: Recording) -> int | None:
    """Start the recorder process of ``recording`` (detached: its own session, reparented to
    init) and note its pid; None if the recording is no longer wanted or already has one."""
    recording.refresh_from_db()
    if recording.state != RecordingState.RECORDING or recorder_alive(recording):
        return None
    recordings_dir()
    log_dir = Path(settings.WRD_LOG_DIR)
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), "record", str(recording.pk), "--detach",
             "--log-file", str(log_dir / "recorder.log")],
            cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        pid_line = result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else []
        failure = (result.stderr or result.stdout).strip()[-500:] or f"exit {result.returncode}"
    except (subprocess.SubprocessError, OSError) as exc:
        pid_line, failure = [], f"cannot start the recorder: {exc}"
    if not pid_line or not pid_line[0].isdigit():
        reason = failure
        Recording.objects.filter(pk=recording.pk).update(state=RecordingState.FAILED, error=reason,
                                                         ended_at=timezone.now())
        log.warning("recording %s: recorder did not start: %s", recording.pk, reason)
        return None
    pid = int(pid_line[0])
    Recording.objects.filter(pk=recording.pk).update(recorder_pid=pid)
    log.info("recording %s: recorder pid %d", recording.pk, pid)
    return pid


def recording_progress(*, recording_id: int, size: int, duration: float, has_audio: bool,
                       origin_us: int | None = None, origin_wall: float | None = None) -> None:
    fields = {"size": size, "duration": duration, "has_audio": has_audio}
    if origin_us is not None and origin_wall is not None:
        fields.update(origin_us=origin_us, video_started_at=datetime.fromtimestamp(origin_wall, tz=UTC))
    Recording.objects.filter(pk=recording_id).update(**fields)


def recording_finish(*, recording_id: int, size: int, duration: float, has_audio: bool, error: str = "",
                     failed: bool = False, origin_us: int | None = None) -> None:
    """The recorder is done with the file: the row says what it holds."""
    if origin_us is not None:
        Recording.objects.filter(pk=recording_id).update(origin_us=origin_us)
    Recording.objects.filter(pk=recording_id).update(
        state=RecordingState.FAILED if failed else RecordingState.FINISHED, size=size, duration=duration,
        has_audio=has_audio, error=error, ended_at=timezone.now())


def _file_size(recording: Recording) -> int:
    try:
        return recording.path.stat().st_size
    except OSError:
        return 0


def recordings_reconcile(*, node: str | None = None) -> dict[str, int]:
    """Recorders against the rows of this node: a recording whose recorder is gone is finished
    as it is (and continued in a new one while its desktop runs and nobody asked it to stop);
    recordings of desktops that ended are finished; with ``WRD_RECORD_ALL_DESKTOPS``, every
    running desktop without a recording gets one."""
    node = node or settings.WRD_NODE
    settled = started = 0
    now = timezone.now()
    for recording in Recording.objects.filter(state=RecordingState.RECORDING, node=node).select_related("desktop"):
        if recorder_alive(recording):
            if recording.stop_requested_at and now - recording.stop_requested_at > STOP_RETRY:
                _signal_stop(recording)  # asked on another node, or the first signal was lost
            continue
        if recording.recorder_pid is None and now - recording.started_at < LAUNCH_GRACE:
            continue  # its launch job has not run yet
        interrupted = recording.stop_requested_at is None and recording.desktop.state == DesktopState.RUNNING
        recording_finish(recording_id=recording.pk, size=_file_size(recording), duration=recording.duration,
                         has_audio=recording.has_audio,
                         error="recorder ended unexpectedly" if interrupted else "")
        settled += 1
        if interrupted:
            log.warning("recording %s: recorder gone while desktop %s runs: continued in a new file",
                        recording.pk, recording.desktop_id)
            recording_launch(recording=recording_start(desktop=recording.desktop, user=None, enqueue=False))
            Recording.objects.filter(desktop=recording.desktop, state=RecordingState.RECORDING).update(
                requested_by=recording.requested_by)
            started += 1
    if settings.WRD_RECORD_ALL_DESKTOPS:
        for desktop in DesktopSession.objects.filter(node=node, state=DesktopState.RUNNING).exclude(
                recordings__state=RecordingState.RECORDING):
            recording_launch(recording=recording_start(desktop=desktop, user=None, enqueue=False))
            started += 1
    return {"settled": settled, "started": started}


def recordings_prune(*, now=None) -> int:
    """Delete the files and rows of finished recordings older than the retention period, and
    files in the directory that no recording names (``.mp4`` only)."""
    days = settings.WRD_RECORDING_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    pruned = 0
    for recording in Recording.objects.filter(started_at__lt=cutoff).exclude(state=RecordingState.RECORDING):
        recording.path.unlink(missing_ok=True)
        recording.delete()
        pruned += 1
    directory = Path(settings.WRD_RECORDINGS_DIR)
    if directory.is_dir():
        known = set(Recording.objects.values_list("file", flat=True))
        for path in directory.glob("*.mp4"):
            if path.name not in known and path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
                pruned += 1
    if pruned:
        log.info("pruned %d recordings older than %d days", pruned, days)
    return pruned
