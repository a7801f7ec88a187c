"""Writes of desktop sessions: start, stop, resize, reconcile, reap.

The console's rows are the source of truth; a session host is the process that makes a
row real. Starting and stopping run in Celery tasks on the session's node queue (the
tasks only fetch the row and call these services).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compositor import cgroups, messages, processes, sandbox
from compositor.client import BlockingHostClient, HostClient, HostError
from compositor.display import DisplayError, canonical_display, probe_display
from compositor.launcher import LaunchError, launch_host, read_display_cookie, stop_host
from compositor.sandbox import SessionUser
from webconsole.audit.services import record as audit_record
from webconsole.desktops import selectors
from webconsole.desktops.models import ACTIVE_STATES, DesktopSession, DesktopState

log = logging.getLogger(__name__)


def node_queue(node: str) -> str:
    return f"wrd.node.{node}"


def validate_size(width: int, height: int) -> None:
    (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
    if not (min_w <= width <= max_w and min_h <= height <= max_h):
        raise ValidationError(
            f"size {width}x{height} is outside the allowed range {min_w}x{min_h} to {max_w}x{max_h}",
            code="size",
        )


def _check_access(session: DesktopSession, user: AbstractBaseUser | None) -> None:
    if user is not None and session.owner_id != user.pk and not user.is_staff:
        raise PermissionDenied("this desktop belongs to another user")


def _enqueue(task, session: DesktopSession) -> None:
    pk, queue = session.pk, node_queue(session.node)
    transaction.on_commit(lambda: task.apply_async((pk,), queue=queue))


# -- reaching a desktop's host -----------------------------------------------------------


def _host_address(session: DesktopSession) -> Path:
    """Where ``session``'s host listens: the control socket under its runtime directory."""
    path = session.socket_path
    if path is None:
        raise HostError(f"desktop {session.pk} has no session host ({session.state})")
    return path


def host_client_for(session: DesktopSession, *, timeout: float = 10.0) -> BlockingHostClient:
    """A connection to ``session``'s host: the one way the console, the API and the commands
    reach a desktop, so how a desktop's host is reached is decided here alone (today: its
    control socket on this machine). Raises ``HostError`` when it cannot be reached."""
    return BlockingHostClient(_host_address(session), timeout=timeout)


async def async_host_client_for(
    session: DesktopSession, *, on_event: Callable[[messages.Push], None] | None = None,
) -> HostClient:
    """``host_client_for`` for asyncio front ends (the viewer), pushes going to ``on_event``.
    Touches no database: call it with a session already read."""
    return await HostClient(on_event=on_event).connect(_host_address(session))


# -- start --------------------------------------------------------------------------------


def desktop_create(
    *, user: AbstractBaseUser, width: int | None = None, height: int | None = None, name: str = "",
    profile: str | None = None, enqueue: bool = True, actor: AbstractBaseUser | None = None, address: str = "",
    via: str = "",
) -> DesktopSession:
    """Record a new session for ``user`` (state ``requested``) and queue its start. Its size,
    profile and the user's count of desktops are checked against the user's policy
    (webconsole/policies). ``actor`` (who asked, ``user`` when not given), ``address`` and
    ``via`` go to the audit log."""
    from webconsole.desktops.tasks import desktop_start_task
    from webconsole.policies import enforce

    plan = enforce.plan_desktop(user=user, width=width, height=height, profile=profile)
    width, height = plan.width, plan.height
    with transaction.atomic():
        # Lock the user's row so two concurrent requests can't both pass the limit check.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        enforce.check_desktop_count(plan.policy, selectors.desktop_active_count(user=user))
        session = DesktopSession.objects.create(
            owner=user, name=name[:100], width=width, height=height, node=settings.WRD_NODE,
        )
        enforce.record_launch(desktop=session, plan=plan)
        if enqueue:
            _enqueue(desktop_start_task, session)
    log.info("desktop requested session=%s user=%s size=%dx%d profile=%s", session.pk, user, width, height,
             plan.profile.name if plan.profile else "-")
    audit_record("desktop.create", actor=actor or user, target=session, target_type="desktop", address=address,
                 owner=user.get_username(), width=width, height=height, **({"via": via} if via else {}))
    return session


