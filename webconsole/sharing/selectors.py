"""Reads of shares: which share lets a user see a desktop, what a desktop is shared with."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.sharing.models import Share, ShareKind, ViewerControl


def _grants(user: AbstractBaseUser) -> Q:
    return (Q(kind=ShareKind.USER, user=user) | Q(kind=ShareKind.GROUP, group__in=user.groups.all())
            | Q(kind=ShareKind.LINK, redemptions__user=user))


def share_for(*, user: AbstractBaseUser, desktop_id: int) -> Share | None:
    """The active share through which ``user`` may view ``desktop_id`` (one with control first),
    None when there is none. The owner needs none."""
    if user is None or not user.is_authenticated:
        return None
    return (Share.objects.active().filter(_grants(user), desktop_id=desktop_id)
            .exclude(desktop__owner=user).select_related("desktop").order_by("-control", "pk").first())


def share_state(*, share_id: int, user: AbstractBaseUser | None = None,
                connection_id: int | None = None) -> tuple[bool, bool, str]:
    """(still active, control, why it ended) for an open shared viewer's recheck; with ``user``,
    also whether the share is still theirs (a group share ends for one who left the group); with
    ``connection_id``, the owner's choice for that one viewer wins over the share's control."""
    share = Share.objects.filter(pk=share_id).select_related("desktop").first()
    if share is None:
        return False, False, "The share was removed."
    if share.revoked_at is not None:
        return False, False, "The owner stopped sharing this desktop."
    if not share.is_active():
        return False, False, "The share expired."
    if user is not None and not Share.objects.filter(_grants(user), pk=share_id).exists():
        return False, False, "This desktop is no longer shared with you."
    if connection_id is not None:
        override = ViewerControl.objects.filter(connection_id=connection_id).values_list("control", flat=True).first()
        if override is not None:
            return True, override, ""
    return True, share.control, ""


def shares_of_desktop(*, desktop: DesktopSession, include_ended: bool = False) -> QuerySet[Share]:
    qs = Share.objects.filter(desktop=desktop).select_related("user", "group")
    return qs if include_ended else qs.active()


def desktops_shared_with(*, user: AbstractBaseUser) -> list[tuple[DesktopSession, Share]]:
    """Running desktops of others shared with ``user``, each with its best share."""
    shares = (Share.objects.active().filter(_grants(user), desktop__state=DesktopState.RUNNING)
              .exclude(desktop__owner=user).select_related("desktop", "desktop__owner").order_by("-control", "pk"))
    best: dict[int, tuple[DesktopSession, Share]] = {}
    for share in shares:
        best.setdefault(share.desktop_id, (share.desktop, share))
    return sorted(best.values(), key=lambda item: item[0].pk)

