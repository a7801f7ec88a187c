"""[2.2.1.13-2.2.1.22, 2.2.2-2.2.5, 2.2.11] Share control PDUs (demand/confirm active,
deactivate all) and the share data PDUs of finalization and the active session."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.input import InputPdu
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.headers import (
    FLOW_PDU_MARKER,
    SHARE_CONTROL_HEADER_SIZE,
    SHARE_DATA_HEADER_SIZE,
    PduType,
    PduType2,
    ShareControlHeader,
    ShareDataHeader,
    StreamId,
)

SERVER_CHANNEL_ID = 0x03EA  # [2.2.1.13.1.1] the server's originator/source id
SOURCE_DESCRIPTOR = b"RDP\x00"


@dataclass(frozen=True)
class DemandActive:
    """[2.2.1.13.1.1] Demand Active PDU Data (TS_DEMAND_ACTIVE_PDU)."""

    share_id: int
    capabilities: tuple[caps.Capability, ...]
    session_id: int = 0
    source_descriptor: bytes = SOURCE_DESCRIPTOR

    TYPE: ClassVar[PduType] = PduType.DEMAND_ACTIVE

    @classmethod
    def decode(cls, r: Reader) -> DemandActive:
        share_id = r.u32("shareId")
        len_source = r.u16("lengthSourceDescriptor")
        len_caps = r.u16("lengthCombinedCapabilities")
        source = r.read(len_source, "sourceDescriptor")
        capabilities = caps.decode_capabilities(r.sub(len_caps, "capability sets"))
        session = r.u32("sessionId") if r.remaining() >= 4 else 0
        return cls(share_id, capabilities, session, source)

    def encode(self, w: Writer) -> None:
        w.u32(self.share_id)
        w.u16(len(self.source_descriptor))
        w.u16(caps.capabilities_size(self.capabilities))
        w.write(self.source_descriptor)
        caps.encode_capabilities(w, self.capabilities)
        w.u32(self.session_id)

    def size(self) -> int:
        return 8 + len(self.source_descriptor) + caps.capabilities_size(self.capabilities) + 4


@dataclass(frozen=True)
class ConfirmActive:
    """[2.2.1.13.2.1] Confirm Active PDU Data (TS_CONFIRM_ACTIVE_PDU)."""

    share_id: int
    capabilities: tuple[caps.Capability, ...]
    originator_id: int = SERVER_CHANNEL_ID
    source_descriptor: bytes = b"MSTSC\x00"

    TYPE: ClassVar[PduType] = PduType.CONFIRM_ACTIVE

    @classmethod
    def decode(cls, r: Reader) -> ConfirmActive:
        share_id = r.u32("shareId")
        originator = r.u16("originatorId")
        len_source = r.u16("lengthSourceDescriptor")
        len_caps = r.u16("lengthCombinedCapabilities")
        source = r.read(len_source, "sourceDescriptor")
        capabilities = caps.decode_capabilities(r.sub(len_caps, "capability sets"))
        return cls(share_id, capabilities, originator, source)

    def encode(self, w: Writer) -> None:
        w.u32(self.share_id)
        w.u16(self.originator_id)
        w.u16(len(self.source_descriptor))
        w.u16(caps.capabilities_size(self.capabilities))
        w.write(self.source_descriptor)
        caps.encode_capabilities(w, self.capabilities)

    def size(self) -> int:
        return 10 + len(self.source_descriptor) + caps.capabilities_size(self.capabilities)

    def find(self, cls: type) -> caps.Capability | None:
        """The first capability set of class ``cls``, if the client sent one."""
        for cap in self.capabilities:
            if isinstance(cap, cls):
                return cap
        return None


@dataclass(frozen=True)
class DeactivateAll:
    """[2.2.3.1.1] Deactivate All PDU Data (TS_DEACTIVATE_ALL_PDU)."""

    share_id: int
    source_descriptor: bytes = b"\x00"

    TYPE: ClassVar[PduType] = PduType.DEACTIVATE_ALL

    @classmethod
    def decode(cls, r: Reader) -> DeactivateAll:
        share_id = r.u32("shareId")
        length = r.u16("lengthSourceDescriptor") if r.remaining() >= 2 else 0
        return cls(share_id, r.read(length, "sourceDescriptor"))

    def encode(self, w: Writer) -> None:
        w.u32(self.share_id)
        w.u16(len(self.source_descriptor))
        w.write(self.source_descriptor)

    def size(self) -> int:
        return 6 + len(self.source_descriptor)


class SynchronizeMessageType(enum.IntEnum):
    SYNCMSGTYPE_SYNC = 1


@dataclass(frozen=True)
class Synchronize:
    """[2.2.1.14.1] Synchronize PDU Data (TS_SYNCHRONIZE_PDU)."""

    target_user: int

    TYPE2: ClassVar[int] = PduType2.SYNCHRONIZE

    @classmethod
    def decode(cls, r: Reader) -> Synchronize:
        r.u16("messageType")
        return cls(r.u16("targetUser"))

    def encode(self, w: Writer) -> None:
        w.u16(SynchronizeMessageType.SYNCMSGTYPE_SYNC)
        w.u16(self.target_user)

    def size(self) -> int:
        return 4


class ControlAction(enum.IntEnum):
    REQUEST_CONTROL = 0x0001
    GRANTED_CONTROL = 0x0002
    DETACH = 0x0003
    COOPERATE = 0x0004


@dataclass(frozen=True)
class Control:
    """[2.2.1.15.1] Control PDU Data (TS_CONTROL_PDU)."""

    action: ControlAction
    grant_id: int = 0
    control_id: int = 0

    TYPE2: ClassVar[int] = PduType2.CONTROL

    @classmethod
    def decode(cls, r: Reader) -> Control:
        action = r.u16("action")
        try:
            action_enum = ControlAction(action)
        except ValueError:
            raise RemoteProtocolError(f"unknown control action {action}") from None
        return cls(action_enum, r.u16("grantId"), r.u32("controlId"))

    def encode(self, w: Writer) -> None:
        w.u16(self.action)
        w.u16(self.grant_id)
        w.u32(self.control_id)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class FontList:
    """[2.2.1.18.1] Font List PDU Data (TS_FONT_LIST_PDU)."""

    number_fonts: int = 0
    total_num_fonts: int = 0
    list_flags: int = 0x0003  # FONTLIST_FIRST | FONTLIST_LAST
    entry_size: int = 0x0032

    TYPE2: ClassVar[int] = PduType2.FONTLIST

    @classmethod
    def decode(cls, r: Reader) -> FontList:
        return cls(r.u16("numberFonts"), r.u16("totalNumFonts"), r.u16("listFlags"), r.u16("entrySize"))

    def encode(self, w: Writer) -> None:
        for v in (self.number_fonts, self.total_num_fonts, self.list_flags, self.entry_size):
            w.u16(v)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class FontMap:
    """[2.2.1.22.1] Font Map PDU Data (TS_FONT_MAP_PDU)."""

    number_entries: int = 0
    total_num_entries: int = 0
    map_flags: int = 0x0003  # FONTMAP_FIRST | FONTMAP_LAST
    entry_size: int = 0x0004

    TYPE2: ClassVar[int] = PduType2.FONTMAP

    @classmethod
    def decode(cls, r: Reader) -> FontMap:
        return cls(r.u16("numberEntries"), r.u16("totalNumEntries"), r.u16("mapFlags"), r.u16("entrySize"))

    def encode(self, w: Writer) -> None:
        for v in (self.number_entries, self.total_num_entries, self.map_flags, self.entry_size):
            w.u16(v)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class Rectangle16:
    """[2.2.11.1] Inclusive Rectangle (TS_RECTANGLE16)."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def decode(cls, r: Reader) -> Rectangle16:
        return cls(r.u16("left"), r.u16("top"), r.u16("right"), r.u16("bottom"))

    def encode(self, w: Writer) -> None:
        for v in (self.left, self.top, self.right, self.bottom):
            w.u16(v)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class RefreshRect:
    """[2.2.11.2.1] Refresh Rect PDU Data (TS_REFRESH_RECT_PDU)."""

    areas: tuple[Rectangle16, ...]

    TYPE2: ClassVar[int] = PduType2.REFRESH_RECT

    @classmethod
    def decode(cls, r: Reader) -> RefreshRect:
        count = r.u8("numberOfAreas")
        r.skip(3, "pad3Octets")
        return cls(tuple(Rectangle16.decode(r) for _ in range(count)))

    def encode(self, w: Writer) -> None:
        if len(self.areas) > 255:
            raise LocalProtocolError("at most 255 refresh areas")
        w.u8(len(self.areas))
        w.pad(3)
        for a in self.areas:
            a.encode(w)

    def size(self) -> int:
        return 4 + 8 * len(self.areas)


