"""[MS-RDPEGFX] Graphics Pipeline Extension on the dynamic channel "Microsoft::Windows::RDS::Graphics".

The client advertises capability sets; the server confirms one, then creates a surface the size
of the desktop, maps it to the output, and draws into it in logical frames (Start Frame,
Wire To Surface 1, End Frame) that the client acknowledges. This server draws with
AVC420 (H.264 4:2:0, the session host's own stream, encoded once per session) when the
confirmed capability set allows it, and with the Planar codec otherwise and for lossless
touch-ups.

Every PDU starts with RDPGFX_HEADER (cmdId u16, flags u16, pduLength u32 with the header).
Server-to-client PDUs travel inside RDP_SEGMENTED_DATA ([2.2.5.1]), at most 65535 bytes a
segment (FreeRDP's decoder bound); each segment is RDP 8.0 bulk compressed by the
connection's ``zgfx.Compressor`` where that makes it smaller, or stored as it is
(PACKET_COMPR_TYPE_RDP8 without PACKET_COMPRESSED). Client-to-server PDUs are not wrapped.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from rdpfront import zgfx
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

CHANNEL_NAME = "Microsoft::Windows::RDS::Graphics"
HEADER_SIZE = 8
RESET_GRAPHICS_SIZE = 340
MAX_CAPSETS = 64
MAX_CACHE_ENTRIES = 5462
SEGMENT_MAX = 65535
PIXEL_FORMAT_XRGB = 0x20
SUSPEND_FRAME_ACKNOWLEDGEMENT = 0xFFFFFFFF


class Cmd(enum.IntEnum):
    WIRE_TO_SURFACE_1 = 0x0001
    SOLID_FILL = 0x0004
    SURFACE_TO_SURFACE = 0x0005
    CREATE_SURFACE = 0x0009
    DELETE_SURFACE = 0x000A
    START_FRAME = 0x000B
    END_FRAME = 0x000C
    FRAME_ACKNOWLEDGE = 0x000D
    RESET_GRAPHICS = 0x000E
    MAP_SURFACE_TO_OUTPUT = 0x000F
    CACHE_IMPORT_OFFER = 0x0010
    CACHE_IMPORT_REPLY = 0x0011
    CAPS_ADVERTISE = 0x0012
    CAPS_CONFIRM = 0x0013
    QOE_FRAME_ACKNOWLEDGE = 0x0016


class Codec(enum.IntEnum):
    UNCOMPRESSED = 0x0000
    PLANAR = 0x000A
    AVC420 = 0x000B


class CapVersion(enum.IntEnum):
    V8 = 0x00080004
    V81 = 0x00080105
    V10 = 0x000A0002
    V101 = 0x000A0100
    V102 = 0x000A0200
    V103 = 0x000A0301
    V104 = 0x000A0400
    V105 = 0x000A0502
    V106 = 0x000A0600
    V107 = 0x000A0701


CAPS_FLAG_AVC420_ENABLED = 0x00000010  # version 8.1
CAPS_FLAG_AVC_DISABLED = 0x00000020  # version 10 and later


@dataclass(frozen=True)
class CapSet:
    """[2.2.1.6] RDPGFX_CAPSET: kept as sent (``data`` raw), so a confirm echoes it exactly."""

    version: int
    data: bytes = b""

    @property
    def flags(self) -> int:
        return int.from_bytes(self.data[:4], "little") if len(self.data) >= 4 else 0

    @property
    def avc420(self) -> bool:
        """Whether this set lets the server send AVC420 in Wire To Surface 1."""
        if self.version == CapVersion.V81:
            return bool(self.flags & CAPS_FLAG_AVC420_ENABLED)
        if self.version == CapVersion.V101:
            # 16 reserved bytes, no flags: it cannot say AVC is off, and FreeRDP 2.11 sends it
            # whatever its H.264 setting; AVC is used only where another set says it is on.
            return False
        if self.version >= CapVersion.V10:
            return not self.flags & CAPS_FLAG_AVC_DISABLED
        return False


def choose_capset(sets: tuple[CapSet, ...]) -> CapSet:
    """The set to confirm: the newest one that allows AVC420, else the newest known one."""
    known = [s for s in sets if s.version in set(CapVersion)]
    if not known:
        raise RemoteProtocolError("RDPGFX Caps Advertise without a capability set this server knows")
    with_avc = [s for s in known if s.avc420]
    return max(with_avc or known, key=lambda s: s.version)


# -- client to server ---------------------------------------------------------------------


@dataclass(frozen=True)
class CapsAdvertise:
    """[2.2.2.18] RDPGFX_CAPS_ADVERTISE_PDU."""

    capsets: tuple[CapSet, ...]


@dataclass(frozen=True)
class FrameAcknowledge:
    """[2.2.2.13] RDPGFX_FRAME_ACKNOWLEDGE_PDU."""

    queue_depth: int
    frame_id: int
    total_frames_decoded: int

    @property
    def suspend(self) -> bool:
        return self.queue_depth == SUSPEND_FRAME_ACKNOWLEDGEMENT


@dataclass(frozen=True)
class QoeFrameAcknowledge:
    """[2.2.2.21] RDPGFX_QOE_FRAME_ACKNOWLEDGE_PDU (timing only; logged)."""

    frame_id: int
    timestamp: int
    time_diff_se: int
    time_diff_edr: int


@dataclass(frozen=True)
class CacheImportOffer:
    """[2.2.2.16] RDPGFX_CACHE_IMPORT_OFFER_PDU: (cacheKey, bitmapLength) pairs."""

    entries: tuple[tuple[int, int], ...]


ClientPdu = CapsAdvertise | FrameAcknowledge | QoeFrameAcknowledge | CacheImportOffer


def decode_client(data: bytes) -> ClientPdu:
    """One client-to-server RDPGFX PDU (a whole DVC message)."""
    r = Reader(data)
    cmd = r.u16("cmdId")
    r.u16("flags")
    length = r.u32("pduLength")
    if length != len(data):
        raise RemoteProtocolError(f"RDPGFX pduLength {length} but the message has {len(data)} bytes")
    if cmd == Cmd.CAPS_ADVERTISE:
        count = r.u16("capsSetCount")
        if count > MAX_CAPSETS:
            raise RemoteProtocolError(f"RDPGFX Caps Advertise with {count} capability sets")
        sets = []
        for _ in range(count):
            version = r.u32("version")
            size = r.u32("capsDataLength")
            if size > 1024:
                raise RemoteProtocolError(f"RDPGFX capability set of {size} bytes")
            sets.append(CapSet(version, r.read(size, "capsData")))
        pdu: ClientPdu = CapsAdvertise(tuple(sets))
    elif cmd == Cmd.FRAME_ACKNOWLEDGE:
        pdu = FrameAcknowledge(r.u32("queueDepth"), r.u32("frameId"), r.u32("totalFramesDecoded"))
    elif cmd == Cmd.QOE_FRAME_ACKNOWLEDGE:
        pdu = QoeFrameAcknowledge(r.u32("frameId"), r.u32("timestamp"), r.u16("timeDiffSE"), r.u16("timeDiffEDR"))
    elif cmd == Cmd.CACHE_IMPORT_OFFER:
        count = r.u16("cacheEntriesCount")
        if count >= MAX_CACHE_ENTRIES:
            raise RemoteProtocolError(f"RDPGFX Cache Import Offer with {count} entries")
        pdu = CacheImportOffer(tuple((r.u64("cacheKey"), r.u32("bitmapLength")) for _ in range(count)))
    else:
        raise RemoteProtocolError(f"unexpected RDPGFX command {cmd:#06x} from the client")
    r.expect_end(type(pdu).__name__)
    return pdu


def encode_client(pdu: ClientPdu) -> bytes:
    """The client's side (for tests and our own test client)."""
    w = Writer()
    if isinstance(pdu, CapsAdvertise):
        cmd = Cmd.CAPS_ADVERTISE
        w.u16(len(pdu.capsets))
        for s in pdu.capsets:
            w.u32(s.version)
            w.u32(len(s.data))
            w.write(s.data)
    elif isinstance(pdu, FrameAcknowledge):
        cmd = Cmd.FRAME_ACKNOWLEDGE
        w.u32(pdu.queue_depth)
        w.u32(pdu.frame_id)
        w.u32(pdu.total_frames_decoded)
    elif isinstance(pdu, QoeFrameAcknowledge):
        cmd = Cmd.QOE_FRAME_ACKNOWLEDGE
        w.u32(pdu.frame_id)
        w.u32(pdu.timestamp)
        w.u16(pdu.time_diff_se)
        w.u16(pdu.time_diff_edr)
    else:
        cmd = Cmd.CACHE_IMPORT_OFFER
        w.u16(len(pdu.entries))
        for key, size in pdu.entries:
            w.u64(key)
            w.u32(size)
    return _with_header(cmd, w.getvalue())