def desktop_attach(
    *, user: AbstractBaseUser, owner: AbstractBaseUser, display: str, xauthority: str, name: str = "",
    enqueue: bool = True, address: str = "",
) -> DesktopSession:
    """Record an existing X display as a desktop of ``owner`` (staff only) and queue its start.

    ``xauthority`` is a file on this node that WRD (not the owner's account) reads: at each start
    the worker takes the display's entries from it and hands them to the session host, so the
    file itself never needs to be readable by the desktop's account. The display must answer
    with that cookie now; its size is the desktop's."""
    from webconsole.desktops.tasks import desktop_start_task

    if not user.is_staff:
        raise PermissionDenied("only staff can attach an existing display")
    try:
        display = canonical_display(display)
    except DisplayError as exc:
        raise ValidationError(str(exc), code="display") from None
    path = Path(xauthority)
    if not path.is_absolute() or not path.is_file():
        raise ValidationError(f"{xauthority!r} is not an absolute path to an authority file on this node",
                              code="xauthority")
    _check_display_free(display)
    try:
        width, height = probe_display(display, read_display_cookie(path, display))
    except (DisplayError, LaunchError) as exc:
        raise ValidationError(str(exc), code="display") from None
    session = DesktopSession.objects.create(
        owner=owner, name=(name or f"display {display}")[:100], width=width, height=height,
        node=settings.WRD_NODE, attach_display=display, attach_xauthority=str(path),
    )
    if enqueue:
        _enqueue(desktop_start_task, session)
    log.info("display attach requested session=%s display=%s owner=%s by=%s", session.pk, display, owner, user)
    audit_record("desktop.attach", actor=user, target=session, target_type="desktop", address=address,
           owner=owner.get_username(), display=display)
    return session


def _check_display_free(display: str) -> None:
    """One desktop per display: not one attached already, nor one of WRD's own desktops."""
    active = DesktopSession.objects.filter(node=settings.WRD_NODE, state__in=ACTIVE_STATES)
    clash = active.filter(attach_display=display).first() or active.filter(display=display).first()
    if clash is not None:
        raise ValidationError(f"display {display} is already desktop {clash.pk} of {clash.owner}", code="display")


def desktop_limits(*, user: AbstractBaseUser | None = None) -> cgroups.Limits:
    """The resource limits of a desktop of ``user``: their policy's (whose defaults are
    WRD_SESSION_MEMORY, _CPUS, _PIDS); the server's defaults without a user."""
    if user is not None:
        from webconsole.policies.enforce import desktop_limits as policy_limits

        return policy_limits(user=user)
    return cgroups.Limits(memory_bytes=settings.WRD_SESSION_MEMORY, cpus=settings.WRD_SESSION_CPUS,
                          pids=settings.WRD_SESSION_PIDS)


def desktop_identity(*, user: AbstractBaseUser) -> SessionUser | None:
    """The Unix account ``user``'s desktops run as, created on first need; None in single-user
    mode (WRD is not root, so every desktop runs as WRD's own account)."""
    from webconsole.accounts.services import unix_account_ensure

    if not sandbox.can_switch_users():
        return None
    account = unix_account_ensure(user=user)
    return SessionUser(uid=account.uid, gid=account.gid, name=account.name, home=account.home,
                       shell=account.shell, linked=not account.managed)