@dataclass(frozen=True)
class SuppressOutput:
    """[2.2.11.3.1] Suppress Output PDU Data (TS_SUPPRESS_OUTPUT_PDU)."""

    allow_display_updates: bool
    desktop_rect: Rectangle16 | None = None

    TYPE2: ClassVar[int] = PduType2.SUPPRESS_OUTPUT

    @classmethod
    def decode(cls, r: Reader) -> SuppressOutput:
        allow = r.u8("allowDisplayUpdates")
        r.skip(3, "pad3Octets")
        rect = Rectangle16.decode(r) if allow and r.remaining() >= 8 else None
        return cls(bool(allow), rect)

    def encode(self, w: Writer) -> None:
        w.u8(int(self.allow_display_updates))
        w.pad(3)
        if self.allow_display_updates and self.desktop_rect is not None:
            self.desktop_rect.encode(w)

    def size(self) -> int:
        return 4 + (8 if self.allow_display_updates and self.desktop_rect is not None else 0)


@dataclass(frozen=True)
class ShutdownRequest:
    """[2.2.2.2.1] Shutdown Request PDU Data (TS_SHUTDOWN_REQ_PDU): empty."""

    TYPE2: ClassVar[int] = PduType2.SHUTDOWN_REQUEST

    @classmethod
    def decode(cls, r: Reader) -> ShutdownRequest:
        return cls()

    def encode(self, w: Writer) -> None:
        pass

    def size(self) -> int:
        return 0


