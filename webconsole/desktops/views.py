"""The console's pages: stop, screenshots; staff attach existing displays (the dashboard and
the start form are ``webconsole.dashboard``)."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webconsole.desktops import selectors, services
from webconsole.desktops.apis import screenshot_response


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
