"""A client's monitor layout made into the session's (docs/multimonitor.md).

Clients describe their monitors in their own virtual-desktop coordinates, where the origin is
the primary monitor's top-left corner and others may lie at negative coordinates: Client
Monitor Data ([MS-RDPBCGR] 2.2.1.3.6, inclusive bounds) at connection, Display Control Monitor
Layout PDUs ([MS-RDPEDISP] 2.2.2.2, left/top/width/height) afterwards. The session's
framebuffer is the layout's bounding box, so every monitor is shifted by the box's top-left
corner (``origin``) to a 0,0-based rectangle on it, which is what the session host lays out as
RandR monitors and what the graphics pipeline announces in Reset Graphics.

A layout is taken whole or not at all: more than ``MAX_MONITORS`` monitors, overlapping ones,
one outside ``MIN_SIDE``..``MAX_SIDE`` pixels a side, or a bounding box above the server's maximum size
make ``client_layout`` return None with a log line, and the caller falls back to one monitor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from compositor.messages import Monitor
from rdpfront import disp
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError
from rdpfront.gcc.client_data import MAX_MONITORS as MAX_MONITOR_DEFS
from rdpfront.gcc.client_data import Monitor as MonitorDef
from rdpfront.rdp.headers import PduType2

log = logging.getLogger(__name__)

MAX_MONITORS = 4
MIN_SIDE, MAX_SIDE = 200, 8192  # of one monitor ([MS-RDPEDISP] 2.2.2.2.1 holds Width and Height to these)
MONITOR_PRIMARY = 0x00000001  # TS_MONITOR_PRIMARY and DISPLAYCONTROL_MONITOR_PRIMARY


@dataclass(frozen=True)
class ClientMonitor:
    """One monitor in the client's coordinates: left, top, width, height, primary."""

    left: int
    top: int
    width: int
    height: int
    primary: bool = False


@dataclass(frozen=True)
class Layout:
    """Monitors on the session's framebuffer (``width`` x ``height``, the bounding box), and
    where its 0,0 lies in the client's coordinates."""

    width: int
    height: int
    monitors: tuple[Monitor, ...]
    origin: tuple[int, int] = (0, 0)

    def to_session(self, x: int, y: int) -> tuple[int, int]:
        """A point in the client's coordinates on the session's framebuffer."""
        return x - self.origin[0], y - self.origin[1]


def _overlap(a: ClientMonitor, b: ClientMonitor) -> bool:
    return (a.left < b.left + b.width and b.left < a.left + a.width
            and a.top < b.top + b.height and b.top < a.top + a.height)


def client_layout(monitors: Iterable[ClientMonitor], max_width: int, max_height: int, *,
                  log_context: str = "", source: str = "monitor layout") -> Layout | None:
    """The session layout of a client's several monitors, or None (with a log line saying
    why) when it is not one this server takes. One monitor is no layout either (None, no log):
    the session is then a plain screen of that size."""
    monitors = list(monitors)
    if len(monitors) < 2:
        return None

    def refuse(why: str) -> None:
        log.warning("%s %s of %d monitors skipped: %s", log_context, source, len(monitors), why)

    if len(monitors) > MAX_MONITORS:
        return refuse(f"more than {MAX_MONITORS} monitors")
    for m in monitors:
        if not (MIN_SIDE <= m.width <= MAX_SIDE and MIN_SIDE <= m.height <= MAX_SIDE):
            return refuse(f"a monitor of {m.width}x{m.height} ({MIN_SIDE}..{MAX_SIDE} a side)")
    for i, m in enumerate(monitors):
        if any(_overlap(m, other) for other in monitors[i + 1:]):
            return refuse(f"monitors overlap at {m.left},{m.top}")
    left = min(m.left for m in monitors)
    top = min(m.top for m in monitors)
    width = max(m.left + m.width for m in monitors) - left
    height = max(m.top + m.height for m in monitors) - top
    if width > max_width or height > max_height:
        return refuse(f"the layout spans {width}x{height}, above the maximum {max_width}x{max_height}")
    primary = next((i for i, m in enumerate(monitors) if m.primary), 0)
    shifted = tuple(Monitor(m.left - left, m.top - top, m.width, m.height, i == primary)
                    for i, m in enumerate(monitors))
    return Layout(width, height, shifted, (left, top))


def from_monitor_defs(defs: Iterable[MonitorDef]) -> list[ClientMonitor]:
    """TS_MONITOR_DEFs (inclusive left/top/right/bottom, flags) as client monitors; an empty
    or inverted rectangle becomes one 0 pixels wide or high, which ``client_layout`` refuses."""
    return [ClientMonitor(d.left, d.top, max(0, d.right - d.left + 1), max(0, d.bottom - d.top + 1),
                          bool(d.flags & MONITOR_PRIMARY)) for d in defs]


def from_display_control(monitors: Iterable[disp.Monitor]) -> list[ClientMonitor]:
    """DISPLAYCONTROL_MONITOR_LAYOUTs as client monitors."""
    return [ClientMonitor(m.left, m.top, m.width, m.height, m.primary) for m in monitors]


def monitor_defs(layout: Iterable[Monitor]) -> list[tuple[int, int, int, int, int]]:
    """The session's monitors as TS_MONITOR_DEF fields: left, top, right, bottom (inclusive),
    flags."""
    return [(m.x, m.y, m.x + m.width - 1, m.y + m.height - 1, MONITOR_PRIMARY if m.primary else 0) for m in layout]


@dataclass(frozen=True)
class MonitorLayoutPdu:
    """[2.2.12.1] Monitor Layout PDU data (TS_MONITOR_LAYOUT_PDU): the session's monitors, sent
    as a Share Data PDU to a client that announced RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU."""

    monitors: tuple[MonitorDef, ...]

    TYPE2: ClassVar[int] = PduType2.MONITOR_LAYOUT

    @classmethod
    def decode(cls, r: Reader) -> MonitorLayoutPdu:
        count = r.u32("monitorCount")
        if count > MAX_MONITOR_DEFS:
            raise RemoteProtocolError(f"Monitor Layout PDU with {count} monitors, at most {MAX_MONITOR_DEFS}")
        return cls(tuple(MonitorDef.decode(r) for _ in range(count)))

    def encode(self, w: Writer) -> None:
        w.u32(len(self.monitors))
        for m in self.monitors:
            m.encode(w)

    def size(self) -> int:
        return 4 + 20 * len(self.monitors)


def monitor_layout_pdu(layout: Iterable[Monitor]) -> MonitorLayoutPdu:
    return MonitorLayoutPdu(tuple(MonitorDef(*fields) for fields in monitor_defs(layout)))
