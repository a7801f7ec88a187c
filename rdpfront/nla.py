"""NLA: the server side of CredSSP over the TLS upgrade ([MS-CSSP 3.1.5]), sans-IO.

::

    WaitNegotiate --TSRequest(NEGOTIATE)--> (CHALLENGE sent) WaitAuthenticate
      --TSRequest(AUTHENTICATE, pubKeyAuth[, clientNonce])--> event NlaVerify(proof): the driver
      looks the user's NT hash up, runs ``proof.verify(nt_hash)`` under the login throttle and
      answers ``verified(verdict)`` --OK--> (pubKeyAuth sent) WaitCredentials
      --TSRequest(authInfo)--> Done: event NlaAuthenticated(username, domain)
    a refused verdict: TSRequest(errorCode) sent --> Failed

Only NTLM (``ntlm.NtlmAcceptor``) is accepted: as raw NTLM messages in negoTokens (FreeRDP 2's
"Negotiate" package sends them so), or wrapped in SPNEGO ([RFC 4178], [MS-SPNG]: NegTokenInit,
then NegTokenResp both ways, with the mechListMIC signed and checked by NTLM before the
pubKeyAuth, so the sequence numbers match the client's); a SPNEGO client whose first choice is
not NTLM is answered with NTLM as the mechanism and sends its NTLM NEGOTIATE next. Kerberos is
not taken. The
client's pubKeyAuth proves it sees this server's TLS key: version 5 and later hash it with
the client's nonce (SHA-256, "Client-To-Server" / "Server-To-Client" magic), earlier versions
echo the key itself (the server's answer has it incremented). The delegated TSCredentials must
name the user NTLM authenticated; the password in it is not kept.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from rdpfront.credssp import (
    NONCE_SIZE,
    OUR_VERSION,
    NtStatus,
    TsCredentials,
    TsRequest,
    TsRequestFramer,
    client_server_hash,
    public_key_echo,
    server_client_hash,
)
from rdpfront.cursor import Reader, decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.events import NlaAuthenticated, NlaVerify
from rdpfront.ntlm import NtlmAcceptor
from rdpfront.spnego import SpnegoLayer

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    """What the driver found of an NTLM login, and the NTSTATUS the client is told."""

    OK = 0
    FAILED = NtStatus.LOGON_FAILURE  # unknown user, wrong password, or a bad key binding
    NO_HASH = NtStatus.PASSWORD_MUST_CHANGE  # the user must log in once on the web or reset their password
    THROTTLED = NtStatus.ACCOUNT_LOCKED_OUT  # too many failed logins: docs/security.md
    DENIED = NtStatus.ACCESS_DENIED  # the user may not use RDP (their policy)


@dataclass
class NlaProof:
    """An NTLM login to check: ``verify(nt_hash)`` is true when the client proved that hash
    and bound the exchange to this server's TLS key. Pure computation: it may run in a worker
    thread while the connection waits."""

    username: str
    domain: str
    workstation: str
    _verify: Callable[[bytes], bool] = field(repr=False)
    binding_failed: bool = False  # the response was right but pubKeyAuth was not

    def verify(self, nt_hash: bytes) -> bool:
        return self._verify(nt_hash)


class State(enum.Enum):
    WAIT_NEGOTIATE = "wait-negotiate"
    WAIT_AUTHENTICATE = "wait-authenticate"
    WAIT_VERDICT = "wait-verdict"
    WAIT_CREDENTIALS = "wait-credentials"
    DONE = "done"
    FAILED = "failed"


class CredsspServer:
    """Feed ``receive_data``; drain ``events()`` and ``data_to_send()``; answer ``NlaVerify``
    with ``verified``. ``take_rest()`` gives the bytes that came after CredSSP ended."""

    def __init__(self, public_key: bytes, *, log_context: str = "", ntlm: NtlmAcceptor | None = None) -> None:
        self.public_key = public_key
        self.state = State.WAIT_NEGOTIATE
        self.peer_version = 0
        self.username = ""
        self.domain = ""
        self._ntlm = ntlm or NtlmAcceptor()
        self._framer = TsRequestFramer()
        self._spnego: SpnegoLayer | None = None  # when the client wraps NTLM in SPNEGO
        self._nonce: bytes | None = None
        self._out = bytearray()
        self._events: list[NlaVerify | NlaAuthenticated] = []
        self._log = log_context

    # ---- sans-IO surface ------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    @property
    def authenticated(self) -> bool:
        """The user's NTLM login was verified (CredSSP may still fail after it)."""
        return self._ntlm.complete

    @property
    def waiting_on_driver(self) -> bool:
        return self.state is State.WAIT_VERDICT

    def receive_data(self, data: bytes) -> None:
        if self.state in (State.DONE, State.FAILED):
            raise LocalProtocolError(f"CredSSP data in state {self.state.value}")
        self._framer.feed(data)
        self._pump()

    def events(self) -> list[NlaVerify | NlaAuthenticated]:
        out, self._events = self._events, []
        return out

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def take_rest(self) -> bytes:
        return self._framer.take_rest()

    def verified(self, verdict: Verdict) -> None:
        """The driver's answer to ``NlaVerify``."""
        if self.state is not State.WAIT_VERDICT:
            raise LocalProtocolError(f"verified() in state {self.state.value}")
        if verdict is not Verdict.OK:
            self.fail(int(verdict.value))
            return
        if not self._ntlm.complete:
            raise LocalProtocolError("verdict OK but the NTLM response was never verified")
        if self._nonce is not None:
            answer = server_client_hash(self._nonce, self.public_key)
        else:
            answer = public_key_echo(self.public_key)
        # SPNEGO's last token (with the server's mechListMIC) is signed before the key is sealed.
        tokens = (self._spnego.completed(self._ntlm),) if self._spnego is not None else ()
        self._send(TsRequest(OUR_VERSION, nego_tokens=tokens, pub_key_auth=self._ntlm.wrap(answer)))
        self.state = State.WAIT_CREDENTIALS
        self._pump()

    def fail(self, status: int) -> None:
        """Refuse the login: the client is told ``status`` (an NTSTATUS) when its version
        carries errorCode (3 and later); CredSSP ends here."""
        if self.peer_version >= 3:
            self._send(TsRequest(OUR_VERSION, error_code=status))
        self.state = State.FAILED

    # ---- the steps -----------------------------------------------------------------------

    def _pump(self) -> None:
        while self.state in (State.WAIT_NEGOTIATE, State.WAIT_AUTHENTICATE, State.WAIT_CREDENTIALS):
            try:
                frame = self._framer.next_frame()
                if frame is None:
                    return
                self._step(decode(TsRequest, frame))
            except RemoteProtocolError:
                self.state = State.FAILED
                raise

    def _step(self, request: TsRequest) -> None:
        if self.peer_version == 0:
            self.peer_version = request.version
        if request.error_code:
            raise RemoteProtocolError(f"CredSSP client sent error 0x{request.error_code:08x}")
        if self.state is State.WAIT_NEGOTIATE:
            self._on_negotiate(self._one_token(request))
        elif self.state is State.WAIT_AUTHENTICATE:
            self._on_authenticate(request)
        elif self.state is State.WAIT_CREDENTIALS:
            self._on_credentials(request)

    def _one_token(self, request: TsRequest) -> bytes:
        if len(request.nego_tokens) != 1:
            raise RemoteProtocolError(f"TSRequest with {len(request.nego_tokens)} negoTokens, one expected")
        return request.nego_tokens[0]

    def _on_negotiate(self, token: bytes) -> None:
        if self._spnego is None and token[:1] == b"\x60":  # a GSS-API InitialContextToken: SPNEGO
            self._spnego = SpnegoLayer()
        if self._spnego is not None:
            ntlm_token = self._spnego.first(token)
            if ntlm_token is None:  # NTLM chosen; its NEGOTIATE comes next
                self._send(TsRequest(OUR_VERSION, nego_tokens=(self._spnego.choose(),)))
                return
            challenge = self._spnego.incomplete(self._ntlm.negotiate(ntlm_token))
        else:
            challenge = self._ntlm.negotiate(token)
        self._send(TsRequest(OUR_VERSION, nego_tokens=(challenge,)))
        self.state = State.WAIT_AUTHENTICATE

    def _on_authenticate(self, request: TsRequest) -> None:
        token = self._one_token(request)
        mech_list_mic = None
        if self._spnego is not None:
            token, mech_list_mic = self._spnego.response(token)
        info = self._ntlm.authenticate(token)
        if request.pub_key_auth is None:
            raise RemoteProtocolError("the TSRequest with the NTLM AUTHENTICATE lacks pubKeyAuth")
        if min(self.peer_version, OUR_VERSION) >= 5:
            if request.client_nonce is None or len(request.client_nonce) != NONCE_SIZE:
                raise RemoteProtocolError(f"CredSSP version {self.peer_version} without a clientNonce")
            self._nonce = request.client_nonce
            expected = client_server_hash(self._nonce, self.public_key)
        else:
            expected = self.public_key
        sealed = request.pub_key_auth
        self.username, self.domain = info.username, info.domain
        proof = NlaProof(info.username, info.domain, info.workstation, lambda nt_hash: check(nt_hash))

        def check(nt_hash: bytes) -> bool:
            if not self._ntlm.verify(nt_hash):
                return False
            if mech_list_mic is not None and not self._spnego.check_mic(self._ntlm, mech_list_mic):
                log.warning("%s NLA: user=%r sent a SPNEGO mechListMIC that does not verify: refused", self._log,
                            info.username)
                return False
            try:
                bound = self._ntlm.unwrap(sealed) == expected
            except RemoteProtocolError:
                bound = False
            if not bound:
                proof.binding_failed = True
                log.warning("%s NLA: user=%r answered the NTLM challenge, but its pubKeyAuth does not match "
                            "this server's TLS key (interception, or a broken client): refused", self._log,
                            info.username)
            return bound

        self.state = State.WAIT_VERDICT
        self._events.append(NlaVerify(proof))

    def _on_credentials(self, request: TsRequest) -> None:
        if request.auth_info is None:
            raise RemoteProtocolError("CredSSP TSRequest without authInfo after the public key exchange")
        credentials = TsCredentials.decode(Reader(self._ntlm.unwrap(request.auth_info)))
        creds = credentials.password_creds()
        if _bare_name(creds.username) != _bare_name(self.username):
            raise RemoteProtocolError(f"TSCredentials name user {creds.username!r}, NTLM authenticated "
                                      f"{self.username!r}")
        self.state = State.DONE
        self._events.append(NlaAuthenticated(self.username, self.domain))

    def _send(self, request: TsRequest) -> None:
        self._out += encode(request)


def _bare_name(name: str) -> str:
    """``DOMAIN\\user`` and ``user@domain`` name ``user``; names compare without case, as NTLM's do."""
    return name.rpartition("\\")[2].partition("@")[0].casefold() if "@" in name else name.rpartition("\\")[2].casefold()
