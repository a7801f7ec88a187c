"""[2.2.8.1.1.1-2.2.8.1.1.2] Security header and share control/data headers."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer


class SecurityFlags(enum.IntFlag):
    """[2.2.8.1.1.2.1] flags of TS_SECURITY_HEADER."""

    NONE = 0
    SEC_EXCHANGE_PKT = 0x0001
    SEC_TRANSPORT_REQ = 0x0002
    RDP_SEC_TRANSPORT_RSP = 0x0004
    SEC_ENCRYPT = 0x0008
    SEC_RESET_SEQNO = 0x0010
    SEC_IGNORE_SEQNO = 0x0020
    SEC_INFO_PKT = 0x0040
    SEC_LICENSE_PKT = 0x0080
    SEC_LICENSE_ENCRYPT_CS = 0x0200
    SEC_REDIRECTION_PKT = 0x0400
    SEC_SECURE_CHECKSUM = 0x0800
    SEC_AUTODETECT_REQ = 0x1000
    SEC_AUTODETECT_RSP = 0x2000
    SEC_HEARTBEAT = 0x4000
    SEC_FLAGSHI_VALID = 0x8000


@dataclass(frozen=True)
class BasicSecurityHeader:
    """[2.2.8.1.1.2.1] Basic Security Header (TS_SECURITY_HEADER): flags, flagsHi."""

    flags: SecurityFlags
    flags_hi: int = 0

    @classmethod
    def decode(cls, r: Reader) -> BasicSecurityHeader:
        return cls(SecurityFlags(r.u16("security flags")), r.u16("security flagsHi"))

    def encode(self, w: Writer) -> None:
        w.u16(self.flags)
        w.u16(self.flags_hi)

    def size(self) -> int:
        return 4


class PduType(enum.IntEnum):
    """[2.2.8.1.1.1.1] pduType of the Share Control Header (low 4 bits)."""

    DEMAND_ACTIVE = 0x1
    CONFIRM_ACTIVE = 0x3
    DEACTIVATE_ALL = 0x6
    DATA = 0x7
    SERVER_REDIRECT = 0xA


class PduType2(enum.IntEnum):
    """[2.2.8.1.1.1.2] pduType2 of the Share Data Header."""

    UPDATE = 2
    CONTROL = 20
    POINTER = 27
    INPUT = 28
    SYNCHRONIZE = 31
    REFRESH_RECT = 33
    PLAY_SOUND = 34
    SUPPRESS_OUTPUT = 35
    SHUTDOWN_REQUEST = 36
    SHUTDOWN_DENIED = 37
    SAVE_SESSION_INFO = 38
    FONTLIST = 39
    FONTMAP = 40
    SET_KEYBOARD_INDICATORS = 41
    BITMAPCACHE_PERSISTENT_LIST = 43
    BITMAPCACHE_ERROR = 44
    SET_KEYBOARD_IME_STATUS = 45
    OFFSCRCACHE_ERROR = 46
    SET_ERROR_INFO = 47
    DRAWNINEGRID_ERROR = 48
    DRAWGDIPLUS_ERROR = 49
    ARC_STATUS = 50
    STATUS_INFO = 54
    MONITOR_LAYOUT = 55
    FRAME_ACKNOWLEDGE = 56


PROTOCOL_VERSION = 0x10
FLOW_PDU_MARKER = 0x8000  # [2.2.8.1.1.1.1]: totalLength 0x8000 marks a legacy flow control PDU
SHARE_CONTROL_HEADER_SIZE = 6
SHARE_DATA_HEADER_SIZE = 12


@dataclass(frozen=True)
class ShareControlHeader:
    """[2.2.8.1.1.1.1] Share Control Header (TS_SHARECONTROLHEADER)."""

    total_length: int
    pdu_type: int  # a PduType when known; other values are kept for the reader to skip
    pdu_source: int

    @classmethod
    def decode(cls, r: Reader) -> ShareControlHeader:
        total = r.u16("totalLength")
        if total == FLOW_PDU_MARKER:
            return cls(total, PduType.DATA, 0)
        raw_type = r.u16("pduType") & 0xF
        source = r.u16("pduSource") if total > 4 else 0
        kind = PduType(raw_type) if raw_type in PduType._value2member_map_ else raw_type
        return cls(total, kind, source)

    def encode(self, w: Writer) -> None:
        w.u16(self.total_length)
        w.u16(self.pdu_type | PROTOCOL_VERSION)
        w.u16(self.pdu_source)

    def size(self) -> int:
        return SHARE_CONTROL_HEADER_SIZE


class StreamId(enum.IntEnum):
    UNDEFINED = 0
    LOW = 1
    MED = 2
    HI = 4


@dataclass(frozen=True)
class ShareDataHeader:
    """[2.2.8.1.1.1.2] Share Data Header (TS_SHAREDATAHEADER), after the share control header."""

    share_id: int
    pdu_type2: int
    uncompressed_length: int
    stream_id: int = StreamId.LOW
    compressed_type: int = 0
    compressed_length: int = 0

    @classmethod
    def decode(cls, r: Reader) -> ShareDataHeader:
        share_id = r.u32("shareId")
        r.skip(1, "pad1")
        stream = r.u8("streamId")
        uncompressed = r.u16("uncompressedLength")
        pdu_type2 = r.u8("pduType2")
        ctype = r.u8("compressedType")
        clen = r.u16("compressedLength")
        return cls(share_id, pdu_type2, uncompressed, stream, ctype, clen)

    def encode(self, w: Writer) -> None:
        w.u32(self.share_id)
        w.u8(0)
        w.u8(self.stream_id)
        w.u16(self.uncompressed_length)
        w.u8(self.pdu_type2)
        w.u8(self.compressed_type)
        w.u16(self.compressed_length)

    def size(self) -> int:
        return SHARE_DATA_HEADER_SIZE
