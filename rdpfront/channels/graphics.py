"""The graphics pipeline ([MS-RDPEGFX]) as a dynamic channel, for clients that announce it
(RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL).

The client advertises capability sets; ``gfx.choose_capset`` picks one, which is confirmed and
raised as ``GfxReady``. The driver then draws with ``reset`` (Reset Graphics and new surfaces,
one per monitor with several: also how the desktop changes size while the pipeline is up,
[MS-RDPEDISP] 1.3) and ``frame``
(Start Frame, commands, End Frame), all in RDP_SEGMENTED_DATA, RDP 8.0 bulk compressed
through the channel's ``zgfx.Compressor`` unless the session config turns it off. Frame acknowledgements become
``GfxFrameAcknowledged``; Cache Import Offers are answered with no entries (no persistent
cache). Closing the channel while drawing with it closes the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from rdpfront import events, gfx, zgfx
from rdpfront.channels.base import ChannelHost, DynamicChannel
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL = 0x0100
# Frames without H.264 up to this size are bulk-compressed whole with the C core (at most a
# few milliseconds of the event loop); larger ones in 8 KB pieces or raw, as without it.
WHOLE_FRAME_COMPRESS_MAX = 256 * 1024


class GraphicsChannel(DynamicChannel):
    name = gfx.CHANNEL_NAME

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.capset: gfx.CapSet | None = None
        self.surface_id: int | None = None  # the surface every command draws into
        self.monitor_surfaces: list[MonitorSurface] = []  # with several monitors: one each
        self.mapped: list[tuple[int, int, int, int, int]] = []  # (surface, x, y, w, h) mapped to the output
        self.surfaces_created = 0
        self.monitor_copies_sent = 0  # Surface To Surface copies onto the monitors' surfaces
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
        fields in output coordinates; by default one monitor covering it): Reset Graphics and
        new surfaces (the old ones deleted). Anything drawn afterwards goes to ``surface_id``.

        One monitor: one surface of the output's size, mapped at 0,0. Several: the session is
        still drawn into one surface of the output's size, which is not mapped to the output
        (what the session host encodes once per session lands there as it is), plus one
        surface per monitor, of that monitor's size, mapped at its origin (Map Surface To
        Output, 2.2.2.15); ``frame`` copies what changed from the first to the monitors'
        surfaces (Surface To Surface between surfaces, 2.2.2.5), each in its own surface-local
        coordinates. A client that renders per monitor (mstsc) is given one
        mapped surface per monitor, and no mapped surface covers the gaps of a mixed-size layout.

        With the graphics pipeline up this is also how the desktop changes size: [MS-RDPEDISP]
        1.3 restarts the pipeline with surface commands instead of a deactivation-reactivation
        (FreeRDP resizes its output under the pipeline's lock when Reset Graphics carries a new
        size; a reactivation resizes it from another thread while frames are being drawn)."""
        if not self.ready:
            raise LocalProtocolError("gfx_reset() before the graphics pipeline is ready")
        self.host.set_size(width, height)
        old = [self.surface_id] if self.surface_id is not None else []
        pdus = [gfx.delete_surface(s) for s in old + [m.surface for m in self.monitor_surfaces]]
        self.surface_id = self._new_surface_id()
        pdus += [gfx.reset_graphics(width, height, monitors), gfx.create_surface(self.surface_id, width, height)]
        self.monitor_surfaces = []
        if len(monitors) < 2 or not all(0 <= left <= right < width and 0 <= top <= bottom < height
                                        for left, top, right, bottom, _ in monitors):
            pdus.append(gfx.map_surface_to_output(self.surface_id))
            self.mapped = [(self.surface_id, 0, 0, width, height)]
        else:
            for left, top, right, bottom, _flags in monitors:
                surface = MonitorSurface(self._new_surface_id(), left, top, right + 1 - left, bottom + 1 - top)
                self.monitor_surfaces.append(surface)
                pdus += [gfx.create_surface(surface.surface, surface.width, surface.height),
                         gfx.map_surface_to_output(surface.surface, surface.x, surface.y)]
            self.mapped = [(m.surface, m.x, m.y, m.width, m.height) for m in self.monitor_surfaces]
        self.surfaces_created += 1 + len(self.monitor_surfaces)
        log.info("%s graphics pipeline: output %dx%d, surfaces mapped %s", self.host.log_context, width, height,
                 " ".join(f"{s}:{w}x{h}+{x}+{y}" for s, x, y, w, h in self.mapped))
        return self.encode(self._segmented(pdus))

    def _new_surface_id(self) -> int:
        surface, self.next_surface = self.next_surface, self.next_surface % 0xFFFF + 1
        return surface

    def frame(self, commands: list[bytes], changed: Sequence[tuple[int, int, int, int]] = ()) -> tuple[int, bytes]:
        """One logical frame of graphics commands (``gfx.wire_to_surface_1`` ...) to
        ``surface_id``: its frame id and the bytes to write. With a surface per monitor,
        ``changed`` (left, top, right, bottom, exclusive, in output coordinates) is every area
        the commands draw: after them it is copied to the monitors' surfaces it lies on."""
        if not self.ready or self.surface_id is None:
            raise LocalProtocolError("gfx_frame() before gfx_reset()")
        frame_id, self.next_frame = self.next_frame, (self.next_frame + 1) & 0xFFFFFFFF
        copies = monitor_copies(self.surface_id, self.monitor_surfaces, changed) if self.monitor_surfaces else []
        self.monitor_copies_sent += len(copies)
        pdus = [gfx.start_frame(frame_id), *commands, *copies, gfx.end_frame(frame_id)]
        # With the C core, images are compressed whole (scrolled text shrinks to a few
        # percent, ~10-30 µs a KB, docs/rdp-zgfx.md) up to WHOLE_FRAME_COMPRESS_MAX: the
        # event loop serves every connection of the process, and a whole-screen picture
        # would hold it for tens of milliseconds. H.264 does not shrink, so a frame that
        # carries it keeps the compressor's limit, as does the Python code (20-40x slower).
        limit = None
        if (self.compressor is not None and self.compressor.native
                and sum(map(len, commands)) <= WHOLE_FRAME_COMPRESS_MAX and not any(map(gfx.is_h264, commands))):
            limit = zgfx.SEGMENT_OUTPUT_MAX - 1
        return frame_id, self.encode(gfx.segmented(pdus, self.compressor, limit))