def desktop_start(*, session: DesktopSession) -> DesktopSession:
    """Launch the session host of a ``requested`` session; ends ``running`` or ``failed``."""
    from webconsole.accounts.unix import AccountError

    runtime_dir = Path(settings.WRD_RUNTIME_ROOT) / f"desktop-{session.pk}"
    claimed = DesktopSession.objects.filter(pk=session.pk, state=DesktopState.REQUESTED).update(
        state=DesktopState.STARTING, runtime_dir=str(runtime_dir), started_at=timezone.now(),
    )
    session.refresh_from_db()
    if not claimed:
        log.info("desktop start skipped session=%s state=%s", session.pk, session.state)
        return session
    from webconsole.policies.effective import effective_policy

    # The screen cannot grow past the policy's maximum, whichever front end resizes it.
    policy = effective_policy(user=session.owner)
    max_w, max_h = min(settings.WRD_MAX_SIZE[0], policy.max_width), min(settings.WRD_MAX_SIZE[1], policy.max_height)
    limits = desktop_limits(user=session.owner)
    try:
        identity = desktop_identity(user=session.owner)
        host = launch_host(
            session=str(session.pk), runtime_dir=runtime_dir, width=session.width, height=session.height,
            max_width=max_w, max_height=max_h, user=identity, limits=limits,
            service_group=settings.WRD_SERVICE_GROUP, extra_env=settings.WRD_SESSION_ENV,
            log_file=_log_path(session), timeout=settings.WRD_HOST_START_TIMEOUT, **_display_args(session),
        )
    except (AccountError, LaunchError, OSError, ValueError) as exc:
        log.warning("desktop start failed session=%s reason=%s", session.pk, exc)
        sandbox.cleanup(runtime_dir)
        _set_state(session, DesktopState.FAILED, failure_reason=f"start failed: {exc}", stopped_at=timezone.now())
        audit_record("desktop.start_failed", target=session, target_type="desktop", reason=str(exc)[:500])
        return session
    now = timezone.now()
    updated = DesktopSession.objects.filter(pk=session.pk, state=DesktopState.STARTING).update(
        state=DesktopState.RUNNING, host_pid=host.pid, display=host.display,
        width=host.width, height=host.height, last_activity_at=now, unix_user=host.user, uid=host.uid,
        containment=host.containment, private_tmp=host.private_tmp,
        memory_limit=limits.memory_bytes or None if host.containment.startswith("cgroup") else None,
    )
    session.refresh_from_db()
    if not updated:  # a stop came in while we were starting
        DesktopSession.objects.filter(pk=session.pk).update(host_pid=host.pid, display=host.display)
        session.refresh_from_db()
        return desktop_stop(session=session)
    _record_usage(session)  # the first sample: CPU use is measured from here
    log.info("desktop running session=%s display=%s pid=%d user=%s uid=%d containment=%s", session.pk,
             host.display, host.pid, host.user, host.uid, host.containment)
    audit_record("desktop.start", target=session, target_type="desktop", display=host.display, unix_user=host.user,
           width=host.width, height=host.height)
    return session


def _display_args(session: DesktopSession) -> dict:
    """What the host shows: a new Xvfb with the session's programs, or the attached display,
    with its cookie read from the authority file now (by us: the desktop's account may not)."""
    if not session.attach_display:
        from webconsole.policies.enforce import launch_args

        return launch_args(session)
    cookie = read_display_cookie(Path(session.attach_xauthority), session.attach_display)
    return {"attach": session.attach_display, "attach_cookie": cookie, "wayland": False}


# -- stop ---------------------------------------------------------------------------------


def desktop_stop_request(*, session: DesktopSession, user: AbstractBaseUser | None, address: str = "",
                         reason: str = "") -> DesktopSession:
    """Ask for a session to stop (owner or staff; ``user`` None: the system, for ``reason``);
    the node's worker does it."""
    from webconsole.desktops.tasks import desktop_stop_task

    _check_access(session, user)
    audit = {"reason": reason} if reason else {}
    if DesktopSession.objects.filter(pk=session.pk, state=DesktopState.REQUESTED).update(
        state=DesktopState.STOPPED, stopped_at=timezone.now()
    ):
        session.refresh_from_db()
        audit_record("desktop.stop", actor=user, target=session, target_type="desktop", address=address, **audit)
        return session
    with transaction.atomic():
        moved = DesktopSession.objects.filter(
            pk=session.pk, state__in=(DesktopState.STARTING, DesktopState.RUNNING)
        ).update(state=DesktopState.STOPPING, stop_requested_at=timezone.now())
        session.refresh_from_db()
        if moved:
            _enqueue(desktop_stop_task, session)
        elif session.state != DesktopState.STOPPING:
            raise ValidationError(f"desktop {session.pk} is already {session.state}", code="state")
    if moved:
        audit_record("desktop.stop", actor=user, target=session, target_type="desktop", address=address, **audit)
    return session


