"""Dashboard actions beyond the desktops app's own services: admin opens, connection files for RDP
clients. (Restart is ``webconsole.desktops.services.desktop_restart``, for the API alike.)"""

from __future__ import annotations

import logging
import shlex

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from webconsole.audit.services import record
from webconsole.desktops.models import DesktopSession

log = logging.getLogger(__name__)


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
