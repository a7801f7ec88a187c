"""The viewer page: a full-window canvas; everything else happens over the WebSocket."""

from __future__ import annotations

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render

from webconsole.desktops.files import transfer_options
from webconsole.policies.enforce import browser_refusal
from webconsole.viewer.selectors import viewer_access

# Browser automation evaluates string expressions in the page (Playwright's string predicates,
# which the shared benchmark harness and admins' scripts wait on): eval is allowed here, on the
# viewer only. Scripts still come from the console's own files alone, and none of them evals.
VIEWER_CSP = {"script-src": ["'unsafe-eval'"]}


@csp_update(VIEWER_CSP)
@login_required
def desktop_view(request: HttpRequest, desktop_id: int) -> HttpResponse:
    access = viewer_access(user=request.user, desktop_id=desktop_id)
    session = access.session
    if session is None:
        raise Http404("no such desktop")
    if (refusal := browser_refusal(user=request.user)) is not None:
        raise PermissionDenied(refusal)
    view_only = request.GET.get("view_only") == "1" or (access.share is not None and not access.share.control)
    if access.share is None and session.owner_id != request.user.pk:
        from webconsole.dashboard.services import note_admin_open

        note_admin_open(user=request.user, desktop=session, address=request.META.get("REMOTE_ADDR", ""))
    title = session.name or f"Desktop {session.pk}"
    return render(request, "viewer/view.html", {
        "title": title,
        "view_only": view_only,
        "viewer_config": {
            "ws_path": f"/ws/desktops/{session.pk}/",
            "view_only": view_only,
            "desktop": session.pk,
            # Files go to and from the owner's account: for the owner (and staff) only.
            "files": transfer_options(session=session, user=request.user) if access.share is None else None,
            "csrf_token": get_token(request),
        },
    })
