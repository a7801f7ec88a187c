"""[MS-RDPEI] Input Virtual Channel Extension: multi-touch from the client over the dynamic
channel "Microsoft::Windows::RDS::Input".

The server opens the channel and sends SC_READY ([2.2.3.1]); the client answers CS_READY
([2.2.3.2]) and then sends TOUCH_EVENT PDUs ([2.2.3.3]), each holding frames of contacts.
The server may SUSPEND/RESUME input ([2.2.3.4], [2.2.3.5]); a client may dismiss a hovering
contact ([2.2.3.6]). Every PDU starts with RDPINPUT_HEADER: eventId (u16) and pduLength (u32,
header included), little-endian. Inside TOUCH_EVENT the numbers use the variable-length
encodings of [2.2.2]: big-endian, the high bits of the first byte say how many bytes follow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

CHANNEL_NAME = "Microsoft::Windows::RDS::Input"
HEADER_SIZE = 6
MAX_FRAMES = 1024  # frames in one TOUCH_EVENT we read
MAX_CONTACTS_PER_FRAME = 256  # contactId is one byte: no frame can name more distinct contacts

PROTOCOL_V10 = 0x00010000
PROTOCOL_V101 = 0x00010001
PROTOCOL_V200 = 0x00020000
PROTOCOL_V300 = 0x00030000

CS_READY_FLAGS_SHOW_TOUCH_VISUALS = 0x00000001
CS_READY_FLAGS_DISABLE_TIMESTAMP_INJECTION = 0x00000002


class EventId(enum.IntEnum):
    SC_READY = 0x0001
    CS_READY = 0x0002
    TOUCH = 0x0003
    SUSPEND_INPUT = 0x0004
    RESUME_INPUT = 0x0005
    DISMISS_HOVERING_CONTACT = 0x0006


class ContactFlags(enum.IntFlag):
    """[2.2.3.3.1.1] contactFlags."""

    DOWN = 0x0001
    UPDATE = 0x0002
    UP = 0x0004
    INRANGE = 0x0008
    INCONTACT = 0x0010
    CANCELED = 0x0020


class FieldsPresent(enum.IntFlag):
    CONTACTRECT = 0x0001
    ORIENTATION = 0x0002
    PRESSURE = 0x0004


# -- [2.2.2] variable-length integers ---------------------------------------------------------


def _read_varint(r: Reader, count_bits: int, sign: bool, what: str) -> int:
    """One of [2.2.2]'s encodings: ``count_bits`` high bits say how many bytes follow; then an
    optional sign bit; the remaining bits and the following bytes are the value, big-endian."""
    first = r.u8(what)
    count = first >> (8 - count_bits)  # the two-byte forms: one bit, "one more byte"
    value_bits = 8 - count_bits - (1 if sign else 0)
    negative = sign and bool(first & (1 << value_bits))
    value = first & ((1 << value_bits) - 1)
    for _ in range(count):
        value = (value << 8) | r.u8(what)
    return -value if negative else value


def _write_varint(w: Writer, value: int, count_bits: int, sign: bool, max_extra: int, what: str) -> None:
    magnitude = abs(value) if sign else value
    if value < 0 and not sign:
        raise LocalProtocolError(f"{what} {value} is negative")
    value_bits = 8 - count_bits - (1 if sign else 0)
    for extra in range(max_extra + 1):
        if magnitude < 1 << (value_bits + 8 * extra):
            break
    else:
        raise LocalProtocolError(f"{what} {value} does not fit its encoding")
    first = (magnitude >> (8 * extra)) | (extra << (8 - count_bits))
    if sign and value < 0:
        first |= 1 << value_bits
    w.u8(first)
    for i in range(extra - 1, -1, -1):
        w.u8((magnitude >> (8 * i)) & 0xFF)


TWO_BYTE_UNSIGNED_MAX = 0x7FFF
TWO_BYTE_SIGNED_MAX = 0x3FFF
FOUR_BYTE_UNSIGNED_MAX = 0x3FFFFFFF
FOUR_BYTE_SIGNED_MAX = 0x1FFFFFFF
EIGHT_BYTE_UNSIGNED_MAX = 0x1FFFFFFFFFFFFFFF


def read_u2(r: Reader, what: str) -> int:
    """[2.2.2.1] TWO_BYTE_UNSIGNED_INTEGER."""
    return _read_varint(r, 1, False, what)


def read_i2(r: Reader, what: str) -> int:
    """[2.2.2.2] TWO_BYTE_SIGNED_INTEGER."""
    return _read_varint(r, 1, True, what)


def read_u4(r: Reader, what: str) -> int:
    """[2.2.2.3] FOUR_BYTE_UNSIGNED_INTEGER."""
    return _read_varint(r, 2, False, what)


def read_i4(r: Reader, what: str) -> int:
    """[2.2.2.4] FOUR_BYTE_SIGNED_INTEGER."""
    return _read_varint(r, 2, True, what)


def read_u8(r: Reader, what: str) -> int:
    """[2.2.2.5] EIGHT_BYTE_UNSIGNED_INTEGER."""
    return _read_varint(r, 3, False, what)


def write_u2(w: Writer, v: int, what: str = "TWO_BYTE_UNSIGNED_INTEGER") -> None:
    _write_varint(w, v, 1, False, 1, what)


def write_i2(w: Writer, v: int, what: str = "TWO_BYTE_SIGNED_INTEGER") -> None:
    _write_varint(w, v, 1, True, 1, what)


def write_u4(w: Writer, v: int, what: str = "FOUR_BYTE_UNSIGNED_INTEGER") -> None:
    _write_varint(w, v, 2, False, 3, what)


def write_i4(w: Writer, v: int, what: str = "FOUR_BYTE_SIGNED_INTEGER") -> None:
    _write_varint(w, v, 2, True, 3, what)


def write_u8(w: Writer, v: int, what: str = "EIGHT_BYTE_UNSIGNED_INTEGER") -> None:
    _write_varint(w, v, 3, False, 7, what)


# -- PDUs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScReady:
    """[2.2.3.1] RDPINPUT_SC_READY_PDU (server to client). ``supported_features`` is sent only
    from protocol version 3.0.0 on."""

    protocol_version: int = PROTOCOL_V200
    supported_features: int | None = None


@dataclass(frozen=True)
class CsReady:
    """[2.2.3.2] RDPINPUT_CS_READY_PDU (client to server)."""

    flags: int
    protocol_version: int
    max_touch_contacts: int


@dataclass(frozen=True)
class Contact:
    """[2.2.3.3.1.1] RDPINPUT_CONTACT_DATA. ``rect`` is (left, top, right, bottom) relative to x, y."""

    contact_id: int
    x: int
    y: int
    flags: int
    rect: tuple[int, int, int, int] | None = None
    orientation: int | None = None
    pressure: int | None = None


@dataclass(frozen=True)
class TouchFrame:
    """[2.2.3.3.1] RDPINPUT_TOUCH_FRAME: ``frame_offset`` µs since the previous frame."""

    contacts: tuple[Contact, ...]
    frame_offset: int = 0


@dataclass(frozen=True)
class TouchEvent:
    """[2.2.3.3] RDPINPUT_TOUCH_EVENT_PDU (client to server): ``encode_time`` ms since the
    previous TOUCH_EVENT."""

    frames: tuple[TouchFrame, ...]
    encode_time: int = 0


@dataclass(frozen=True)
class SuspendInput:
    """[2.2.3.4] RDPINPUT_SUSPEND_INPUT_PDU (server to client)."""


@dataclass(frozen=True)
class ResumeInput:
    """[2.2.3.5] RDPINPUT_RESUME_INPUT_PDU (server to client)."""


@dataclass(frozen=True)
class DismissHoveringContact:
    """[2.2.3.6] RDPINPUT_DISMISS_HOVERING_TOUCH_CONTACT_PDU (client to server)."""

    contact_id: int


RdpeiPdu = ScReady | CsReady | TouchEvent | SuspendInput | ResumeInput | DismissHoveringContact


def _decode_contact(r: Reader) -> Contact:
    contact_id = r.u8("contactId")
    present = read_u2(r, "fieldsPresent")
    x = read_i4(r, "x")
    y = read_i4(r, "y")
    flags = read_u4(r, "contactFlags")
    rect = orientation = pressure = None
    if present & FieldsPresent.CONTACTRECT:
        rect = (read_i2(r, "contactRectLeft"), read_i2(r, "contactRectTop"), read_i2(r, "contactRectRight"),
                read_i2(r, "contactRectBottom"))
    if present & FieldsPresent.ORIENTATION:
        orientation = read_u4(r, "orientation")
    if present & FieldsPresent.PRESSURE:
        pressure = read_u4(r, "pressure")
    return Contact(contact_id, x, y, flags, rect, orientation, pressure)


def _decode_touch(r: Reader) -> TouchEvent:
    encode_time = read_u4(r, "encodeTime")
    frame_count = read_u2(r, "frameCount")
    if frame_count > MAX_FRAMES:
        raise RemoteProtocolError(f"TOUCH_EVENT with {frame_count} frames (at most {MAX_FRAMES} accepted)")
    frames = []
    for _ in range(frame_count):
        contact_count = read_u2(r, "contactCount")
        if contact_count > MAX_CONTACTS_PER_FRAME:
            raise RemoteProtocolError(
                f"touch frame with {contact_count} contacts (at most {MAX_CONTACTS_PER_FRAME} accepted)")
        offset = read_u8(r, "frameOffset")
        contacts = tuple(_decode_contact(r) for _ in range(contact_count))
        frames.append(TouchFrame(contacts, offset))
    return TouchEvent(tuple(frames), encode_time)


def decode_rdpei(data: bytes, *, from_server: bool = False) -> RdpeiPdu:
    """One whole message of the channel; ``from_server`` for the server's PDUs (a client's view)."""
    r = Reader(data)
    event_id = r.u16("eventId")
    length = r.u32("pduLength")
    if length != len(data):
        raise RemoteProtocolError(f"RDPINPUT pduLength {length} but the message has {len(data)} bytes")
    pdu: RdpeiPdu
    if from_server and event_id == EventId.SC_READY:
        version = r.u32("protocolVersion")
        features = r.u32("supportedFeatures") if r.remaining() >= 4 else None
        pdu = ScReady(version, features)
    elif from_server and event_id == EventId.SUSPEND_INPUT:
        pdu = SuspendInput()
    elif from_server and event_id == EventId.RESUME_INPUT:
        pdu = ResumeInput()
    elif not from_server and event_id == EventId.CS_READY:
        pdu = CsReady(r.u32("flags"), r.u32("protocolVersion"), r.u16("maxTouchContacts"))
    elif not from_server and event_id == EventId.TOUCH:
        pdu = _decode_touch(r)
    elif not from_server and event_id == EventId.DISMISS_HOVERING_CONTACT:
        pdu = DismissHoveringContact(r.u8("contactId"))
    else:
        side = "server" if from_server else "client"
        raise RemoteProtocolError(f"unexpected RDPINPUT eventId {event_id:#x} from the {side}")
    r.expect_end(f"RDPINPUT {EventId(event_id).name}")
    return pdu


def _encode_contact(w: Writer, c: Contact) -> None:
    w.u8(c.contact_id)
    present = ((FieldsPresent.CONTACTRECT if c.rect is not None else 0)
               | (FieldsPresent.ORIENTATION if c.orientation is not None else 0)
               | (FieldsPresent.PRESSURE if c.pressure is not None else 0))
    write_u2(w, int(present))
    write_i4(w, c.x, "x")
    write_i4(w, c.y, "y")
    write_u4(w, c.flags, "contactFlags")
    if c.rect is not None:
        for v in c.rect:
            write_i2(w, v, "contactRect")
    if c.orientation is not None:
        write_u4(w, c.orientation, "orientation")
    if c.pressure is not None:
        write_u4(w, c.pressure, "pressure")


def encode_rdpei(pdu: RdpeiPdu) -> bytes:
    body = Writer()
    if isinstance(pdu, ScReady):
        event_id = EventId.SC_READY
        body.u32(pdu.protocol_version)
        if pdu.supported_features is not None:
            body.u32(pdu.supported_features)
    elif isinstance(pdu, CsReady):
        event_id = EventId.CS_READY
        body.u32(pdu.flags)
        body.u32(pdu.protocol_version)
        body.u16(pdu.max_touch_contacts)
    elif isinstance(pdu, TouchEvent):
        event_id = EventId.TOUCH
        write_u4(body, pdu.encode_time, "encodeTime")
        write_u2(body, len(pdu.frames), "frameCount")
        for frame in pdu.frames:
            write_u2(body, len(frame.contacts), "contactCount")
            write_u8(body, frame.frame_offset, "frameOffset")
            for contact in frame.contacts:
                _encode_contact(body, contact)
    elif isinstance(pdu, SuspendInput):
        event_id = EventId.SUSPEND_INPUT
    elif isinstance(pdu, ResumeInput):
        event_id = EventId.RESUME_INPUT
    else:
        event_id = EventId.DISMISS_HOVERING_CONTACT
        body.u8(pdu.contact_id)
    payload = body.getvalue()
    w = Writer()
    w.u16(event_id)
    w.u32(HEADER_SIZE + len(payload))
    w.write(payload)
    return w.getvalue()
