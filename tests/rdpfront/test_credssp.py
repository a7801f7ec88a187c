"""NLA: the CredSSP structures (vectors, captures of the real xfreerdp 2.11, properties), the
NTLMv2 acceptor against pyspnego's public initiator, and the whole CredSSP exchange of versions
2-6 through ``ServerConnection`` with a client made of the two (in memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import spnego
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import events, x224
from rdpfront.acceptor import AcceptorConfig, Closed, Credssp, WaitConnectInitial
from rdpfront.connection import ServerConnection
from rdpfront.credssp import (
    NONCE_SIZE,
    AuthorizationResult,
    CredType,
    NtStatus,
    TsCredentials,
    TsPasswordCreds,
    TsRequest,
    TsRequestFramer,
    client_server_hash,
    early_user_authorization_result,
    public_key_echo,
    server_client_hash,
    subject_public_key,
)
from rdpfront.cursor import Reader, decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.nla import CredsspServer, NlaProof, State, Verdict
from rdpfront.ntlm import NtlmAcceptor, nt_hash
from rdpfront.x224 import SecurityProtocol

from .helpers import MemoryClient

DATA = Path(__file__).resolve().parent.parent / "data" / "rdp"
PASSWORD = "right-password"  # what the captures were made with (tests/rdpfront/xfreerdp.py)
PUBLIC_KEY = bytes(range(256)) + b"\x30\x82"  # any bytes: the binding only hashes or echoes them


def captured(name: str) -> bytes:
    """A TSRequest of xfreerdp 2.11's ``/sec:nla`` login as alice (and the server's answers)."""
    return (DATA / f"credssp-xfreerdp-{name}.bin").read_bytes()


def credential_seeds() -> tuple[bytes, bytes]:
    creds = TsPasswordCreds("", "alice", PASSWORD)
    return encode(TsCredentials(CredType.PASSWORD, encode(creds))), encode(creds)


# ---- vectors ------------------------------------------------------------------------------

def test_error_code_and_version_vectors() -> None:
    data = bytes.fromhex("300da003020106a40602" "04c000006d")
    assert decode(TsRequest, data) == TsRequest(6, error_code=0xC000006D)
    assert encode(TsRequest(6, error_code=0xC000006D)) == data
    assert encode(TsRequest(2)) == bytes.fromhex("3005a003020102")
    one_token = TsRequest(6, nego_tokens=(b"NT",))
    assert encode(one_token) == bytes.fromhex("3011a003020106a10a30083006a0040402" "4e54")
    assert decode(TsRequest, encode(one_token)) == one_token


def test_a_later_versions_field_is_skipped_and_out_of_order_fields_refused() -> None:
    later = bytes.fromhex("300aa003020107a603020101")
    assert decode(TsRequest, later) == TsRequest(7)
    pub_key_then_auth_info = bytes.fromhex("3011a003020106a30404020000a20404020000")
    with pytest.raises(RemoteProtocolError, match="after"):
        decode(TsRequest, pub_key_then_auth_info)
    with pytest.raises(RemoteProtocolError, match="version 1"):
        decode(TsRequest, bytes.fromhex("3005a003020101"))


def test_the_xfreerdp_capture_decodes_and_re_encodes_byte_for_byte() -> None:
    negotiate, challenge, authenticate, pubkeyauth, authinfo = (
        decode(TsRequest, captured(n)) for n in ("negotiate", "challenge", "authenticate", "pubkeyauth", "authinfo"))
    assert negotiate.version == 6 and negotiate.nego_tokens[0].startswith(b"NTLMSSP\x00\x01")
    assert challenge.nego_tokens[0].startswith(b"NTLMSSP\x00\x02")
    assert authenticate.nego_tokens[0].startswith(b"NTLMSSP\x00\x03")
    assert authenticate.pub_key_auth is not None and len(authenticate.client_nonce or b"") == NONCE_SIZE
    assert pubkeyauth.pub_key_auth is not None and authinfo.auth_info is not None
    for name in ("negotiate", "challenge", "authenticate", "pubkeyauth", "authinfo"):
        assert encode(decode(TsRequest, captured(name))) == captured(name)


def test_the_xfreerdp_login_replays_through_the_acceptor() -> None:
    """xfreerdp's NTLM answer proves the password; its pubKeyAuth is bound to the key the
    server had; our sealing reproduces the server's answer byte for byte; its TSCredentials
    open to alice's password."""
    public_key = captured("server-public-key")
    challenge = decode(TsRequest, captured("challenge")).nego_tokens[0]
    authenticate = decode(TsRequest, captured("authenticate"))

    def replayed() -> NtlmAcceptor:
        acceptor = NtlmAcceptor()
        acceptor.negotiate(decode(TsRequest, captured("negotiate")).nego_tokens[0])
        acceptor._challenge, acceptor._server_challenge = challenge, challenge[24:32]  # the server's, as sent
        assert acceptor.authenticate(authenticate.nego_tokens[0]).username == "alice"
        return acceptor

    assert not replayed().verify(nt_hash("wrong-password"))
    acceptor = replayed()
    assert acceptor.verify(nt_hash(PASSWORD))
    assert acceptor.unwrap(authenticate.pub_key_auth) == client_server_hash(authenticate.client_nonce, public_key)
    answer = acceptor.wrap(server_client_hash(authenticate.client_nonce, public_key))
    assert answer == decode(TsRequest, captured("pubkeyauth")).pub_key_auth
    credentials = decode(TsCredentials, acceptor.unwrap(decode(TsRequest, captured("authinfo")).auth_info))
    assert credentials.password_creds() == TsPasswordCreds("", "alice", PASSWORD)


