"""[2.2.4.2], [2.2.4.3], [2.2.10.1.1.4], [5.5] Automatic reconnection: the server's cookie, the
client's answer to it, and the Logon Info Extended structure that carries the cookie in a Save
Session Info PDU.

The server gives a logged-in client a cookie (``ServerAutoReconnect``: a logon id and 16
random bytes). A client whose connection dropped sends, in the extended info of its next
Client Info PDU, ``ClientAutoReconnect``: the logon id and ``SecurityVerifier = HMAC-MD5(key =
the random bytes, data = ClientRandom)`` ([5.5]). Under Enhanced RDP Security (TLS, which is
all this server speaks) no client random is exchanged, and ClientRandom is 32 zero bytes: that
is what FreeRDP's client (``rdp_compute_client_auto_reconnect_cookie``) and IronRDP compute.
The verifier is then fixed for a given cookie, so it proves possession of the cookie and no
more: the server must take each cookie once only.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.rdp.pdus import SaveSessionInfo, SessionInfoType

ARC_PACKET_SIZE = 28  # cbLen of both packets, 0x0000001C
AUTO_RECONNECT_VERSION_1 = 0x00000001
RANDOM_BITS_SIZE = 16
VERIFIER_SIZE = 16
# [5.5]: the client random under Enhanced RDP Security, where none is sent.
ENHANCED_SECURITY_CLIENT_RANDOM = bytes(32)
LOGON_EX_PAD_SIZE = 570
LOGON_ERRORS_INFO_SIZE = 8


def _packet_header(r: Reader, what: str) -> int:
    """cbLen and Version of an auto-reconnect packet; the LogonId that follows them."""
    cb_len = r.u32(f"{what} cbLen")
    if cb_len != ARC_PACKET_SIZE:
        raise RemoteProtocolError(f"{what} cbLen {cb_len}, expected {ARC_PACKET_SIZE}")
    version = r.u32(f"{what} Version")
    if version != AUTO_RECONNECT_VERSION_1:
        raise RemoteProtocolError(f"{what} version {version}, expected {AUTO_RECONNECT_VERSION_1}")
    return r.u32(f"{what} LogonId")


def _write_packet(w: Writer, logon_id: int, secret: bytes, size: int, what: str) -> None:
    if len(secret) != size:
        raise LocalProtocolError(f"{what} must be {size} bytes, not {len(secret)}")
    w.u32(ARC_PACKET_SIZE)
    w.u32(AUTO_RECONNECT_VERSION_1)
    w.u32(logon_id)
    w.write(secret)


@dataclass(frozen=True)
class ServerAutoReconnect:
    """[2.2.4.2] Server Auto-Reconnect Packet (ARC_SC_PRIVATE_PACKET)."""

    logon_id: int
    random_bits: bytes = field(repr=False)  # the key of the client's verifier: never logged

    @classmethod
    def decode(cls, r: Reader) -> ServerAutoReconnect:
        logon_id = _packet_header(r, "ARC_SC_PRIVATE_PACKET")
        return cls(logon_id, r.read(RANDOM_BITS_SIZE, "ArcRandomBits"))

    def encode(self, w: Writer) -> None:
        _write_packet(w, self.logon_id, self.random_bits, RANDOM_BITS_SIZE, "ArcRandomBits")

    def size(self) -> int:
        return ARC_PACKET_SIZE

    def verifier(self, client_random: bytes = ENHANCED_SECURITY_CLIENT_RANDOM) -> bytes:
        """[5.5] The SecurityVerifier a client holding this cookie answers with."""
        return hmac.new(self.random_bits, client_random, hashlib.md5).digest()

    def answers(self, cookie: ClientAutoReconnect, client_random: bytes = ENHANCED_SECURITY_CLIENT_RANDOM) -> bool:
        """The client's packet is the answer to this cookie (compared in constant time)."""
        return cookie.logon_id == self.logon_id and hmac.compare_digest(cookie.security_verifier,
                                                                        self.verifier(client_random))


@dataclass(frozen=True)
class ClientAutoReconnect:
    """[2.2.4.3] Client Auto-Reconnect Packet (ARC_CS_PRIVATE_PACKET)."""

    logon_id: int
    security_verifier: bytes = field(repr=False)

    @classmethod
    def decode(cls, r: Reader) -> ClientAutoReconnect:
        logon_id = _packet_header(r, "ARC_CS_PRIVATE_PACKET")
        return cls(logon_id, r.read(VERIFIER_SIZE, "SecurityVerifier"))

    @classmethod
    def from_bytes(cls, data: bytes) -> ClientAutoReconnect:
        """The autoReconnectCookie field of a Client Info PDU: exactly one packet."""
        r = Reader(data)
        cookie = cls.decode(r)
        r.expect_end("ARC_CS_PRIVATE_PACKET")
        return cookie

    @classmethod
    def answering(cls, server: ServerAutoReconnect,
                  client_random: bytes = ENHANCED_SECURITY_CLIENT_RANDOM) -> ClientAutoReconnect:
        """What a client holding ``server`` sends when it reconnects."""
        return cls(server.logon_id, server.verifier(client_random))

    def encode(self, w: Writer) -> None:
        _write_packet(w, self.logon_id, self.security_verifier, VERIFIER_SIZE, "SecurityVerifier")

    def size(self) -> int:
        return ARC_PACKET_SIZE

    def client_info_tail(self) -> bytes:
        """The extended info's fields after performanceFlags that carry this packet:
        cbAutoReconnectCookie, autoReconnectCookie, reserved1, reserved2 (as FreeRDP writes them)."""
        w = Writer()
        w.u16(ARC_PACKET_SIZE)
        self.encode(w)
        w.u16(0)
        w.u16(0)
        return w.getvalue()


