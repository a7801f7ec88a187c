"""[X.224 / MS-RDPBCGR 2.2.1.1-2.2.1.2] X.224 class 0 TPDUs and the RDP negotiation structures.

Every function here works on whole TPKT frames (``TPKT + TPDU``), the unit ``tpkt.Framer``
hands out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.tpkt import TPKT_HEADER_SIZE, TpktHeader


class TpduCode(enum.IntEnum):
    CONNECTION_REQUEST = 0xE0
    CONNECTION_CONFIRM = 0xD0
    DISCONNECT_REQUEST = 0x80
    DATA = 0xF0
    ERROR = 0x70


class NegType(enum.IntEnum):
    REQUEST = 0x01
    RESPONSE = 0x02
    FAILURE = 0x03


class SecurityProtocol(enum.IntFlag):
    """[2.2.1.1.1] requestedProtocols / [2.2.1.2.1] selectedProtocol."""

    RDP = 0x00
    SSL = 0x01
    HYBRID = 0x02
    RDSTLS = 0x04
    HYBRID_EX = 0x08
    RDSAAD = 0x10


class NegRequestFlags(enum.IntFlag):
    NONE = 0
    RESTRICTED_ADMIN_MODE_REQUIRED = 0x01
    REDIRECTED_AUTHENTICATION_MODE_REQUIRED = 0x02
    CORRELATION_INFO_PRESENT = 0x08


class NegResponseFlags(enum.IntFlag):
    NONE = 0
    EXTENDED_CLIENT_DATA_SUPPORTED = 0x01
    DYNVC_GFX_PROTOCOL_SUPPORTED = 0x02
    NEGRSP_FLAG_RESERVED = 0x04
    RESTRICTED_ADMIN_MODE_SUPPORTED = 0x08
    REDIRECTED_AUTHENTICATION_MODE_SUPPORTED = 0x10


class FailureCode(enum.IntEnum):
    """[2.2.1.2.2] failureCode."""

    SSL_REQUIRED_BY_SERVER = 0x01
    SSL_NOT_ALLOWED_BY_SERVER = 0x02
    SSL_CERT_NOT_ON_SERVER = 0x03
    INCONSISTENT_FLAGS = 0x04
    HYBRID_REQUIRED_BY_SERVER = 0x05
    SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER = 0x06


NEG_STRUCT_SIZE = 8
CORRELATION_INFO_SIZE = 36
X224_CR_FIXED = 7  # LI, code, dst-ref, src-ref, class
X224_DATA_HEADER = b"\x02\xf0\x80"


@dataclass(frozen=True)
class NegotiationRequest:
    """[2.2.1.1.1] RDP Negotiation Request (RDP_NEG_REQ)."""

    requested_protocols: SecurityProtocol
    flags: NegRequestFlags = NegRequestFlags.NONE

    @classmethod
    def decode(cls, r: Reader) -> NegotiationRequest:
        if r.u8("RDP_NEG_REQ type") != NegType.REQUEST:
            raise RemoteProtocolError("RDP_NEG_REQ type is not TYPE_RDP_NEG_REQ")
        flags = r.u8("RDP_NEG_REQ flags")
        if r.u16("RDP_NEG_REQ length") != NEG_STRUCT_SIZE:
            raise RemoteProtocolError("RDP_NEG_REQ length is not 8")
        return cls(SecurityProtocol(r.u32("requestedProtocols")), NegRequestFlags(flags))

    def encode(self, w: Writer) -> None:
        w.u8(NegType.REQUEST)
        w.u8(self.flags)
        w.u16(NEG_STRUCT_SIZE)
        w.u32(self.requested_protocols)

    def size(self) -> int:
        return NEG_STRUCT_SIZE


@dataclass(frozen=True)
class NegotiationResponse:
    """[2.2.1.2.1] RDP Negotiation Response (RDP_NEG_RSP)."""

    selected_protocol: SecurityProtocol
    flags: NegResponseFlags = NegResponseFlags.NONE

    @classmethod
    def decode(cls, r: Reader) -> NegotiationResponse:
        flags = r.u8("RDP_NEG_RSP flags")
        if r.u16("RDP_NEG_RSP length") != NEG_STRUCT_SIZE:
            raise RemoteProtocolError("RDP_NEG_RSP length is not 8")
        return cls(SecurityProtocol(r.u32("selectedProtocol")), NegResponseFlags(flags))

    def encode(self, w: Writer) -> None:
        w.u8(NegType.RESPONSE)
        w.u8(self.flags)
        w.u16(NEG_STRUCT_SIZE)
        w.u32(self.selected_protocol)

    def size(self) -> int:
        return NEG_STRUCT_SIZE


@dataclass(frozen=True)
class NegotiationFailure:
    """[2.2.1.2.2] RDP Negotiation Failure (RDP_NEG_FAILURE)."""

    code: FailureCode

    @classmethod
    def decode(cls, r: Reader) -> NegotiationFailure:
        r.skip(1, "RDP_NEG_FAILURE flags")
        if r.u16("RDP_NEG_FAILURE length") != NEG_STRUCT_SIZE:
            raise RemoteProtocolError("RDP_NEG_FAILURE length is not 8")
        code = r.u32("failureCode")
        try:
            return cls(FailureCode(code))
        except ValueError:
            raise RemoteProtocolError(f"unknown negotiation failure code {code}") from None

    def encode(self, w: Writer) -> None:
        w.u8(NegType.FAILURE)
        w.u8(0)
        w.u16(NEG_STRUCT_SIZE)
        w.u32(self.code)

    def size(self) -> int:
        return NEG_STRUCT_SIZE


def _tpdu_header(r: Reader, code: TpduCode) -> Reader:
    """Read TPKT + LI + code; return a reader over the rest of the TPDU."""
    tpkt = TpktHeader.decode(r)
    r.need(tpkt.length - TPKT_HEADER_SIZE, "X.224 TPDU")
    r.end = r.pos + tpkt.length - TPKT_HEADER_SIZE
    li = r.u8("X.224 length indicator")
    if li != r.remaining():
        raise RemoteProtocolError(f"X.224 length indicator {li} but {r.remaining()} bytes follow")
    got = r.u8("X.224 TPDU code")
    if got & 0xF0 != code:
        raise RemoteProtocolError(f"X.224 TPDU code 0x{got:02x}, expected {code.name}")
    return r


@dataclass(frozen=True)
class ConnectionRequest:
    """[2.2.1.1] Client X.224 Connection Request PDU (TPKT + x224Crq + cookie + RDP_NEG_REQ)."""

    cookie: bytes | None = None  # "Cookie: mstshash=..." or a routing token, without CRLF
    negotiation: NegotiationRequest | None = None
    correlation_info: bytes | None = None

    @classmethod
    def decode(cls, r: Reader) -> ConnectionRequest:
        r = _tpdu_header(r, TpduCode.CONNECTION_REQUEST)
        r.skip(5, "x224Crq dst-ref/src-ref/class")
        body = r.rest()
        cookie = None
        if body.startswith(b"Cookie:"):
            end = body.find(b"\r\n")
            if end < 0:
                raise RemoteProtocolError("X.224 cookie is not terminated by CRLF")
            cookie, body = body[:end], body[end + 2:]
        negotiation = None
        correlation = None
        if body:
            br = Reader(body)
            negotiation = NegotiationRequest.decode(br)
            if negotiation.flags & NegRequestFlags.CORRELATION_INFO_PRESENT:
                correlation = br.read(CORRELATION_INFO_SIZE, "rdpCorrelationInfo")
            br.expect_end("X.224 Connection Request")
        return cls(cookie, negotiation, correlation)

    def encode(self, w: Writer) -> None:
        TpktHeader(self.size()).encode(w)
        w.u8(self.size() - TPKT_HEADER_SIZE - 1)
        w.u8(TpduCode.CONNECTION_REQUEST)
        w.pad(5)
        if self.cookie is not None:
            w.write(self.cookie + b"\r\n")
        if self.negotiation is not None:
            self.negotiation.encode(w)
        if self.correlation_info is not None:
            w.write(self.correlation_info)

    def size(self) -> int:
        n = TPKT_HEADER_SIZE + X224_CR_FIXED
        if self.cookie is not None:
            n += len(self.cookie) + 2
        if self.negotiation is not None:
            n += NEG_STRUCT_SIZE
        if self.correlation_info is not None:
            n += len(self.correlation_info)
        return n


@dataclass(frozen=True)
class ConnectionConfirm:
    """[2.2.1.2] Server X.224 Connection Confirm PDU (TPKT + x224Ccf + RDP_NEG_RSP/FAILURE)."""

    negotiation: NegotiationResponse | NegotiationFailure | None = None

    @classmethod
    def decode(cls, r: Reader) -> ConnectionConfirm:
        r = _tpdu_header(r, TpduCode.CONNECTION_CONFIRM)
        r.skip(5, "x224Ccf dst-ref/src-ref/class")
        if not r.remaining():
            return cls(None)
        kind = r.u8("rdpNegData type")
        neg: NegotiationResponse | NegotiationFailure
        if kind == NegType.RESPONSE:
            neg = NegotiationResponse.decode(r)
        elif kind == NegType.FAILURE:
            neg = NegotiationFailure.decode(r)
        else:
            raise RemoteProtocolError(f"rdpNegData type {kind} is neither response nor failure")
        r.expect_end("X.224 Connection Confirm")
        return cls(neg)

    def encode(self, w: Writer) -> None:
        TpktHeader(self.size()).encode(w)
        w.u8(self.size() - TPKT_HEADER_SIZE - 1)
        w.u8(TpduCode.CONNECTION_CONFIRM)
        w.u16be(0)
        w.u16be(0x1234)  # [3.3.5.3.2] source reference
        w.u8(0)
        if self.negotiation is not None:
            self.negotiation.encode(w)

    def size(self) -> int:
        return TPKT_HEADER_SIZE + X224_CR_FIXED + (NEG_STRUCT_SIZE if self.negotiation else 0)


@dataclass(frozen=True)
class DisconnectRequest:
    """[X.224 13.5] Disconnect Request TPDU (class 0): LI, code 0x80, dst-ref, src-ref, reason."""

    reason: int = 0

    @classmethod
    def decode(cls, r: Reader) -> DisconnectRequest:
        r = _tpdu_header(r, TpduCode.DISCONNECT_REQUEST)
        r.skip(4, "x224 DR references")
        reason = r.u8("x224 DR reason") if r.remaining() else 0
        r.rest()
        return cls(reason)

    def encode(self, w: Writer) -> None:
        TpktHeader(self.size()).encode(w)
        w.u8(6)
        w.u8(TpduCode.DISCONNECT_REQUEST)
        w.pad(4)
        w.u8(self.reason)

    def size(self) -> int:
        return TPKT_HEADER_SIZE + 7


def data_payload(frame: bytes) -> bytes:
    """[X.224 13.7] The user data of a TPKT + Data TPDU frame (raises if it is another TPDU)."""
    r = Reader(frame)
    tpkt = TpktHeader.decode(r)
    if tpkt.length != len(frame):
        raise RemoteProtocolError(f"TPKT length {tpkt.length} but frame is {len(frame)} bytes")
    li = r.u8("X.224 length indicator")
    code = r.u8("X.224 TPDU code")
    if code == TpduCode.DISCONNECT_REQUEST:
        raise RemoteProtocolError("peer sent an X.224 Disconnect Request")
    if code != TpduCode.DATA or li != 2:
        raise RemoteProtocolError(f"expected an X.224 Data TPDU, got code 0x{code:02x} LI {li}")
    eot = r.u8("X.224 EOT")
    if eot != 0x80:
        raise RemoteProtocolError("X.224 Data TPDU without EOT (segmented TPDUs are not used by RDP)")
    return r.rest()


def data_frame(payload: bytes | bytearray | memoryview) -> bytes:
    """Wrap ``payload`` as TPKT + X.224 Data TPDU."""
    length = TPKT_HEADER_SIZE + 3 + len(payload)
    if length > 0xFFFF:
        raise LocalProtocolError(f"slow-path PDU of {length} bytes does not fit a TPKT")
    return b"".join((bytes((3, 0, length >> 8, length & 0xFF)), X224_DATA_HEADER, payload))