@dataclass(frozen=True)
class MonitorSurface:
    """A surface of one monitor's size, mapped to the output at the monitor's origin."""

    surface: int
    x: int
    y: int
    width: int
    height: int


# Past this many changed rectangles in a frame, their bounding box is copied instead (per
# monitor): a copy of a few more pixels costs the client less than one command each.
MAX_COPY_RECTS = 64


def monitor_copies(source: int, monitors: Sequence[MonitorSurface],
                   changed: Sequence[tuple[int, int, int, int]]) -> list[bytes]:
    """Surface To Surface commands that bring each monitor's surface up to date with the
    ``changed`` areas of the ``source`` surface (output coordinates): each area clipped to each
    monitor it crosses and placed in that surface's own coordinates (an area across two
    monitors becomes two copies; one over a gap copies nothing there)."""
    rects = [r for r in changed if r[2] > r[0] and r[3] > r[1]]
    if len(rects) > MAX_COPY_RECTS:
        rects = [(min(r[0] for r in rects), min(r[1] for r in rects),
                  max(r[2] for r in rects), max(r[3] for r in rects))]
    out = []
    for left, top, right, bottom in rects:
        for m in monitors:
            x0, y0 = max(left, m.x), max(top, m.y)
            x1, y1 = min(right, m.x + m.width), min(bottom, m.y + m.height)
            if x1 > x0 and y1 > y0:
                out.append(gfx.surface_to_surface(source, (x0, y0, x1, y1), [(x0 - m.x, y0 - m.y)], m.surface))
    return out
