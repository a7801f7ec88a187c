"""Reads of recordings and connection history, with who may see them: admins always; a
desktop's owner when ``WRD_RECORDING_OWNER_ACCESS`` allows (recordings and history alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from webconsole.desktops.models import DesktopSession
from webconsole.recordings.models import Connection, Recording


def _visible_filter(user: AbstractBaseUser, field: str = "desktop__owner") -> Q | None:
    """Which rows ``user`` may see (None: none)."""
    if user.is_staff:
        return Q()
    if settings.WRD_RECORDING_OWNER_ACCESS:
        return Q(**{field: user})
    return None


def recording_list(*, user: AbstractBaseUser, desktop: DesktopSession | None = None) -> QuerySet[Recording]:
    visible = _visible_filter(user)
    if visible is None:
        return Recording.objects.none()
    qs = Recording.objects.filter(visible).select_related("desktop", "desktop__owner", "requested_by")
    return qs.filter(desktop=desktop) if desktop is not None else qs


def recording_get_for_user(*, user: AbstractBaseUser, recording_id: int) -> Recording | None:
    return recording_list(user=user).filter(pk=recording_id).first()


def desktop_for_history(*, user: AbstractBaseUser, desktop_id: int) -> DesktopSession | None:
    """The desktop if ``user`` may see its recordings and history."""
    visible = _visible_filter(user, "owner")
    if visible is None:
        return None
    return DesktopSession.objects.filter(visible, pk=desktop_id).first()


def can_see_recordings(*, user: AbstractBaseUser) -> bool:
    return user.is_authenticated and _visible_filter(user) is not None


@dataclass
class HistoryRow:
    connection: Connection
    recordings: list[Recording]  # the recordings covering (part of) the connection's time


def connection_history(*, desktop: DesktopSession, limit: int = 200) -> list[HistoryRow]:
    """The desktop's viewer connections, newest first, each with the recordings that cover it."""
    connections = list(Connection.objects.filter(desktop=desktop).select_related("user")[:limit])
    recordings = list(Recording.objects.filter(desktop=desktop))
    now = timezone.now()

    def overlaps(rec: Recording, start: datetime, end: datetime) -> bool:
        return rec.started_at <= end and (rec.ended_at or now) >= start

    return [HistoryRow(c, [r for r in recordings if overlaps(r, c.opened_at, c.closed_at or now)])
            for c in connections]
