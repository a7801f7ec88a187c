"""What the RDP server asks of the console: is this login good, and which desktop is theirs.

The RDP server (rdpfront) knows nothing of Django; `manage.py rdpserver` hands it these
coroutines (with ``resume_desktop`` and ``audit_reconnect`` for auto-reconnect cookies:
rdpfront/reconnect.py); an open connection ends when its user's ``account_stamp`` changes (deactivated,
new password). Logins go through the same throttle as the login page and the API
(django-axes, per client address: docs/security.md), so password guessing over RDP is
refused alike.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from webconsole.core.login_throttle import account_delay, check_login
from webconsole.desktops import services

log = logging.getLogger(__name__)


async def authenticate(username: str, password: str, address: str) -> bool:
    """``address``: the RDP client's IP address, as the server's socket saw it."""
    if username and (delay := await sync_to_async(account_delay)(username=username)) > 0:
        log.info("rdp login to user=%r waits %.0f s: many recent failures at that name", username, delay)
        await asyncio.sleep(delay)
    user, throttled = await sync_to_async(check_login)(username=username, password=password, address=address,
                                                       door="rdp")
    if throttled:
        log.warning("rdp login throttled user=%r address=%s: too many failed logins from this address",
                    username, address)
    ok = user is not None and not throttled
    if ok:  # failures reach the audit log through Django's user_login_failed signal
        from webconsole.audit.services import async_record

        await async_record("login.success", actor=user, address=address, door="rdp")
    return ok


def _account_stamp(username: str) -> str | None:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    # Django's session hash: an HMAC of the password hash, so it changes with the password.
    return None if user is None else user.get_session_auth_hash()


async def account_stamp(username: str) -> str | None:
    """What an open RDP connection of ``username`` is checked against: it ends when this
    changes (a new password) or becomes None (deactivated or deleted)."""
    return await sync_to_async(_account_stamp)(username)


def _attach(username: str, width: int, height: int) -> Path:
    user = get_user_model().objects.get(username=username)
    session = services.desktop_for_remote_login(user=user, width=width, height=height)
    log.info("rdp attach user=%s desktop=%s display=%s", username, session.pk, session.display)
    return session.socket_path


async def attach(username: str, width: int, height: int) -> Path:
    return await sync_to_async(_attach, thread_sensitive=False)(username, width, height)


def _history_opened(username: str, path: Path, address: str) -> int | None:
    from webconsole.desktops.models import LIVE_STATES, DesktopSession
    from webconsole.recordings import history

    user = get_user_model().objects.filter(username=username).first()
    session = next((d for d in DesktopSession.objects.filter(state__in=LIVE_STATES)
                    if d.socket_path == path), None)
    if session is None:
        return None
    return history.connection_opened(desktop_id=session.pk, user=user, kind="rdp", address=address)


async def history_opened(username: str, path: Path, address: str) -> int | None:
    """A connection-history row for an RDP client now on the desktop at ``path``."""
    return await sync_to_async(_history_opened)(username, path, address)


def _live_desktop(path: Path):
    from webconsole.desktops.models import LIVE_STATES, DesktopSession

    return next((d for d in DesktopSession.objects.filter(state__in=LIVE_STATES).select_related("owner")
                 if d.socket_path == path), None)


def _resume_desktop(username: str, path: Path) -> bool:
    from webconsole.desktops.models import DesktopState

    session = _live_desktop(path)
    if session is None or session.state != DesktopState.RUNNING or session.owner.get_username() != username:
        return False
    services.desktop_touch(session=session)
    return True


async def resume_desktop(username: str, path: Path) -> bool:
    """An auto-reconnect cookie's last check: the desktop at ``path`` is ``username``'s and
    still running (its activity is recorded as for a login)."""
    return await sync_to_async(_resume_desktop)(username, path)


def _audit_reconnect(action: str, username: str, address: str, path: Path | None, reason: str) -> None:
    from webconsole.audit.services import record

    session = _live_desktop(path) if path is not None else None
    details = {"reason": reason} if reason else {}
    record(action, actor=get_user_model().objects.filter(username=username).first(), actor_name=username,
           target=session, address=address, desktop=str(path) if path is not None else "", **details)


async def audit_reconnect(action: str, username: str, address: str, path: Path | None, reason: str) -> None:
    """``rdp.reconnect`` (a client back on its desktop by its auto-reconnect cookie) or
    ``rdp.reconnect_refused`` (with the ``reason``), against the desktop when it still runs."""
    await sync_to_async(_audit_reconnect)(action, username, address, path, reason)


async def history_closed(token: object) -> None:
    from webconsole.recordings import history

    if isinstance(token, int):
        await history.async_connection_closed(connection_id=token)


def _user_pk(username: str) -> int | None:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()


async def account_changes(username: str) -> None:
    """Returns when ``username``'s account or policy may have changed (webconsole/core/changes.py):
    the RDP server checks an open connection's account and policy then, not on a timer."""
    from webconsole.core import changes

    pk = await sync_to_async(_user_pk)(username)
    if pk is None:
        return  # gone: the check that follows ends the connection
    await changes.watcher().wait(pk)


async def connection_policy(username: str):
    """The user's policy for their RDP connection (rdpfront.policy.ConnectionPolicy): refused
    when RDP access is off; the clipboard's ways; the client's folders off, read-only or not."""
    from webconsole.policies.enforce import rdp_connection_policy

    return await sync_to_async(rdp_connection_policy)(username=username)