# -- server to client ---------------------------------------------------------------------


def _with_header(cmd: int, body: bytes) -> bytes:
    w = Writer()
    w.u16(cmd)
    w.u16(0)
    w.u32(HEADER_SIZE + len(body))
    w.write(body)
    return w.getvalue()


def caps_confirm(capset: CapSet) -> bytes:
    w = Writer()
    w.u32(capset.version)
    w.u32(len(capset.data))
    w.write(capset.data)
    return _with_header(Cmd.CAPS_CONFIRM, w.getvalue())


MAX_RESET_MONITORS = 16


def reset_graphics(width: int, height: int,
                   monitors: Sequence[tuple[int, int, int, int, int]] = ()) -> bytes:
    """[2.2.2.14] RDPGFX_RESET_GRAPHICS_PDU: the output's size and its monitors as
    TS_MONITOR_DEFs (left, top, right, bottom inclusive, flags), by default one covering the
    output; padded to the required 340 bytes."""
    if not monitors:
        monitors = ((0, 0, width - 1, height - 1, 1),)  # TS_MONITOR_PRIMARY
    if len(monitors) > MAX_RESET_MONITORS:
        raise LocalProtocolError(f"Reset Graphics takes at most {MAX_RESET_MONITORS} monitors")
    w = Writer()
    w.u32(width)
    w.u32(height)
    w.u32(len(monitors))
    for left, top, right, bottom, flags in monitors:
        w.i32(left)
        w.i32(top)
        w.i32(right)
        w.i32(bottom)
        w.u32(flags)
    body = w.getvalue()
    return _with_header(Cmd.RESET_GRAPHICS, body + bytes(RESET_GRAPHICS_SIZE - HEADER_SIZE - len(body)))


