"""The console's recording pages: a desktop's recordings and connection history, the player,
the file itself (with byte ranges, so the player seeks, also while the file still grows), and
the admins' start/stop actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webconsole.desktops import selectors as desktop_selectors
from webconsole.recordings import selectors, services
from webconsole.recordings.models import Recording
from webconsole.recordings.ranges import UnsatisfiableRange, parse_range

CHUNK = 256 * 1024


@login_required
def recording_list_view(request):
    if not selectors.can_see_recordings(user=request.user):
        raise PermissionDenied("only admins can see recordings")
    return render(request, "recordings/list.html", {
        "recordings": selectors.recording_list(user=request.user)[:200], "desktop": None})


@login_required
def desktop_recordings_view(request, desktop_id: int):
    desktop = selectors.desktop_for_history(user=request.user, desktop_id=desktop_id)
    if desktop is None:
        raise Http404("no such desktop")
    return render(request, "recordings/list.html", {
        "desktop": desktop,
        "recordings": selectors.recording_list(user=request.user, desktop=desktop),
        "history": selectors.connection_history(desktop=desktop),
    })


@login_required
def recording_player_view(request, recording_id: int):
    recording = selectors.recording_get_for_user(user=request.user, recording_id=recording_id)
    if recording is None:
        raise Http404("no such recording")
    return render(request, "recordings/player.html", {"recording": recording})


def file_response(request, recording: Recording):
    """The recording's bytes, whole or one byte range, as the file is now (it may still grow)."""
    try:
        handle = open(recording.path, "rb")  # closed by the response (chunks)
    except FileNotFoundError:
        raise Http404("the recording's file is gone") from None
    size = handle.seek(0, 2)
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except UnsatisfiableRange:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    first, last = byte_range if byte_range is not None else (0, size - 1)
    length = max(0, last - first + 1)

    def chunks():
        with handle:
            handle.seek(first)
            left = length
            while left > 0 and (data := handle.read(min(CHUNK, left))):
                left -= len(data)
                yield data

    response = StreamingHttpResponse(chunks(), status=206 if byte_range is not None else 200,
                                     content_type="video/mp4")
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"  # the file grows while it records
    if byte_range is not None:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return response


@login_required
def recording_file_view(request, recording_id: int):
    recording = selectors.recording_get_for_user(user=request.user, recording_id=recording_id)
    if recording is None:
        raise Http404("no such recording")
    return file_response(request, recording)


@login_required
@require_POST
def recording_start_view(request, desktop_id: int):
    desktop = desktop_selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if desktop is None:
        raise Http404("no such desktop")
    try:
        recording = services.recording_start(desktop=desktop, user=request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, f"Desktop {desktop.pk} is being recorded (recording {recording.pk}).")
    return redirect("recordings:desktop", desktop_id=desktop.pk)


@login_required
@require_POST
def recording_stop_view(request, recording_id: int):
    recording = selectors.recording_get_for_user(user=request.user, recording_id=recording_id)
    if recording is None:
        raise Http404("no such recording")
    try:
        services.recording_stop(recording=recording, user=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Recording {recording.pk} is stopping.")
    return redirect("recordings:desktop", desktop_id=recording.desktop_id)
