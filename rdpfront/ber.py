"""[X.690] The BER subset the MCS connect PDUs use (T.125 section 7, part 2)."""

from __future__ import annotations

import enum

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError


class Tag(enum.IntEnum):
    BOOLEAN = 0x01
    INTEGER = 0x02
    OCTET_STRING = 0x04
    ENUMERATED = 0x0A
    SEQUENCE = 0x30


def read_length(r: Reader) -> int:
    first = r.u8("BER length")
    if first < 0x80:
        return first
    count = first & 0x7F
    if count == 0 or count > 2:
        raise RemoteProtocolError(f"BER length of {count} bytes is not supported")
    value = 0
    for _ in range(count):
        value = (value << 8) | r.u8("BER length")
    return value


def length_size(length: int) -> int:
    if length < 0x80:
        return 1
    return 2 if length <= 0xFF else 3


def write_length(w: Writer, length: int) -> None:
    if length < 0x80:
        w.u8(length)
    elif length <= 0xFF:
        w.u8(0x81)
        w.u8(length)
    elif length <= 0xFFFF:
        w.u8(0x82)
        w.u16be(length)
    else:
        raise LocalProtocolError(f"BER length {length} too large")


def read_application_tag(r: Reader, number: int) -> int:
    """Read ``[APPLICATION number]`` (constructed, high-tag form for number > 30); return length."""
    if number > 30:
        if r.u8("BER application tag") != 0x7F or r.u8("BER application tag") != number:
            raise RemoteProtocolError(f"expected BER [APPLICATION {number}]")
    elif r.u8("BER application tag") != (0x60 | number):
        raise RemoteProtocolError(f"expected BER [APPLICATION {number}]")
    return read_length(r)


def write_application_tag(w: Writer, number: int, length: int) -> None:
    if number > 30:
        w.u8(0x7F)
        w.u8(number)
    else:
        w.u8(0x60 | number)
    write_length(w, length)


def application_tag_size(number: int, length: int) -> int:
    return (2 if number > 30 else 1) + length_size(length)


def read_tag(r: Reader, tag: Tag) -> int:
    got = r.u8("BER tag")
    if got != tag:
        raise RemoteProtocolError(f"expected BER {tag.name} (0x{tag:02x}), got 0x{got:02x}")
    return read_length(r)


def write_tag(w: Writer, tag: Tag, length: int) -> None:
    w.u8(tag)
    write_length(w, length)


def read_integer(r: Reader) -> int:
    """A non-negative BER INTEGER of at most four content bytes (MCS never needs more)."""
    length = read_tag(r, Tag.INTEGER)
    if not 1 <= length <= 4:
        raise RemoteProtocolError(f"BER INTEGER of {length} bytes is not supported")
    value = int.from_bytes(r.read(length, "BER INTEGER"), "big", signed=True)
    if value < 0:
        raise RemoteProtocolError(f"negative BER INTEGER {value}")
    return value


def integer_content_size(value: int) -> int:
    if value < 0:
        raise LocalProtocolError("negative BER INTEGER")
    if value < 0x80:
        return 1
    if value < 0x8000:
        return 2
    if value < 0x800000:
        return 3
    if value < 0x80000000:
        return 4
    raise LocalProtocolError(f"BER INTEGER {value} needs more than four bytes")


def integer_size(value: int) -> int:
    return 1 + 1 + integer_content_size(value)


def write_integer(w: Writer, value: int) -> None:
    n = integer_content_size(value)
    write_tag(w, Tag.INTEGER, n)
    w.write(value.to_bytes(n, "big"))


def read_enumerated(r: Reader) -> int:
    if read_tag(r, Tag.ENUMERATED) != 1:
        raise RemoteProtocolError("BER ENUMERATED must be one byte")
    return r.u8("BER ENUMERATED")


def write_enumerated(w: Writer, value: int) -> None:
    write_tag(w, Tag.ENUMERATED, 1)
    w.u8(value)


def read_boolean(r: Reader) -> bool:
    if read_tag(r, Tag.BOOLEAN) != 1:
        raise RemoteProtocolError("BER BOOLEAN must be one byte")
    return r.u8("BER BOOLEAN") != 0


def write_boolean(w: Writer, value: bool) -> None:
    write_tag(w, Tag.BOOLEAN, 1)
    w.u8(0xFF if value else 0)


def read_octet_string(r: Reader) -> bytes:
    length = read_tag(r, Tag.OCTET_STRING)
    return r.read(length, "BER OCTET STRING")


def write_octet_string(w: Writer, value: bytes) -> None:
    write_tag(w, Tag.OCTET_STRING, len(value))
    w.write(value)


def octet_string_size(length: int) -> int:
    return 1 + length_size(length) + length
