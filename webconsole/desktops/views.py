"""The console's pages: your desktops, start/stop, screenshots; staff attach existing displays."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webconsole.core.isolation import isolation_summary
from webconsole.desktops import selectors, services
from webconsole.desktops.apis import screenshot_response
from webconsole.recordings import selectors as recording_selectors


@login_required
def desktop_list_view(request):
    desktops = list(selectors.desktop_list(user=request.user)[:50])
    for desktop in desktops:
        desktop.usage = selectors.desktop_usage(session=desktop)
    return render(request, "desktops/list.html", {
        "desktops": desktops,
        "default_size": "x".join(map(str, services.settings.WRD_DEFAULT_SIZE)),
        "isolation": isolation_summary(),
        "can_see_recordings": recording_selectors.can_see_recordings(user=request.user),
    })


@login_required
@require_POST
def desktop_start_view(request):
    try:
        width, height = (int(v) for v in request.POST.get("size", "").lower().split("x"))
    except ValueError:
        messages.error(request, "Size must look like 1280x800.")
        return redirect("desktops:list")
    try:
        session = services.desktop_create(user=request.user, width=width, height=height,
                                          name=request.POST.get("name", ""),
                                          address=request.META.get("REMOTE_ADDR", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Desktop {session.pk} is starting.")
    return redirect("desktops:list")


@login_required
def desktop_attach_view(request):
    """Staff: serve an existing X display as a desktop of a console user."""
    if not request.user.is_staff:
        raise PermissionDenied("only staff can attach an existing display")
    form = {key: request.POST.get(key, "").strip() for key in ("display", "xauthority", "owner", "name")}
    if request.method == "POST":
        owner = get_user_model().objects.filter(username=form["owner"]).first()
        try:
            if owner is None:
                raise ValidationError(f"no console user named {form['owner']!r}")
            session = services.desktop_attach(user=request.user, owner=owner, display=form["display"],
                                              xauthority=form["xauthority"], name=form["name"],
                                              address=request.META.get("REMOTE_ADDR", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Display {session.attach_display} is starting as desktop {session.pk} "
                                      f"of {owner.username}.")
            return redirect("desktops:list")
    users = get_user_model().objects.filter(is_active=True).order_by("username").values_list("username", flat=True)
    return render(request, "desktops/attach.html", {"form": form, "users": users})


@login_required
@require_POST
def desktop_stop_view(request, desktop_id: int):
    session = selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if session is None:
        raise Http404("no such desktop")
    try:
        services.desktop_stop_request(session=session, user=request.user,
                                      address=request.META.get("REMOTE_ADDR", ""))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, f"Desktop {session.pk} is stopping.")
    return redirect("desktops:list")


@login_required
def desktop_screenshot_view(request, desktop_id: int):
    session = selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if session is None:
        raise Http404("no such desktop")
    return screenshot_response(session)
