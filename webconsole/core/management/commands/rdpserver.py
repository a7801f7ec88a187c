"""Run the RDP server: console users log in with mstsc / FreeRDP and land in their desktop."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from rdpfront.reconnect import ReconnectHooks
from rdpfront.server import RdpServer, ServerSettings
from webconsole.desktops import rdp, rdp_nla


class Command(BaseCommand):
    help = "Serve RDP clients (TLS, NLA; console credentials; reattach or start the user's desktop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.WRD_RDP_HOST)
        parser.add_argument("--port", type=int, default=settings.WRD_RDP_PORT)

    def handle(self, *args, **opts) -> None:
        (max_w, max_h) = settings.WRD_MAX_SIZE
        server_settings = ServerSettings(host=opts["host"], port=opts["port"], cert_dir=settings.WRD_TLS_DIR,
                                         max_width=max_w, max_height=max_h, gfx=settings.WRD_RDP_GFX,
                                         gfx_h264=settings.WRD_RDP_H264, nla=settings.WRD_RDP_NLA,
                                         reconnect_lifetime=settings.WRD_RDP_RECONNECT_SECONDS,
                                         clipboard_max_file_bytes=settings.WRD_CLIPBOARD_MAX_FILE_BYTES,
                                         sound_transport=settings.WRD_RDP_SOUND_TRANSPORT)
        asyncio.run(self._serve(server_settings))

    async def _serve(self, server_settings: ServerSettings) -> None:
        server = RdpServer(server_settings, authenticate=rdp.authenticate, authenticate_nla=rdp_nla.authenticate_nla,
                           attach=rdp.attach,
                           account_stamp=rdp.account_stamp, history_opened=rdp.history_opened,
                           history_closed=rdp.history_closed,
                           reconnect_hooks=ReconnectHooks(resume_desktop=rdp.resume_desktop, audit=rdp.audit_reconnect),
                           connection_policy=rdp.connection_policy, account_changes=rdp.account_changes)
        port = await server.start()
        self.stdout.write(f"RDP server listening on {server_settings.host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.close()
