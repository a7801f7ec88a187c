"""[MS-RDPECLIP] Clipboard Virtual Channel Extension PDUs (static channel "cliprdr")."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

CHANNEL_NAME = "cliprdr"
CF_TEXT = 1
CF_DIB = 8
CF_UNICODETEXT = 13
CF_DIBV5 = 17
MAX_FORMATS = 1024
# Registered formats are known by name; their ids are the announcer's own ([1.3.1.2]).
FILE_GROUP_DESCRIPTOR_W = "FileGroupDescriptorW"
PNG_FORMAT_NAMES = ("PNG", "image/png")
# FreeRDP 2.x announces an X image/png owner as this id with no name (its CB_FORMAT_PNG) and
# offers image/png on its X display for a server format of this id.
FREERDP_PNG_ID = 0xD011
MAX_FILES = 4096  # descriptors in one file list
FILE_DESCRIPTOR_SIZE = 592
FILECONTENTS_SIZE = 0x00000001
FILECONTENTS_RANGE = 0x00000002


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


class FileDescriptorFlags(enum.IntFlag):
    NONE = 0
    FD_ATTRIBUTES = 0x00000004
    FD_FILESIZE = 0x00000040
    FD_WRITESTIME = 0x00000020
    FD_SHOWPROGRESSUI = 0x00004000


FILE_ATTRIBUTE_DIRECTORY = 0x00000010
FILE_ATTRIBUTE_NORMAL = 0x00000080


@dataclass(frozen=True)
class FileDescriptor:
    """[2.2.5.2.3.1] File Descriptor (CLIPRDR_FILEDESCRIPTOR), 592 bytes.

    ``name`` is the peer's, unchecked: it may hold ``\\`` (a file inside a copied folder),
    ``..`` or control characters, and the receiver decides what to do with it. ``size`` is
    only meaningful with FD_FILESIZE in ``flags``.
    """

    name: str
    size: int = 0
    flags: int = FileDescriptorFlags.FD_ATTRIBUTES | FileDescriptorFlags.FD_FILESIZE
    attributes: int = FILE_ATTRIBUTE_NORMAL
    write_time: int = 0  # FILETIME: 100 ns since 1601-01-01

    @property
    def is_dir(self) -> bool:
        return bool(self.flags & FileDescriptorFlags.FD_ATTRIBUTES and self.attributes & FILE_ATTRIBUTE_DIRECTORY)

    @classmethod
    def decode(cls, r: Reader) -> FileDescriptor:
        flags = r.u32("flags")
        r.skip(32, "reserved1")
        attributes = r.u32("fileAttributes")
        r.skip(16, "reserved2")
        write_time = r.u64("lastWriteTime")
        high, low = r.u32("fileSizeHigh"), r.u32("fileSizeLow")
        raw = r.read(520, "fileName")
        name = raw.decode("utf-16-le", errors="replace")
        nul = name.find("\x00")
        if nul < 0:
            raise RemoteProtocolError("file descriptor: fileName has no terminating NUL")
        return cls(name[:nul], (high << 32) | low, flags, attributes, write_time)

    def encode(self, w: Writer) -> None:
        raw = self.name.encode("utf-16-le", errors="surrogatepass")
        if len(raw) > 518 or "\x00" in self.name:
            raise LocalProtocolError(f"file name {self.name[:40]!r} does not fit a file descriptor")
        w.u32(self.flags)
        w.pad(32)
        w.u32(self.attributes)
        w.pad(16)
        w.u64(self.write_time)
        w.u32(self.size >> 32)
        w.u32(self.size & 0xFFFFFFFF)
        w.write(raw + bytes(520 - len(raw)))

    def size_bytes(self) -> int:
        return FILE_DESCRIPTOR_SIZE


@dataclass(frozen=True)
class FileList:
    """[2.2.5.2.3] Packed File List (CLIPRDR_FILELIST): the data of the FileGroupDescriptorW
    format. The count must match the descriptors that follow, exactly."""

    files: tuple[FileDescriptor, ...]

    @classmethod
    def decode(cls, data: bytes) -> FileList:
        r = Reader(data)
        count = r.u32("cItems")
        if count > MAX_FILES:
            raise RemoteProtocolError(f"file list of {count} files, over {MAX_FILES}")
        if r.remaining() != count * FILE_DESCRIPTOR_SIZE:
            raise RemoteProtocolError(f"file list claims {count} files but carries {r.remaining()} bytes "
                                      f"(not {count * FILE_DESCRIPTOR_SIZE})")
        return cls(tuple(FileDescriptor.decode(r) for _ in range(count)))

    def encode(self) -> bytes:
        w = Writer()
        w.u32(len(self.files))
        for f in self.files:
            f.encode(w)
        return w.getvalue()


@dataclass(frozen=True)
class FileContentsRequest:
    """[2.2.5.3] File Contents Request PDU (CLIPRDR_FILECONTENTS_REQUEST): the size of file
    ``index`` of the file list (FILECONTENTS_SIZE), or ``requested`` bytes of it from
    ``position`` (FILECONTENTS_RANGE). ``clip_data_id`` only when the lock was negotiated."""

    stream_id: int
    index: int
    flags: int
    position: int = 0
    requested: int = 0
    clip_data_id: int | None = None

    TYPE: ClassVar[int] = MsgType.CB_FILECONTENTS_REQUEST

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> FileContentsRequest:
        stream_id, index, dw_flags = r.u32("streamId"), r.u32("lindex"), r.u32("dwFlags")
        low, high = r.u32("nPositionLow"), r.u32("nPositionHigh")
        requested = r.u32("cbRequested")
        clip = r.u32("clipDataId") if r.remaining() >= 4 else None
        if dw_flags not in (FILECONTENTS_SIZE, FILECONTENTS_RANGE):
            raise RemoteProtocolError(f"file contents request with dwFlags {dw_flags:#x}")
        return cls(stream_id, index, dw_flags, (high << 32) | low, requested, clip)

    def encode_body(self, w: Writer) -> None:
        w.u32(self.stream_id)
        w.u32(self.index)
        w.u32(self.flags)
        w.u32(self.position & 0xFFFFFFFF)
        w.u32(self.position >> 32)
        w.u32(self.requested)
        if self.clip_data_id is not None:
            w.u32(self.clip_data_id)

    def body_size(self) -> int:
        return 24 if self.clip_data_id is None else 28

    def msg_flags(self) -> int:
        return 0


@dataclass(frozen=True)
class FileContentsResponse:
    """[2.2.5.4] File Contents Response PDU (CLIPRDR_FILECONTENTS_RESPONSE): the bytes asked
    for, or for FILECONTENTS_SIZE an 8-byte size (``size()``)."""

    stream_id: int
    data: bytes = field(default=b"", repr=False)
    ok: bool = True

    TYPE: ClassVar[int] = MsgType.CB_FILECONTENTS_RESPONSE

    @classmethod
    def decode_body(cls, r: Reader, flags: int) -> FileContentsResponse:
        ok = bool(flags & MsgFlags.CB_RESPONSE_OK)
        # A failure may carry no stream id at all (some clients send an empty body).
        stream_id = r.u32("streamId") if r.remaining() >= 4 or ok else 0
        return cls(stream_id, r.rest(), ok)

    def encode_body(self, w: Writer) -> None:
        w.u32(self.stream_id)
        w.write(self.data)

    def body_size(self) -> int:
        return 4 + len(self.data)

    def msg_flags(self) -> int:
        return MsgFlags.CB_RESPONSE_OK if self.ok else MsgFlags.CB_RESPONSE_FAIL

    @classmethod
    def of_size(cls, stream_id: int, size: int) -> FileContentsResponse:
        return cls(stream_id, size.to_bytes(8, "little"))

    def file_size(self) -> int:
        """The file size a FILECONTENTS_SIZE answer carries."""
        if len(self.data) != 8:
            raise RemoteProtocolError(f"file size answer of {len(self.data)} bytes, not 8")
        return int.from_bytes(self.data, "little")


@dataclass(frozen=True)
class OtherClipboardPdu:
    """A clipboard PDU this server ignores (temporary directory, locks)."""

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
                | FormatDataResponse | FileContentsRequest | FileContentsResponse | OtherClipboardPdu)

_BODIES: dict[int, type] = {c.TYPE: c for c in (
    ClipCaps, MonitorReady, FormatList, FormatListResponse, FormatDataRequest, FormatDataResponse,
    FileContentsRequest, FileContentsResponse)}


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
