"""The viewer page: a full-window canvas; everything else happens over the WebSocket."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render

from webconsole.desktops.files import transfer_options
from webconsole.policies.enforce import browser_refusal
from webconsole.viewer.selectors import viewer_access


@login_required
def desktop_view(request: HttpRequest, desktop_id: int) -> HttpResponse:
    session = viewer_access(user=request.user, desktop_id=desktop_id).session
    if session is None:
        raise Http404("no such desktop")
    if (refusal := browser_refusal(user=request.user)) is not None:
        raise PermissionDenied(refusal)
    view_only = request.GET.get("view_only") == "1"
    title = session.name or f"Desktop {session.pk}"
    return render(request, "viewer/view.html", {
        "title": title,
        "view_only": view_only,
        "viewer_config": {
            "ws_path": f"/ws/desktops/{session.pk}/",
            "view_only": view_only,
            "desktop": session.pk,
            "files": transfer_options(session=session, user=request.user),
            "csrf_token": get_token(request),
        },
    })
