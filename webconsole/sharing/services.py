"""Writes of shares: grant (user, group, link), use a link, revoke, hand control over.

A share gives a signed-in console user a viewer of the owner's desktop: an ordinary viewer
socket on the same host stream (no extra encode), view-only (its input, clipboard, resize and
microphone dropped by the viewer consumer) or with control. Revoking, and switching control,
reach the open viewers of a share at once through the channel layer group ``share_group(id)``;
every shared viewer also checks its share every ``live.RECHECK`` seconds, so a lost message or
an expiry still ends it within that.

Link shares need a signed-in console user: an anonymous visitor is sent to the login page
first (docs/dashboard.md, *Sharing*).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from webconsole.audit.services import record
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.sharing.models import Share, ShareKind, ShareRedemption, ViewerControl

log = logging.getLogger(__name__)

MAX_LINK_LIFETIME = timedelta(days=30)
TOKEN_BYTES = 24


def sharing_allowed(user: AbstractBaseUser, control: bool) -> bool:
    """Whether ``user`` may share their desktops (with control when ``control``): the one
    policy check of sharing, their effective policy's ``share_view`` / ``share_control``."""
    from webconsole.policies.effective import effective_policy

    policy = effective_policy(user=user)
    return policy.share_control if control else policy.share_view


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_group(share_id: int) -> str:
    """The channel layer group the open viewers of a share listen on."""
    return f"wrd-share-{share_id}"


def viewer_group(connection_id: int) -> str:
    """The channel layer group of one open shared viewer (its connection-history row)."""
    return f"wrd-viewer-{connection_id}"


def _check_owner(desktop: DesktopSession, user: AbstractBaseUser, control: bool) -> None:
    if desktop.owner_id != user.pk:
        raise PermissionDenied("only the desktop's owner shares it")
    if not sharing_allowed(user, control):
        raise PermissionDenied("sharing with control is not allowed for you" if control
                               else "sharing is not allowed for you")
    if desktop.state != DesktopState.RUNNING:
        raise ValidationError(f"desktop {desktop.pk} is {desktop.state}: only a running desktop is shared",
                              code="state")


def _expiry(expires_in: timedelta | None, *, required: bool) -> datetime | None:
    if expires_in is None:
        if required:
            raise ValidationError("a link needs an expiry", code="expiry")
        return None
    if expires_in <= timedelta(0):
        raise ValidationError("the expiry must be in the future", code="expiry")
    if expires_in > MAX_LINK_LIFETIME:
        raise ValidationError(f"a share lasts at most {MAX_LINK_LIFETIME.days} days", code="expiry")
    return timezone.now() + expires_in


def share_grant_user(*, desktop: DesktopSession, by: AbstractBaseUser, user: AbstractBaseUser, control: bool = False,
                     expires_in: timedelta | None = None) -> Share:
    _check_owner(desktop, by, control)
    if user.pk == by.pk:
        raise ValidationError("a desktop is not shared with its own owner", code="grantee")
    if not user.is_active:
        raise ValidationError(f"{user.get_username()} is not an active user", code="grantee")
    share = Share.objects.create(desktop=desktop, kind=ShareKind.USER, user=user, control=control,
                                 expires_at=_expiry(expires_in, required=False), created_by=by)
    _granted(share, by)
    return share


def share_grant_group(*, desktop: DesktopSession, by: AbstractBaseUser, group: Group, control: bool = False,
                      expires_in: timedelta | None = None) -> Share:
    _check_owner(desktop, by, control)
    share = Share.objects.create(desktop=desktop, kind=ShareKind.GROUP, group=group, control=control,
                                 expires_at=_expiry(expires_in, required=False), created_by=by)
    _granted(share, by)
    return share


def share_create_link(*, desktop: DesktopSession, by: AbstractBaseUser, control: bool = False,
                      expires_in: timedelta) -> tuple[Share, str]:
    """A link share and its token (shown once: only its hash is kept)."""
    _check_owner(desktop, by, control)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    share = Share.objects.create(desktop=desktop, kind=ShareKind.LINK, token_hash=token_hash(token),
                                 control=control, expires_at=_expiry(expires_in, required=True), created_by=by)
    _granted(share, by)
    return share, token


def _granted(share: Share, by: AbstractBaseUser) -> None:
    log.info("share granted share=%s desktop=%s kind=%s control=%s by=%s", share.pk, share.desktop_id, share.kind,
             share.control, by.pk)
    record("share.grant", actor=by, target=share.desktop, share=share.pk, kind=share.kind,
           grantee=share.grantee_label, control=share.control,
           expires_at=share.expires_at.isoformat() if share.expires_at else None)


