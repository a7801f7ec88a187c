"""The graphics pipeline ([MS-RDPEGFX]) as a dynamic channel, for clients that announce it
(RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL).

The client advertises capability sets; ``gfx.choose_capset`` picks one, which is confirmed and
raised as ``GfxReady``. The driver then draws with ``reset`` (Reset Graphics and a new surface:
also how the desktop changes size while the pipeline is up, [MS-RDPEDISP] 1.3) and ``frame``
(Start Frame, commands, End Frame), all in RDP_SEGMENTED_DATA, RDP 8.0 bulk compressed
through the channel's ``zgfx.Compressor`` unless the session config turns it off. Frame acknowledgements become
``GfxFrameAcknowledged``; Cache Import Offers are answered with no entries (no persistent
cache). Closing the channel while drawing with it closes the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rdpfront import events, gfx, zgfx
from rdpfront.channels.base import ChannelHost, DynamicChannel
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL = 0x0100


class GraphicsChannel(DynamicChannel):
    name = gfx.CHANNEL_NAME

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.capset: gfx.CapSet | None = None
        self.surface_id: int | None = None
        self.next_surface = 1
        self.next_frame = 1
        # Every RDP_SEGMENTED_DATA to the client goes through this one history (the client
        # keeps its own copy of it), or none is compressed.
        self.compressor = zgfx.Compressor() if self.host.gfx_compression else None

    @classmethod
    def wanted(cls, host: ChannelHost) -> bool:
        return bool((host.accepted.client.core.early_capability_flags or 0) & RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL)

    @property
    def ready(self) -> bool:
        return self.capset is not None and self.open

    def receive(self, message: bytes) -> None:
        pdu = gfx.decode_client(message)
        if isinstance(pdu, gfx.CapsAdvertise):
            chosen = gfx.choose_capset(pdu.capsets)
            self.capset = chosen
            self.host.write(self.encode(self._segmented([gfx.caps_confirm(chosen)])))
            log.info("%s graphics pipeline: capability set %#010x confirmed, avc420=%s", self.host.log_context,
                     chosen.version, chosen.avc420)
            self.host.emit(events.GfxReady(chosen.version, chosen.avc420))
        elif isinstance(pdu, gfx.FrameAcknowledge):
            self.host.emit(events.GfxFrameAcknowledged(pdu.frame_id, pdu.queue_depth, pdu.suspend))
        elif isinstance(pdu, gfx.CacheImportOffer):
            self.host.write(self.encode(self._segmented([gfx.cache_import_reply()])))

    def _segmented(self, pdus: list[bytes]) -> bytes:
        return gfx.segmented(pdus, self.compressor)

    def closed(self) -> None:
        if self.capset is not None:
            raise RemoteProtocolError("the client closed the graphics channel it drew with")

    def reset(self, width: int, height: int, monitors: Sequence[tuple[int, int, int, int, int]] = ()) -> bytes:
        """A fresh output of ``width`` x ``height`` laid out as ``monitors`` (TS_MONITOR_DEF
        fields; by default one monitor covering it): Reset Graphics, a new surface mapped to it
        (the old one deleted). Anything drawn afterwards goes to the new surface.

        Several monitors share one surface spanning the whole output, mapped at 0,0: the session
        is encoded once as one picture (one H.264 stream), which cannot be split across
        surfaces; each monitor of the client shows its part of the output ([MS-RDPEGFX] 3.3.1.5
        output coordinates).

        With the graphics pipeline up this is also how the desktop changes size: [MS-RDPEDISP]
        1.3 restarts the pipeline with surface commands instead of a deactivation-reactivation
        (FreeRDP resizes its output under the pipeline's lock when Reset Graphics carries a new
        size; a reactivation resizes it from another thread while frames are being drawn)."""
        if not self.ready:
            raise LocalProtocolError("gfx_reset() before the graphics pipeline is ready")
        self.host.set_size(width, height)
        pdus = [gfx.delete_surface(self.surface_id)] if self.surface_id is not None else []
        self.surface_id, self.next_surface = self.next_surface, self.next_surface % 0xFFFF + 1
        pdus += [gfx.reset_graphics(width, height, monitors), gfx.create_surface(self.surface_id, width, height),
                 gfx.map_surface_to_output(self.surface_id)]
        return self.encode(self._segmented(pdus))

    def frame(self, commands: list[bytes]) -> tuple[int, bytes]:
        """One logical frame of graphics commands (``gfx.wire_to_surface_1`` ...): its frame id
        and the bytes to write."""
        if not self.ready or self.surface_id is None:
            raise LocalProtocolError("gfx_frame() before gfx_reset()")
        frame_id, self.next_frame = self.next_frame, (self.next_frame + 1) & 0xFFFFFFFF
        pdus = [gfx.start_frame(frame_id), *commands, gfx.end_frame(frame_id)]
        return frame_id, self.encode(self._segmented(pdus))
