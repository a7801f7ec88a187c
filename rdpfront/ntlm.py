"""The NTLMv2 acceptor CredSSP needs ([MS-NLMP] 3.2.5, 3.3.2, 3.4), sans-IO, with the user's
NT hash supplied per login.

pyspnego's own acceptor reads every user's hash from one file named by the process-wide
``NTLM_USER_FILE``; a multi-user server learns the user only from the AUTHENTICATE message and
keeps hashes in its database. So the exchange is run here on pyspnego's NTLM message classes
and primitives (``spnego._ntlm_raw``: message packing and parsing, NTOWFv2, HMAC-MD5, RC4,
SEALKEY/SIGNKEY, seal/sign). Those are internal to pyspnego: the version is pinned in
``requirements.txt`` and ``tests/rdpfront/test_credssp.py`` runs this acceptor against
pyspnego's public initiator (``spnego.client``), so an upgrade that changes them fails there.
See ``docs/rdp-server.md`` (NLA).

Only NTLMv2 with extended session security, 128-bit keys and sealing is accepted (NTLMv1 and
LM responses are refused); the NTProofStr and the MIC are compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import os
import socket
import struct
from dataclasses import dataclass

from spnego._ntlm_raw.crypto import RC4Handle, hmac_md5, ntowfv2, rc4init, rc4k, sealkey, signkey
from spnego._ntlm_raw.messages import Authenticate as AuthenticateMessage
from spnego._ntlm_raw.messages import (
    AvFlags,
    AvId,
    Challenge,
    FileTime,
    MessageType,
    Negotiate,
    NegotiateFlags,
    NTClientChallengeV2,
    TargetInfo,
    Version,
)
from spnego._ntlm_raw.security import seal, sign

from rdpfront.errors import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

SIGNATURE = b"NTLMSSP\x00"
# The client must ask for these: NTLMv2 session security with sealing.
REQUIRED = (NegotiateFlags.unicode | NegotiateFlags.ntlm | NegotiateFlags.extended_session_security
            | NegotiateFlags.seal | NegotiateFlags.sign | NegotiateFlags.key_128)
# What the server agrees to of what the client asks.
OFFERED = (REQUIRED | NegotiateFlags.key_exch | NegotiateFlags.key_56 | NegotiateFlags.always_sign
           | NegotiateFlags.request_target | NegotiateFlags.version)
MAX_TOKEN = 8192


def _message_type(token: bytes) -> int:
    if len(token) < 12 or token[:8] != SIGNATURE:
        raise RemoteProtocolError("negoToken is not an NTLM message")
    if len(token) > MAX_TOKEN:
        raise RemoteProtocolError(f"NTLM message of {len(token)} bytes")
    return struct.unpack_from("<I", token, 8)[0]


def _parse(cls, token: bytes, what: str):
    """A pyspnego message class's parse, its errors the peer's: truncated or bad offsets."""
    try:
        return cls.unpack(token)
    except Exception as exc:  # pyspnego raises ValueError, struct.error, IndexError, ...
        raise RemoteProtocolError(f"malformed NTLM {what} message: {exc}") from None


@dataclass(frozen=True)
class AuthenticateInfo:
    """Who the AUTHENTICATE message says is logging in (not verified yet)."""

    username: str
    domain: str
    workstation: str


class NtlmAcceptor:
    """``negotiate(token)`` → CHALLENGE; ``authenticate(token)`` → who; ``verify(nt_hash)``
    → whether the response proves that hash; then ``wrap``/``unwrap`` (sealing) both ways."""

    def __init__(self, *, server_name: str | None = None, random: bytes | None = None) -> None:
        self._server_name = (server_name or socket.gethostname()).upper()[:15] or "WRD"
        self._challenge_random = random  # tests: a fixed server challenge
        self._negotiate: bytes | None = None
        self._challenge: bytes | None = None
        self._server_challenge = b""
        self._auth: AuthenticateMessage | None = None
        self._auth_raw = b""
        self._nt_response = self._encrypted_key = b""
        self._auth_flags = 0
        self._mic_announced = False
        self._mic_offset = 0
        self._user = self._domain = ""
        self.flags = 0
        self.complete = False
        self._sign_out = self._sign_in = b""
        self._seal_out: RC4Handle | None = None
        self._seal_in: RC4Handle | None = None
        self._seq_out = self._seq_in = 0

    # ---- the exchange -------------------------------------------------------------------

    def negotiate(self, token: bytes) -> bytes:
        """[MS-NLMP 3.2.5.1.1] The client's NEGOTIATE; the CHALLENGE to send back."""
        if self._negotiate is not None:
            raise RemoteProtocolError("a second NTLM NEGOTIATE message")
        if _message_type(token) != MessageType.negotiate:
            raise RemoteProtocolError("expected the NTLM NEGOTIATE message")
        negotiate = _parse(Negotiate, token, "NEGOTIATE")
        missing = NegotiateFlags(REQUIRED & ~negotiate.flags)
        if missing:
            raise RemoteProtocolError(f"NTLM client does not offer {missing!r}: NTLMv2 session security is required")
        flags = (negotiate.flags & OFFERED) | NegotiateFlags.target_info | NegotiateFlags.target_type_server
        self._server_challenge = self._challenge_random or os.urandom(8)
        info = TargetInfo()
        info[AvId.nb_domain_name] = self._server_name
        info[AvId.nb_computer_name] = self._server_name
        info[AvId.dns_domain_name] = self._server_name.lower()
        info[AvId.dns_computer_name] = self._server_name.lower()
        info[AvId.timestamp] = FileTime.now()
        version = Version.get_current() if flags & NegotiateFlags.version else None
        challenge = Challenge(flags, self._server_challenge, target_name=self._server_name, target_info=info,
                              version=version)
        self._negotiate = bytes(token)
        self._challenge = challenge.pack()
        self.flags = flags
        return self._challenge

    def authenticate(self, token: bytes) -> AuthenticateInfo:
        """[MS-NLMP 3.2.5.1.2] The client's AUTHENTICATE: who it names. ``verify`` decides."""
        if self._challenge is None or self._auth is not None:
            raise RemoteProtocolError("NTLM AUTHENTICATE out of turn")
        if _message_type(token) != MessageType.authenticate:
            raise RemoteProtocolError("expected the NTLM AUTHENTICATE message")
        auth = _parse(AuthenticateMessage, token, "AUTHENTICATE")
        try:
            username, domain, workstation = auth.user_name, auth.domain_name, auth.workstation
            nt_response = auth.nt_challenge_response or b""
        except Exception as exc:
            raise RemoteProtocolError(f"malformed NTLM AUTHENTICATE message: {exc}") from None
        if not username:
            raise RemoteProtocolError("anonymous NTLM logon is not taken")
        if len(nt_response) <= 24:
            raise RemoteProtocolError("NTLMv1 or LM response: only NTLMv2 is taken")
        if not isinstance(username, str) or not isinstance(domain or "", str):
            raise RemoteProtocolError("NTLM names not in Unicode")
        # Everything the check needs is read now: a malformed message is the peer's error here,
        # and ``verify`` only computes.
        try:
            client = NTClientChallengeV2.unpack(nt_response[16:])
            self._mic_announced = bool(int(client.av_pairs.get(AvId.flags, 0)) & AvFlags.mic)
            flags = auth.flags
            encrypted_key = auth.encrypted_random_session_key or b""
            mic_offset = auth._get_mic_offset()  # 72 after a Version, 64 without one, 0: no room
        except Exception as exc:
            raise RemoteProtocolError(f"malformed NTLMv2 response: {exc}") from None
        missing = NegotiateFlags(REQUIRED & ~flags)
        if missing:
            raise RemoteProtocolError(f"NTLM AUTHENTICATE drops {missing!r}")
        if flags & NegotiateFlags.key_exch and len(encrypted_key) != 16:
            raise RemoteProtocolError("NTLM key exchange without a 16-byte session key")
        if self._mic_announced and not mic_offset:
            raise RemoteProtocolError("NTLM AUTHENTICATE announces a MIC it does not carry")
        self._mic_offset = mic_offset
        self._user, self._domain = username, domain or ""
        self._auth, self._auth_raw = auth, bytes(token)
        self._nt_response, self._encrypted_key, self._auth_flags = nt_response, encrypted_key, flags
        return AuthenticateInfo(username, domain or "", workstation if isinstance(workstation, str) else "")

    def verify(self, nt_hash: bytes) -> bool:
        """Whether the AUTHENTICATE proves ``nt_hash`` (MD4 of the UTF-16LE password): the
        NTProofStr, then the MIC when the client announced one. On success the session keys
        are set up for ``wrap``/``unwrap``. Pure computation: the message was read by
        ``authenticate``, so nothing the peer sent can make this raise."""
        auth = self._auth
        if auth is None or self._challenge is None or self._negotiate is None:
            raise LocalProtocolError("verify() before the AUTHENTICATE message")
        if self.complete:
            raise LocalProtocolError("verify() twice")
        if len(nt_hash) != 16:
            raise LocalProtocolError("an NT hash is 16 bytes")
        nt_response = self._nt_response
        blob = nt_response[16:]
        response_key = ntowfv2(self._user, nt_hash, self._domain)
        proof = hmac_md5(response_key, self._server_challenge + blob)
        if not hmac.compare_digest(proof, nt_response[:16]):
            return False
        session_base_key = hmac_md5(response_key, proof)  # NTLMv2: also the key exchange key
        flags = self._auth_flags
        if flags & NegotiateFlags.key_exch:
            session_key = rc4k(session_base_key, self._encrypted_key)
        else:
            session_key = session_base_key
        if self._mic_announced:
            at = self._mic_offset
            mic = self._auth_raw[at:at + 16]
            zeroed = self._auth_raw[:at] + bytes(16) + self._auth_raw[at + 16:]
            expected = hmac_md5(session_key, self._negotiate + self._challenge + zeroed)
            if not hmac.compare_digest(mic, expected):
                return False
        self.flags = flags
        self._sign_out, self._sign_in = signkey(flags, session_key, "accept"), signkey(flags, session_key, "initiate")
        self._seal_out = rc4init(sealkey(flags, session_key, "accept"))
        self._seal_in = rc4init(sealkey(flags, session_key, "initiate"))
        self.complete = True
        return True

    # ---- message integrity (SPNEGO's mechListMIC) -----------------------------------------
    # Each takes a sequence number; then that direction's RC4 state starts afresh from its key
    # (the sequence numbers go on), as Windows' and pyspnego's SPNEGO do after the mechListMIC.

    def sign_mech_list(self, data: bytes) -> bytes:
        """[MS-NLMP 3.4.4] The server's signature of ``data`` (the mechanism list)."""
        if self._seal_out is None:
            raise LocalProtocolError("sign_mech_list() before the NTLM exchange completed")
        signature = sign(self.flags, self._seal_out, self._sign_out, self._seq_out, data)
        self._seq_out += 1
        self._seal_out.reset()
        return signature

    def verify_mech_list(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is the client's signature of ``data`` (the mechanism list)."""
        if self._seal_in is None:
            raise LocalProtocolError("verify_mech_list() before the NTLM exchange completed")
        expected = sign(self.flags, self._seal_in, self._sign_in, self._seq_in, data)
        self._seq_in += 1
        self._seal_in.reset()
        return hmac.compare_digest(signature, expected)

    # ---- message confidentiality (the CredSSP wrap) --------------------------------------

    def wrap(self, data: bytes) -> bytes:
        """[MS-NLMP 3.4.3] Sealed: the 16-byte signature, then the encrypted message."""
        if self._seal_out is None:
            raise LocalProtocolError("wrap() before the NTLM exchange completed")
        sealed, signature = seal(self.flags, self._seal_out, self._sign_out, self._seq_out, data)
        self._seq_out += 1
        return signature + sealed

    def unwrap(self, data: bytes) -> bytes:
        """The client's sealed message; ``RemoteProtocolError`` when its signature is wrong."""
        if self._seal_in is None:
            raise LocalProtocolError("unwrap() before the NTLM exchange completed")
        if len(data) < 16:
            raise RemoteProtocolError(f"sealed NTLM message of {len(data)} bytes, shorter than its signature")
        signature, message = data[:16], self._seal_in.update(data[16:])
        expected = sign(self.flags, self._seal_in, self._sign_in, self._seq_in, message)
        self._seq_in += 1
        if not hmac.compare_digest(signature, expected):
            raise RemoteProtocolError("sealed NTLM message with a wrong signature")
        return message


def nt_hash(password: str) -> bytes:
    """MD4 of the UTF-16LE password (pyspnego's MD4: OpenSSL 3 may lack it). Not pyspnego's
    ``ntowfv1``, which takes a password shaped like ``LM:NT`` in hex for the hash itself."""
    from spnego._ntlm_raw.md4 import md4

    return md4(password.encode("utf-16-le", errors="surrogatepass"))