class ShareRefused(Exception):
    """A share link that gives nothing: unknown, revoked, expired, or its desktop not running."""

    def __init__(self, reason: str, status: int = 410) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def share_use_link(*, token: str, user: AbstractBaseUser, address: str = "") -> Share:
    """``user`` opened a share link: the grant becomes theirs. Raises ``ShareRefused``."""
    share = Share.objects.select_related("desktop").filter(kind=ShareKind.LINK, token_hash=token_hash(token)).first()
    if share is None:
        raise ShareRefused("This share link is not valid.", status=404)
    if share.revoked_at is not None:
        raise ShareRefused("This share link was revoked by the desktop's owner.")
    if not share.is_active():
        raise ShareRefused(f"This share link expired at {share.expires_at:%Y-%m-%d %H:%M} UTC.")
    if share.desktop.state != DesktopState.RUNNING:
        raise ShareRefused("The shared desktop is not running.", status=409)
    if share.desktop.owner_id != user.pk:
        try:
            with transaction.atomic():
                ShareRedemption.objects.create(share=share, user=user)
        except IntegrityError:
            pass  # opened before
        record("share.use", actor=user, target=share.desktop, address=address, share=share.pk, kind="link")
    return share


def share_revoke(*, share: Share, by: AbstractBaseUser) -> Share:
    """End a share now: its open viewers are closed (``CloseCode.REVOKED``)."""
    if share.desktop.owner_id != by.pk and not by.is_staff:
        raise PermissionDenied("only the desktop's owner revokes its shares")
    if Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        share.refresh_from_db()
        log.info("share revoked share=%s desktop=%s by=%s", share.pk, share.desktop_id, by.pk)
        record("share.revoke", actor=by, target=share.desktop, share=share.pk, kind=share.kind,
               grantee=share.grantee_label)
        _signal(share.pk, {"type": "share.revoked", "reason": "The owner stopped sharing this desktop."})
    return share


def share_set_control(*, share: Share, by: AbstractBaseUser, control: bool) -> Share:
    """Hand control to a share's viewers (``control``) or take it back (view-only), live."""
    _check_owner(share.desktop, by, control)
    if not share.is_active():
        raise ValidationError("this share has ended", code="state")
    Share.objects.filter(pk=share.pk).update(control=control)
    # The share's choice is for all its viewers again: the per-viewer ones go.
    ViewerControl.objects.filter(connection__desktop=share.desktop).delete()
    share.refresh_from_db()
    log.info("share control share=%s desktop=%s control=%s", share.pk, share.desktop_id, control)
    record("share.control", actor=by, target=share.desktop, share=share.pk, control=control,
           grantee=share.grantee_label)
    _signal(share.pk, {"type": "share.control", "control": control})
    return share


def share_viewer_set_control(*, desktop: DesktopSession, connection_id: int, by: AbstractBaseUser,
                             control: bool) -> None:
    """Give one open shared viewer control, or make it view-only, live (whatever its share says)."""
    from webconsole.recordings.models import Connection
    from webconsole.sharing.selectors import share_for

    _check_owner(desktop, by, control)
    conn = (Connection.objects.filter(pk=connection_id, desktop=desktop, kind="browser", closed_at__isnull=True)
            .exclude(user=desktop.owner).select_related("user").first())
    if conn is None or conn.user is None or share_for(user=conn.user, desktop_id=desktop.pk) is None:
        raise ValidationError("that is not an open shared viewer of this desktop", code="viewer")
    ViewerControl.objects.update_or_create(connection=conn, defaults={"control": control, "set_by": by})
    log.info("viewer control desktop=%s connection=%s user=%s control=%s", desktop.pk, conn.pk, conn.user_id,
             control)
    record("share.control", actor=by, target=desktop, connection=conn.pk, grantee=conn.user.get_username(),
           control=control)
    _signal_group(viewer_group(conn.pk), {"type": "share.control", "control": control})


def _signal(share_id: int, event: dict) -> None:
    _signal_group(share_group(share_id), event)


def _signal_group(group: str, event: dict) -> None:
    """Tell the open viewers of ``group``, once the change is committed. A layer that cannot be
    reached is logged: the viewers' own recheck (``live.RECHECK``) still applies the change."""

    def send() -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, event)
        except Exception as exc:
            log.warning("share signal not sent group=%s event=%s: %s", group, event["type"], exc)

    transaction.on_commit(send)
