"""[MS-RDPECLIP] Clipboard Virtual Channel Extension PDUs (static channel "cliprdr")."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError

CHANNEL_NAME = "cliprdr"
CF_TEXT = 1
CF_UNICODETEXT = 13
MAX_FORMATS = 1024


class MsgType(enum.IntEnum):
    CB_MONITOR_READY = 0x0001
    CB_FORMAT_LIST = 0x0002
    CB_FORMAT_LIST_RESPONSE = 0x0003
    CB_FORMAT_DATA_REQUEST = 0x0004
    CB_FORMAT_DATA_RESPONSE = 0x0005
    CB_TEMP_DIRECTORY = 0x0006
    CB_CLIP_CAPS = 0x0007
    CB_FILECONTENTS_REQUEST = 0x0008
    CB_FILECONTENTS_RESPONSE = 0x0009
    CB_LOCK_CLIPDATA = 0x000A
    CB_UNLOCK_CLIPDATA = 0x000B


class MsgFlags(enum.IntFlag):
    NONE = 0
    CB_RESPONSE_OK = 0x0001
    CB_RESPONSE_FAIL = 0x0002
    CB_ASCII_NAMES = 0x0004


class GeneralFlags(enum.IntFlag):
    NONE = 0
    CB_USE_LONG_FORMAT_NAMES = 0x00000002
    CB_STREAM_FILECLIP_ENABLED = 0x00000004
    CB_FILECLIP_NO_FILE_PATHS = 0x00000008
    CB_CAN_LOCK_CLIPDATA = 0x00000010
    CB_HUGE_FILE_SUPPORT_ENABLED = 0x00000020


CB_CAPSTYPE_GENERAL = 0x0001
CB_CAPS_VERSION_2 = 0x00000002


@dataclass(frozen=True)
class ClipboardHeader:
    """[2.2.1] Clipboard PDU Header (CLIPRDR_HEADER)."""

    msg_type: int
    msg_flags: int
    data_len: int

    @classmethod
    def decode(cls, r: Reader) -> ClipboardHeader:
        return cls(r.u16("msgType"), r.u16("msgFlags"), r.u32("dataLen"))

    def encode(self, w: Writer) -> None:
        w.u16(self.msg_type)
        w.u16(self.msg_flags)
        w.u32(self.data_len)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class ClipCaps:
    """[2.2.2.1] Clipboard Capabilities PDU (CLIPRDR_CAPS) with one General Capability Set."""

    general_flags: int = GeneralFlags.CB_USE_LONG_FORMAT_NAMES
    version: int = CB_CAPS_VERSION_2

    TYPE: ClassVar[int] = MsgType.CB_CLIP_CAPS

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> ClipCaps:
        count = r.u16("cCapabilitiesSets")
        r.skip(2, "pad1")
        version, general = CB_CAPS_VERSION_2, 0
        for _ in range(count):
            kind = r.u16("capabilitySetType")
            length = r.u16("lengthCapability")
            if length < 4:
                raise RemoteProtocolError(f"clipboard capability set length {length} < 4")
            body = r.sub(length - 4, "clipboard capability set")
            if kind == CB_CAPSTYPE_GENERAL:
                version = body.u32("version")
                general = body.u32("generalFlags")
        return cls(general, version)

    def encode_body(self, w: Writer) -> None:
        w.u16(1)
        w.pad(2)
        w.u16(CB_CAPSTYPE_GENERAL)
        w.u16(12)
        w.u32(self.version)
        w.u32(self.general_flags)

    def body_size(self) -> int:
        return 16

    def msg_flags(self) -> int:
        return 0


@dataclass(frozen=True)
class MonitorReady:
    """[2.2.2.2] Server Monitor Ready PDU (CLIPRDR_MONITOR_READY)."""

    TYPE: ClassVar[int] = MsgType.CB_MONITOR_READY

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> MonitorReady:
        return cls()

    def encode_body(self, w: Writer) -> None:
        pass

    def body_size(self) -> int:
        return 0

    def msg_flags(self) -> int:
        return 0


@dataclass(frozen=True)
class Format:
    """[2.2.3.1.2.1] Long Format Name (CLIPRDR_LONG_FORMAT_NAME)."""

    format_id: int
    name: str = ""


@dataclass(frozen=True)
class FormatList:
    """[2.2.3.1] Format List PDU (CLIPRDR_FORMAT_LIST), long format names ([2.2.3.1.2]).

    Peers that did not negotiate CB_USE_LONG_FORMAT_NAMES send 36-byte short names
    ([2.2.3.1.1]); ``decode_body`` is told which through ``long_names``.
    """

    formats: tuple[Format, ...]
    long_names: bool = True

    TYPE: ClassVar[int] = MsgType.CB_FORMAT_LIST

    @classmethod
    def decode_body(cls, r: Reader, flags: int, long_names: bool = True) -> FormatList:
        formats = []
        while r.remaining():
            if len(formats) >= MAX_FORMATS:
                raise RemoteProtocolError(f"format list with more than {MAX_FORMATS} formats")
            fid = r.u32("formatId")
            if long_names:
                raw = bytearray()
                while True:
                    unit = r.read(2, "wszFormatName")
                    if unit == b"\x00\x00":
                        break
                    raw += unit
                name = raw.decode("utf-16-le", errors="replace")
            else:
                raw32 = r.read(32, "formatName")
                if flags & MsgFlags.CB_ASCII_NAMES:
                    name = raw32.split(b"\x00", 1)[0].decode("latin-1")
                else:
                    name = raw32.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
            formats.append(Format(fid, name))
        return cls(tuple(formats), long_names)

    def encode_body(self, w: Writer) -> None:
        for f in self.formats:
            w.u32(f.format_id)
            if self.long_names:
                w.write(f.name.encode("utf-16-le") + b"\x00\x00")
            else:
                raw = f.name.encode("utf-16-le")[:30]
                w.write(raw + bytes(32 - len(raw)))

    def body_size(self) -> int:
        if self.long_names:
            return sum(4 + len(f.name.encode("utf-16-le")) + 2 for f in self.formats)
        return 36 * len(self.formats)

    def msg_flags(self) -> int:
        return 0


@dataclass(frozen=True)
class FormatListResponse:
    """[2.2.3.2] Format List Response PDU (CLIPRDR_FORMAT_LIST_RESPONSE)."""

    ok: bool = True

    TYPE: ClassVar[int] = MsgType.CB_FORMAT_LIST_RESPONSE

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> FormatListResponse:
        return cls(bool(flags & MsgFlags.CB_RESPONSE_OK))

    def encode_body(self, w: Writer) -> None:
        pass

    def body_size(self) -> int:
        return 0

    def msg_flags(self) -> int:
        return MsgFlags.CB_RESPONSE_OK if self.ok else MsgFlags.CB_RESPONSE_FAIL


@dataclass(frozen=True)
class FormatDataRequest:
    """[2.2.5.1] Format Data Request PDU (CLIPRDR_FORMAT_DATA_REQUEST)."""

    format_id: int

    TYPE: ClassVar[int] = MsgType.CB_FORMAT_DATA_REQUEST

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> FormatDataRequest:
        return cls(r.u32("requestedFormatId"))

    def encode_body(self, w: Writer) -> None:
        w.u32(self.format_id)

    def body_size(self) -> int:
        return 4

    def msg_flags(self) -> int:
        return 0


@dataclass(frozen=True)
class FormatDataResponse:
    """[2.2.5.2] Format Data Response PDU (CLIPRDR_FORMAT_DATA_RESPONSE)."""

    data: bytes = field(default=b"", repr=False)
    ok: bool = True

    TYPE: ClassVar[int] = MsgType.CB_FORMAT_DATA_RESPONSE

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> FormatDataResponse:
        return cls(r.rest(), bool(flags & MsgFlags.CB_RESPONSE_OK))

    def encode_body(self, w: Writer) -> None:
        w.write(self.data)

    def body_size(self) -> int:
        return len(self.data)

    def msg_flags(self) -> int:
        return MsgFlags.CB_RESPONSE_OK if self.ok else MsgFlags.CB_RESPONSE_FAIL

    @classmethod
    def unicode_text(cls, text: str) -> FormatDataResponse:
        """CF_UNICODETEXT data: UTF-16LE with a terminating NUL, CRLF line ends (Windows convention)."""
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        return cls(text.encode("utf-16-le", errors="surrogatepass") + b"\x00\x00")

    def text(self) -> str:
        """Decode CF_UNICODETEXT data back to a str with LF line ends."""
        raw = self.data[: len(self.data) & ~1]
        text = raw.decode("utf-16-le", errors="replace")
        nul = text.find("\x00")
        if nul >= 0:
            text = text[:nul]
        return text.replace("\r\n", "\n")


@dataclass(frozen=True)
class OtherClipboardPdu:
    """A clipboard PDU this server ignores (temporary directory, file contents, locks)."""

    msg_type: int
    flags: int = 0
    data: bytes = field(default=b"", repr=False)

    @property
    def TYPE(self) -> int:
        return self.msg_type

    def encode_body(self, w: Writer) -> None:
        w.write(self.data)

    def body_size(self) -> int:
        return len(self.data)

    def msg_flags(self) -> int:
        return self.flags


ClipboardPdu = (ClipCaps | MonitorReady | FormatList | FormatListResponse | FormatDataRequest
                | FormatDataResponse | OtherClipboardPdu)

_BODIES: dict[int, type] = {c.TYPE: c for c in (
    ClipCaps, MonitorReady, FormatList, FormatListResponse, FormatDataRequest, FormatDataResponse)}


def decode_clipboard(data: bytes, *, long_names: bool = True) -> ClipboardPdu:
    """[2.2.1] Decode one whole (reassembled) clipboard message."""
    r = Reader(data)
    header = ClipboardHeader.decode(r)
    body = r.sub(header.data_len, "clipboard PDU body")
    cls = _BODIES.get(header.msg_type)
    if cls is None:
        return OtherClipboardPdu(header.msg_type, header.msg_flags, body.rest())
    if cls is FormatList:
        return FormatList.decode_body(body, header.msg_flags, long_names)
    return cls.decode_body(body, header.msg_flags)


def encode_clipboard(pdu: ClipboardPdu) -> bytes:
    w = Writer()
    ClipboardHeader(pdu.TYPE, pdu.msg_flags(), pdu.body_size()).encode(w)
    pdu.encode_body(w)
    return w.getvalue()
