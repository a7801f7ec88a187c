"""[MS-RDPEDISP] Display Update Virtual Channel Extension: the client asks for a new desktop size
(its window was resized, or monitors changed) over the dynamic channel
"Microsoft::Windows::RDS::DisplayControl".

The server opens the channel and sends its capabilities ([2.2.2.1]); the client then sends
Monitor Layout PDUs ([2.2.2.2]). Every PDU starts with DISPLAYCONTROL_HEADER: Type (u32) and
Length (u32, header included).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError

CHANNEL_NAME = "Microsoft::Windows::RDS::DisplayControl"
MONITOR_LAYOUT_SIZE = 40
MAX_MONITORS = 16  # what the parser accepts in one layout; rdpfront/monitors.py takes up to 4
MIN_SIZE, MAX_SIZE = 200, 8192  # [2.2.2.2.1] Width and Height bounds
MONITOR_PRIMARY = 0x00000001


class PduType(enum.IntEnum):
    MONITOR_LAYOUT = 0x00000002
    CAPS = 0x00000005


@dataclass(frozen=True)
class Caps:
    """[2.2.2.1] DISPLAYCONTROL_CAPS_PDU (server to client)."""

    max_num_monitors: int = 1
    max_monitor_area_factor_a: int = MAX_SIZE
    max_monitor_area_factor_b: int = MAX_SIZE


@dataclass(frozen=True)
class Monitor:
    """[2.2.2.2.1] DISPLAYCONTROL_MONITOR_LAYOUT."""

    flags: int
    left: int
    top: int
    width: int
    height: int
    physical_width: int = 0
    physical_height: int = 0
    orientation: int = 0
    desktop_scale_factor: int = 100
    device_scale_factor: int = 100

    @property
    def primary(self) -> bool:
        return bool(self.flags & MONITOR_PRIMARY)


@dataclass(frozen=True)
class MonitorLayout:
    """[2.2.2.2] DISPLAYCONTROL_MONITOR_LAYOUT_PDU (client to server)."""

    monitors: tuple[Monitor, ...]

    def desktop_size(self) -> tuple[int, int]:
        """The size this server gives the session: one screen, the primary monitor's size
        (or the first one's), made even and held within [2.2.2.2.1]'s bounds."""
        if not self.monitors:
            raise RemoteProtocolError("monitor layout without monitors")
        chosen = next((m for m in self.monitors if m.primary), self.monitors[0])
        width = max(MIN_SIZE, min(chosen.width, MAX_SIZE)) & ~1
        height = max(MIN_SIZE, min(chosen.height, MAX_SIZE))
        return width, height


DispPdu = Caps | MonitorLayout


def decode_disp(data: bytes) -> DispPdu:
    r = Reader(data)
    kind = r.u32("Type")
    length = r.u32("Length")
    if length != len(data):
        raise RemoteProtocolError(f"DISPLAYCONTROL Length {length} but the message has {len(data)} bytes")
    if kind == PduType.CAPS:
        pdu = Caps(r.u32("MaxNumMonitors"), r.u32("MaxMonitorAreaFactorA"), r.u32("MaxMonitorAreaFactorB"))
        r.expect_end("DISPLAYCONTROL_CAPS_PDU")
        return pdu
    if kind == PduType.MONITOR_LAYOUT:
        size = r.u32("MonitorLayoutSize")
        if size != MONITOR_LAYOUT_SIZE:
            raise RemoteProtocolError(f"MonitorLayoutSize {size}, expected {MONITOR_LAYOUT_SIZE}")
        count = r.u32("NumMonitors")
        if not 1 <= count <= MAX_MONITORS:
            raise RemoteProtocolError(f"monitor layout with {count} monitors (1..{MAX_MONITORS} accepted)")
        monitors = []
        for _ in range(count):
            m = r.sub(MONITOR_LAYOUT_SIZE, "DISPLAYCONTROL_MONITOR_LAYOUT")
            monitors.append(Monitor(m.u32("Flags"), m.i32("Left"), m.i32("Top"), m.u32("Width"), m.u32("Height"),
                                    m.u32("PhysicalWidth"), m.u32("PhysicalHeight"), m.u32("Orientation"),
                                    m.u32("DesktopScaleFactor"), m.u32("DeviceScaleFactor")))
        r.expect_end("DISPLAYCONTROL_MONITOR_LAYOUT_PDU")
        return MonitorLayout(tuple(monitors))
    raise RemoteProtocolError(f"unknown DISPLAYCONTROL PDU type {kind:#x}")


def encode_disp(pdu: DispPdu) -> bytes:
    body = Writer()
    if isinstance(pdu, Caps):
        kind = PduType.CAPS
        body.u32(pdu.max_num_monitors)
        body.u32(pdu.max_monitor_area_factor_a)
        body.u32(pdu.max_monitor_area_factor_b)
    else:
        kind = PduType.MONITOR_LAYOUT
        body.u32(MONITOR_LAYOUT_SIZE)
        body.u32(len(pdu.monitors))
        for m in pdu.monitors:
            body.u32(m.flags)
            body.i32(m.left)
            body.i32(m.top)
            for v in (m.width, m.height, m.physical_width, m.physical_height, m.orientation,
                      m.desktop_scale_factor, m.device_scale_factor):
                body.u32(v)
    payload = body.getvalue()
    w = Writer()
    w.u32(kind)
    w.u32(8 + len(payload))
    w.write(payload)
    return w.getvalue()
