"""The connection sequence, server side ([MS-RDPBCGR 1.3.1.1]): a sans-IO step machine that
ends once the client is accepted (IronRDP ``ironrdp-acceptor``).

States are dataclasses carrying their data; every transition is one row of ``TRANSITIONS``
(state type, input type) -> handler, the handler writes the answer and returns the next state
(h11 ``_state.py``). A peer input with no row for the current state is a ``RemoteProtocolError``;
a driver input with no row is a ``LocalProtocolError``.

::

    WaitConnectionRequest --X.224 CR--> SecurityUpgrade --driver TLS--> [Credssp --driver: NLA done
      (HYBRID_EX: Early User Authorization Result)]
      --> WaitConnectInitial --MCS CI--> WaitErectDomain --> WaitAttachUser --> ChannelJoin
      --joins done--> WaitClientInfo --Client Info (also from ChannelJoin)--> WaitCredentials --accept--> (licence,
      Demand Active) WaitConfirmActive --Confirm Active--> Finalization --Font List--> Accepted
    any state --peer error / X.224 DR / MCS ultimatum / reject--> Closed

``Accepted`` carries an ``AcceptorResult``: everything the active session needs. The session
runs a Deactivation-Reactivation with ``Acceptor.reactivation``, which starts at
``WaitConfirmActive``. TLS and credentials are the driver's: the machine stops at
``SecurityUpgrade``, ``Credssp`` (NLA, run by ``nla.CredsspServer`` on the TLS stream, whose
framing is not TPKT's) and ``WaitCredentials`` until the driver calls back. Frames that belong to
the active session (input, channel data, other share data) that arrive after the Client Info
but before ``Accepted`` are kept for it (``take_deferred``); before the Client Info they are
refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from rdpfront import credssp, events, mcs, wire, x224
from rdpfront.cursor import Reader, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import MAX_FRAGMENT
from rdpfront.gcc import (
    ClientGccBlocks,
    ConferenceCreateRequest,
    ConferenceCreateResponse,
    ServerCoreData,
    ServerGccBlocks,
    ServerNetworkData,
    ServerSecurityData,
)
from rdpfront.gcc.client_data import ClientCoreData
from rdpfront.gcc.user_data import DataBlockType, block_name
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.client_info import ClientInfo
from rdpfront.rdp.headers import BasicSecurityHeader, SecurityFlags
from rdpfront.rdp.licensing import LicenseErrorMessage
from rdpfront.rdp.pdus import (
    ConfirmActive,
    Control,
    ControlAction,
    DeactivateAll,
    DemandActive,
    ErrorInfo,
    FlowPdu,
    FontList,
    FontMap,
    RawControl,
    ShareControlPdu,
    ShareDataPdu,
    Synchronize,
)
from rdpfront.svc import CLIENT_CHUNK_LENGTH
from rdpfront.tpkt import Action
from rdpfront.wire import IO_CHANNEL_ID, SERVER_USER_ID, SHARE_ID, user_channel_id
from rdpfront.x224 import SecurityProtocol

log = logging.getLogger(__name__)

OUR_MAX_REQUEST_SIZE = 8 << 20
Frame = tuple[Action, bytes]


@dataclass(frozen=True)
class AcceptorConfig:
    """What the server offers. ``allow_nla``: NLA (CredSSP, HYBRID/HYBRID_EX) to clients that
    ask for it; ``require_nla``: refuse clients that offer TLS only."""

    allow_nla: bool = False
    require_nla: bool = False
    fastpath_output: bool = True  # False: slow-path updates only, even to clients that could do better
    max_width: int = 8192
    max_height: int = 8192


@dataclass(frozen=True)
class AcceptorResult:
    """What the connection sequence settled, handed to the active session."""

    config: AcceptorConfig
    requested_protocols: SecurityProtocol
    selected_protocol: SecurityProtocol
    client: ClientGccBlocks  # core data (keyboard layout, colour depths, early flags), channels
    client_info: ClientInfo  # credentials, flags, extended info
    channels: dict[int, str]  # MCS id -> lower-case name of every static channel given
    joined: frozenset[int]  # MCS ids the client joined
    capabilities: ConfirmActive  # the client's capability sets
    width: int
    height: int
    bpp: int
    fastpath_output: bool
    max_request_size: int
    reactivation: bool = False
    nla_username: str | None = None  # who NLA authenticated, when the client used it

    @property
    def keyboard_layout(self) -> int:
        return self.client.core.keyboard_layout


# ---- states (each carries what it needs) -------------------------------------------------

@dataclass
class WaitConnectionRequest:
    pass


@dataclass
class SecurityUpgrade:
    protocol: SecurityProtocol


@dataclass
class Credssp:
    """NLA (CredSSP over TLS) runs: the driver's ``CredsspServer`` has the stream until it
    calls ``credssp_done``."""

    protocol: SecurityProtocol


@dataclass
class WaitConnectInitial:
    pass


@dataclass
class WaitErectDomain:
    pass


@dataclass
class WaitAttachUser:
    pass


@dataclass
class ChannelJoin:
    pending: set[int]


@dataclass
class WaitClientInfo:
    pass


@dataclass
class WaitCredentials:
    info: ClientInfo


@dataclass
class WaitConfirmActive:
    reactivation: bool = False


@dataclass
class Finalization:
    confirm: ConfirmActive
    reactivation: bool = False
    synchronized: bool = False
    cooperating: bool = False
    control_granted: bool = False


@dataclass
class Accepted:
    result: AcceptorResult


@dataclass
class Closed:
    reason: str


State = (WaitConnectionRequest | SecurityUpgrade | Credssp | WaitConnectInitial | WaitErectDomain
         | WaitAttachUser | ChannelJoin | WaitClientInfo | WaitCredentials | WaitConfirmActive
         | Finalization | Accepted | Closed)
# States in which the machine waits on the driver, not on the peer.
WAITS_ON_DRIVER = (SecurityUpgrade, Credssp, WaitCredentials)
# States after the Client Info, where frames of the active session may already arrive.
AFTER_CLIENT_INFO = (WaitConfirmActive, Finalization)


# ---- inputs besides the PDUs themselves ------------------------------------------------

@dataclass(frozen=True)
class SecurityUpgradeDone:
    """The driver finished the TLS handshake."""


@dataclass(frozen=True)
class CredsspDone:
    """NLA authenticated ``username``."""

    username: str


@dataclass(frozen=True)
class AcceptCredentials:
    width: int | None
    height: int | None


@dataclass(frozen=True)
class RejectCredentials:
    error_info: int


@dataclass(frozen=True)
class ForSession:
    """A frame of the active session (input, channel data, other share data)."""

    frame: Frame


@dataclass(frozen=True)
class Ignored:
    """A frame with nothing to do (flow control PDUs)."""


DRIVER_INPUTS = (SecurityUpgradeDone, CredsspDone, AcceptCredentials, RejectCredentials)


class Acceptor(wire.SansIoOutput):
    """The server side of the connection sequence. Feed frames with ``step``; drain
    ``events()`` and ``data_to_send()``; ``state`` is ``Accepted`` at the end."""

    def __init__(self, config: AcceptorConfig | None = None, *, log_context: str = "") -> None:
        self.config = config or AcceptorConfig()
        if self.config.require_nla and not self.config.allow_nla:
            raise LocalProtocolError("require_nla without allow_nla")
        self.state: State = WaitConnectionRequest()
        super().__init__()
        self._deferred: list[Frame] = []
        self._log = log_context
        self.requested_protocols = SecurityProtocol.RDP
        self.selected_protocol = SecurityProtocol.RDP
        self.client: ClientGccBlocks | None = None
        self.client_info: ClientInfo | None = None
        self.channels: dict[int, str] = {}  # MCS id -> name, every static channel given
        self.joined: set[int] = set()
        self.width = 0
        self.height = 0
        self.nla_username: str | None = None

    @classmethod
    def reactivation(cls, accepted: AcceptorResult, width: int, height: int, *,
                     log_context: str = "") -> Acceptor:
        """A Deactivation-Reactivation ([1.3.1.3]) at a new desktop size: Deactivate All and
        Demand Active are queued, the machine waits for the Confirm Active."""
        self = cls(accepted.config, log_context=log_context)
        self.requested_protocols, self.selected_protocol = accepted.requested_protocols, accepted.selected_protocol
        self.client, self.client_info = accepted.client, accepted.client_info
        self.channels, self.joined = dict(accepted.channels), set(accepted.joined)
        self.nla_username = accepted.nla_username
        self.width, self.height = width, height
        self._out += wire.share_control(DeactivateAll(SHARE_ID))
        self._send_demand_active()
        self.state = WaitConfirmActive(reactivation=True)
        return self

    # ---- sans-IO surface ------------------------------------------------------------------

    def take_deferred(self) -> list[Frame]:
        """Frames of the active session that arrived before the sequence ended, in order."""
        out, self._deferred = self._deferred, []
        return out

    @property
    def user_channel(self) -> int:
        return user_channel_id(self.channels)

    @property
    def waiting_on_driver(self) -> bool:
        return isinstance(self.state, WAITS_ON_DRIVER)

    @property
    def done(self) -> bool:
        return isinstance(self.state, Accepted | Closed)

    def step(self, action: Action, frame: bytes) -> None:
        """One frame from the peer. A ``RemoteProtocolError`` leaves the machine ``Closed``."""
        if self.done or self.waiting_on_driver:
            raise LocalProtocolError(f"step() in state {type(self.state).__name__}")
        try:
            self._transition(self._read(action, frame))
        except RemoteProtocolError as exc:
            self.state = Closed(f"protocol error: {exc}")
            raise

    def security_upgrade_done(self) -> None:
        self._transition(SecurityUpgradeDone())

    def credssp_denied(self) -> None:
        """NLA authenticated the user, then refused the connection (credentials delegated for
        another user): a HYBRID_EX client is told so before it is closed ([2.2.10.2])."""
        st = self.state
        if not isinstance(st, Credssp):
            raise LocalProtocolError(f"credssp_denied() in state {type(st).__name__}")
        if st.protocol == SecurityProtocol.HYBRID_EX:
            self._out += credssp.early_user_authorization_result(credssp.AuthorizationResult.AUTHZ_ACCESS_DENIED)
        self.state = Closed("NLA: access denied")

    def credssp_done(self, username: str) -> None:
        """NLA authenticated ``username``: go on to MCS (HYBRID_EX: the Early User
        Authorization Result first)."""
        self._transition(CredsspDone(username))

    def accept_credentials(self, *, width: int | None = None, height: int | None = None) -> None:
        """Credentials are good: send the licence and the Demand Active for this desktop size."""
        self._transition(AcceptCredentials(width, height))

    def reject_credentials(self, error_info: int = ErrorInfo.SERVER_DENIED_CONNECTION) -> None:
        """Credentials are bad: licence (so clients read what follows), error info, ultimatum."""
        self._transition(RejectCredentials(error_info))

    # ---- the table -----------------------------------------------------------------------

    def _transition(self, item: object) -> None:
        st = self.state
        if isinstance(item, Ignored):
            return
        if isinstance(item, wire.PeerDisconnect):
            self._events.append(events.Disconnected(item.reason))
            self.state = Closed("client disconnected")
            return
        handler = TRANSITIONS.get((type(st), type(item)))
        if handler is None:
            what = type(item.frame[1] if isinstance(item, ForSession) else item).__name__
            if isinstance(item, DRIVER_INPUTS):
                raise LocalProtocolError(f"{what} in state {type(st).__name__}")
            if isinstance(item, ForSession):
                raise RemoteProtocolError(f"session data in state {type(st).__name__}, before the Client Info PDU")
            raise RemoteProtocolError(f"unexpected {what} in state {type(st).__name__}")
        self.state = handler(self, st, item)

    def _read(self, action: Action, frame: bytes) -> object:
        """The frame as the input the current state understands."""
        st = self.state
        if action == Action.FASTPATH:
            if isinstance(st, AFTER_CLIENT_INFO):
                return ForSession((action, frame))
            raise RemoteProtocolError(f"fast-path input in state {type(st).__name__}")
        if isinstance(st, WaitConnectionRequest):
            return x224.ConnectionRequest.decode(Reader(frame))
        if isinstance(st, WaitConnectInitial) and not wire.is_disconnect_request(frame):
            return mcs.ConnectInitial.decode(Reader(x224.data_payload(frame)))
        pdu = wire.read_domain_pdu(frame)
        if not isinstance(pdu, mcs.SendDataRequest):
            return pdu
        if pdu.channel_id != IO_CHANNEL_ID:
            if pdu.channel_id not in self.channels:
                raise RemoteProtocolError(f"data on unknown MCS channel {pdu.channel_id}")
            if isinstance(st, AFTER_CLIENT_INFO):
                return ForSession((action, frame))
            raise RemoteProtocolError(f"data on static channel {pdu.channel_id} ({self.channels[pdu.channel_id]}) "
                                      f"in state {type(st).__name__}, before the Client Info PDU")
        if isinstance(st, ChannelJoin):
            # The Client Info ends the joins: aardwolf never joins its user channel. Nothing is
            # sent on a channel the client did not join, and static channel data must still
            # come on joined ones.
            log.info("%s Client Info before joining channel(s) %s; going on without them", self._log,
                     ", ".join(str(c) for c in sorted(st.pending)))
            return _read_client_info(pdu.data)
        if isinstance(st, WaitClientInfo):
            return _read_client_info(pdu.data)
        share = ShareControlPdu.decode(Reader(pdu.data))
        if isinstance(share, FlowPdu):
            return Ignored()
        body = share.body
        if isinstance(body, RawControl):
            log.info("%s share control PDU of type %d (%d bytes) ignored", self._log, body.pdu_type, len(body.data))
            return Ignored()
        if isinstance(body, ShareDataPdu):
            if isinstance(st, Finalization) and isinstance(body.body, Synchronize | Control | FontList):
                return body.body
            if isinstance(st, AFTER_CLIENT_INFO):
                return ForSession((action, frame))  # input may race the (re)activation
        return body

    # ---- handlers: (self, state, input) -> next state -----------------------------------

    def _on_connection_request(self, st: WaitConnectionRequest, req: x224.ConnectionRequest) -> State:
        requested = req.negotiation.requested_protocols if req.negotiation else SecurityProtocol.RDP
        self.requested_protocols = requested
        selected = self._select_protocol(requested)
        if selected is not None:
            self.selected_protocol = selected
            flags = (x224.NegResponseFlags.EXTENDED_CLIENT_DATA_SUPPORTED
                     | x224.NegResponseFlags.NEGRSP_FLAG_RESERVED)
            self._out += encode(x224.ConnectionConfirm(x224.NegotiationResponse(selected, flags)))
            self._events.append(events.SecurityUpgradeRequired(selected))
            return SecurityUpgrade(selected)
        nla = SecurityProtocol.HYBRID | SecurityProtocol.HYBRID_EX
        if self.config.require_nla:
            # [2.2.1.2.2] HYBRID_REQUIRED_BY_SERVER: the server demands NLA.
            code = x224.FailureCode.HYBRID_REQUIRED_BY_SERVER
            reason = f"client offered {requested!r} without NLA (CredSSP); this server requires NLA"
        else:
            # [2.2.1.2.2] SSL_REQUIRED_BY_SERVER: "If only CredSSP was requested then the server
            # only supports TLS" -- also the answer to Standard RDP Security only.
            code = x224.FailureCode.SSL_REQUIRED_BY_SERVER
            if requested & nla:
                reason = "client offered only NLA (CredSSP) without TLS; this server offers TLS"
            else:
                reason = f"client offered {requested!r}; Standard RDP Security is refused, TLS required"
        self._out += encode(x224.ConnectionConfirm(x224.NegotiationFailure(code)))
        self._events.append(events.NegotiationRefused(requested, reason))
        return Closed(reason)

    def _select_protocol(self, requested: SecurityProtocol) -> SecurityProtocol | None:
        """HYBRID_EX, then HYBRID when NLA is offered and asked for; TLS unless NLA is required."""
        if self.config.allow_nla:
            for protocol in (SecurityProtocol.HYBRID_EX, SecurityProtocol.HYBRID):
                if requested & protocol:
                    return protocol
        if requested & SecurityProtocol.SSL and not self.config.require_nla:
            return SecurityProtocol.SSL
        return None

    def _on_security_upgrade_done(self, st: SecurityUpgrade, _: SecurityUpgradeDone) -> State:
        if st.protocol & (SecurityProtocol.HYBRID | SecurityProtocol.HYBRID_EX):
            return Credssp(st.protocol)
        return WaitConnectInitial()

    def _on_credssp_done(self, st: Credssp, done: CredsspDone) -> State:
        self.nla_username = done.username
        if st.protocol == SecurityProtocol.HYBRID_EX:
            # [MS-RDPBCGR 2.2.10.2] before the client goes on to MCS
            self._out += credssp.early_user_authorization_result(credssp.AuthorizationResult.AUTHZ_SUCCESS)
        return WaitConnectInitial()

    def _on_connect_initial(self, st: WaitConnectInitial, ci: mcs.ConnectInitial) -> State:
        gcc = ConferenceCreateRequest.decode(Reader(ci.user_data))
        blocks = ClientGccBlocks.decode_bytes(gcc.user_data)
        for kind, body in blocks.other:
            level = logging.DEBUG if kind in DataBlockType._value2member_map_ else logging.INFO
            log.log(level, "%s client data block %s (%d bytes) not used: skipped", self._log, block_name(kind),
                    len(body))
        self.client = blocks
        channel_defs = blocks.network.channels if blocks.network else ()
        ids = []
        for i, ch in enumerate(channel_defs):
            cid = IO_CHANNEL_ID + 1 + i
            ids.append(cid)
            self.channels[cid] = ch.name.lower()
        early = 0  # no RNS_UD_SC_* extras (edge actions, dynamic DST, skip channel join)
        server = ServerGccBlocks(
            ServerCoreData(0x00080004, int(self.requested_protocols), early),
            ServerNetworkData(IO_CHANNEL_ID, tuple(ids)),
            ServerSecurityData(0, 0),
        )
        response = ConferenceCreateResponse(encode(server))
        self._out += x224.data_frame(encode(mcs.ConnectResponse(encode(response))))
        return WaitErectDomain()

    def _on_erect_domain(self, st: WaitErectDomain, _: mcs.ErectDomainRequest) -> State:
        return WaitAttachUser()

    def _on_attach_user(self, st: WaitAttachUser, _: mcs.AttachUserRequest) -> State:
        self._out += x224.data_frame(encode(mcs.AttachUserConfirm(self.user_channel)))
        return ChannelJoin({self.user_channel, IO_CHANNEL_ID, *self.channels})

    def _on_channel_join(self, st: ChannelJoin | WaitClientInfo, req: mcs.ChannelJoinRequest) -> State:
        # FreeRDP 2 joins its user channel a second time after the static channels;
        # any channel it was given may be (re)joined until the Client Info PDU.
        ok = req.channel_id in {self.user_channel, IO_CHANNEL_ID, *self.channels}
        self._out += x224.data_frame(encode(mcs.ChannelJoinConfirm(
            self.user_channel, req.channel_id, req.channel_id, 0 if ok else 14)))
        if not ok:
            raise RemoteProtocolError(f"client joined channel {req.channel_id}, which it was not given")
        self.joined.add(req.channel_id)
        if isinstance(st, ChannelJoin):
            st.pending.discard(req.channel_id)
            if not st.pending:
                return WaitClientInfo()
        return st

    def _on_client_info(self, st: ChannelJoin | WaitClientInfo, info: ClientInfo) -> State:
        self.client_info = info
        core = self._core()
        self._events.append(events.Credentials(
            info.username, info.password, info.domain, core.desktop_width, core.desktop_height, core, info,
            self.nla_username))
        return WaitCredentials(info)

    def _on_accept(self, st: WaitCredentials, accept: AcceptCredentials) -> State:
        core = self._core()
        self.width = min(accept.width or core.desktop_width, self.config.max_width)
        self.height = min(accept.height or core.desktop_height, self.config.max_height)
        self._send_licence()
        self._send_demand_active()
        return WaitConfirmActive()

    def _on_reject(self, st: WaitCredentials, reject: RejectCredentials) -> State:
        self._send_licence()
        self._out += wire.parting(self._core().early_capability_flags or 0, reject.error_info)
        return Closed("credentials rejected")

    def _on_confirm_active(self, st: WaitConfirmActive, confirm: ConfirmActive) -> State:
        for cap in confirm.capabilities:
            if not isinstance(cap, caps.RawCapability):
                continue
            if caps.is_modelled(cap.type):
                log.info("%s capability set %s malformed (%d bytes): ignored", self._log,
                         caps.CapabilityType(cap.type).name, len(cap.data))
            elif cap.type not in caps.CapabilityType._value2member_map_:
                log.info("%s capability set of unknown type %d (%d bytes): ignored", self._log, cap.type, len(cap.data))
        general = confirm.find(caps.GeneralCapability)
        bitmap = confirm.find(caps.BitmapCapability)
        if general is None or bitmap is None:
            raise RemoteProtocolError("Confirm Active lacks the General or Bitmap capability set")
        # [2.2.1.19], [2.2.1.20]: the server's Synchronize and Control (Cooperate) follow the
        # Confirm Active, not the client's own: aardwolf waits for them before it sends its own.
        self._out += wire.share_data(Synchronize(self.user_channel)) + wire.share_data(Control(ControlAction.COOPERATE))
        return Finalization(confirm, st.reactivation)

    def _defer(self, st: WaitConfirmActive | Finalization, item: ForSession) -> State:
        self._deferred.append(item.frame)
        return st

    def _on_synchronize(self, st: Finalization, _: Synchronize) -> State:
        st.synchronized = True
        return st

    def _on_control(self, st: Finalization, control: Control) -> State:
        if control.action == ControlAction.COOPERATE:
            st.cooperating = True
        elif control.action == ControlAction.REQUEST_CONTROL:
            st.control_granted = True
            self._out += wire.share_data(Control(ControlAction.GRANTED_CONTROL, self.user_channel, SERVER_USER_ID))
        return st

    def _on_font_list(self, st: Finalization, _: FontList) -> State:
        self._out += wire.share_data(FontMap())
        return Accepted(self._result(st))

    # ---- helpers -------------------------------------------------------------------------

    def _result(self, st: Finalization) -> AcceptorResult:
        confirm = st.confirm
        general = confirm.find(caps.GeneralCapability)
        bitmap = confirm.find(caps.BitmapCapability)
        assert isinstance(general, caps.GeneralCapability) and isinstance(bitmap, caps.BitmapCapability)
        fastpath = self.config.fastpath_output and bool(
            general.extra_flags & caps.GeneralExtraFlags.FASTPATH_OUTPUT_SUPPORTED)
        multifrag = confirm.find(caps.MultifragmentUpdateCapability)
        if isinstance(multifrag, caps.MultifragmentUpdateCapability) and multifrag.max_request_size:
            max_request = max(min(multifrag.max_request_size, OUR_MAX_REQUEST_SIZE), 1024)
        else:
            max_request = MAX_FRAGMENT
        bpp = bitmap.preferred_bits_per_pixel if bitmap.preferred_bits_per_pixel in (8, 15, 16, 24, 32) else 32
        assert self.client is not None and self.client_info is not None
        return AcceptorResult(
            self.config, self.requested_protocols, self.selected_protocol, self.client, self.client_info,
            dict(self.channels), frozenset(self.joined), confirm, self.width, self.height, bpp, fastpath,
            max_request, st.reactivation, self.nla_username)

    def _core(self) -> ClientCoreData:
        assert self.client is not None
        return self.client.core

    def _send_licence(self) -> None:
        self._out += wire.io_data(encode(BasicSecurityHeader(SecurityFlags.SEC_LICENSE_PKT))
                                  + encode(LicenseErrorMessage()))

    def _send_demand_active(self) -> None:
        core = self._core()
        capabilities: tuple[caps.Capability, ...] = (
            caps.ShareCapability(SERVER_USER_ID),
            caps.GeneralCapability(
                os_major_type=1, os_minor_type=3,
                extra_flags=((caps.GeneralExtraFlags.FASTPATH_OUTPUT_SUPPORTED if self.config.fastpath_output
                              else caps.GeneralExtraFlags.NONE)
                             | caps.GeneralExtraFlags.NO_BITMAP_COMPRESSION_HDR
                             | caps.GeneralExtraFlags.LONG_CREDENTIALS_SUPPORTED),
                refresh_rect_support=True, suppress_output_support=True),
            caps.VirtualChannelCapability(0, CLIENT_CHUNK_LENGTH),
            caps.FontCapability(),
            caps.BitmapCapability(core.bpp if core.bpp in (15, 16, 24, 32) else 32,
                                  self.width, self.height, True),
            caps.OrderCapability(),
            caps.PointerCapability(25, 25),
            caps.InputCapability(
                caps.InputFlags.INPUT_FLAG_SCANCODES | caps.InputFlags.INPUT_FLAG_MOUSEX
                | caps.InputFlags.INPUT_FLAG_FASTPATH_INPUT | caps.InputFlags.INPUT_FLAG_FASTPATH_INPUT2
                | caps.InputFlags.INPUT_FLAG_UNICODE | caps.InputFlags.TS_INPUT_FLAG_MOUSE_HWHEEL,
                keyboard_layout=core.keyboard_layout),
            caps.MultifragmentUpdateCapability(OUR_MAX_REQUEST_SIZE),
            caps.LargePointerCapability(caps.LargePointerFlags.LARGE_POINTER_FLAG_96x96
                                        | caps.LargePointerFlags.LARGE_POINTER_FLAG_384x384),
        )
        self._out += wire.share_control(DemandActive(SHARE_ID, capabilities))


def _read_client_info(data: bytes) -> ClientInfo:
    """[2.2.1.11] The Client Info PDU under Enhanced RDP Security (TLS): no encryption."""
    r = Reader(data)
    sec = BasicSecurityHeader.decode(r)
    if sec.flags & SecurityFlags.SEC_EXCHANGE_PKT:
        raise RemoteProtocolError("Security Exchange PDU: Standard RDP Security is not offered")
    if not sec.flags & SecurityFlags.SEC_INFO_PKT:
        raise RemoteProtocolError(f"expected the Client Info PDU, got security flags {sec.flags!r}")
    if sec.flags & SecurityFlags.SEC_ENCRYPT:
        raise RemoteProtocolError("encrypted Client Info PDU under Enhanced RDP Security")
    return ClientInfo.decode(r)


Handler = Callable[[Acceptor, object, object], State]
# Every transition of the sequence: (state, input) -> handler returning the next state.
TRANSITIONS: dict[tuple[type, type], Handler] = {  # type: ignore[dict-item]
    (WaitConnectionRequest, x224.ConnectionRequest): Acceptor._on_connection_request,
    (SecurityUpgrade, SecurityUpgradeDone): Acceptor._on_security_upgrade_done,
    (Credssp, CredsspDone): Acceptor._on_credssp_done,
    (WaitConnectInitial, mcs.ConnectInitial): Acceptor._on_connect_initial,
    (WaitErectDomain, mcs.ErectDomainRequest): Acceptor._on_erect_domain,
    (WaitAttachUser, mcs.AttachUserRequest): Acceptor._on_attach_user,
    (ChannelJoin, mcs.ChannelJoinRequest): Acceptor._on_channel_join,
    (WaitClientInfo, mcs.ChannelJoinRequest): Acceptor._on_channel_join,
    (ChannelJoin, ClientInfo): Acceptor._on_client_info,
    (WaitClientInfo, ClientInfo): Acceptor._on_client_info,
    (WaitCredentials, AcceptCredentials): Acceptor._on_accept,
    (WaitCredentials, RejectCredentials): Acceptor._on_reject,
    (WaitConfirmActive, ConfirmActive): Acceptor._on_confirm_active,
    (WaitConfirmActive, ForSession): Acceptor._defer,
    (Finalization, Synchronize): Acceptor._on_synchronize,
    (Finalization, Control): Acceptor._on_control,
    (Finalization, FontList): Acceptor._on_font_list,
    (Finalization, ForSession): Acceptor._defer,
}