def create_surface(surface_id: int, width: int, height: int) -> bytes:
    w = Writer()
    w.u16(surface_id)
    w.u16(width)
    w.u16(height)
    w.u8(PIXEL_FORMAT_XRGB)
    return _with_header(Cmd.CREATE_SURFACE, w.getvalue())


def delete_surface(surface_id: int) -> bytes:
    w = Writer()
    w.u16(surface_id)
    return _with_header(Cmd.DELETE_SURFACE, w.getvalue())


def map_surface_to_output(surface_id: int, x: int = 0, y: int = 0) -> bytes:
    w = Writer()
    w.u16(surface_id)
    w.u16(0)
    w.u32(x)
    w.u32(y)
    return _with_header(Cmd.MAP_SURFACE_TO_OUTPUT, w.getvalue())


# The PDUs of every graphics frame, packed whole (header included) in one struct call each.
_START_FRAME = struct.Struct("<HHIII")
_END_FRAME = struct.Struct("<HHII")
_WIRE_TO_SURFACE_1 = struct.Struct("<HHIHHBHHHHI")


def start_frame(frame_id: int, timestamp: int = 0) -> bytes:
    return _START_FRAME.pack(Cmd.START_FRAME, 0, _START_FRAME.size, timestamp, frame_id)


def end_frame(frame_id: int) -> bytes:
    return _END_FRAME.pack(Cmd.END_FRAME, 0, _END_FRAME.size, frame_id)


def cache_import_reply(slots: tuple[int, ...] = ()) -> bytes:
    w = Writer()
    w.u16(len(slots))
    for slot in slots:
        w.u16(slot)
    return _with_header(Cmd.CACHE_IMPORT_REPLY, w.getvalue())


def wire_to_surface_1(surface_id: int, codec: Codec, rect: tuple[int, int, int, int], data: bytes) -> bytes:
    """[2.2.2.1]; ``rect`` is (left, top, right, bottom), right/bottom exclusive."""
    left, top, right, bottom = rect
    if not (0 <= left < right <= 0xFFFF and 0 <= top < bottom <= 0xFFFF):
        raise LocalProtocolError(f"RDPGFX destination rectangle {rect} is empty or out of range")
    return _WIRE_TO_SURFACE_1.pack(Cmd.WIRE_TO_SURFACE_1, 0, _WIRE_TO_SURFACE_1.size + len(data), surface_id, codec,
                                   PIXEL_FORMAT_XRGB, left, top, right, bottom, len(data)) + data


def is_h264(pdu: bytes) -> bool:
    """Whether ``pdu`` is a Wire To Surface 1 carrying H.264 (an access unit: no bulk
    compression shrinks it)."""
    return len(pdu) >= 12 and int.from_bytes(pdu[0:2], "little") == Cmd.WIRE_TO_SURFACE_1 \
        and int.from_bytes(pdu[10:12], "little") == Codec.AVC420