@dataclass(frozen=True)
class ShutdownDenied:
    """[2.2.2.3.1] Shutdown Request Denied PDU Data (TS_SHUTDOWN_DENIED_PDU): empty."""

    TYPE2: ClassVar[int] = PduType2.SHUTDOWN_DENIED

    @classmethod
    def decode(cls, r: Reader) -> ShutdownDenied:
        return cls()

    def encode(self, w: Writer) -> None:
        pass

    def size(self) -> int:
        return 0


class ErrorInfo(enum.IntEnum):
    """[2.2.5.1.1] errorInfo codes this server uses."""

    NONE = 0x00000000
    RPC_INITIATED_DISCONNECT = 0x00000001
    RPC_INITIATED_LOGOFF = 0x00000002
    IDLE_TIMEOUT = 0x00000003
    LOGON_TIMEOUT = 0x00000004
    DISCONNECTED_BY_OTHERCONNECTION = 0x00000005
    OUT_OF_MEMORY = 0x00000006
    SERVER_DENIED_CONNECTION = 0x00000007
    SERVER_INSUFFICIENT_PRIVILEGES = 0x00000009
    SERVER_FRESH_CREDENTIALS_REQUIRED = 0x0000000A
    RPC_INITIATED_DISCONNECT_BYUSER = 0x0000000B
    LOGOFF_BY_USER = 0x0000000C


@dataclass(frozen=True)
class SetErrorInfo:
    """[2.2.5.1.1] Set Error Info PDU Data (TS_SET_ERROR_INFO_PDU)."""

    error_info: int

    TYPE2: ClassVar[int] = PduType2.SET_ERROR_INFO

    @classmethod
    def decode(cls, r: Reader) -> SetErrorInfo:
        return cls(r.u32("errorInfo"))

    def encode(self, w: Writer) -> None:
        w.u32(self.error_info)

    def size(self) -> int:
        return 4


class SessionInfoType(enum.IntEnum):
    INFOTYPE_LOGON = 0
    INFOTYPE_LOGON_LONG = 1
    INFOTYPE_LOGON_PLAINNOTIFY = 2
    INFOTYPE_LOGON_EXTENDED_INFO = 3


