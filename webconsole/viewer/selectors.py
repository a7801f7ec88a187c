"""Reads for the viewer: may this user view this desktop, and how."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from webconsole.desktops import selectors as desktop_selectors
from webconsole.desktops.models import DesktopSession


@dataclass(frozen=True)
class ViewerAccess:
    """``session`` when allowed; otherwise ``status`` says why (401, 403, 404)."""

    session: DesktopSession | None
    status: int


def viewer_access(*, user: AbstractBaseUser | AnonymousUser | None, desktop_id: int) -> ViewerAccess:
    if user is None or not user.is_authenticated:
        return ViewerAccess(None, 401)
    session = desktop_selectors.desktop_get_for_user(user=user, desktop_id=desktop_id)
    if session is not None:
        return ViewerAccess(session, 200)
    exists = DesktopSession.objects.filter(pk=desktop_id).exists()
    return ViewerAccess(None, 403 if exists else 404)
