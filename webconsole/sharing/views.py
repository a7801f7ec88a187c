"""The owner's sharing panel (grant, who is watching, revoke, hand control) and share links."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webconsole.dashboard.selectors import open_connections
from webconsole.desktops import selectors as desktop_selectors
from webconsole.sharing import selectors, services
from webconsole.sharing.models import Share, ShareKind

EXPIRIES = [("", "Never"), ("15", "15 minutes"), ("60", "1 hour"), ("480", "8 hours"), ("1440", "1 day"),
            ("10080", "7 days")]
LINK_EXPIRIES = [e for e in EXPIRIES if e[0]]
NEW_LINK_KEY = "wrd_new_share_link"


def _desktop(request, desktop_id: int):
    """The desktop if ``request.user`` owns it or is staff (staff see and revoke, only owners grant)."""
    desktop = desktop_selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if desktop is None:
        raise Http404("no such desktop")
    return desktop


def _share(desktop, share_id: int) -> Share:
    share = Share.objects.filter(pk=share_id, desktop=desktop).select_related("desktop", "user", "group").first()
    if share is None:
        raise Http404("no such share")
    return share


@login_required
def sharing_view(request, desktop_id: int):
    desktop = _desktop(request, desktop_id)
    if request.method == "POST":
        # Post, redirect, get: a reload never grants twice. A new link's address is shown once,
        # on the page the redirect lands on.
        if (token := _grant(request, desktop)) is not None:
            request.session[NEW_LINK_KEY] = request.build_absolute_uri(reverse("sharing:link", args=[token]))
        return redirect("sharing:panel", desktop_id=desktop.pk)
    new_link = request.session.pop(NEW_LINK_KEY, None)
    watchers = open_connections([desktop])[desktop.pk]
    for w in watchers:  # a shared viewer's row gets its own control switch
        w.shared = (w.kind == "browser" and w.user is not None and w.user_id != desktop.owner_id
                    and selectors.share_for(user=w.user, desktop_id=desktop.pk) is not None)
    return render(request, "sharing/panel.html", {
        "desktop": desktop, "shares": selectors.shares_of_desktop(desktop=desktop),
        "ended": selectors.shares_of_desktop(desktop=desktop, include_ended=True).exclude(
            pk__in=selectors.shares_of_desktop(desktop=desktop).values("pk"))[:10],
        "watchers": watchers, "new_link": new_link, "expiries": EXPIRIES, "link_expiries": LINK_EXPIRIES,
        "groups": Group.objects.order_by("name").values_list("name", flat=True),
        "is_owner": desktop.owner_id == request.user.pk,
    })


def _grant(request, desktop) -> str | None:
    """A share from the panel's form; a new link's token when one was made."""
    kind = request.POST.get("kind", "")
    control = request.POST.get("access") == "control"
    minutes = request.POST.get("expires", "")
    expires_in = timedelta(minutes=int(minutes)) if minutes.isdigit() else None
    grantee = request.POST.get("grantee", "").strip()
    try:
        if kind == ShareKind.USER:
            user = get_user_model().objects.filter(username=grantee).first()
            if user is None:
                raise ValidationError(f"no console user named {grantee!r}")
            services.share_grant_user(desktop=desktop, by=request.user, user=user, control=control,
                                      expires_in=expires_in)
            messages.success(request, f"Shared with {user.get_username()}.")
        elif kind == ShareKind.GROUP:
            group = Group.objects.filter(name=grantee).first()
            if group is None:
                raise ValidationError(f"no group named {grantee!r}")
            services.share_grant_group(desktop=desktop, by=request.user, group=group, control=control,
                                       expires_in=expires_in)
            messages.success(request, f"Shared with group {group.name}.")
        elif kind == ShareKind.LINK:
            _, token = services.share_create_link(desktop=desktop, by=request.user, control=control,
                                                  expires_in=expires_in)
            messages.success(request, "Link created: copy it now, it is shown only once.")
            return token
        else:
            raise ValidationError("choose whom to share with")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return None


@login_required
@require_POST
def share_revoke_view(request, desktop_id: int, share_id: int):
    share = _share(_desktop(request, desktop_id), share_id)
    try:
        services.share_revoke(share=share, by=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Stopped sharing with {share.grantee_label}.")
    return redirect("sharing:panel", desktop_id=desktop_id)


@login_required
@require_POST
def share_control_view(request, desktop_id: int, share_id: int):
    share = _share(_desktop(request, desktop_id), share_id)
    control = request.POST.get("control") == "1"
    try:
        services.share_set_control(share=share, by=request.user, control=control)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, f"{share.grantee_label}: {'control given' if control else 'view only now'}.")
    return redirect("sharing:panel", desktop_id=desktop_id)


@login_required
@require_POST
def viewer_control_view(request, desktop_id: int, connection_id: int):
    """Give one open shared viewer control, or make it view-only."""
    desktop = _desktop(request, desktop_id)
    control = request.POST.get("control") == "1"
    try:
        services.share_viewer_set_control(desktop=desktop, connection_id=connection_id, by=request.user,
                                          control=control)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, "Control given." if control else "That viewer is view only now.")
    return redirect("sharing:panel", desktop_id=desktop_id)


@login_required
def share_link_view(request, token: str):
    """A share link: a signed-in user lands in the shared desktop's viewer, or gets a plain refusal."""
    try:
        share = services.share_use_link(token=token, user=request.user, address=request.META.get("REMOTE_ADDR", ""))
    except services.ShareRefused as exc:
        return render(request, "sharing/refused.html", {"reason": exc.reason}, status=exc.status)
    return redirect("viewer:view", desktop_id=share.desktop_id)
