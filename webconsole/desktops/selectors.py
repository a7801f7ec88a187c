"""Reads of desktop sessions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from compositor import sandbox
from webconsole.desktops.models import ACTIVE_STATES, DesktopSession, DesktopState


def desktop_list(*, user: AbstractBaseUser, include_ended: bool = True) -> QuerySet[DesktopSession]:
    qs = DesktopSession.objects.filter(owner=user)
    if not include_ended:
        qs = qs.filter(state__in=ACTIVE_STATES)
    return qs


def desktop_get_for_user(*, user: AbstractBaseUser, desktop_id: int) -> DesktopSession | None:
    """The session if ``user`` may see it (its owner, or staff)."""
    qs = DesktopSession.objects.all() if user.is_staff else DesktopSession.objects.filter(owner=user)
    return qs.filter(pk=desktop_id).first()


def desktop_running_for_user(*, user: AbstractBaseUser) -> DesktopSession | None:
    """The user's most recent running session (what an RDP reconnect reattaches to)."""
    return DesktopSession.objects.filter(owner=user, state=DesktopState.RUNNING).order_by("-started_at").first()


def desktop_active_count(*, user: AbstractBaseUser) -> int:
    return DesktopSession.objects.filter(owner=user, state__in=ACTIVE_STATES).count()


def desktop_live_on_node(*, node: str) -> QuerySet[DesktopSession]:
    from webconsole.desktops.models import LIVE_STATES

    return DesktopSession.objects.filter(node=node, state__in=LIVE_STATES)


@dataclass(frozen=True)
class DesktopUsage:
    """A running desktop's resource use, read from its cgroup now."""

    cpu_percent: float | None  # of one core, averaged since the last sample (None before one)
    memory_bytes: int
    memory_limit: int | None
    pids: int
    oom_kills: int  # programs the kernel ended for reaching the memory limit


def desktop_usage(*, session: DesktopSession) -> DesktopUsage | None:
    """Live usage of a running desktop on this node (None when it has no cgroup)."""
    if session.state != DesktopState.RUNNING or not session.runtime_dir:
        return None
    usage = sandbox.usage(Path(session.runtime_dir))
    if usage is None:
        return None
    cpu = None
    if session.cpu_usage_ns is not None and session.usage_sampled_at is not None:
        elapsed = (timezone.now() - session.usage_sampled_at).total_seconds()
        if elapsed >= 0.5:
            cpu = max(0.0, (usage.cpu_usage_ns - session.cpu_usage_ns) / 1e9 / elapsed * 100)
    return DesktopUsage(cpu_percent=cpu, memory_bytes=usage.memory_bytes, memory_limit=usage.memory_limit,
                        pids=usage.pids, oom_kills=max(usage.oom_kills, session.oom_kills))