def surface_to_surface(surface_id: int, source: tuple[int, int, int, int],
                       destinations: list[tuple[int, int]], dest_surface: int | None = None) -> bytes:
    """[2.2.2.5] RDPGFX_SURFACE_TO_SURFACE_PDU: copy ``source`` (left, top, right, bottom;
    right/bottom exclusive) of a surface to each destination point (its new top-left) on
    ``dest_surface``, by default the same surface. On one surface the client copies as if
    through a temporary buffer, so source and destination may overlap (a scroll)."""
    left, top, right, bottom = source
    if not (0 <= left < right <= 0xFFFF and 0 <= top < bottom <= 0xFFFF):
        raise LocalProtocolError(f"RDPGFX source rectangle {source} is empty or out of range")
    if not 1 <= len(destinations) <= 0xFFFF:
        raise LocalProtocolError(f"RDPGFX surface-to-surface needs 1..65535 destinations, not {len(destinations)}")
    w = Writer()
    w.u16(surface_id)
    w.u16(surface_id if dest_surface is None else dest_surface)
    for v in source:
        w.u16(v)
    w.u16(len(destinations))
    for x, y in destinations:
        if not (0 <= x <= 0xFFFF and 0 <= y <= 0xFFFF):
            raise LocalProtocolError(f"RDPGFX destination point {x},{y} out of range")
        w.u16(x)
        w.u16(y)
    return _with_header(Cmd.SURFACE_TO_SURFACE, w.getvalue())


def avc420_bitmap(rects: list[tuple[int, int, int, int]], qp: int, stream: bytes) -> bytes:
    """[2.2.4.4] RFX_AVC420_BITMAP_STREAM: the metablock (region rectangles, each with its
    quantiser and a quality of 100 minus it) and one Annex-B access unit."""
    w = Writer()
    w.u32(len(rects))
    for left, top, right, bottom in rects:
        w.u16(left)
        w.u16(top)
        w.u16(right)
        w.u16(bottom)
    for _ in rects:
        w.u8(qp & 0x3F)
        w.u8(max(0, min(100, 100 - qp)))
    w.write(stream)
    return w.getvalue()


def segmented(messages: list[bytes], compressor: zgfx.Compressor | None = None,
              max_compress: int | None = None) -> bytes:
    """[2.2.5.1] RDP_SEGMENTED_DATA around whole RDPGFX PDUs: each segment through the
    connection's ``compressor`` (compressed where that is smaller, up to ``max_compress``
    bytes or the compressor's own limit; always added to its history), or stored as it is
    without one."""
    if compressor is None:
        bulk = zgfx.raw_segment
    else:
        def bulk(piece: bytes) -> bytes:
            return compressor.segment(piece, max_compress)
    data = b"".join(messages)
    if len(data) < SEGMENT_MAX:
        return bytes([0xE0]) + bulk(data)
    pieces = [data[i:i + SEGMENT_MAX - 1] for i in range(0, len(data), SEGMENT_MAX - 1)]
    w = Writer()
    w.u8(0xE1)
    w.u16(len(pieces))
    w.u32(len(data))
    for piece in pieces:
        segment = bulk(piece)
        w.u32(len(segment))
        w.write(segment)
    return w.getvalue()


def unsegment(data: bytes, decompressor: zgfx.Decompressor | None = None) -> bytes:
    """The inverse of ``segmented`` (tests, our test client): without a ``decompressor`` only
    uncompressed segments are accepted."""
    r = Reader(data)
    descriptor = r.u8("descriptor")

    def bulk(chunk: bytes) -> bytes:
        if decompressor is not None:
            return decompressor.segment(chunk)
        if not chunk or chunk[0] & zgfx.PACKET_COMPRESSED or chunk[0] & 0x0F != zgfx.PACKET_COMPR_TYPE_RDP8:
            raise RemoteProtocolError("RDP8 bulk data compressed or of another type")
        return chunk[1:]

    if descriptor == 0xE0:
        return bulk(r.rest())
    if descriptor != 0xE1:
        raise RemoteProtocolError(f"RDP_SEGMENTED_DATA descriptor {descriptor:#x}")
    count = r.u16("segmentCount")
    size = r.u32("uncompressedSize")
    out = b"".join(bulk(r.read(r.u32("size"), "bulkData")) for _ in range(count))
    if len(out) != size:
        raise RemoteProtocolError(f"segments carry {len(out)} bytes, {size} announced")
    return out


@dataclass(frozen=True)
class ServerPdu:
    """A server-to-client PDU as decoded by ``split_server`` (tests): command and body."""

    cmd: int
    body: bytes = field(repr=False)


def split_server(data: bytes) -> list[ServerPdu]:
    """The RDPGFX PDUs in one unsegmented server message."""
    r = Reader(data)
    out = []
    while r.remaining():
        cmd = r.u16("cmdId")
        r.u16("flags")
        length = r.u32("pduLength")
        if length < HEADER_SIZE:
            raise RemoteProtocolError(f"RDPGFX pduLength {length}")
        out.append(ServerPdu(cmd, r.read(length - HEADER_SIZE, "RDPGFX body")))
    return out