def desktop_stop(*, session: DesktopSession, timeout: float = 10.0) -> DesktopSession:
    """End the session host and everything of the session; the row becomes ``stopped``.

    Idempotent (a job may run twice): a row already ended is left alone. The row stays
    ``stopping`` while the host's process is still there, for reconcile to try again."""
    session.refresh_from_db()
    if session.state in (DesktopState.STOPPED, DesktopState.FAILED):
        return session
    if session.state == DesktopState.STARTING and session.host_pid is None:
        # The start task still owns it; it will see ``stopping`` and call us again.
        _set_state(session, DesktopState.STOPPING, stop_requested_at=timezone.now())
        return session
    _set_state(session, DesktopState.STOPPING, stop_requested_at=timezone.now())
    _end_host(session, timeout)
    if session.host_pid and processes.pid_alive(session.host_pid):
        log.warning("desktop host still running after its stop session=%s pid=%d", session.pk, session.host_pid)
        return session
    _set_state(session, DesktopState.STOPPED, stopped_at=timezone.now())
    log.info("desktop stopped session=%s", session.pk)
    audit_record("desktop.stopped", target=session, target_type="desktop")
    return session


# A restarted row is asked for anew: ``created_at`` is set to now too, so that reconcile's
# deadline for ``requested`` rows counts from the restart.
RESTART_CLEARS = {"failure_reason": "", "stopped_at": None, "started_at": None, "host_pid": None, "display": "",
                  "runtime_dir": "", "requeued_at": None, "stop_requested_at": None}


def desktop_restart(*, session: DesktopSession, user: AbstractBaseUser | None, address: str = "") -> DesktopSession:
    """Start a desktop afresh, keeping its id, owner, size and name (its programs start anew).
    A running one is stopped then started by its node's worker (``desktop_restart_finish``);
    a stopped or failed one is queued to start, within its owner's policy's count of desktops."""
    from webconsole.desktops.tasks import desktop_restart_task, desktop_start_task

    _check_access(session, user)
    with transaction.atomic():
        if DesktopSession.objects.filter(pk=session.pk, state=DesktopState.RUNNING).update(
                state=DesktopState.STOPPING, stop_requested_at=timezone.now()):
            _enqueue(desktop_restart_task, session)
        elif session.state in (DesktopState.STOPPED, DesktopState.FAILED):
            from webconsole.policies import enforce
            from webconsole.policies.effective import effective_policy

            get_user_model().objects.select_for_update().filter(pk=session.owner_id).first()
            enforce.check_desktop_count(effective_policy(user=session.owner),
                                        selectors.desktop_active_count(user=session.owner))
            if not DesktopSession.objects.filter(pk=session.pk, state=session.state).update(
                    state=DesktopState.REQUESTED, created_at=timezone.now(), **RESTART_CLEARS):
                raise ValidationError(f"desktop {session.pk} changed state meanwhile; try again", code="state")
            _enqueue(desktop_start_task, session)
        else:
            raise ValidationError(f"desktop {session.pk} is {session.state}; only a running, stopped or failed "
                                  "desktop can be restarted", code="state")
    was = session.state
    session.refresh_from_db()
    audit_record("desktop.restart", actor=user, target=session, target_type="desktop", address=address, was=was)
    return session


def desktop_restart_finish(*, session: DesktopSession, timeout: float = 10.0) -> DesktopSession:
    """The worker's half of a restart: stop the host, then start the same row again."""
    session = desktop_stop(session=session, timeout=timeout)
    if DesktopSession.objects.filter(pk=session.pk, state=DesktopState.STOPPED).update(
            state=DesktopState.REQUESTED, created_at=timezone.now(), **RESTART_CLEARS):
        session.refresh_from_db()
        return desktop_start(session=session)
    return session


def _end_host(session: DesktopSession, timeout: float) -> None:
    if session.runtime_dir:
        stop_host(Path(session.runtime_dir), session.host_pid, timeout)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- resize, activity ---------------------------------------------------------------------


def desktop_resize(
    *, session: DesktopSession, user: AbstractBaseUser | None, width: int, height: int, address: str = "",
) -> DesktopSession:
    from webconsole.policies.enforce import check_resize

    _check_access(session, user)
    check_resize(owner=session.owner, width=width, height=height)
    if session.state != DesktopState.RUNNING:
        raise ValidationError(f"desktop {session.pk} is {session.state}, not running", code="state")
    try:
        with host_client_for(session) as client:
            reply = client.call(messages.Resize(width=width, height=height))
    except HostError as exc:
        raise ValidationError(f"resize failed: {exc}", code="host") from None
    before = (session.width, session.height)
    DesktopSession.objects.filter(pk=session.pk).update(
        width=reply.width, height=reply.height, last_activity_at=timezone.now()
    )
    session.refresh_from_db()
    if before != (session.width, session.height):
        audit_record("desktop.resize", actor=user, target=session, target_type="desktop", address=address,
               width=session.width, height=session.height, was=f"{before[0]}x{before[1]}")
    return session


