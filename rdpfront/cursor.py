"""Bounded readers and writers over bytes: every PDU decodes from a ``Reader`` and encodes
into a ``Writer`` (IronRDP's ``ReadCursor``/``WriteCursor``).

A read past the end raises ``RemoteProtocolError`` naming what was being read, so a
truncated PDU is always the peer's fault and never an ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from typing import Protocol, TypeVar

from rdpfront.errors import LocalProtocolError, RemoteProtocolError

_U16 = struct.Struct("<H")
_U16BE = struct.Struct(">H")
_U32 = struct.Struct("<I")
_U32BE = struct.Struct(">I")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")


class Reader:
    """A read position over an immutable byte buffer, with an end that may be narrowed."""

    __slots__ = ("_buf", "end", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None) -> None:
        self._buf = bytes(data) if not isinstance(data, bytes) else data
        self.pos = pos
        self.end = len(self._buf) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise RemoteProtocolError(f"truncated {what}: needs {n} bytes, {self.remaining()} left")

    def _unpack(self, st: struct.Struct, what: str) -> int:
        self.need(st.size, what)
        (value,) = st.unpack_from(self._buf, self.pos)
        self.pos += st.size
        return value

    def u8(self, what: str = "u8") -> int:
        self.need(1, what)
        value = self._buf[self.pos]
        self.pos += 1
        return value

    def peek_u8(self, what: str = "u8") -> int:
        self.need(1, what)
        return self._buf[self.pos]

    def u16(self, what: str = "u16") -> int:
        return self._unpack(_U16, what)

    def u16be(self, what: str = "u16") -> int:
        return self._unpack(_U16BE, what)

    def u32(self, what: str = "u32") -> int:
        return self._unpack(_U32, what)

    def u32be(self, what: str = "u32") -> int:
        return self._unpack(_U32BE, what)

    def i16(self, what: str = "i16") -> int:
        return self._unpack(_I16, what)

    def i32(self, what: str = "i32") -> int:
        return self._unpack(_I32, what)

    def u64(self, what: str = "u64") -> int:
        return self._unpack(_U64, what)

    def read(self, n: int, what: str = "bytes") -> bytes:
        self.need(n, what)
        data = self._buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def skip(self, n: int, what: str = "padding") -> None:
        self.need(n, what)
        self.pos += n

    def rest(self) -> bytes:
        data = self._buf[self.pos:self.end]
        self.pos = self.end
        return data

    def sub(self, n: int, what: str = "structure") -> Reader:
        """A reader over the next ``n`` bytes; this reader moves past them."""
        self.need(n, what)
        sub = Reader(self._buf, self.pos, self.pos + n)
        self.pos += n
        return sub

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise RemoteProtocolError(f"{self.end - self.pos} unexpected trailing bytes after {what}")


class Writer:
    """An append-only byte buffer with little-endian helpers."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def __len__(self) -> int:
        return len(self.buf)

    def u8(self, v: int) -> None:
        if not 0 <= v <= 0xFF:
            raise LocalProtocolError(f"u8 out of range: {v}")
        self.buf.append(v)

    def _pack(self, st: struct.Struct, v: int) -> None:
        try:
            self.buf += st.pack(v)
        except struct.error as exc:
            raise LocalProtocolError(f"value {v!r} does not fit: {exc}") from None

    def u16(self, v: int) -> None:
        self._pack(_U16, v)

    def u16be(self, v: int) -> None:
        self._pack(_U16BE, v)

    def u32(self, v: int) -> None:
        self._pack(_U32, v)

    def u32be(self, v: int) -> None:
        self._pack(_U32BE, v)

    def i16(self, v: int) -> None:
        self._pack(_I16, v)

    def i32(self, v: int) -> None:
        self._pack(_I32, v)

    def u64(self, v: int) -> None:
        self._pack(_U64, v)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.buf += data

    def pad(self, n: int) -> None:
        self.buf += bytes(n)

    def patch_u16(self, offset: int, v: int) -> None:
        _U16.pack_into(self.buf, offset, v)

    def patch_u16be(self, offset: int, v: int) -> None:
        _U16BE.pack_into(self.buf, offset, v)

    def getvalue(self) -> bytes:
        return bytes(self.buf)


class Pdu(Protocol):
    """The one shape of every PDU (IronRDP ``Encode``/``Decode``)."""

    def encode(self, w: Writer) -> None: ...

    def size(self) -> int: ...


P = TypeVar("P")


def encode(pdu: Pdu) -> bytes:
    """Encode one PDU to bytes, checking that ``size()`` told the truth."""
    w = Writer()
    pdu.encode(w)
    if len(w) != pdu.size():
        raise LocalProtocolError(f"{type(pdu).__name__}: size() {pdu.size()} but encoded {len(w)}")
    return w.getvalue()


def decode(cls: type[P], data: bytes | bytearray | memoryview, *, exact: bool = True) -> P:
    """Decode one PDU of ``cls`` from ``data``; with ``exact`` no trailing bytes are allowed."""
    r = Reader(data)
    pdu = cls.decode(r)  # type: ignore[attr-defined]
    if exact:
        r.expect_end(cls.__name__)
    return pdu


def utf16z(data: bytes) -> str:
    """Decode a UTF-16LE string, dropping the terminating NUL and anything after it."""
    text = data.decode("utf-16-le", errors="replace")
    nul = text.find("\x00")
    return text if nul < 0 else text[:nul]


def encode_utf16z(text: str) -> bytes:
    return text.encode("utf-16-le", errors="surrogatepass") + b"\x00\x00"
