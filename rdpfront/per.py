"""[X.691] The aligned PER subset used by T.125 domain PDUs and T.124 GCC (MS-RDPBCGR 2.2.1.3-4)."""

from __future__ import annotations

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError


def read_length(r: Reader) -> int:
    first = r.u8("PER length")
    if first & 0x80:
        return ((first & 0x7F) << 8) | r.u8("PER length")
    return first


def write_length(w: Writer, length: int) -> None:
    if length < 0x80:
        w.u8(length)
    elif length <= 0x7FFF:
        w.u16be(length | 0x8000)
    else:
        raise LocalProtocolError(f"PER length {length} too large")


def length_size(length: int) -> int:
    return 1 if length < 0x80 else 2


def read_integer16(r: Reader, minimum: int = 0) -> int:
    return r.u16be("PER integer16") + minimum


def write_integer16(w: Writer, value: int, minimum: int = 0) -> None:
    if value < minimum:
        raise LocalProtocolError(f"PER integer {value} below its minimum {minimum}")
    w.u16be(value - minimum)


def read_integer(r: Reader) -> int:
    """[X.691 12.2.6] A semi-constrained whole number (``0..MAX``): a length, then that many
    octets. A length of 0 reads as 0, as FreeRDP and IronRDP read it: rdesktop writes the
    Erect Domain Request's fields as bare 16-bit values (``04 00 01 00 01``), which read as a
    length-0 subHeight and a 1-octet subInterval, and the server ignores both."""
    length = read_length(r)
    if length > 4:
        raise RemoteProtocolError(f"PER INTEGER of {length} bytes is not supported")
    return int.from_bytes(r.read(length, "PER INTEGER"), "big")


def write_integer(w: Writer, value: int) -> None:
    n = 1 if value <= 0xFF else 2 if value <= 0xFFFF else 4
    write_length(w, n)
    w.write(value.to_bytes(n, "big"))


def integer_size(value: int) -> int:
    return 1 + (1 if value <= 0xFF else 2 if value <= 0xFFFF else 4)


def read_object_identifier(r: Reader) -> bytes:
    """Return the OID's content octets (a length byte, then the packed arcs)."""
    length = read_length(r)
    if length != 5:
        raise RemoteProtocolError(f"PER object identifier of length {length}, expected 5")
    return r.read(length, "PER object identifier")


def write_object_identifier(w: Writer, content: bytes) -> None:
    write_length(w, len(content))
    w.write(content)


def read_octet_string(r: Reader, minimum: int = 0) -> bytes:
    length = read_length(r) + minimum
    return r.read(length, "PER OCTET STRING")


def write_octet_string(w: Writer, value: bytes, minimum: int = 0) -> None:
    if len(value) < minimum:
        raise LocalProtocolError("PER OCTET STRING shorter than its minimum")
    write_length(w, len(value) - minimum)
    w.write(value)


def read_numeric_string(r: Reader, minimum: int = 0) -> bytes:
    length = read_length(r) + minimum
    return r.read((length + 1) // 2, "PER NumericString")