class LogonExFlags(enum.IntFlag):
    """[2.2.10.1.1.4] FieldsPresent of TS_LOGON_INFO_EXTENDED."""

    NONE = 0
    LOGON_EX_AUTORECONNECTCOOKIE = 0x00000001
    LOGON_EX_LOGONERRORS = 0x00000002


@dataclass(frozen=True)
class LogonErrorsInfo:
    """[2.2.10.1.1.4.1.1] Logon Errors Info (TS_LOGON_ERRORS_INFO)."""

    error_notification_type: int
    error_notification_data: int


@dataclass(frozen=True)
class LogonInfoExtended:
    """[2.2.10.1.1.4] Logon Info Extended (TS_LOGON_INFO_EXTENDED).

    ``Length`` counts the structure up to and without the 570-byte pad, as IronRDP writes it
    (FreeRDP's server counts the pad too; FreeRDP's client accepts either, and so does
    ``decode``). Each logon field is a TS_LOGON_INFO_FIELD: cbFieldData, then the data.
    """

    auto_reconnect: ServerAutoReconnect | None = None
    errors: LogonErrorsInfo | None = None

    @property
    def fields_present(self) -> LogonExFlags:
        flags = LogonExFlags.NONE
        if self.auto_reconnect is not None:
            flags |= LogonExFlags.LOGON_EX_AUTORECONNECTCOOKIE
        if self.errors is not None:
            flags |= LogonExFlags.LOGON_EX_LOGONERRORS
        return flags

    @classmethod
    def decode(cls, r: Reader) -> LogonInfoExtended:
        length = r.u16("Length")
        present = r.u32("FieldsPresent")
        if present & ~int(LogonExFlags.LOGON_EX_AUTORECONNECTCOOKIE | LogonExFlags.LOGON_EX_LOGONERRORS):
            raise RemoteProtocolError(f"Logon Info Extended with unknown fields 0x{present:08x}")
        cookie = errors = None
        if present & LogonExFlags.LOGON_EX_AUTORECONNECTCOOKIE:
            sub = r.sub(r.u32("cbFieldData"), "auto-reconnect cookie field")
            cookie = ServerAutoReconnect.decode(sub)
            sub.expect_end("auto-reconnect cookie field")
        if present & LogonExFlags.LOGON_EX_LOGONERRORS:
            sub = r.sub(r.u32("cbFieldData"), "logon errors field")
            errors = LogonErrorsInfo(sub.u32("ErrorNotificationType"), sub.u32("ErrorNotificationData"))
            sub.expect_end("logon errors field")
        body = cls(cookie, errors)
        if length not in (body._length(), body._length() + LOGON_EX_PAD_SIZE):
            raise RemoteProtocolError(f"Logon Info Extended Length {length}, its fields make {body._length()}")
        r.skip(LOGON_EX_PAD_SIZE, "Logon Info Extended pad")
        return body

    def _length(self) -> int:
        n = 6
        if self.auto_reconnect is not None:
            n += 4 + ARC_PACKET_SIZE
        if self.errors is not None:
            n += 4 + LOGON_ERRORS_INFO_SIZE
        return n

    def encode(self, w: Writer) -> None:
        w.u16(self._length())
        w.u32(self.fields_present)
        if self.auto_reconnect is not None:
            w.u32(ARC_PACKET_SIZE)
            self.auto_reconnect.encode(w)
        if self.errors is not None:
            w.u32(LOGON_ERRORS_INFO_SIZE)
            w.u32(self.errors.error_notification_type)
            w.u32(self.errors.error_notification_data)
        w.pad(LOGON_EX_PAD_SIZE)

    def size(self) -> int:
        return self._length() + LOGON_EX_PAD_SIZE


def save_session_info(cookie: ServerAutoReconnect) -> SaveSessionInfo:
    """[2.2.10.1] The Save Session Info PDU that hands ``cookie`` to the client."""
    return SaveSessionInfo(SessionInfoType.INFOTYPE_LOGON_EXTENDED_INFO, encode(LogonInfoExtended(cookie)))


def logon_info_extended(pdu: SaveSessionInfo) -> LogonInfoExtended | None:
    """The Logon Info Extended in a Save Session Info PDU, if it is of that type."""
    if pdu.info_type != SessionInfoType.INFOTYPE_LOGON_EXTENDED_INFO:
        return None
    r = Reader(pdu.info_data)
    info = LogonInfoExtended.decode(r)
    r.expect_end("Logon Info Extended")
    return info
