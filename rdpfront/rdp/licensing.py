"""[MS-RDPBCGR 2.2.1.12 / MS-RDPELE] Licensing PDUs: this server only ever sends the
"valid client" License Error Message, which ends licensing at once (2.2.1.12.1.3)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError


class LicenseMsgType(enum.IntEnum):
    LICENSE_REQUEST = 0x01
    PLATFORM_CHALLENGE = 0x02
    NEW_LICENSE = 0x03
    UPGRADE_LICENSE = 0x04
    LICENSE_INFO = 0x12
    NEW_LICENSE_REQUEST = 0x13
    PLATFORM_CHALLENGE_RESPONSE = 0x15
    ERROR_ALERT = 0xFF


class LicenseErrorCode(enum.IntEnum):
    ERR_INVALID_SERVER_CERTIFICATE = 0x01
    ERR_NO_LICENSE = 0x02
    ERR_INVALID_SCOPE = 0x04
    ERR_NO_LICENSE_SERVER = 0x06
    STATUS_VALID_CLIENT = 0x07
    ERR_INVALID_CLIENT = 0x08
    ERR_INVALID_PRODUCTID = 0x0B
    ERR_INVALID_MESSAGE_LEN = 0x0C
    ERR_INVALID_MAC = 0x03


class StateTransition(enum.IntEnum):
    ST_TOTAL_ABORT = 0x1
    ST_NO_TRANSITION = 0x2
    ST_RESET_PHASE_TO_START = 0x3
    ST_RESEND_LAST_MESSAGE = 0x4


PREAMBLE_VERSION_3_0 = 0x03
EXTENDED_ERROR_MSG_SUPPORTED = 0x80
BB_ERROR_BLOB = 0x0004


@dataclass(frozen=True)
class LicensingMessage:
    """[2.2.1.12.1.1] Licensing Preamble (LICENSE_PREAMBLE) and the raw message after it."""

    msg_type: int
    flags: int = PREAMBLE_VERSION_3_0
    body: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, r: Reader) -> LicensingMessage:
        msg_type = r.u8("bMsgType")
        flags = r.u8("licensing flags")
        size = r.u16("wMsgSize")
        if size < 4:
            raise RemoteProtocolError(f"licensing wMsgSize {size} shorter than its preamble")
        return cls(msg_type, flags, r.read(size - 4, "licensing message"))

    def encode(self, w: Writer) -> None:
        w.u8(self.msg_type)
        w.u8(self.flags)
        w.u16(4 + len(self.body))
        w.write(self.body)

    def size(self) -> int:
        return 4 + len(self.body)


@dataclass(frozen=True)
class LicenseErrorMessage:
    """[MS-RDPBCGR 2.2.1.12.1.3] Licensing Error Message (LICENSE_ERROR_MESSAGE) with its preamble."""

    error_code: LicenseErrorCode = LicenseErrorCode.STATUS_VALID_CLIENT
    state_transition: StateTransition = StateTransition.ST_NO_TRANSITION
    blob: bytes = b""

    @classmethod
    def decode(cls, r: Reader) -> LicenseErrorMessage:
        msg = LicensingMessage.decode(r)
        if msg.msg_type != LicenseMsgType.ERROR_ALERT:
            raise RemoteProtocolError(f"licensing message type 0x{msg.msg_type:02x} is not ERROR_ALERT")
        b = Reader(msg.body)
        code = b.u32("dwErrorCode")
        transition = b.u32("dwStateTransition")
        b.u16("wBlobType")
        blob = b.read(b.u16("wBlobLen"), "bbErrorInfo")
        try:
            return cls(LicenseErrorCode(code), StateTransition(transition), blob)
        except ValueError:
            raise RemoteProtocolError(f"unknown licensing error {code}/{transition}") from None

    def encode(self, w: Writer) -> None:
        w.u8(LicenseMsgType.ERROR_ALERT)
        w.u8(PREAMBLE_VERSION_3_0)
        w.u16(self.size())
        w.u32(self.error_code)
        w.u32(self.state_transition)
        w.u16(BB_ERROR_BLOB)
        w.u16(len(self.blob))
        w.write(self.blob)

    def size(self) -> int:
        return 16 + len(self.blob)
