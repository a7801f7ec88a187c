"""The connection history of desktops: every browser viewer socket and RDP connection, opened
and closed. Front ends call these two functions (sync; ``async_*`` for asyncio code); a failure
to write history is logged and never refuses or ends a connection."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError
from django.utils import timezone

from webconsole.audit.services import record
from webconsole.recordings.models import Connection

log = logging.getLogger(__name__)


def connection_opened(*, desktop_id: int, user: AbstractBaseUser | None, kind: str, address: str = "",
                      view_only: bool = False) -> int | None:
    """A row for a new connection; its id (for ``connection_closed``), None if it could not be written.
    The audit log gets a ``connection.open`` event too."""
    try:
        pk = Connection.objects.create(desktop_id=desktop_id, user=user, kind=kind, address=address[:64],
                                       view_only=view_only).pk
    except DatabaseError:
        log.exception("could not note a %s connection to desktop %s", kind, desktop_id)
        return None
    record("connection.open", actor=user, target_type="desktop", target_id=desktop_id,
           target_label=f"desktop {desktop_id}", address=address, kind=kind, view_only=view_only, connection=pk)
    return pk


def connection_closed(*, connection_id: int | None) -> None:
    if connection_id is None:
        return
    now = timezone.now()
    try:
        closed = Connection.objects.filter(pk=connection_id, closed_at__isnull=True).update(closed_at=now)
        row = Connection.objects.select_related("user").filter(pk=connection_id).first() if closed else None
    except DatabaseError:
        log.exception("could not note the end of connection %s", connection_id)
        return
    if row is not None:
        record("connection.close", actor=row.user, target_type="desktop", target_id=row.desktop_id,
               target_label=f"desktop {row.desktop_id}", address=row.address, kind=row.kind,
               view_only=row.view_only, connection=row.pk,
               duration_s=round((now - row.opened_at).total_seconds(), 1))


def connection_view_only(*, connection_id: int | None, view_only: bool) -> None:
    """An open connection became view-only or got control (a share's control handed over)."""
    if connection_id is None:
        return
    try:
        Connection.objects.filter(pk=connection_id).update(view_only=view_only)
    except DatabaseError:
        log.exception("could not note view_only of connection %s", connection_id)


async_connection_opened = sync_to_async(connection_opened)
async_connection_view_only = sync_to_async(connection_view_only)
async_connection_closed = sync_to_async(connection_closed)
