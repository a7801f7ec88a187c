"""Reads for the viewer: may this user view this desktop, and how."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from webconsole.desktops import selectors as desktop_selectors
from webconsole.desktops.models import DesktopSession


@dataclass(frozen=True)
class ViewerAccess:
    """``session`` when allowed; otherwise ``status`` says why (401, 403, 404)."""

    session: DesktopSession | None
    status: int
    share: object | None = None  # the ``sharing.Share`` that lets a user other than the owner in


def viewer_access(*, user: AbstractBaseUser | AnonymousUser | None, desktop_id: int) -> ViewerAccess:
    if user is None or not user.is_authenticated:
        return ViewerAccess(None, 401)
    session = desktop_selectors.desktop_get_for_user(user=user, desktop_id=desktop_id)
    if session is not None:
        return ViewerAccess(session, 200)
    from webconsole.sharing.selectors import share_for

    if (share := share_for(user=user, desktop_id=desktop_id)) is not None:
        return ViewerAccess(share.desktop, 200, share)
    return ViewerAccess(None, 404)  # another's desktop is as if it did not exist, as on every route


def account_still_signed_in(*, session_key: str | None, user_id: int) -> bool:
    """Whether the browser session a viewer socket was opened with still signs in that user:
    the session exists (no sign-out), the user is active, and the session's password hash
    matches the user's (a changed password signs every other session out, as Django's
    ``update_session_auth_hash`` keeps only the one that changed it)."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    if not store.exists(session_key):
        return False
    user = get_user(SimpleNamespace(session=store))  # hash check and backend, as a request gets
    return bool(user.is_authenticated and user.pk == user_id and user.is_active)