def test_public_key_binding_helpers(tmp_path: Path) -> None:
    assert public_key_echo(b"\x01\x02") == b"\x02\x02"
    assert public_key_echo(b"\xff\xff\x05") == b"\x00\x00\x06"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from rdpfront.tls import certificate_public_key, ensure_certificate
    cert_path, _ = ensure_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    pkcs1 = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert certificate_public_key(cert_path) == pkcs1 == subject_public_key(cert.public_bytes(
        serialization.Encoding.DER))


def test_only_password_credentials_are_taken() -> None:
    with pytest.raises(RemoteProtocolError, match="SMART_CARD"):
        TsCredentials(CredType.SMART_CARD, b"\x30\x00").password_creds()


def test_nt_hash_is_md4_of_utf16_even_for_a_password_shaped_like_a_hash() -> None:
    assert nt_hash("password").hex() == "8846f7eaee8fb117ad06bdd830b7586c"
    shaped = "aad3b435b51404eeaad3b435b51404ee:8846f7eaee8fb117ad06bdd830b7586c"
    assert nt_hash(shaped) != bytes.fromhex("8846f7eaee8fb117ad06bdd830b7586c")


# ---- properties ---------------------------------------------------------------------------

octets = st.binary(max_size=300)
requests = st.builds(
    TsRequest, version=st.integers(2, 2**32), nego_tokens=st.lists(st.binary(max_size=200), max_size=3).map(tuple),
    auth_info=st.none() | octets, pub_key_auth=st.none() | octets, error_code=st.none() | st.integers(0, 2**32 - 1),
    client_nonce=st.none() | st.binary(min_size=NONCE_SIZE, max_size=NONCE_SIZE))


@given(requests)
def test_ts_requests_round_trip(request: TsRequest) -> None:
    assert decode(TsRequest, encode(request)) == request


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_password_creds_round_trip(domain: str, username: str, password: str) -> None:
    creds = TsPasswordCreds(domain, username, password)
    data = encode(TsCredentials(CredType.PASSWORD, encode(creds)))
    decoded = decode(TsCredentials, data).password_creds()
    assert decoded == TsPasswordCreds(*(s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
                                        for s in (domain, username, password)))


@given(st.lists(requests, min_size=1, max_size=4), st.integers(1, 50))
def test_the_framer_cuts_any_split_stream(batch: list[TsRequest], step: int) -> None:
    stream = b"".join(encode(r) for r in batch) + b"\x03\x00"  # then the first bytes of a TPKT
    framer, frames = TsRequestFramer(), []
    for at in range(0, len(stream), step):
        framer.feed(stream[at:at + step])
        while (frame := framer.next_frame()) is not None:
            frames.append(decode(TsRequest, frame))
            if len(frames) == len(batch):
                break
        if len(frames) == len(batch):
            framer.feed(stream[at + step:])
            break
    assert frames == batch
    assert framer.take_rest() == b"\x03\x00"


@given(st.binary(max_size=400))
def test_garbage_to_the_credssp_server_is_only_the_peers_error(data: bytes) -> None:
    server = CredsspServer(PUBLIC_KEY)
    try:
        server.receive_data(data)
    except RemoteProtocolError:
        assert server.state is State.FAILED
        return
    assert server.state in (State.WAIT_NEGOTIATE, State.WAIT_AUTHENTICATE)


