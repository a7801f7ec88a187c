"""The server side of an RDP connection, sans-IO: bytes in, events and bytes out.

The connection sequence ([MS-RDPBCGR 1.3.1.1]) is a step machine whose states carry their
data (IronRDP ``ironrdp-acceptor``). TLS is the driver's job: after the X.224 exchange the
connection stops at ``SecurityUpgrade`` until the driver has wrapped the socket and called
``security_upgrade_done()``. Credentials are the driver's job too: the Client Info PDU
becomes a ``Credentials`` event and the sequence waits for ``accept_credentials`` or
``reject_credentials``.

::

    WaitConnectionRequest --X.224 CR--> SecurityUpgrade --driver TLS--> [Credssp: later issue]
      --> WaitConnectInitial --MCS CI--> WaitErectDomain --> WaitAttachUser --> ChannelJoin
      --joins done--> WaitClientInfo --Client Info--> WaitCredentials --accept--> (licence,
      Demand Active) WaitConfirmActive --Confirm Active--> Finalization --Font List--> Active
      Active --resize()--> WaitConfirmActive(reactivation)        any --error/DPUm--> Closed

Output in the active state: ``bitmap_update``, ``pointer_*``, ``clipboard_*`` return the
bytes to write (fast-path when the client supports it, slow-path otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rdpfront import cliprdr, disp, dvc, events, gfx, mcs, x224
from rdpfront.bitmap import BitmapData
from rdpfront.cursor import Reader, Writer, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import MAX_FRAGMENT, UpdateCode, fragment_update
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
from rdpfront.input import (
    ExtendedPointerEvent,
    ExtendedPointerFlags,
    FastPathInput,
    InputEvent,
    PointerEvent,
    PointerFlags,
    QoeTimestampEvent,
    RelativePointerEvent,
    ScancodeEvent,
    SyncEvent,
    SyncToggleFlags,
    UnicodeKeyEvent,
    UnusedEvent,
)
from rdpfront.pointer import CachedPointer, ColorPointer, LargePointer, PointerPosition, SystemPointer
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
    FrameAcknowledge,
    InputData,
    PointerData,
    PointerMessageType,
    RefreshRect,
    SaveSessionInfo,
    SetErrorInfo,
    ShareControlPdu,
    ShareDataPdu,
    ShutdownDenied,
    ShutdownRequest,
    SuppressOutput,
    Synchronize,
    UpdateData,
)
from rdpfront.svc import CHANNEL_CHUNK_LENGTH, ChannelFlags, ChannelPdu, ChannelReassembler, chunk_message
from rdpfront.tpkt import Action, Framer
from rdpfront.x224 import SecurityProtocol

log = logging.getLogger(__name__)

IO_CHANNEL_ID = 1003
USER_CHANNEL_ID = 1007
SERVER_USER_ID = 1002  # the server's own MCS initiator and share source (0x03EA)
SHARE_ID = 0x000103EA
OUR_MAX_REQUEST_SIZE = 8 << 20
# A slow-path PDU goes through MCS Send Data, whose PER length stays below 16 KiB (longer
# lengths need PER fragmentation, which clients do not expect), headers included.
SLOW_PATH_MAX_UPDATE = 0x3FFF - 64
WHEEL_UNITS_PER_NOTCH = 120


@dataclass(frozen=True)
class AcceptorConfig:
    """What the server offers. ``allow_nla`` is the hook for CredSSP (a later issue)."""

    allow_nla: bool = False
    fastpath_output: bool = True  # False: slow-path updates only, even to clients that could do better
    max_width: int = 8192
    max_height: int = 8192
    channels: tuple[str, ...] = (cliprdr.CHANNEL_NAME, dvc.CHANNEL_NAME)
    # Dynamic channels opened over drdynvc once active: Display Control (client-driven resize),
    # and the graphics pipeline (MS-RDPEGFX) for clients that announce it.
    display_control: bool = True
    gfx: bool = True


# ---- states (each carries what it needs) -------------------------------------------------

@dataclass
class WaitConnectionRequest:
    pass


@dataclass
class SecurityUpgrade:
    protocol: SecurityProtocol


@dataclass
class Credssp:
    """NLA (CredSSP over TLS) would run here; not offered yet (``AcceptorConfig.allow_nla``)."""

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
class Active:
    pass


@dataclass
class Closed:
    reason: str


State = (WaitConnectionRequest | SecurityUpgrade | Credssp | WaitConnectInitial | WaitErectDomain
         | WaitAttachUser | ChannelJoin | WaitClientInfo | WaitCredentials | WaitConfirmActive
         | Finalization | Active | Closed)


@dataclass
class _Clipboard:
    channel_id: int
    long_names: bool = True
    our_text: str | None = None
    reassembler: ChannelReassembler = field(default_factory=ChannelReassembler)
    client_caps_seen: bool = False


DISP_CHANNEL_ID = 1  # our ids for the dynamic channels we open
GFX_CHANNEL_ID = 2
RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL = 0x0100


@dataclass
class _Graphics:
    """The graphics pipeline: the confirmed capability set, the surface, frame ids."""

    capset: gfx.CapSet | None = None
    surface_id: int | None = None
    next_surface: int = 1
    next_frame: int = 1


@dataclass
class _DynamicChannels:
    """The drdynvc static channel and the dynamic channels opened on it."""

    channel_id: int
    reassembler: ChannelReassembler = field(default_factory=ChannelReassembler)
    pieces: dvc.DvcReassembler = field(default_factory=dvc.DvcReassembler)
    version: int | None = None  # the client's capabilities version, once it answered
    names: dict[int, str] = field(default_factory=dict)  # asked for: channel id -> name
    open: set[int] = field(default_factory=set)


class ServerConnection:
    """One RDP client, server side. Feed ``receive_data``; drain ``events`` and ``data_to_send``."""

    def __init__(self, config: AcceptorConfig | None = None, *, log_context: str = "") -> None:
        self.config = config or AcceptorConfig()
        if self.config.allow_nla:
            raise LocalProtocolError("NLA (CredSSP) is not implemented yet")
        self.state: State = WaitConnectionRequest()
        self._framer = Framer()
        self._out = bytearray()
        self._events: list[events.Event] = []
        self._log = log_context
        self.requested_protocols = SecurityProtocol.RDP
        self.selected_protocol = SecurityProtocol.RDP
        self.client: ClientGccBlocks | None = None
        self.channel_ids: dict[str, int] = {}  # channel name -> MCS channel id
        self._channel_names: dict[int, str] = {}
        self._clipboard: _Clipboard | None = None
        self._dynamic: _DynamicChannels | None = None
        self._gfx = _Graphics()
        self.width = 0
        self.height = 0
        self.bpp = 32
        self.fastpath_output = False
        self.max_request_size = MAX_FRAGMENT
        self.client_info: ClientInfo | None = None
        self._pointer_at = (0, 0)

    # ---- sans-IO surface ------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer. Raises ``RemoteProtocolError`` when the peer misbehaves;
        the connection is then ``Closed`` and ``disconnect()`` gives the parting bytes."""
        if isinstance(self.state, Closed):
            return
        try:
            self._framer.feed(data)
        except RemoteProtocolError as exc:
            self.state = Closed(f"protocol error: {exc}")
            raise
        self._pump()

    def _pump(self) -> None:
        """Process buffered frames until the state waits on the driver; a peer error closes."""
        try:
            self._process_frames()
        except RemoteProtocolError as exc:
            self.state = Closed(f"protocol error: {exc}")
            raise

    def _process_frames(self) -> None:
        while not isinstance(self.state, SecurityUpgrade | WaitCredentials | Credssp | Closed):
            frames = self._framer.next_frame()
            if frames is None:
                return
            action, frame = frames
            if action == Action.FASTPATH:
                self._on_fastpath(frame)
            else:
                self._on_x224(frame)

    def events(self) -> list[events.Event]:
        out, self._events = self._events, []
        return out

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def closed(self) -> bool:
        return isinstance(self.state, Closed)

    @property
    def buffered_input(self) -> int:
        """Bytes received that do not make a whole frame yet (a truncated PDU at end of stream)."""
        return self._framer.buffered()

    @property
    def active(self) -> bool:
        return isinstance(self.state, Active)

    def reached_security_upgrade(self) -> SecurityProtocol | None:
        return self.state.protocol if isinstance(self.state, SecurityUpgrade) else None

    def security_upgrade_done(self) -> None:
        """The driver has completed the TLS handshake; continue with MCS."""
        if not isinstance(self.state, SecurityUpgrade):
            raise LocalProtocolError(f"security_upgrade_done() in state {type(self.state).__name__}")
        self.state = WaitConnectInitial()
        self._pump()

    def accept_credentials(self, *, width: int | None = None, height: int | None = None) -> None:
        """Credentials are good: send the licence and the Demand Active for this desktop size."""
        if not isinstance(self.state, WaitCredentials):
            raise LocalProtocolError(f"accept_credentials() in state {type(self.state).__name__}")
        core = self._core()
        self.width = min(width or core.desktop_width, self.config.max_width)
        self.height = min(height or core.desktop_height, self.config.max_height)
        self._send_io(self._security(SecurityFlags.SEC_LICENSE_PKT, encode(LicenseErrorMessage())))
        self._send_demand_active()
        self.state = WaitConfirmActive()
        self._pump()

    def reject_credentials(self, error_info: int = ErrorInfo.SERVER_DENIED_CONNECTION) -> None:
        """Credentials are bad: licence (so clients read what follows), error info, ultimatum."""
        if not isinstance(self.state, WaitCredentials):
            raise LocalProtocolError(f"reject_credentials() in state {type(self.state).__name__}")
        self._send_io(self._security(SecurityFlags.SEC_LICENSE_PKT, encode(LicenseErrorMessage())))
        self._out += self.disconnect(error_info)

    def disconnect(self, error_info: int | None = None) -> bytes:
        """Bytes that end the connection politely: Set Error Info (when useful) and the MCS
        Disconnect Provider Ultimatum; the connection is ``Closed`` afterwards."""
        w = bytearray()
        past_mcs = self.client is not None and not isinstance(
            self.state, WaitConnectionRequest | SecurityUpgrade | WaitConnectInitial)
        if past_mcs:
            # [3.3.5.7.1] only to clients that said they understand it
            errinfo_ok = bool((self._core().early_capability_flags or 0) & 0x0001)  # RNS_UD_CS_SUPPORT_ERRINFO_PDU
            if error_info is not None and errinfo_ok:
                w += self._share_data(SetErrorInfo(error_info))
            w += x224.data_frame(encode(mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.PROVIDER_INITIATED)))
        if not isinstance(self.state, Closed):
            self.state = Closed("disconnected by server")
        return bytes(w)

    # ---- output in the active state -----------------------------------------------------

    def bitmap_update(self, rectangles: Iterable[BitmapData | bytes]) -> bytes:
        """Bitmap updates for these TS_BITMAP_DATA (objects or encoded bytes), split so each
        update fits the client's reassembly buffer and fragmented on the fast path."""
        self._require_active("bitmap_update")
        encoded = [r if isinstance(r, bytes | bytearray) else encode(r) for r in rectangles]
        limit = self.max_request_size if self.fastpath_output else SLOW_PATH_MAX_UPDATE
        out = bytearray()
        batch: list[bytes] = []
        size = 4
        for rect in encoded:
            if 4 + len(rect) > limit:
                raise LocalProtocolError(f"one bitmap of {len(rect)} bytes exceeds the update limit {limit}")
            if batch and size + len(rect) > limit:
                out += self._update(UpdateCode.BITMAP, self._bitmap_update_bytes(batch))
                batch, size = [], 4
            batch.append(bytes(rect))
            size += len(rect)
        if batch:
            out += self._update(UpdateCode.BITMAP, self._bitmap_update_bytes(batch))
        return bytes(out)

    @staticmethod
    def _bitmap_update_bytes(rects: Sequence[bytes]) -> bytes:
        w = Writer()
        w.u16(1)  # UPDATETYPE_BITMAP
        w.u16(len(rects))
        for r in rects:
            w.write(r)
        return w.getvalue()

    def pointer_position(self, x: int, y: int) -> bytes:
        self._require_active("pointer_position")
        return self._pointer(UpdateCode.PTR_POSITION, PointerMessageType.POSITION, encode(PointerPosition(x, y)))

    def pointer_hidden(self) -> bytes:
        return self._pointer_system(SystemPointer.SYSPTR_NULL)

    def pointer_default(self) -> bytes:
        return self._pointer_system(SystemPointer.SYSPTR_DEFAULT)

    def _pointer_system(self, which: SystemPointer) -> bytes:
        self._require_active("pointer system")
        if self.fastpath_output:
            code = UpdateCode.PTR_NULL if which == SystemPointer.SYSPTR_NULL else UpdateCode.PTR_DEFAULT
            return b"".join(fragment_update(code, b""))
        w = Writer()
        w.u32(which)
        return self._share_data(PointerData(PointerMessageType.SYSTEM, w.getvalue()))

    def pointer_image(self, pointer: ColorPointer | LargePointer) -> bytes:
        """A colour / new (32 bpp) / large pointer; it is also cached at its ``cache_index``."""
        self._require_active("pointer_image")
        if isinstance(pointer, LargePointer):
            return self._pointer(UpdateCode.LARGE_POINTER, PointerMessageType.LARGE, encode(pointer))
        if pointer.xor_bpp is None:
            return self._pointer(UpdateCode.COLOR, PointerMessageType.COLOR, encode(pointer))
        return self._pointer(UpdateCode.POINTER, PointerMessageType.POINTER, encode(pointer))

    def pointer_cached(self, cache_index: int) -> bytes:
        self._require_active("pointer_cached")
        return self._pointer(UpdateCode.CACHED, PointerMessageType.CACHED, encode(CachedPointer(cache_index)))

    def _pointer(self, code: UpdateCode, message_type: PointerMessageType, data: bytes) -> bytes:
        if self.fastpath_output:
            return self._update(code, data)
        return self._share_data(PointerData(message_type, data))

    def _update(self, code: UpdateCode, data: bytes) -> bytes:
        if self.fastpath_output:
            max_fragment = MAX_FRAGMENT
            return b"".join(fragment_update(code, data, max_fragment))
        if code != UpdateCode.BITMAP:
            raise LocalProtocolError(f"no slow-path form for update {code.name} here")
        return self._share_data(UpdateData(data))

    def shutdown_denied(self) -> bytes:
        """[2.2.2.3] Refuse the client's Shutdown Request: the session stays, the client disconnects."""
        if not isinstance(self.state, Active | WaitConfirmActive | Finalization):
            raise LocalProtocolError(f"shutdown_denied() in state {type(self.state).__name__}")
        return self._share_data(ShutdownDenied())

    def resize(self, width: int, height: int) -> bytes:
        """Deactivate and reactivate with a new desktop size ([1.3.1.3] Deactivation-Reactivation)."""
        self._require_active("resize")
        self.width, self.height = width, height
        out = self._share_control(DeactivateAll(SHARE_ID))
        saved = bytes(self._out)
        self._out.clear()
        self._send_demand_active()
        out += bytes(self._out)
        self._out[:] = saved
        self.state = WaitConfirmActive(reactivation=True)
        return out

    # clipboard ------------------------------------------------------------------------------

    @property
    def clipboard_available(self) -> bool:
        return self._clipboard is not None and self._clipboard.client_caps_seen

    def clipboard_set_text(self, text: str | None) -> bytes:
        """Tell the client the session's clipboard now holds ``text`` (None: nothing we offer)."""
        clip = self._require_clipboard()
        clip.our_text = text
        formats = (cliprdr.Format(cliprdr.CF_UNICODETEXT),) if text is not None else ()
        return self._clip_send(cliprdr.FormatList(formats, clip.long_names))

    def clipboard_request_text(self) -> bytes:
        """Ask the client for its clipboard text; a ``ClipboardText`` event answers."""
        self._require_clipboard()
        return self._clip_send(cliprdr.FormatDataRequest(cliprdr.CF_UNICODETEXT))

    def _require_clipboard(self) -> _Clipboard:
        if not isinstance(self.state, Active | WaitConfirmActive | Finalization):
            raise LocalProtocolError(f"clipboard before the connection is active ({type(self.state).__name__})")
        if self._clipboard is None:
            raise LocalProtocolError("the client did not open the cliprdr channel")
        return self._clipboard

    def _clip_send(self, pdu: cliprdr.ClipboardPdu) -> bytes:
        assert self._clipboard is not None
        log.debug("%s cliprdr -> %s", self._log, pdu)
        return self.channel_send(self._clipboard.channel_id, cliprdr.encode_clipboard(pdu))

    def channel_send(self, channel_id: int, message: bytes) -> bytes:
        """One static virtual channel message, chunked ([3.1.5.2.1])."""
        out = bytearray()
        for chunk in chunk_message(message, CHANNEL_CHUNK_LENGTH, ChannelFlags.SHOW_PROTOCOL):
            out += x224.data_frame(encode(mcs.SendDataIndication(SERVER_USER_ID, channel_id, chunk)))
        return bytes(out)

    # ---- input side ---------------------------------------------------------------------

    def _on_x224(self, frame: bytes) -> None:
        st = self.state
        if isinstance(st, WaitConnectionRequest):
            self._on_connection_request(x224.ConnectionRequest.decode(Reader(frame)))
            return
        if len(frame) > 5 and frame[5] & 0xF0 == x224.TpduCode.DISCONNECT_REQUEST:
            x224.DisconnectRequest.decode(Reader(frame))
            self._events.append(events.Disconnected("client sent X.224 Disconnect Request"))
            self.state = Closed("client disconnected")
            return
        payload = x224.data_payload(frame)
        if isinstance(st, WaitConnectInitial):
            self._on_connect_initial(payload)
            return
        pdu = mcs.decode_domain_pdu(Reader(payload))
        if isinstance(pdu, mcs.DisconnectProviderUltimatum):
            self._events.append(events.Disconnected(f"client sent MCS disconnect ({pdu.reason.name})"))
            self.state = Closed("client disconnected")
            return
        if isinstance(st, WaitErectDomain):
            self._expect(pdu, mcs.ErectDomainRequest)
            self.state = WaitAttachUser()
        elif isinstance(st, WaitAttachUser):
            self._expect(pdu, mcs.AttachUserRequest)
            self._out += x224.data_frame(encode(mcs.AttachUserConfirm(USER_CHANNEL_ID)))
            pending = {USER_CHANNEL_ID, IO_CHANNEL_ID, *self._channel_names}
            self.state = ChannelJoin(pending)
        elif isinstance(pdu, mcs.ChannelJoinRequest) and isinstance(st, ChannelJoin | WaitClientInfo):
            # FreeRDP 2 joins its user channel a second time after the static channels;
            # any channel it was given may be (re)joined until the Client Info PDU.
            known = {USER_CHANNEL_ID, IO_CHANNEL_ID, *self._channel_names}
            ok = pdu.channel_id in known
            self._out += x224.data_frame(encode(mcs.ChannelJoinConfirm(
                USER_CHANNEL_ID, pdu.channel_id, pdu.channel_id, 0 if ok else 14)))
            if not ok:
                raise RemoteProtocolError(f"client joined channel {pdu.channel_id}, which it was not given")
            if isinstance(st, ChannelJoin):
                st.pending.discard(pdu.channel_id)
                if not st.pending:
                    self.state = WaitClientInfo()
        elif isinstance(st, ChannelJoin):
            raise RemoteProtocolError(f"expected Channel Join Request, got {type(pdu).__name__}")
        else:
            data = self._expect(pdu, mcs.SendDataRequest)
            if data.channel_id == IO_CHANNEL_ID:
                self._on_io_data(data.data)
            elif data.channel_id in self._channel_names:
                self._on_channel_data(data.channel_id, data.data)
            else:
                raise RemoteProtocolError(f"data on unknown MCS channel {data.channel_id}")

    @staticmethod
    def _expect(pdu: object, cls: type) -> object:
        if not isinstance(pdu, cls):
            raise RemoteProtocolError(f"expected {cls.__name__}, got {type(pdu).__name__}")
        return pdu

    def _on_connection_request(self, req: x224.ConnectionRequest) -> None:
        requested = req.negotiation.requested_protocols if req.negotiation else SecurityProtocol.RDP
        self.requested_protocols = requested
        if requested & SecurityProtocol.SSL:
            self.selected_protocol = SecurityProtocol.SSL
            flags = (x224.NegResponseFlags.EXTENDED_CLIENT_DATA_SUPPORTED
                     | x224.NegResponseFlags.NEGRSP_FLAG_RESERVED)
            self._out += encode(x224.ConnectionConfirm(x224.NegotiationResponse(SecurityProtocol.SSL, flags)))
            self.state = SecurityUpgrade(SecurityProtocol.SSL)
            self._events.append(events.SecurityUpgradeRequired(SecurityProtocol.SSL))
            return
        # [2.2.1.2.2] SSL_REQUIRED_BY_SERVER: "If only CredSSP was requested then the server
        # only supports TLS" -- also the answer to Standard RDP Security only.
        if requested & (SecurityProtocol.HYBRID | SecurityProtocol.HYBRID_EX):
            reason = "client offered only NLA (CredSSP) without TLS; this server offers TLS"
        else:
            reason = f"client offered {requested!r}; Standard RDP Security is refused, TLS required"
        self._out += encode(x224.ConnectionConfirm(x224.NegotiationFailure(x224.FailureCode.SSL_REQUIRED_BY_SERVER)))
        self._events.append(events.NegotiationRefused(requested, reason))
        self.state = Closed(reason)

    def _on_connect_initial(self, payload: bytes) -> None:
        ci = mcs.ConnectInitial.decode(Reader(payload))
        gcc = ConferenceCreateRequest.decode(Reader(ci.user_data))
        blocks = ClientGccBlocks.decode_bytes(gcc.user_data)
        self.client = blocks
        channel_defs = blocks.network.channels if blocks.network else ()
        ids = []
        for i, ch in enumerate(channel_defs):
            cid = IO_CHANNEL_ID + 1 + i
            ids.append(cid)
            self._channel_names[cid] = ch.name.lower()
            if ch.name.lower() in self.config.channels and ch.name.lower() not in self.channel_ids:
                self.channel_ids[ch.name.lower()] = cid
        if cliprdr.CHANNEL_NAME in self.channel_ids:
            self._clipboard = _Clipboard(self.channel_ids[cliprdr.CHANNEL_NAME])
        if dvc.CHANNEL_NAME in self.channel_ids:
            self._dynamic = _DynamicChannels(self.channel_ids[dvc.CHANNEL_NAME])
        early = 0  # no RNS_UD_SC_* extras (edge actions, dynamic DST, skip channel join)
        server = ServerGccBlocks(
            ServerCoreData(0x00080004, int(self.requested_protocols), early),
            ServerNetworkData(IO_CHANNEL_ID, tuple(ids)),
            ServerSecurityData(0, 0),
        )
        response = ConferenceCreateResponse(encode(server))
        self._out += x224.data_frame(encode(mcs.ConnectResponse(encode(response))))
        self.state = WaitErectDomain()

    def _core(self) -> ClientCoreData:
        assert self.client is not None
        return self.client.core

    @staticmethod
    def _security(flags: SecurityFlags, body: bytes) -> bytes:
        return encode(BasicSecurityHeader(flags)) + body

    def _send_io(self, data: bytes) -> None:
        self._out += x224.data_frame(encode(mcs.SendDataIndication(SERVER_USER_ID, IO_CHANNEL_ID, data)))

    def _share_control(self, body: DemandActive | DeactivateAll) -> bytes:
        pdu = ShareControlPdu(SERVER_USER_ID, body)
        return x224.data_frame(encode(mcs.SendDataIndication(SERVER_USER_ID, IO_CHANNEL_ID, encode(pdu))))

    def _share_data(self, body: object) -> bytes:
        pdu = ShareControlPdu(SERVER_USER_ID, ShareDataPdu(SHARE_ID, body))  # type: ignore[arg-type]
        return x224.data_frame(encode(mcs.SendDataIndication(SERVER_USER_ID, IO_CHANNEL_ID, encode(pdu))))

    def _on_io_data(self, data: bytes) -> None:
        st = self.state
        if isinstance(st, WaitClientInfo):
            r = Reader(data)
            sec = BasicSecurityHeader.decode(r)
            if sec.flags & SecurityFlags.SEC_EXCHANGE_PKT:
                raise RemoteProtocolError("Security Exchange PDU: Standard RDP Security is not offered")
            if not sec.flags & SecurityFlags.SEC_INFO_PKT:
                raise RemoteProtocolError(f"expected the Client Info PDU, got security flags {sec.flags!r}")
            if sec.flags & SecurityFlags.SEC_ENCRYPT:
                raise RemoteProtocolError("encrypted Client Info PDU under Enhanced RDP Security")
            info = ClientInfo.decode(r)
            self.client_info = info
            core = self._core()
            self.state = WaitCredentials(info)
            self._events.append(events.Credentials(
                info.username, info.password, info.domain, core.desktop_width, core.desktop_height, core, info))
            return
        pdu = ShareControlPdu.decode(Reader(data))
        if isinstance(pdu, FlowPdu):
            return
        body = pdu.body
        if isinstance(st, WaitConfirmActive):
            if isinstance(body, ConfirmActive):
                self._on_confirm_active(body, st.reactivation)
                return
            if isinstance(body, ShareDataPdu):
                self._on_data(body)  # input may race a reactivation; handle it
                return
            raise RemoteProtocolError(f"expected Confirm Active, got {type(body).__name__}")
        if isinstance(body, ShareDataPdu):
            self._on_data(body)
        else:
            raise RemoteProtocolError(f"unexpected {type(body).__name__} in state {type(st).__name__}")

    def _on_confirm_active(self, confirm: ConfirmActive, reactivation: bool) -> None:
        general = confirm.find(caps.GeneralCapability)
        bitmap = confirm.find(caps.BitmapCapability)
        if general is None or bitmap is None:
            raise RemoteProtocolError("Confirm Active lacks the General or Bitmap capability set")
        assert isinstance(general, caps.GeneralCapability) and isinstance(bitmap, caps.BitmapCapability)
        self.fastpath_output = self.config.fastpath_output and bool(
            general.extra_flags & caps.GeneralExtraFlags.FASTPATH_OUTPUT_SUPPORTED)
        multifrag = confirm.find(caps.MultifragmentUpdateCapability)
        if isinstance(multifrag, caps.MultifragmentUpdateCapability) and multifrag.max_request_size:
            self.max_request_size = max(min(multifrag.max_request_size, OUR_MAX_REQUEST_SIZE), 1024)
        else:
            self.max_request_size = MAX_FRAGMENT
        if bitmap.preferred_bits_per_pixel in (8, 15, 16, 24, 32):
            self.bpp = bitmap.preferred_bits_per_pixel
        self.state = Finalization(confirm, reactivation)

    def _on_data(self, pdu: ShareDataPdu) -> None:
        body = pdu.body
        st = self.state
        if isinstance(st, Finalization):
            if isinstance(body, Synchronize):
                st.synchronized = True
                self._out += self._share_data(Synchronize(USER_CHANNEL_ID))
                return
            if isinstance(body, Control):
                if body.action == ControlAction.COOPERATE:
                    st.cooperating = True
                    self._out += self._share_data(Control(ControlAction.COOPERATE))
                elif body.action == ControlAction.REQUEST_CONTROL:
                    st.control_granted = True
                    self._out += self._share_data(
                        Control(ControlAction.GRANTED_CONTROL, USER_CHANNEL_ID, SERVER_USER_ID))
                return
            if isinstance(body, FontList):
                self._out += self._share_data(FontMap())
                self._activate(st)
                return
        if isinstance(body, InputData):
            for _, event in body.events:
                self._on_input(event)
        elif isinstance(body, RefreshRect):
            self._events.append(events.RefreshRect(body.areas))
        elif isinstance(body, SuppressOutput):
            self._events.append(events.SuppressOutput(body.allow_display_updates, body.desktop_rect))
        elif isinstance(body, ShutdownRequest):
            self._events.append(events.Shutdown())
        elif isinstance(body, FrameAcknowledge):
            self._events.append(events.FrameAcknowledged(body.frame_id))
        else:
            log.debug("%s ignoring share data PDU %s", self._log, type(body).__name__)

    def _activate(self, st: Finalization) -> None:
        first = not st.reactivation
        self.state = Active()
        core = self._core()
        if first:
            info = self.client_info
            if info is not None:
                self._out += self._share_data(SaveSessionInfo.logon(username=info.username, domain=info.domain))
            if self._clipboard is not None:
                self._out += self._clip_send(cliprdr.ClipCaps())
                self._out += self._clip_send(cliprdr.MonitorReady())
            if self._dynamic is not None and (self.config.display_control or self.config.gfx):
                self._out += self._dvc_send(dvc.CapsRequest(version=1))
        self._events.append(events.Activated(
            self.width, self.height, self.bpp, core.keyboard_layout, self.fastpath_output,
            self.max_request_size, st.reactivation))

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
            caps.VirtualChannelCapability(0, CHANNEL_CHUNK_LENGTH),
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
        self._out += self._share_control(DemandActive(SHARE_ID, capabilities))

    # input events ------------------------------------------------------------------------

    def _on_fastpath(self, frame: bytes) -> None:
        if not isinstance(self.state, Active | Finalization | WaitConfirmActive):
            raise RemoteProtocolError(f"fast-path input in state {type(self.state).__name__}")
        for event in FastPathInput.decode(Reader(frame)).events:
            self._on_input(event)

    def _on_input(self, event: InputEvent) -> None:
        out = self._events
        if isinstance(event, ScancodeEvent):
            out.append(events.KeyboardEvent(event.key_code, event.extended, not event.release, event.extended1))
        elif isinstance(event, UnicodeKeyEvent):
            out.append(events.UnicodeEvent(event.code_unit, not event.release))
        elif isinstance(event, SyncEvent):
            f = event.toggle_flags
            out.append(events.SyncEvent(bool(f & SyncToggleFlags.SCROLL_LOCK), bool(f & SyncToggleFlags.NUM_LOCK),
                                        bool(f & SyncToggleFlags.CAPS_LOCK), bool(f & SyncToggleFlags.KANA_LOCK)))
        elif isinstance(event, PointerEvent):
            self._on_pointer(event)
        elif isinstance(event, ExtendedPointerEvent):
            self._pointer_at = (event.x, event.y)
            xflags = event.flags
            button = (8 if xflags & ExtendedPointerFlags.BUTTON1
                      else 9 if xflags & ExtendedPointerFlags.BUTTON2 else None)
            if button is not None:
                out.append(events.MouseEvent(event.x, event.y, button, bool(event.flags & ExtendedPointerFlags.DOWN)))
        elif isinstance(event, RelativePointerEvent | QoeTimestampEvent | UnusedEvent):
            pass

    def _on_pointer(self, event: PointerEvent) -> None:
        flags = event.flags
        if flags & (PointerFlags.WHEEL | PointerFlags.HWHEEL):
            # Clients put 0, 0 (FreeRDP) or garbage in a wheel event's position: the wheel
            # turns where the pointer last was.
            x, y = self._pointer_at
            notches = event.wheel_delta / WHEEL_UNITS_PER_NOTCH
            if flags & PointerFlags.HWHEEL:
                self._events.append(events.WheelEvent(x, y, dx=notches))
            else:
                # RDP: positive rotation = away from the user = scroll up; ours: + is down.
                self._events.append(events.WheelEvent(x, y, dy=-notches))
            return
        x, y = min(event.x, max(self.width - 1, 0)), min(event.y, max(self.height - 1, 0))
        self._pointer_at = (x, y)
        button = (1 if flags & PointerFlags.BUTTON1 else 3 if flags & PointerFlags.BUTTON2
                  else 2 if flags & PointerFlags.BUTTON3 else None)
        if button is None or flags & PointerFlags.MOVE:
            self._events.append(events.MouseEvent(x, y))
        if button is not None:
            self._events.append(events.MouseEvent(x, y, button, bool(flags & PointerFlags.DOWN)))

    # static virtual channels -------------------------------------------------------------

    def _on_channel_data(self, channel_id: int, data: bytes) -> None:
        if self._dynamic is not None and channel_id == self._dynamic.channel_id:
            self._on_drdynvc(data)
            return
        clip = self._clipboard
        if clip is None or channel_id != clip.channel_id:
            return  # a channel we opened for the client but do not serve
        message = clip.reassembler.push(ChannelPdu.decode(Reader(data)))
        if message is None:
            return
        pdu = cliprdr.decode_clipboard(message, long_names=clip.long_names)
        log.debug("%s cliprdr <- %s", self._log, pdu)
        if isinstance(pdu, cliprdr.ClipCaps):
            clip.long_names = bool(pdu.general_flags & cliprdr.GeneralFlags.CB_USE_LONG_FORMAT_NAMES)
            clip.client_caps_seen = True
        elif isinstance(pdu, cliprdr.FormatList):
            self._out += self._clip_send(cliprdr.FormatListResponse(True))
            ids = tuple(f.format_id for f in pdu.formats)
            has_text = cliprdr.CF_UNICODETEXT in ids or cliprdr.CF_TEXT in ids
            self._events.append(events.ClipboardOffer(has_text, ids))
        elif isinstance(pdu, cliprdr.FormatDataRequest):
            if pdu.format_id == cliprdr.CF_UNICODETEXT and clip.our_text is not None:
                self._out += self._clip_send(cliprdr.FormatDataResponse.unicode_text(clip.our_text))
            else:
                self._out += self._clip_send(cliprdr.FormatDataResponse(b"", ok=False))
        elif isinstance(pdu, cliprdr.FormatDataResponse):
            self._events.append(events.ClipboardText(pdu.text() if pdu.ok else None))

    # dynamic virtual channels ------------------------------------------------------------

    def dynamic_channel_open(self, channel_id: int) -> bool:
        return self._dynamic is not None and channel_id in self._dynamic.open

    @property
    def display_control_open(self) -> bool:
        return self.dynamic_channel_open(DISP_CHANNEL_ID)

    def _dvc_send(self, pdu: dvc.DvcPdu) -> bytes:
        assert self._dynamic is not None
        log.debug("%s drdynvc -> %s", self._log, pdu)
        return self.channel_send(self._dynamic.channel_id, dvc.encode_dvc(pdu))

    def _dvc_message(self, channel_id: int, message: bytes) -> bytes:
        assert self._dynamic is not None
        return b"".join(self.channel_send(self._dynamic.channel_id, piece)
                        for piece in dvc.split_message(channel_id, message))

    def _on_drdynvc(self, data: bytes) -> None:
        dyn = self._dynamic
        assert dyn is not None
        message = dyn.reassembler.push(ChannelPdu.decode(Reader(data)))
        if message is None:
            return
        pdu = dvc.decode_dvc(message)
        log.debug("%s drdynvc <- %s", self._log, pdu)
        if isinstance(pdu, dvc.CapsResponse):
            if dyn.version is not None:
                return  # a repeated answer: the channels are already asked for
            dyn.version = pdu.version
            if self.config.display_control:
                dyn.names[DISP_CHANNEL_ID] = disp.CHANNEL_NAME
                self._out += self._dvc_send(dvc.CreateRequest(DISP_CHANNEL_ID, disp.CHANNEL_NAME))
            if self.config.gfx and (self._core().early_capability_flags or 0) & RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL:
                dyn.names[GFX_CHANNEL_ID] = gfx.CHANNEL_NAME
                self._out += self._dvc_send(dvc.CreateRequest(GFX_CHANNEL_ID, gfx.CHANNEL_NAME))
        elif isinstance(pdu, dvc.CreateResponse):
            name = dyn.names.get(pdu.channel_id)
            if name is None:
                raise RemoteProtocolError(f"DVC Create Response for channel {pdu.channel_id}, never asked for")
            if not pdu.ok:
                log.info("%s client has no %s (status %#x)", self._log, name, pdu.status & 0xFFFFFFFF)
                return
            dyn.open.add(pdu.channel_id)
            if pdu.channel_id == DISP_CHANNEL_ID:
                self._out += self._dvc_message(DISP_CHANNEL_ID, disp.encode_disp(disp.Caps()))
        elif isinstance(pdu, dvc.DataFirst | dvc.Data):
            if pdu.channel_id not in dyn.open:
                raise RemoteProtocolError(f"DVC data on channel {pdu.channel_id}, which is not open")
            whole = dyn.pieces.push(pdu)
            if whole is not None and pdu.channel_id == DISP_CHANNEL_ID:
                self._on_display_control(whole)
            elif whole is not None and pdu.channel_id == GFX_CHANNEL_ID:
                self._on_graphics(whole)
        elif isinstance(pdu, dvc.Close):
            dyn.open.discard(pdu.channel_id)
            dyn.pieces.drop(pdu.channel_id)
            if pdu.channel_id == GFX_CHANNEL_ID and self._gfx.capset is not None:
                raise RemoteProtocolError("the client closed the graphics channel it drew with")
        else:
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} from the client on drdynvc")

    # graphics pipeline --------------------------------------------------------------------

    @property
    def gfx_ready(self) -> bool:
        return self._gfx.capset is not None and self.dynamic_channel_open(GFX_CHANNEL_ID)

    def _on_graphics(self, message: bytes) -> None:
        pdu = gfx.decode_client(message)
        if isinstance(pdu, gfx.CapsAdvertise):
            chosen = gfx.choose_capset(pdu.capsets)
            self._gfx.capset = chosen
            self._out += self._dvc_message(GFX_CHANNEL_ID, gfx.segmented([gfx.caps_confirm(chosen)]))
            log.info("%s graphics pipeline: capability set %#010x confirmed, avc420=%s", self._log,
                     chosen.version, chosen.avc420)
            self._events.append(events.GfxReady(chosen.version, chosen.avc420))
        elif isinstance(pdu, gfx.FrameAcknowledge):
            self._events.append(events.GfxFrameAcknowledged(pdu.frame_id, pdu.queue_depth, pdu.suspend))
        elif isinstance(pdu, gfx.CacheImportOffer):
            # No persistent bitmap cache is used: nothing imported.
            self._out += self._dvc_message(GFX_CHANNEL_ID, gfx.segmented([gfx.cache_import_reply()]))

    def gfx_reset(self, width: int, height: int) -> bytes:
        """A fresh output of ``width`` x ``height``: Reset Graphics, a new surface mapped to it
        (the old one deleted). Anything drawn afterwards goes to the new surface.

        With the graphics pipeline up this is also how the desktop changes size: [MS-RDPEDISP]
        1.3 restarts the pipeline with surface commands instead of a deactivation-reactivation
        (FreeRDP resizes its output under the pipeline's lock when Reset Graphics carries a new
        size; a reactivation resizes it from another thread while frames are being drawn)."""
        if not self.gfx_ready:
            raise LocalProtocolError("gfx_reset() before the graphics pipeline is ready")
        if (width, height) != (self.width, self.height):
            self._require_active("resize")
            self.width, self.height = width, height
        g = self._gfx
        pdus = [gfx.delete_surface(g.surface_id)] if g.surface_id is not None else []
        g.surface_id, g.next_surface = g.next_surface, g.next_surface % 0xFFFF + 1
        pdus += [gfx.reset_graphics(width, height), gfx.create_surface(g.surface_id, width, height),
                 gfx.map_surface_to_output(g.surface_id)]
        return self._dvc_message(GFX_CHANNEL_ID, gfx.segmented(pdus))

    @property
    def gfx_surface(self) -> int | None:
        return self._gfx.surface_id

    def gfx_frame(self, commands: list[bytes]) -> tuple[int, bytes]:
        """One logical frame of graphics commands (``gfx.wire_to_surface_1`` ...): its frame id
        and the bytes to write."""
        if not self.gfx_ready or self._gfx.surface_id is None:
            raise LocalProtocolError("gfx_frame() before gfx_reset()")
        g = self._gfx
        frame_id, g.next_frame = g.next_frame, (g.next_frame + 1) & 0xFFFFFFFF
        pdus = [gfx.start_frame(frame_id), *commands, gfx.end_frame(frame_id)]
        return frame_id, self._dvc_message(GFX_CHANNEL_ID, gfx.segmented(pdus))

    def _on_display_control(self, message: bytes) -> None:
        pdu = disp.decode_disp(message)
        if not isinstance(pdu, disp.MonitorLayout):
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} from the client on Display Control")
        width, height = pdu.desktop_size()
        width, height = min(width, self.config.max_width), min(height, self.config.max_height)
        self._events.append(events.DisplayLayout(width, height, len(pdu.monitors)))

    def _require_active(self, what: str) -> None:
        if not isinstance(self.state, Active):
            raise LocalProtocolError(f"{what}() before the connection is active ({type(self.state).__name__})")