@dataclass(frozen=True)
class SaveSessionInfo:
    """[2.2.10.1.1] Save Session Info PDU Data (TS_SAVE_SESSION_INFO_PDU_DATA); infoData raw."""

    info_type: int
    info_data: bytes = field(default=b"", repr=False)

    TYPE2: ClassVar[int] = PduType2.SAVE_SESSION_INFO

    @classmethod
    def decode(cls, r: Reader) -> SaveSessionInfo:
        return cls(r.u32("infoType"), r.rest())

    def encode(self, w: Writer) -> None:
        w.u32(self.info_type)
        w.write(self.info_data)

    def size(self) -> int:
        return 4 + len(self.info_data)

    @classmethod
    def logon(cls, *, username: str, domain: str = "", session_id: int = 0) -> SaveSessionInfo:
        """[2.2.10.1.1.1] Logon Info Version 1 (TS_LOGON_INFO)."""
        w = Writer()
        dom = domain.encode("utf-16-le")[:50] + b"\x00\x00"
        user = username.encode("utf-16-le")[:510] + b"\x00\x00"
        w.u32(len(dom))
        w.write(dom + bytes(52 - len(dom)))
        w.u32(len(user))
        w.write(user + bytes(512 - len(user)))
        w.u32(session_id)
        return cls(SessionInfoType.INFOTYPE_LOGON, w.getvalue())


@dataclass(frozen=True)
class FrameAcknowledge:
    """[MS-RDPRFX 2.2.3.1] Frame Acknowledge PDU (TS_FRAME_ACKNOWLEDGE_PDU)."""

    frame_id: int

    TYPE2: ClassVar[int] = PduType2.FRAME_ACKNOWLEDGE

    @classmethod
    def decode(cls, r: Reader) -> FrameAcknowledge:
        return cls(r.u32("frameID"))

    def encode(self, w: Writer) -> None:
        w.u32(self.frame_id)

    def size(self) -> int:
        return 4


@dataclass(frozen=True)
class InputData(InputPdu):
    """[2.2.8.1.1.3.1] Slow-path input as a share data PDU body."""

    TYPE2: ClassVar[int] = PduType2.INPUT


class PointerMessageType(enum.IntEnum):
    """[2.2.9.1.1.4] messageType of the slow-path Pointer Update PDU (TS_POINTER_PDU)."""

    SYSTEM = 0x0001
    POSITION = 0x0003
    COLOR = 0x0006
    CACHED = 0x0007
    POINTER = 0x0008
    LARGE = 0x0009


@dataclass(frozen=True)
class PointerData:
    """[2.2.9.1.1.4] Pointer Update PDU (TS_POINTER_PDU): messageType, pad, pointer attribute data."""

    message_type: int
    data: bytes = field(repr=False)

    TYPE2: ClassVar[int] = PduType2.POINTER

    @classmethod
    def decode(cls, r: Reader) -> PointerData:
        kind = r.u16("messageType")
        r.skip(2, "pad2Octets")
        return cls(kind, r.rest())

    def encode(self, w: Writer) -> None:
        w.u16(self.message_type)
        w.pad(2)
        w.write(self.data)

    def size(self) -> int:
        return 4 + len(self.data)


@dataclass(frozen=True)
class UpdateData:
    """[2.2.9.1.1.3] Slow-path Update PDU (TS_UPDATE_PDU data): the update bytes start with updateType."""

    data: bytes = field(repr=False)

    TYPE2: ClassVar[int] = PduType2.UPDATE

    @classmethod
    def decode(cls, r: Reader) -> UpdateData:
        return cls(r.rest())

    def encode(self, w: Writer) -> None:
        w.write(self.data)

    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class RawData:
    """A share data PDU body of a type this package does not model (e.g. persistent key list)."""

    type2: int
    data: bytes = field(repr=False)

    def encode(self, w: Writer) -> None:
        w.write(self.data)

    def size(self) -> int:
        return len(self.data)


