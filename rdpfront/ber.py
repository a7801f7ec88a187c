"""[X.690] The BER subset the MCS connect PDUs use (T.125 section 7, part 2).

Reading is lenient where real clients differ and the meaning is still plain (Postel, as FreeRDP's
``ber_read_integer`` and IronRDP's ``ber::read_integer`` are): lengths in the short form or the
long form with up to four length octets, minimal or not; INTEGERs of one to nine content octets
read as unsigned, because every INTEGER of the MCS connect PDUs is constrained to ``0..MAX``
and clients write them both ways (mstsc, MS-RDPBCGR 4.1.3: maxMCSPDUsize 65535 as
``02 02 ff ff``, which strict two's complement reads as -1; FreeRDP: ``02 03 00 ff ff``).
Writing is DER: minimal lengths and sign-correct, minimal INTEGERs, as Windows answers
(MS-RDPBCGR 4.1.4).
"""

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


MAX_LENGTH_OCTETS = 4
MAX_INTEGER_OCTETS = 9  # a 64-bit value with its leading 0x00
MAX_INTEGER = (1 << 64) - 1


def read_length(r: Reader) -> int:
    """[X.690 8.1.3] Definite length, short or long form (non-minimal long forms accepted)."""
    first = r.u8("BER length")
    if first < 0x80:
        return first
    count = first & 0x7F
    if count == 0:
        raise RemoteProtocolError("BER indefinite length (0x80) is not used by MCS")
    if count > MAX_LENGTH_OCTETS:
        raise RemoteProtocolError(f"BER length of {count} octets, at most {MAX_LENGTH_OCTETS} accepted")
    return int.from_bytes(r.read(count, "BER length"), "big")


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
    """[X.690 8.3] An INTEGER of the MCS connect PDUs (``0..MAX``), its content octets read as
    unsigned: ``02 02 ff ff`` and ``02 03 00 ff ff`` are both 65535. At most 64 bits."""
    length = read_tag(r, Tag.INTEGER)
    if not 1 <= length <= MAX_INTEGER_OCTETS:
        raise RemoteProtocolError(f"BER INTEGER of {length} octets, 1 to {MAX_INTEGER_OCTETS} accepted")
    value = int.from_bytes(r.read(length, "BER INTEGER"), "big")
    if value > MAX_INTEGER:
        raise RemoteProtocolError(f"BER INTEGER 0x{value:x} wider than 64 bits")
    return value


def integer_content_size(value: int) -> int:
    """Octets of the minimal two's complement form of ``value`` (a leading 0x00 when the top
    bit would be set)."""
    if not 0 <= value <= MAX_INTEGER:
        raise LocalProtocolError(f"BER INTEGER {value} outside 0..2**64-1")
    return value.bit_length() // 8 + 1


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