def desktop_touch(*, session: DesktopSession) -> None:
    """Record activity (a viewer or RDP client used the session)."""
    DesktopSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())


# -- reconcile and reap -------------------------------------------------------------------


def _host_exit_reason(session: DesktopSession) -> str:
    try:
        lines = _log_path(session).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if "session host stopping" in line and "reason=" in line:
            return f"session host ended: {line.split('reason=', 1)[1]}"
    return "session host died"


def host_status_due(*, pk: int, now: float, every: float, period: float) -> bool:
    """Whether this reconcile round asks desktop ``pk``'s host for its status: one round in
    ``every / period``, a different one for each desktop (their hosts are not all woken at once)."""
    rounds = round(every / period) if every > 0 and period > 0 else 1
    return rounds <= 1 or int(now // period) % rounds == pk % rounds


def _record_host_status(session: DesktopSession) -> int:
    """Ask ``session``'s host for its size and activity and record what changed; how many
    changes were recorded (0 when the host cannot be reached)."""
    try:
        with host_client_for(session, timeout=3) as client:
            status = client.call(messages.Status())
    except HostError:
        return 0
    refreshed = 0
    if (status.width, status.height) != (session.width, session.height):
        # Resized outside the console (an RDP client's window, xrandr in the session).
        DesktopSession.objects.filter(pk=session.pk).update(width=status.width, height=status.height)
        session.width, session.height = status.width, status.height
        refreshed += 1
    if status.subscribers or status.last_input:
        seen = timezone.now() if status.subscribers else datetime.fromtimestamp(status.last_input, tz=UTC)
        if not session.last_activity_at or seen > session.last_activity_at:
            DesktopSession.objects.filter(pk=session.pk).update(last_activity_at=seen)
            session.last_activity_at = seen
            refreshed += 1
    return refreshed


def desktop_reconcile(*, node: str | None = None) -> dict[str, int]:
    """Mark sessions whose host died as failed (cleaning up after them); end orphan hosts;
    settle rows whose job was lost (``requested`` too long: queued again once, then failed;
    ``stopping`` with the host still there: stopped again); record each running session's
    activity and size as its host reports them (asked once in ``WRD_HOST_STATUS_SECONDS``)."""
    node = node or settings.WRD_NODE
    requeued, failed = _settle_requested(node)
    refreshed = stopped = 0
    samples: list[tuple[int, dict[str, Any]]] = []
    start_grace = timedelta(seconds=settings.WRD_HOST_START_TIMEOUT * 2)
    stop_retry = timedelta(seconds=settings.WRD_STOP_RETRY_SECONDS)
    for session in selectors.desktop_live_on_node(node=node):
        if session.host_pid is None:
            if session.started_at and timezone.now() - session.started_at > start_grace:
                if session.state == DesktopState.STOPPING:  # its start job was lost, then stopped
                    _set_state(session, DesktopState.STOPPED, stopped_at=timezone.now())
                else:
                    _set_state(session, DesktopState.FAILED, failure_reason="start timed out",
                               stopped_at=timezone.now())
                    failed += 1
            continue
        if not processes.pid_alive(session.host_pid):
            reason = _host_exit_reason(session)
            sandbox.cleanup(Path(session.runtime_dir))
            moved = DesktopSession.objects.filter(pk=session.pk, state__in=(
                DesktopState.STARTING, DesktopState.RUNNING)).update(
                state=DesktopState.FAILED, failure_reason=reason, stopped_at=timezone.now())
            if not moved:  # it was stopping: the host's end was expected
                _set_state(session, DesktopState.STOPPED, stopped_at=timezone.now())
            failed += moved
            log.warning("desktop host gone session=%s reason=%s", session.pk, reason)
            continue
        if session.state == DesktopState.STOPPING:
            since = session.stop_requested_at or session.started_at
            if since is None or timezone.now() - since > stop_retry:
                # Its stop job was lost (or could not end it): try again, until the host is gone.
                log.warning("desktop still stopping, stopping it again session=%s pid=%d", session.pk,
                            session.host_pid)
                stopped += desktop_stop(session=session).state == DesktopState.STOPPED
            continue
        if session.state == DesktopState.RUNNING:
            if (sample := _usage_sample(session)) is not None:
                samples.append((session.pk, sample))
            if not host_status_due(pk=session.pk, now=time.time(), every=settings.WRD_HOST_STATUS_SECONDS,
                                   period=settings.WRD_RECONCILE_SECONDS):
                continue
            refreshed += _record_host_status(session)
    if samples:
        with transaction.atomic():  # one commit for the round's samples, not one per desktop
            for pk, sample in samples:
                DesktopSession.objects.filter(pk=pk).update(**sample)
    orphans = _end_orphan_hosts()
    return {"failed": failed, "orphans": orphans, "refreshed": refreshed, "requeued": requeued, "stopped": stopped}


def _settle_requested(node: str) -> tuple[int, int]:
    """``requested`` rows older than WRD_REQUESTED_DEADLINE: their start job was lost (Redis
    lost it, or no worker took it). Queue it once more; a row still waiting a deadline after
    that fails with the reason, so it no longer counts against its owner's limit."""
    from webconsole.desktops.tasks import desktop_start_task

    deadline = timedelta(seconds=settings.WRD_REQUESTED_DEADLINE)
    now = timezone.now()
    requeued = failed = 0
    stale = DesktopSession.objects.filter(node=node, state=DesktopState.REQUESTED, created_at__lt=now - deadline)
    for session in stale:
        if session.requeued_at is None:
            if DesktopSession.objects.filter(pk=session.pk, state=DesktopState.REQUESTED,
                                             requeued_at=None).update(requeued_at=now):
                log.warning("desktop start job lost, queued again session=%s", session.pk)
                _enqueue(desktop_start_task, session)
                requeued += 1
        elif now - session.requeued_at > deadline:
            reason = (f"not started: no worker took its start job within {deadline.total_seconds():.0f} s, "
                      "twice")
            if DesktopSession.objects.filter(pk=session.pk, state=DesktopState.REQUESTED).update(
                    state=DesktopState.FAILED, failure_reason=reason, stopped_at=now):
                log.warning("desktop start job lost twice, failed session=%s", session.pk)
                failed += 1
    return requeued, failed


def _record_usage(session: DesktopSession) -> None:
    """Take a resource sample from the desktop's cgroup and store it."""
    if (sample := _usage_sample(session)) is not None:
        DesktopSession.objects.filter(pk=session.pk).update(**sample)


def _usage_sample(session: DesktopSession) -> dict[str, Any] | None:
    """The fields of a resource sample from the desktop's cgroup (None without one); a new
    OOM kill becomes the desktop's notice (its owner and the admins see it on the console)."""
    usage = sandbox.usage(Path(session.runtime_dir))
    if usage is None:
        return None
    fields = {"memory_bytes": usage.memory_bytes, "cpu_usage_ns": usage.cpu_usage_ns,
              "usage_sampled_at": timezone.now(), "memory_limit": usage.memory_limit}
    if usage.oom_kills > session.oom_kills:
        killed = usage.oom_kills - session.oom_kills
        limit = f"{usage.memory_limit / 2**20:.0f} MiB" if usage.memory_limit else "its limit"
        fields.update(oom_kills=usage.oom_kills, notice=(
            f"Memory limit ({limit}) reached at {timezone.now():%Y-%m-%d %H:%M} UTC: the kernel ended "
            f"{killed} program(s) of this desktop ({usage.oom_kills} in all)."))
        log.warning("desktop hit its memory limit session=%s killed=%d total=%d limit=%s", session.pk, killed,
                    usage.oom_kills, usage.memory_limit)
    return fields


def _end_orphan_hosts() -> int:
    root = Path(settings.WRD_RUNTIME_ROOT)
    known = set(selectors.desktop_live_on_node(node=settings.WRD_NODE).values_list("runtime_dir", flat=True))
    ended = 0
    # Desktops the sandbox started: their control records say what to take down.
    for record in sorted(sandbox.control_dir(root).glob("desktop-*.json")):
        runtime_dir = root / record.stem
        if str(runtime_dir) in known:
            continue
        log.warning("ending orphan desktop runtime_dir=%s", runtime_dir)
        stop_host(runtime_dir, (sandbox.read_record(runtime_dir) or {}).get("pid"), timeout=5)
        ended += 1
    root = str(root)
    for pid, options in processes.host_processes():
        runtime_dir = options.get("runtime-dir", "")
        if os.path.dirname(runtime_dir) != root or runtime_dir in known:
            continue
        log.warning("ending orphan session host pid=%d runtime_dir=%s", pid, runtime_dir)
        _kill(pid, signal.SIGTERM)
        ended += 1
    return ended


def desktop_reap_idle(*, now=None) -> list[int]:
    """Stop running sessions idle for longer than their owner's policy allows (its idle
    timeout, WRD_IDLE_TIMEOUT by default; 0 never), or running longer than its maximum
    lifetime (0: no limit). The policy is read now, so a change applies to running desktops."""
    from webconsole.policies.effective import effective_policy

    now = now or timezone.now()
    reaped = []
    policies: dict[int, object] = {}
    for session in selectors.desktop_live_on_node(node=settings.WRD_NODE).filter(state=DesktopState.RUNNING):
        if session.owner_id not in policies:
            policies[session.owner_id] = effective_policy(user=session.owner)
        policy = policies[session.owner_id]
        last = session.last_activity_at or session.started_at
        if policy.idle_timeout > 0 and last and last < now - timedelta(seconds=policy.idle_timeout):
            # Reconcile asks hosts only once a minute: the host's own word, now, before reaping.
            _record_host_status(session)
            last = session.last_activity_at or session.started_at
        if policy.idle_timeout > 0 and last and last < now - timedelta(seconds=policy.idle_timeout):
            log.info("reaping idle desktop session=%s idle_since=%s", session.pk, last.isoformat())
            reason = "idle"
        elif (policy.max_lifetime > 0 and session.started_at
              and session.started_at < now - timedelta(seconds=policy.max_lifetime)):
            log.info("stopping desktop at its maximum lifetime session=%s started=%s lifetime=%ds", session.pk,
                     session.started_at.isoformat(), policy.max_lifetime)
            reason = "lifetime"
        else:
            continue
        desktop_stop_request(session=session, user=None, reason=reason)
        reaped.append(session.pk)
    return reaped


# -- helpers ------------------------------------------------------------------------------


def _log_path(session: DesktopSession) -> Path:
    return Path(settings.WRD_LOG_DIR) / f"desktop-{session.pk}.log"


def _set_state(session: DesktopSession, state: str, **fields) -> None:
    DesktopSession.objects.filter(pk=session.pk).update(state=state, **fields)
    session.refresh_from_db()


# -- remote login (RDP) -------------------------------------------------------------------


def desktop_for_remote_login(
    *, user: AbstractBaseUser, width: int, height: int, timeout: float = 60.0
) -> DesktopSession:
    """The desktop an RDP login lands in: the user's running one (reconnect keeps every
    window), one already starting, or a new one at the client's size clamped to policy."""
    session = selectors.desktop_running_for_user(user=user)
    if session is None:
        session = DesktopSession.objects.filter(
            owner=user, state__in=(DesktopState.REQUESTED, DesktopState.STARTING)).order_by("-created_at").first()
    if session is None:
        from webconsole.policies.effective import effective_policy

        policy = effective_policy(user=user)
        (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
        max_w, max_h = min(max_w, policy.max_width), min(max_h, policy.max_height)
        session = desktop_create(user=user, width=min(max(width, min_w), max_w),
                                 height=min(max(height, min_h), max_h), name="RDP", via="rdp")
    deadline = time.monotonic() + timeout
    while session.state in (DesktopState.REQUESTED, DesktopState.STARTING):
        if time.monotonic() > deadline:
            raise ValidationError(f"desktop {session.pk} did not start within {timeout:.0f} s", code="timeout")
        time.sleep(0.2)
        session.refresh_from_db()
    if session.state != DesktopState.RUNNING:
        raise ValidationError(f"desktop {session.pk} {session.state}: {session.failure_reason}", code="state")
    desktop_touch(session=session)
    return session