DataBody = (Synchronize | Control | FontList | FontMap | RefreshRect | SuppressOutput
            | ShutdownRequest | ShutdownDenied | SetErrorInfo | SaveSessionInfo | FrameAcknowledge
            | InputData | PointerData | UpdateData | RawData)

_DATA_BODIES: dict[int, type] = {c.TYPE2: c for c in (
    Synchronize, Control, FontList, FontMap, RefreshRect, SuppressOutput, ShutdownRequest,
    ShutdownDenied, SetErrorInfo, SaveSessionInfo, FrameAcknowledge, InputData, PointerData,
    UpdateData)}


def _type2(body: DataBody) -> int:
    return body.type2 if isinstance(body, RawData) else body.TYPE2


@dataclass(frozen=True)
class ShareDataPdu:
    """[2.2.8.1.1.1.2] Share Data Header (TS_SHAREDATAHEADER) and its body; no bulk compression."""

    share_id: int
    body: DataBody
    stream_id: int = StreamId.LOW

    TYPE: ClassVar[PduType] = PduType.DATA

    @classmethod
    def decode(cls, r: Reader) -> ShareDataPdu:
        header = ShareDataHeader.decode(r)
        if header.compressed_type & 0x20:  # PACKET_COMPRESSED
            raise RemoteProtocolError("bulk-compressed share data PDU, but compression was not negotiated")
        body_cls = _DATA_BODIES.get(header.pdu_type2)
        body = RawData(header.pdu_type2, r.rest()) if body_cls is None else body_cls.decode(r)
        return cls(header.share_id, body, header.stream_id)

    def encode(self, w: Writer) -> None:
        ShareDataHeader(self.share_id, _type2(self.body), self.body.size() + 4, self.stream_id).encode(w)
        self.body.encode(w)

    def size(self) -> int:
        return SHARE_DATA_HEADER_SIZE + self.body.size()


@dataclass(frozen=True)
class FlowPdu:
    """[2.2.8.1.1.1.1] A legacy flow control PDU (totalLength 0x8000); ignored."""

    data: bytes = b""


@dataclass(frozen=True)
class RawControl:
    """A share control PDU of a type a client has no business sending, or that this package
    does not know; its body is kept, and the reader skips it with a log line."""

    pdu_type: int
    data: bytes = field(repr=False)

    @property
    def TYPE(self) -> int:  # the attribute every share control body has
        return self.pdu_type

    def encode(self, w: Writer) -> None:
        w.write(self.data)

    def size(self) -> int:
        return len(self.data)


ControlBody = DemandActive | ConfirmActive | DeactivateAll | ShareDataPdu | RawControl


@dataclass(frozen=True)
class ShareControlPdu:
    """[2.2.8.1.1.1.1] Share Control Header (TS_SHARECONTROLHEADER) and its PDU."""

    pdu_source: int
    body: ControlBody

    @classmethod
    def decode(cls, r: Reader) -> ShareControlPdu | FlowPdu:
        header = ShareControlHeader.decode(r)
        if header.total_length == FLOW_PDU_MARKER:
            return FlowPdu(r.rest())
        if header.total_length < SHARE_CONTROL_HEADER_SIZE:
            raise RemoteProtocolError(f"share control totalLength {header.total_length} too short")
        # The MCS PDU bounds the share PDU, as Windows reads it: aardwolf's totalLength of a
        # share data PDU counts 6 bytes that are not there.
        sub = r.sub(min(header.total_length - SHARE_CONTROL_HEADER_SIZE, r.remaining()), "share control PDU")
        body_cls = {PduType.DEMAND_ACTIVE: DemandActive, PduType.CONFIRM_ACTIVE: ConfirmActive,
                    PduType.DEACTIVATE_ALL: DeactivateAll, PduType.DATA: ShareDataPdu}.get(header.pdu_type)
        body = RawControl(header.pdu_type, sub.rest()) if body_cls is None else body_cls.decode(sub)
        sub.rest()
        return cls(header.pdu_source, body)

    def encode(self, w: Writer) -> None:
        ShareControlHeader(self.size(), self.body.TYPE, self.pdu_source).encode(w)
        self.body.encode(w)

    def size(self) -> int:
        return SHARE_CONTROL_HEADER_SIZE + self.body.size()