def test_an_oversized_ts_request_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="at most"):
        framer = TsRequestFramer()
        framer.feed(b"\x30\x83\x10\x00\x00")
        framer.next_frame()


# ---- the exchange, in memory --------------------------------------------------------------

@dataclass
class CredsspClient:
    """A CredSSP client: pyspnego's NTLM initiator wrapped in our TSRequests."""

    version: int = 6
    username: str = "alice"
    password: str = PASSWORD
    public_key: bytes = PUBLIC_KEY
    nonce: bytes = b"\x07" * NONCE_SIZE
    protocol: str = "ntlm"  # "negotiate": NTLM wrapped in SPNEGO
    ntlm: object = field(init=False)

    def __post_init__(self) -> None:
        self.ntlm = spnego.client(self.username, self.password, hostname="wrd", protocol=self.protocol)

    def negotiate(self) -> bytes:
        return encode(TsRequest(self.version, nego_tokens=(self.ntlm.step(),)))

    def authenticate(self, challenge: bytes, *, bind_to: bytes | None = None) -> bytes:
        token = self.ntlm.step(decode(TsRequest, challenge).nego_tokens[0])
        key = self.public_key if bind_to is None else bind_to
        binding = client_server_hash(self.nonce, key) if self.version >= 5 else key
        return encode(TsRequest(self.version, nego_tokens=(token,), pub_key_auth=self.ntlm.wrap(binding).data,
                                client_nonce=self.nonce if self.version >= 5 else None))

    def check_server(self, answer: bytes) -> None:
        request = decode(TsRequest, answer)
        if self.protocol == "negotiate":  # SPNEGO's last token: the server's mechListMIC, checked
            assert self.ntlm.step(request.nego_tokens[0]) is None and self.ntlm.complete
        got = self.ntlm.unwrap(request.pub_key_auth).data
        expected = (server_client_hash(self.nonce, self.public_key) if self.version >= 5
                    else public_key_echo(self.public_key))
        assert got == expected

    def credentials(self, username: str | None = None) -> bytes:
        creds = TsPasswordCreds("", self.username if username is None else username, self.password)
        sealed = self.ntlm.wrap(encode(TsCredentials(CredType.PASSWORD, encode(creds)))).data
        return encode(TsRequest(self.version, auth_info=sealed))


def connection_at_credssp(requested: SecurityProtocol, **config) -> ServerConnection:
    conn = ServerConnection(AcceptorConfig(allow_nla=True, **config))
    conn.receive_data(encode(x224.ConnectionRequest(b"Cookie: mstshash=alice", x224.NegotiationRequest(requested))))
    confirm = x224.ConnectionConfirm.decode(Reader(conn.data_to_send()))
    assert isinstance(confirm.negotiation, x224.NegotiationResponse)
    assert conn.events() == [events.SecurityUpgradeRequired(confirm.negotiation.selected_protocol)]
    conn.security_upgrade_done(PUBLIC_KEY)
    assert isinstance(conn.acceptor.state, Credssp)
    return conn


def verdict_for(proof: NlaProof, password: str = PASSWORD) -> Verdict:
    return Verdict.OK if proof.verify(nt_hash(password)) else Verdict.FAILED


def run_exchange(conn: ServerConnection, client: CredsspClient, *, server_password: str = PASSWORD) -> Verdict:
    conn.receive_data(client.negotiate())
    conn.receive_data(client.authenticate(conn.data_to_send()))
    (verify,) = conn.events()
    assert isinstance(verify, events.NlaVerify)
    verdict = verdict_for(verify.proof, server_password)
    conn.credssp_verified(verdict)
    return verdict


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("requested", [SecurityProtocol.SSL | SecurityProtocol.HYBRID,
                                       SecurityProtocol.SSL | SecurityProtocol.HYBRID | SecurityProtocol.HYBRID_EX])
def test_every_version_authenticates_and_mcs_follows(version: int, requested: SecurityProtocol) -> None:
    conn = connection_at_credssp(requested)
    client = CredsspClient(version=version)
    assert run_exchange(conn, client) is Verdict.OK
    client.check_server(conn.data_to_send())
    conn.receive_data(client.credentials(username="ALICE"))  # names compare without case
    (done,) = conn.events()
    assert done == events.NlaAuthenticated("alice", "")
    early = conn.data_to_send()
    if requested & SecurityProtocol.HYBRID_EX:
        assert early == early_user_authorization_result(AuthorizationResult.AUTHZ_SUCCESS)
    else:
        assert early == b""
    assert isinstance(conn.acceptor.state, WaitConnectInitial)
    assert conn.acceptor.nla_username == "alice"


