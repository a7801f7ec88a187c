"""Dashboard actions beyond start/stop: restart, admin opens, connection files for RDP clients."""

from __future__ import annotations

import logging
import shlex

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from webconsole.audit.services import record
from webconsole.desktops import services as desktop_services
from webconsole.desktops.models import DesktopSession, DesktopState

log = logging.getLogger(__name__)


def desktop_restart_request(*, session: DesktopSession, user: AbstractBaseUser) -> DesktopSession:
    """Stop a running desktop and start it again as the same desktop (same id, size and
    shares); the node's worker does both."""
    from webconsole.dashboard.tasks import desktop_restart_task

    if session.owner_id != user.pk and not user.is_staff:
        raise PermissionDenied("this desktop belongs to another user")
    with transaction.atomic():
        moved = DesktopSession.objects.filter(pk=session.pk, state=DesktopState.RUNNING).update(
            state=DesktopState.STOPPING, stop_requested_at=timezone.now())
        session.refresh_from_db()
        if not moved:
            raise ValidationError(f"desktop {session.pk} is {session.state}, not running", code="state")
        pk, queue = session.pk, desktop_services.node_queue(session.node)
        transaction.on_commit(lambda: desktop_restart_task.apply_async((pk,), queue=queue))
    record("desktop.restart", actor=user, target=session)
    log.info("desktop restart requested session=%s by=%s", session.pk, user.pk)
    return session


def desktop_restart(*, session: DesktopSession) -> DesktopSession:
    """The worker's half: stop, then claim the stopped row for a new start."""
    session = desktop_services.desktop_stop(session=session)
    if session.state != DesktopState.STOPPED:
        return session
    DesktopSession.objects.filter(pk=session.pk, state=DesktopState.STOPPED).update(
        state=DesktopState.REQUESTED, stopped_at=None, stop_requested_at=None, failure_reason="", host_pid=None,
        display="", requeued_at=None, created_at=timezone.now())
    session.refresh_from_db()
    return desktop_services.desktop_start(session=session)


def note_admin_open(*, user: AbstractBaseUser, desktop: DesktopSession, address: str = "") -> None:
    """Staff opened another user's desktop: audited; shown to the owner when
    WRD_ADMIN_OPEN_SHOWN_TO_OWNER is on (the dashboard reads these events)."""
    log.info("desktop opened by staff desktop=%s owner=%s by=%s", desktop.pk, desktop.owner_id, user.pk)
    record("desktop.open_other", actor=user, target=desktop, address=address, owner=desktop.owner.get_username(),
           shown_to_owner=settings.WRD_ADMIN_OPEN_SHOWN_TO_OWNER)


def rdp_endpoint(request_host: str) -> tuple[str, int]:
    """The RDP server as a client reaches it: WRD_RDP_PUBLIC_HOST, else the console's host name."""
    host = settings.WRD_RDP_PUBLIC_HOST
    if not host:
        host = request_host.rsplit(":", 1)[0] if not request_host.endswith("]") else request_host
    return host, settings.WRD_RDP_PUBLIC_PORT


def rdp_file(*, session: DesktopSession, username: str, host: str, port: int) -> str:
    """A ``.rdp`` file for mstsc (and Remmina, which reads the same keys): this server, this user
    name, the desktop's size, the graphics pipeline, clipboard, sound played here."""
    lines = [
        f"full address:s:{host}:{port}",
        f"username:s:{username}",
        "screen mode id:i:1",  # a window
        f"desktopwidth:i:{session.width}",
        f"desktopheight:i:{session.height}",
        "session bpp:i:32",
        "dynamic resolution:i:1",
        "smart sizing:i:1",
        "use multimon:i:0",
        "redirectclipboard:i:1",
        "audiomode:i:0",
        "connection type:i:7",  # detect the network's speed
        "networkautodetect:i:1",
        "bandwidthautodetect:i:1",
        "autoreconnection enabled:i:1",
        "prompt for credentials:i:0",
        "authentication level:i:2",  # warn on a certificate the client does not trust, then connect
        "enablecredsspsupport:i:1",
        "alternate shell:s:",
        "shell working directory:s:",
    ]
    return "\r\n".join(lines) + "\r\n"


def xfreerdp_command(*, session: DesktopSession, username: str, host: str, port: int) -> str:
    """A FreeRDP 2 command line for this desktop."""
    args = ["xfreerdp", f"/v:{host}:{port}", f"/u:{username}", f"/size:{session.width}x{session.height}",
            "/dynamic-resolution", "/gfx:AVC420", "+clipboard", "/sound", "/cert:tofu"]
    return " ".join(shlex.quote(a) for a in args)
