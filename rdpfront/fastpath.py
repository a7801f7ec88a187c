"""[2.2.9.1.2] Fast-path output: Server Fast-Path Update PDU (TS_FP_UPDATE_PDU) and the
fragmentation of one update across several PDUs ([2.2.9.1.2.1] fragmentation field)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError


class UpdateCode(enum.IntEnum):
    """[2.2.9.1.2.1] updateCode."""

    ORDERS = 0x0
    BITMAP = 0x1
    PALETTE = 0x2
    SYNCHRONIZE = 0x3
    SURFCMDS = 0x4
    PTR_NULL = 0x5
    PTR_DEFAULT = 0x6
    PTR_POSITION = 0x8
    COLOR = 0x9
    CACHED = 0xA
    POINTER = 0xB
    LARGE_POINTER = 0xC


class Fragmentation(enum.IntEnum):
    SINGLE = 0x0
    LAST = 0x1
    FIRST = 0x2
    NEXT = 0x3


# A fast-path PDU's length field has 15 bits; keep well inside it so no client trips on it.
MAX_FASTPATH_PDU = 0x3FFF
FASTPATH_HEADER_MAX = 3
UPDATE_HEADER_SIZE = 3  # updateHeader + size (no compressionFlags: bulk compression is off)
MAX_FRAGMENT = MAX_FASTPATH_PDU - FASTPATH_HEADER_MAX - UPDATE_HEADER_SIZE


@dataclass(frozen=True)
class FastPathUpdate:
    """[2.2.9.1.2.1] Fast-Path Update (TS_FP_UPDATE): one (fragment of an) update."""

    code: UpdateCode
    data: bytes = field(repr=False)
    fragmentation: Fragmentation = Fragmentation.SINGLE

    @classmethod
    def decode(cls, r: Reader) -> FastPathUpdate:
        header = r.u8("updateHeader")
        code, frag, compression = header & 0xF, (header >> 4) & 0x3, header >> 6
        if compression:
            raise RemoteProtocolError("bulk-compressed fast-path update")
        try:
            kind = UpdateCode(code)
        except ValueError:
            raise RemoteProtocolError(f"unknown fast-path updateCode {code}") from None
        size = r.u16("update size")
        return cls(kind, r.read(size, "update data"), Fragmentation(frag))

    def encode(self, w: Writer) -> None:
        w.u8(self.code | (self.fragmentation << 4))
        w.u16(len(self.data))
        w.write(self.data)

    def size(self) -> int:
        return UPDATE_HEADER_SIZE + len(self.data)


@dataclass(frozen=True)
class FastPathOutput:
    """[2.2.9.1.2] Server Fast-Path Update PDU (TS_FP_UPDATE_PDU), unencrypted."""

    updates: tuple[FastPathUpdate, ...]

    @classmethod
    def decode(cls, r: Reader) -> FastPathOutput:
        header = r.u8("fpOutputHeader")
        if header & 0x3:
            raise RemoteProtocolError("fast-path output action is not FASTPATH_OUTPUT_ACTION_FASTPATH")
        if header >> 6:
            raise RemoteProtocolError("encrypted fast-path output is not supported")
        first = r.u8("fast-path length")
        length = (((first & 0x7F) << 8) | r.u8("fast-path length")) if first & 0x80 else first
        header_len = 3 if first & 0x80 else 2
        if length < header_len:
            raise RemoteProtocolError(f"fast-path length {length} shorter than its header")
        body = r.sub(length - header_len, "fast-path updates")
        updates = []
        while body.remaining():
            updates.append(FastPathUpdate.decode(body))
        return cls(tuple(updates))

    def encode(self, w: Writer) -> None:
        w.u8(0)
        total = self.size()
        if total > 0x7FFF:
            raise LocalProtocolError(f"fast-path PDU of {total} bytes exceeds 0x7fff")
        w.u16be(total | 0x8000)  # always the two-byte form, as Windows does
        for u in self.updates:
            u.encode(w)

    def size(self) -> int:
        return 3 + sum(u.size() for u in self.updates)


def fragment_update(code: UpdateCode, data: bytes, max_fragment: int = MAX_FRAGMENT) -> list[bytes]:
    """Encode one update as one or more fast-path PDUs, fragmenting its data as needed."""
    out = []
    if len(data) <= max_fragment:
        w = Writer()
        FastPathOutput((FastPathUpdate(code, data),)).encode(w)
        return [w.getvalue()]
    chunks = [data[i:i + max_fragment] for i in range(0, len(data), max_fragment)]
    for i, chunk in enumerate(chunks):
        frag = Fragmentation.FIRST if i == 0 else Fragmentation.LAST if i == len(chunks) - 1 else Fragmentation.NEXT
        w = Writer()
        FastPathOutput((FastPathUpdate(code, chunk, frag),)).encode(w)
        out.append(w.getvalue())
    return out


class Reassembler:
    """Client-side reassembly of fragmented fast-path updates (used by tests and the test client)."""

    def __init__(self, max_size: int = 8 << 20) -> None:
        self._code: UpdateCode | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_size

    def push(self, update: FastPathUpdate) -> tuple[UpdateCode, bytes] | None:
        if update.fragmentation == Fragmentation.SINGLE:
            if self._code is not None:
                raise RemoteProtocolError("unfragmented update inside a fragmented one")
            return update.code, update.data
        if update.fragmentation == Fragmentation.FIRST:
            if self._code is not None:
                raise RemoteProtocolError("new fragmented update before the last one ended")
            self._code, self._parts, self._size = update.code, [], 0
        elif self._code is None or update.code != self._code:
            raise RemoteProtocolError("fragment without a matching first fragment")
        self._parts.append(update.data)
        self._size += len(update.data)
        if self._size > self._max:
            raise RemoteProtocolError(f"reassembled update exceeds {self._max} bytes")
        if update.fragmentation == Fragmentation.LAST:
            code, data = self._code, b"".join(self._parts)
            self._code, self._parts, self._size = None, [], 0
            return code, data
        return None