@pytest.mark.parametrize("version", [3, 6])
def test_ntlm_wrapped_in_spnego_authenticates(version: int) -> None:
    """pyspnego's Negotiate client (SPNEGO around NTLM, with mechListMIC both ways)."""
    conn = connection_at_credssp(SecurityProtocol.SSL | SecurityProtocol.HYBRID | SecurityProtocol.HYBRID_EX)
    client = CredsspClient(version=version, protocol="negotiate")
    assert run_exchange(conn, client) is Verdict.OK
    assert conn.credssp._spnego is not None  # the client did wrap NTLM in SPNEGO
    client.check_server(conn.data_to_send())
    conn.receive_data(client.credentials())
    assert conn.events() == [events.NlaAuthenticated("alice", "")]


def test_spnego_with_a_wrong_password_or_without_ntlm_is_refused() -> None:
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    assert run_exchange(conn, CredsspClient(protocol="negotiate", password="wrong")) is Verdict.FAILED
    assert decode(TsRequest, conn.data_to_send()).error_code == NtStatus.LOGON_FAILURE
    from spnego._spnego import NegTokenInit
    kerberos_only = NegTokenInit(mech_types=["1.2.840.113554.1.2.2"], mech_token=b"\x60\x00").pack()
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    with pytest.raises(RemoteProtocolError, match="only NTLM is taken"):
        conn.receive_data(encode(TsRequest(6, nego_tokens=(kerberos_only,))))


def test_spnego_preferring_kerberos_is_answered_with_ntlm() -> None:
    """A client whose first choice is Kerberos: the server picks NTLM, the client then sends
    its NTLM NEGOTIATE in a NegTokenResp."""
    from spnego._spnego import NegState, NegTokenInit, NegTokenResp, unpack_token
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    ntlm = spnego.client("alice", PASSWORD, hostname="wrd", protocol="ntlm")
    init = NegTokenInit(mech_types=["1.2.840.48018.1.2.2", "1.3.6.1.4.1.311.2.2.10"], mech_token=b"kerberos-ap-req")
    conn.receive_data(encode(TsRequest(6, nego_tokens=(init.pack(),))))
    choice = unpack_token(decode(TsRequest, conn.data_to_send()).nego_tokens[0])
    assert choice.neg_state == NegState.accept_incomplete and choice.supported_mech == "1.3.6.1.4.1.311.2.2.10"
    conn.receive_data(encode(TsRequest(6, nego_tokens=(NegTokenResp(response_token=ntlm.step()).pack(),))))
    challenge = unpack_token(decode(TsRequest, conn.data_to_send()).nego_tokens[0])
    assert challenge.response_token.startswith(b"NTLMSSP\x00\x02")


def test_the_nla_identity_is_the_sessions_whatever_the_client_info_says() -> None:
    """After NLA, the Client Info's (empty or other) credentials are not what logs in."""
    class NlaClient(MemoryClient):
        def _security_upgrade(self) -> None:
            self.server.events()  # SecurityUpgradeRequired
            self.server.security_upgrade_done(PUBLIC_KEY)
            client = CredsspClient()
            assert run_exchange(self.server, client) is Verdict.OK
            client.check_server(self.server.data_to_send())
            self.server.receive_data(client.credentials())
            assert self.server.events() == [events.NlaAuthenticated("alice", "")]

    client = NlaClient(server=ServerConnection(AcceptorConfig(allow_nla=True)))
    client.connect(username="mallory", password="", accept=False)
    (credentials,) = [e for e in client.server.events() if isinstance(e, events.Credentials)]
    assert credentials.nla_username == "alice" and credentials.username == "mallory"
    from rdpfront.login_flow import Attach, LoginFlow
    assert LoginFlow(max_width=1920, max_height=1200).credentials(credentials) == Attach("alice", 800, 600)


def test_a_wrong_password_is_refused_with_logon_failure() -> None:
    conn = connection_at_credssp(SecurityProtocol.SSL | SecurityProtocol.HYBRID)
    assert run_exchange(conn, CredsspClient(password="wrong")) is Verdict.FAILED
    assert decode(TsRequest, conn.data_to_send()) == TsRequest(6, error_code=NtStatus.LOGON_FAILURE)
    assert conn.closed


@pytest.mark.parametrize(("verdict", "status"), [(Verdict.NO_HASH, NtStatus.PASSWORD_MUST_CHANGE),
                                                  (Verdict.THROTTLED, NtStatus.ACCOUNT_LOCKED_OUT)])
