"""Reads of desktop sessions."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

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
