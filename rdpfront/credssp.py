"""[MS-CSSP] CredSSP structures, as NLA carries them over the TLS upgrade: TSRequest, NegoData,
TSCredentials, TSPasswordCreds; the public key binding (``pubKeyAuth``) of versions 2-6; the
Early User Authorization Result PDU of HYBRID_EX ([MS-RDPBCGR 2.2.10.2]).

Reading follows ``ber.py``: lengths short or long form, fields in tag order; each structure is
bounded by its own length, so a field cannot reach past its parent. A TSRequest field of a
later version than 6 (a context tag above 5) is skipped. Writing is DER. ``TsRequestFramer``
cuts the TLS stream into whole TSRequests by their outer length (TPKT framing does not apply
before MCS: a TSRequest starts with 0x30, which TPKT framing would take for fast-path).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

from rdpfront import ber
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

MIN_VERSION = 2
OUR_VERSION = 6
NONCE_SIZE = 32
# A TSRequest of NTLM carries three small tokens; 64 KiB is far above any real one.
MAX_TS_REQUEST = 1 << 16
CLIENT_SERVER_MAGIC = b"CredSSP Client-To-Server Binding Hash\x00"
SERVER_CLIENT_MAGIC = b"CredSSP Server-To-Client Binding Hash\x00"


class CredType(enum.IntEnum):
    """[2.2.1.2] TSCredentials.credType."""

    PASSWORD = 1
    SMART_CARD = 2
    REMOTE_GUARD = 6


class NtStatus(enum.IntEnum):
    """NTSTATUS codes a server puts in TSRequest.errorCode (version 3 and later); FreeRDP
    names each to the user (``ERRCONNECT_LOGON_FAILURE``, ...)."""

    LOGON_FAILURE = 0xC000006D
    ACCOUNT_RESTRICTION = 0xC000006E
    ACCESS_DENIED = 0xC0000022
    PASSWORD_MUST_CHANGE = 0xC0000224
    ACCOUNT_LOCKED_OUT = 0xC0000234
    ACCOUNT_DISABLED = 0xC0000072
    INVALID_PARAMETER = 0xC000000D


class AuthorizationResult(enum.IntEnum):
    """[MS-RDPBCGR 2.2.10.2] Early User Authorization Result PDU (4 bytes, little-endian)."""

    AUTHZ_SUCCESS = 0x00000000
    AUTHZ_ACCESS_DENIED = 0x00000005


def early_user_authorization_result(result: AuthorizationResult) -> bytes:
    return int(result).to_bytes(4, "little")


# ---- DER helpers for context-specific tags ------------------------------------------------

def _read_context(r: Reader, number: int) -> Reader:
    """``[number]`` constructed: a reader over its content, the outer reader moved past it."""
    got = r.u8("CredSSP context tag")
    if got != 0xA0 | number:
        raise RemoteProtocolError(f"expected CredSSP [{number}], got tag 0x{got:02x}")
    return r.sub(ber.read_length(r), f"CredSSP [{number}]")


def _peek_context(r: Reader) -> int | None:
    """The number of the context tag at the read position, None at the end or for another tag."""
    if r.remaining() == 0:
        return None
    tag = r.peek_u8("CredSSP tag")
    return tag & 0x1F if tag & 0xE0 == 0xA0 else None


def _read_sequence(r: Reader, what: str) -> Reader:
    return r.sub(ber.read_tag(r, ber.Tag.SEQUENCE), what)


def _octets(r: Reader, what: str) -> bytes:
    inner = r
    length = ber.read_tag(inner, ber.Tag.OCTET_STRING)
    return inner.read(length, what)


def _tlv(tag: int, content: bytes) -> bytes:
    w = Writer()
    w.u8(tag)
    ber.write_length(w, len(content))
    w.write(content)
    return w.getvalue()


def _context(number: int, content: bytes) -> bytes:
    return _tlv(0xA0 | number, content)


def _sequence(content: bytes) -> bytes:
    return _tlv(ber.Tag.SEQUENCE, content)


def _octet_string(value: bytes) -> bytes:
    return _tlv(ber.Tag.OCTET_STRING, value)


def _integer(value: int) -> bytes:
    w = Writer()
    ber.write_integer(w, value)
    return w.getvalue()


def _read_version(r: Reader) -> int:
    version = ber.read_integer(r)
    if version < MIN_VERSION:
        raise RemoteProtocolError(f"CredSSP version {version}, at least {MIN_VERSION} expected")
    return version


def _read_status(r: Reader) -> int:
    """errorCode: a signed 32-bit NTSTATUS as DER writes it (``02 04 c0 00 00 6d``), kept as u32."""
    length = ber.read_tag(r, ber.Tag.INTEGER)
    if not 1 <= length <= 5:
        raise RemoteProtocolError(f"CredSSP errorCode of {length} octets")
    value = int.from_bytes(r.read(length, "CredSSP errorCode"), "big", signed=True)
    if not -(1 << 31) <= value < (1 << 32):
        raise RemoteProtocolError(f"CredSSP errorCode {value} outside 32 bits")
    return value & 0xFFFFFFFF


def _status(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise LocalProtocolError(f"NTSTATUS {value} outside 32 bits")
    signed = value - (1 << 32) if value >= 1 << 31 else value
    n = max(1, (signed.bit_length() + 8) // 8) if signed >= 0 else max(1, ((~signed).bit_length() + 8) // 8)
    return _tlv(ber.Tag.INTEGER, signed.to_bytes(n, "big", signed=True))


# ---- structures -------------------------------------------------------------------------

@dataclass(frozen=True)
class TsRequest:
    """[MS-CSSP 2.2.1] TSRequest: version, negoTokens (NegoData [2.2.1.1], each a
    NegoDataItem's negoToken), authInfo, pubKeyAuth, errorCode (version 3+), clientNonce
    (version 5+)."""

    version: int = OUR_VERSION
    nego_tokens: tuple[bytes, ...] = ()
    auth_info: bytes | None = field(default=None, repr=False)
    pub_key_auth: bytes | None = None
    error_code: int | None = None
    client_nonce: bytes | None = None

    @classmethod
    def decode(cls, r: Reader) -> TsRequest:
        seq = _read_sequence(r, "TSRequest")
        version = _read_version(_read_context(seq, 0))
        fields: dict[str, object] = {}
        last = 0
        while (number := _peek_context(seq)) is not None:
            if number <= last:
                raise RemoteProtocolError(f"TSRequest field [{number}] after [{last}]")
            last = number
            body = _read_context(seq, number)
            if number == 1:
                fields["nego_tokens"] = _read_nego_data(body)
            elif number == 2:
                fields["auth_info"] = _octets(body, "TSRequest authInfo")
            elif number == 3:
                fields["pub_key_auth"] = _octets(body, "TSRequest pubKeyAuth")
            elif number == 4:
                fields["error_code"] = _read_status(body)
            elif number == 5:
                nonce = _octets(body, "TSRequest clientNonce")
                if len(nonce) != NONCE_SIZE:
                    raise RemoteProtocolError(f"TSRequest clientNonce of {len(nonce)} bytes, {NONCE_SIZE} expected")
                fields["client_nonce"] = nonce
            else:
                body.skip(body.remaining(), f"TSRequest [{number}]")  # a later version's field
                continue
            body.expect_end(f"TSRequest [{number}]")
        seq.expect_end("TSRequest")
        return cls(version, **fields)  # type: ignore[arg-type]

    def _der(self) -> bytes:
        body = _context(0, _integer(self.version))
        if self.nego_tokens:
            items = b"".join(_sequence(_context(0, _octet_string(t))) for t in self.nego_tokens)
            body += _context(1, _sequence(items))
        if self.auth_info is not None:
            body += _context(2, _octet_string(self.auth_info))
        if self.pub_key_auth is not None:
            body += _context(3, _octet_string(self.pub_key_auth))
        if self.error_code is not None:
            body += _context(4, _status(self.error_code))
        if self.client_nonce is not None:
            body += _context(5, _octet_string(self.client_nonce))
        return _sequence(body)

    def encode(self, w: Writer) -> None:
        w.write(self._der())

    def size(self) -> int:
        return len(self._der())


def _read_nego_data(r: Reader) -> tuple[bytes, ...]:
    seq = _read_sequence(r, "NegoData")
    tokens = []
    while seq.remaining():
        item = _read_sequence(seq, "NegoDataItem")
        token_body = _read_context(item, 0)
        tokens.append(_octets(token_body, "negoToken"))
        token_body.expect_end("negoToken")
        item.expect_end("NegoDataItem")
    if not tokens:
        raise RemoteProtocolError("TSRequest negoTokens is empty")
    return tuple(tokens)


@dataclass(frozen=True)
class TsPasswordCreds:
    """[MS-CSSP 2.2.1.2.1] TSPasswordCreds: domainName, userName, password (UTF-16LE)."""

    domain: str
    username: str
    password: str = field(repr=False)

    @classmethod
    def decode(cls, r: Reader) -> TsPasswordCreds:
        seq = _read_sequence(r, "TSPasswordCreds")
        values = []
        for number, what in ((0, "domainName"), (1, "userName"), (2, "password")):
            body = _read_context(seq, number)
            raw = _octets(body, what)
            body.expect_end(what)
            if len(raw) % 2:
                raise RemoteProtocolError(f"TSPasswordCreds {what} of odd length {len(raw)}")
            values.append(raw.decode("utf-16-le", errors="replace"))
        seq.expect_end("TSPasswordCreds")
        return cls(*values)

    def _der(self) -> bytes:
        return _sequence(b"".join(_context(i, _octet_string(v.encode("utf-16-le")))
                                  for i, v in enumerate((self.domain, self.username, self.password))))

    def encode(self, w: Writer) -> None:
        w.write(self._der())

    def size(self) -> int:
        return len(self._der())


@dataclass(frozen=True)
class TsCredentials:
    """[MS-CSSP 2.2.1.2] TSCredentials: credType and its credentials (for credType 1 a
    TSPasswordCreds; smart card and Remote Guard credentials are not taken)."""

    cred_type: int
    credentials: bytes = field(repr=False)

    @classmethod
    def decode(cls, r: Reader) -> TsCredentials:
        seq = _read_sequence(r, "TSCredentials")
        cred_type = ber.read_integer(_read_context(seq, 0))
        body = _read_context(seq, 1)
        credentials = _octets(body, "TSCredentials credentials")
        body.expect_end("TSCredentials credentials")
        seq.expect_end("TSCredentials")
        return cls(cred_type, credentials)

    def password_creds(self) -> TsPasswordCreds:
        if self.cred_type != CredType.PASSWORD:
            name = CredType(self.cred_type).name if self.cred_type in CredType._value2member_map_ else self.cred_type
            raise RemoteProtocolError(f"TSCredentials of type {name}: only password credentials are taken")
        r = Reader(self.credentials)
        creds = TsPasswordCreds.decode(r)
        r.expect_end("TSPasswordCreds")
        return creds

    def _der(self) -> bytes:
        return _sequence(_context(0, _integer(self.cred_type)) + _context(1, _octet_string(self.credentials)))

    def encode(self, w: Writer) -> None:
        w.write(self._der())

    def size(self) -> int:
        return len(self._der())


class TsRequestFramer:
    """Cuts the TLS stream into whole TSRequests (a DER SEQUENCE each), bounded in size."""

    def __init__(self, max_size: int = MAX_TS_REQUEST) -> None:
        self._buf = bytearray()
        self._max = max_size

    def feed(self, data: bytes) -> None:
        self._buf += data

    def take_rest(self) -> bytes:
        """What was received after the last whole TSRequest taken (the next layer's bytes)."""
        rest, self._buf = bytes(self._buf), bytearray()
        return rest

    def buffered(self) -> int:
        return len(self._buf)

    def next_frame(self) -> bytes | None:
        buf = self._buf
        if not buf:
            return None
        if buf[0] != ber.Tag.SEQUENCE:
            raise RemoteProtocolError(f"CredSSP message starts with 0x{buf[0]:02x}, not a TSRequest SEQUENCE")
        if len(buf) < 2:
            return None
        first = buf[1]
        if first < 0x80:
            header, length = 2, first
        else:
            count = first & 0x7F
            if not 1 <= count <= 3:
                raise RemoteProtocolError(f"TSRequest length of {count} octets")
            if len(buf) < 2 + count:
                return None
            header, length = 2 + count, int.from_bytes(buf[2:2 + count], "big")
        if header + length > self._max:
            raise RemoteProtocolError(f"TSRequest of {header + length} bytes, at most {self._max} taken")
        if len(buf) < header + length:
            return None
        frame = bytes(buf[:header + length])
        del buf[:header + length]
        return frame


# ---- the public key binding --------------------------------------------------------------

def subject_public_key(certificate_der: bytes) -> bytes:
    """The SubjectPublicKey of an X.509 certificate: the content of the BIT STRING of its
    SubjectPublicKeyInfo, without the unused-bits octet (for RSA, the DER RSAPublicKey).
    CredSSP binds to these bytes ([MS-CSSP 3.1.5])."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_der_x509_certificate(certificate_der)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    r = Reader(spki)
    seq = _read_sequence(r, "SubjectPublicKeyInfo")
    algorithm = _read_sequence(seq, "AlgorithmIdentifier")
    algorithm.skip(algorithm.remaining())
    if seq.u8("BIT STRING tag") != 0x03:
        raise LocalProtocolError("SubjectPublicKeyInfo without a BIT STRING")
    bits = seq.sub(ber.read_length(seq), "subjectPublicKey")
    if bits.u8("unused bits") != 0:
        raise LocalProtocolError("subjectPublicKey with unused bits")
    return bits.rest()


def client_server_hash(nonce: bytes, public_key: bytes) -> bytes:
    """Version 5+: what the client's pubKeyAuth must hold."""
    return hashlib.sha256(CLIENT_SERVER_MAGIC + nonce + public_key).digest()


def server_client_hash(nonce: bytes, public_key: bytes) -> bytes:
    """Version 5+: the server's pubKeyAuth."""
    return hashlib.sha256(SERVER_CLIENT_MAGIC + nonce + public_key).digest()


def public_key_echo(public_key: bytes) -> bytes:
    """Versions 2-4: the server's pubKeyAuth is the public key with 1 added to it as a
    little-endian number (its first byte incremented, carrying)."""
    out = bytearray(public_key)
    for i, byte in enumerate(out):
        if byte < 0xFF:
            out[i] = byte + 1
            break
        out[i] = 0
    return bytes(out)
