"""[T.123 section 8] TPKT header, and the framing of the byte stream into PDUs.

An RDP stream carries two kinds of frame: slow-path ones behind a TPKT header (first byte
0x03) and fast-path ones ([MS-RDPBCGR 2.2.8.1.2] / [2.2.9.1.2]) whose first byte has its two
low bits clear. ``Framer`` cuts the stream into whole frames without decoding them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

TPKT_VERSION = 3
TPKT_HEADER_SIZE = 4
MAX_FASTPATH_LENGTH = 0x7FFF


@dataclass(frozen=True)
class TpktHeader:
    """[T.123 section 8] TPKT header: version 3, reserved, u16 BE length of the whole packet."""

    length: int

    @classmethod
    def decode(cls, r: Reader) -> TpktHeader:
        version = r.u8("TPKT version")
        if version != TPKT_VERSION:
            raise RemoteProtocolError(f"TPKT version {version}, expected 3")
        r.skip(1, "TPKT reserved")
        length = r.u16be("TPKT length")
        if length < TPKT_HEADER_SIZE:
            raise RemoteProtocolError(f"TPKT length {length} shorter than its header")
        return cls(length)

    def encode(self, w: Writer) -> None:
        if not TPKT_HEADER_SIZE <= self.length <= 0xFFFF:
            raise LocalProtocolError(f"TPKT length {self.length} out of range")
        w.u8(TPKT_VERSION)
        w.u8(0)
        w.u16be(self.length)

    def size(self) -> int:
        return TPKT_HEADER_SIZE


class Action(enum.IntEnum):
    """[2.2.9.1.2] fpOutputHeader / [2.2.8.1.2] fpInputHeader action bits."""

    FASTPATH = 0x0
    X224 = 0x3


class Framer:
    """Accumulates stream bytes and hands out complete frames as ``(Action, bytes)``."""

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        self._buf = bytearray()
        self._max = max_buffer

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data
        if len(self._buf) > self._max:
            raise RemoteProtocolError(f"{len(self._buf)} bytes buffered without a complete frame")

    def buffered(self) -> int:
        return len(self._buf)

    def frames(self) -> list[tuple[Action, bytes]]:
        out: list[tuple[Action, bytes]] = []
        while True:
            frame = self.next_frame()
            if frame is None:
                return out
            out.append(frame)

    def next_frame(self) -> tuple[Action, bytes] | None:
        """The next complete frame, or None until more bytes arrive."""
        buf = self._buf
        if not buf:
            return None
        first = buf[0]
        if first == TPKT_VERSION:
            if len(buf) < TPKT_HEADER_SIZE:
                return None
            length = (buf[2] << 8) | buf[3]
            if length < 7:  # TPKT + the shortest X.224 TPDU (data header 3 bytes)
                raise RemoteProtocolError(f"TPKT length {length} too short for an X.224 TPDU")
            action = Action.X224
        elif first & 0x3 == Action.FASTPATH:
            if len(buf) < 2:
                return None
            if buf[1] & 0x80:
                if len(buf) < 3:
                    return None
                length = ((buf[1] & 0x7F) << 8) | buf[2]
            else:
                length = buf[1]
            if length < 2:
                raise RemoteProtocolError(f"fast-path length {length} shorter than its header")
            action = Action.FASTPATH
        else:
            raise RemoteProtocolError(f"frame starts with 0x{first:02x}: neither TPKT nor fast-path")
        if len(buf) < length:
            return None
        frame = bytes(buf[:length])
        del buf[:length]
        return action, frame
