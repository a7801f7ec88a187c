"""The console's pages: your desktops, start/stop, screenshots."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webconsole.core.isolation import isolation_summary
from webconsole.desktops import selectors, services
from webconsole.desktops.apis import screenshot_response


@login_required
def desktop_list_view(request):
    desktops = list(selectors.desktop_list(user=request.user)[:50])
    for desktop in desktops:
        desktop.usage = selectors.desktop_usage(session=desktop)
    return render(request, "desktops/list.html", {
        "desktops": desktops,
        "default_size": "x".join(map(str, services.settings.WRD_DEFAULT_SIZE)),
        "isolation": isolation_summary(),
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
                                          name=request.POST.get("name", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Desktop {session.pk} is starting.")
    return redirect("desktops:list")


@login_required
@require_POST
def desktop_stop_view(request, desktop_id: int):
    session = selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if session is None:
        raise Http404("no such desktop")
    try:
        services.desktop_stop_request(session=session, user=request.user)
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
