"""The dashboard's pages and actions: cards of your desktops, thumbnails, start (size, profile),
restart, resize, connection files; the admins' view of every desktop."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webconsole.accounts.nt_hash import nt_hash_status, rdp_allowed
from webconsole.core.isolation import isolation_summary
from webconsole.dashboard import profiles, selectors, services, thumbnails
from webconsole.desktops import selectors as desktop_selectors
from webconsole.desktops import services as desktop_services
from webconsole.desktops.models import DesktopState
from webconsole.recordings import selectors as recording_selectors
from webconsole.viewer.selectors import viewer_access

MAX_IDLE_FILTER_MINUTES = 10 * 366 * 24 * 60


def _messages_of(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", [str(exc)]))


def _rdp_context(request) -> dict:
    host, port = services.rdp_endpoint(request.get_host())
    return {"rdp_host": host, "rdp_port": port}


@login_required
def dashboard_view(request):
    """Your desktops as cards (``?fragment=cards``: only the cards, for the page's refresh)."""
    cards = selectors.user_cards(user=request.user)
    rdp = _rdp_context(request)
    rdp_open = rdp_allowed(request.user)
    for card in cards:
        card.xfreerdp = services.xfreerdp_command(session=card.desktop, username=request.user.get_username(),
                                                  host=rdp["rdp_host"], port=rdp["rdp_port"])
    context = {
        "cards": cards,
        "shared": selectors.shared_cards(user=request.user),
        "sizes": profiles.size_choices(user=request.user),
        "profiles": profiles.profile_choices(user=request.user),
        "isolation": isolation_summary(),
        "can_see_recordings": recording_selectors.can_see_recordings(user=request.user),
        "thumbnail_seconds": thumbnails.settings.WRD_THUMBNAIL_SECONDS,
        "rdp_allowed": rdp_open,
        "nla_hash_missing": rdp_open and nt_hash_status(user=request.user) != "stored",
        "bucket": thumbnails.bucket(),
        **rdp,
    }
    if request.GET.get("fragment") == "cards":
        return render(request, "dashboard/_cards.html", context)
    return render(request, "dashboard/dashboard.html", context)


@login_required
@require_POST
def desktop_start_view(request):
    """Start a desktop: a size (one of the offered or typed ``WxH``), a name, a profile."""
    width = height = None  # no size: the profile's or the server's default
    if size := request.POST.get("size", "").strip():
        try:
            width, height = profiles.parse_size(size)
        except ValueError:
            messages.error(request, "Size must look like 1280x800.")
            return redirect("desktops:list")
    try:  # the profile is checked against the user's policy by the service
        session = desktop_services.desktop_create(user=request.user, width=width, height=height,
                                                  name=request.POST.get("name", ""),
                                                  profile=request.POST.get("profile", "").strip() or None)
    except ValidationError as exc:
        messages.error(request, _messages_of(exc))
    else:
        messages.success(request, f"Desktop {session.pk} is starting.")
    return redirect("desktops:list")


def _own_or_staff(request, desktop_id: int):
    session = desktop_selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if session is None:
        raise Http404("no such desktop")
    return session


def _back(request):
    return redirect("dashboard:admin" if request.POST.get("back") == "admin" and request.user.is_staff
                    else "desktops:list")


@login_required
@require_POST
def desktop_restart_view(request, desktop_id: int):
    session = _own_or_staff(request, desktop_id)
    try:
        desktop_services.desktop_restart(session=session, user=request.user,
                                         address=request.META.get("REMOTE_ADDR", ""))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _messages_of(exc))
    else:
        messages.success(request, f"Desktop {session.pk} is restarting.")
    return _back(request)


@login_required
@require_POST
def desktop_resize_view(request, desktop_id: int):
    session = _own_or_staff(request, desktop_id)
    try:
        width, height = profiles.parse_size(request.POST.get("size", ""))
        desktop_services.desktop_resize(session=session, user=request.user, width=width, height=height)
    except ValueError:
        messages.error(request, "Size must look like 1280x800.")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _messages_of(exc))
    else:
        messages.success(request, f"Desktop {session.pk} is now {session.width}×{session.height}.")
    return _back(request)


@login_required
def desktop_thumbnail_view(request, desktop_id: int):
    """A small JPEG of the desktop's screen, at most WRD_THUMBNAIL_SECONDS old (owner, staff,
    and those it is shared with)."""
    session = viewer_access(user=request.user, desktop_id=desktop_id).session
    if session is None:
        raise Http404("no such desktop")
    if session.state != DesktopState.RUNNING:
        return HttpResponse(f"desktop {session.pk} is {session.state}", status=409, content_type="text/plain")
    data = thumbnails.thumbnail(session)
    if data is None:
        return HttpResponse("no picture from the desktop", status=503, content_type="text/plain")
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = f"private, max-age={thumbnails.settings.WRD_THUMBNAIL_SECONDS}"
    return response


@login_required
def desktop_rdp_file_view(request, desktop_id: int):
    """A ``.rdp`` file for mstsc: this server, the owner's user name (an RDP login lands in the
    user's own running desktop); refused when the owner's policy turns RDP off."""
    session = _own_or_staff(request, desktop_id)
    if not rdp_allowed(session.owner):
        raise PermissionDenied("RDP access is turned off by the owner's policy")
    rdp = _rdp_context(request)
    text = services.rdp_file(session=session, username=session.owner.get_username(), host=rdp["rdp_host"],
                             port=rdp["rdp_port"])
    response = HttpResponse(text, content_type="application/x-rdp")
    response["Content-Disposition"] = f'attachment; filename="wrd-desktop-{session.pk}.rdp"'
    return response


@login_required
def admin_view(request):
    """Staff: every desktop of every user and node, filtered and sorted, with totals."""
    if not request.user.is_staff:
        raise PermissionDenied("only staff see every desktop")
    try:  # minutes, at most ten years (a timedelta of more overflows)
        idle = min(max(0, int(request.GET.get("idle") or 0)), MAX_IDLE_FILTER_MINUTES)
    except ValueError:
        idle = 0
    filters = selectors.AdminFilters(owner=request.GET.get("owner", "").strip(),
                                     state=request.GET.get("state", "active"), node=request.GET.get("node", ""),
                                     idle_minutes=idle, sort=request.GET.get("sort", "newest"))
    cards, totals = selectors.admin_cards(filters=filters)
    return render(request, "dashboard/admin.html", {
        "cards": cards, "totals": totals, "filters": filters, "nodes": selectors.nodes(),
        "states": ["active", "all", *DesktopState.values], "sorts": [
            ("newest", "Newest"), ("owner", "Owner"), ("state", "State"), ("node", "Node"),
            ("-idle", "Idle time (longest first)"), ("idle", "Idle time (shortest first)")],
    })