def test_refusals_tell_the_client_why(verdict: Verdict, status: int) -> None:
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    client = CredsspClient()
    conn.receive_data(client.negotiate())
    conn.receive_data(client.authenticate(conn.data_to_send()))
    conn.events()
    conn.credssp_verified(verdict)
    assert decode(TsRequest, conn.data_to_send()).error_code == status
    assert conn.closed


def test_version_2_clients_get_no_error_code() -> None:
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    assert run_exchange(conn, CredsspClient(version=2, password="wrong")) is Verdict.FAILED
    assert conn.data_to_send() == b"" and conn.closed


def test_a_pub_key_auth_for_another_key_is_refused() -> None:
    """The right password through a man in the middle, whose TLS key the client saw."""
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    client = CredsspClient()
    conn.receive_data(client.negotiate())
    conn.receive_data(client.authenticate(conn.data_to_send(), bind_to=b"the interceptor's key"))
    (verify,) = conn.events()
    assert not verify.proof.verify(nt_hash(PASSWORD))
    assert verify.proof.binding_failed


@pytest.mark.parametrize(("requested", "told"), [
    (SecurityProtocol.HYBRID, b""),
    (SecurityProtocol.HYBRID_EX, early_user_authorization_result(AuthorizationResult.AUTHZ_ACCESS_DENIED))])
def test_credentials_for_another_user_end_the_connection(requested: SecurityProtocol, told: bytes) -> None:
    conn = connection_at_credssp(requested)
    client = CredsspClient()
    run_exchange(conn, client)
    conn.data_to_send()
    with pytest.raises(RemoteProtocolError, match="TSCredentials name user 'bob'"):
        conn.receive_data(client.credentials(username="bob"))
    assert conn.closed
    assert conn.data_to_send() == told


@pytest.mark.parametrize("bad", [
    b"\x30\x03\x02\x01\x06",  # a SEQUENCE without the [0] version
    b"\x03\x00\x00\x13",  # a TPKT where a TSRequest belongs
    encode(TsRequest(6, nego_tokens=(b"NTLMSSP\x00\x03\x00\x00\x00",))),  # AUTHENTICATE first
    encode(TsRequest(6, nego_tokens=(b"\x60\x28\x06\x06\x2b\x06\x01\x05\x05\x02",))),  # truncated SPNEGO
    encode(TsRequest(6, nego_tokens=(b"NTLMSSP\x00\x01\x00\x00\x00" + b"\x00" * 4,))),  # no NTLMv2 flags
])
def test_malformed_input_closes_that_connection_with_a_reason(bad: bytes) -> None:
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(bad)
    assert conn.closed and isinstance(conn.acceptor.state, Closed)


def test_negotiation_offers_nla_only_when_configured() -> None:
    def selected(config: AcceptorConfig, requested: SecurityProtocol) -> object:
        conn = ServerConnection(config)
        conn.receive_data(encode(x224.ConnectionRequest(b"Cookie: mstshash=alice", x224.NegotiationRequest(requested))))
        return x224.ConnectionConfirm.decode(Reader(conn.data_to_send())).negotiation

    tls_nla = SecurityProtocol.SSL | SecurityProtocol.HYBRID
    assert selected(AcceptorConfig(), tls_nla).selected_protocol == SecurityProtocol.SSL
    assert selected(AcceptorConfig(allow_nla=True), tls_nla).selected_protocol == SecurityProtocol.HYBRID
    nla_only = selected(AcceptorConfig(allow_nla=True), SecurityProtocol.HYBRID)
    assert nla_only.selected_protocol == SecurityProtocol.HYBRID
    assert selected(AcceptorConfig(allow_nla=True), SecurityProtocol.SSL).selected_protocol == SecurityProtocol.SSL
    assert (selected(AcceptorConfig(allow_nla=True), tls_nla | SecurityProtocol.HYBRID_EX).selected_protocol
            == SecurityProtocol.HYBRID_EX)
    refused = selected(AcceptorConfig(allow_nla=True, require_nla=True), SecurityProtocol.SSL)
    assert refused.code == x224.FailureCode.HYBRID_REQUIRED_BY_SERVER


def test_the_acceptor_is_driven_in_turn_only() -> None:
    conn = connection_at_credssp(SecurityProtocol.HYBRID)
    with pytest.raises(LocalProtocolError):
        conn.credssp_verified(Verdict.OK)  # before any AUTHENTICATE
