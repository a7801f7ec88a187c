"""The active session, server side, sans-IO: what follows the connection sequence.

``ActiveSession(accepted)`` starts from the acceptor's result. Frames in; events, and bytes to
send, out. It turns input PDUs into events (``input_events``), answers share data PDUs
(Refresh Rect, Suppress Output, Shutdown Request, Frame Acknowledge), hands static channel
messages to their plug-ins (``channels.registry``), and builds output (``updates``). A
Deactivation-Reactivation (``resize``) runs a reactivation acceptor; frames that are not part
of it (input racing the reactivation, channel data) are still served meanwhile.

::

    Active --resize()--> Reactivating(acceptor: WaitConfirmActive ... Finalization) --Font List--> Active
    any --peer error / X.224 DR / MCS ultimatum--> Closed
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rdpfront import events, gfx, gfx_ack, mcs, wire
from rdpfront.acceptor import Acceptor, AcceptorResult, Closed, Frame
from rdpfront.bitmap import BitmapData
from rdpfront.channels import drdynvc
from rdpfront.channels.base import DynamicChannel, StaticChannel
from rdpfront.channels.drdynvc import DynamicChannels
from rdpfront.channels.graphics import GraphicsChannel
from rdpfront.channels.registry import DYNAMIC_CHANNELS, STATIC_CHANNELS
from rdpfront.cursor import Reader
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.input import FastPathInput
from rdpfront.input_events import InputMapper
from rdpfront.orders import NEG_SCRBLT_INDEX, OrderHistory, ScrBlt
from rdpfront.pointer import ColorPointer, LargePointer, SystemPointer
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.headers import PduType2
from rdpfront.rdp.pdus import (
    FlowPdu,
    FrameAcknowledge,
    InputData,
    RawControl,
    RawData,
    RefreshRect,
    SaveSessionInfo,
    ShareControlPdu,
    ShareDataPdu,
    ShutdownDenied,
    ShutdownRequest,
    SuppressOutput,
)
from rdpfront.svc import ChannelPdu, ChannelReassembler
from rdpfront.tpkt import Action
from rdpfront.updates import UpdateWriter
from rdpfront.wire import IO_CHANNEL_ID

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionConfig:
    """Which registered channels not to serve (by name), e.g. the graphics pipeline; whether
    graphics pipeline messages are RDP 8.0 bulk compressed ([MS-RDPEGFX 3.1.9.1])."""

    disabled_channels: frozenset[str] = frozenset()
    gfx_compression: bool = True


@dataclass
class Active:
    pass


class ActiveSession(wire.SansIoOutput):
    """One accepted client. Feed ``receive_frame``; drain ``events`` and ``data_to_send``."""

    def __init__(self, accepted: AcceptorResult, config: SessionConfig | None = None, *,
                 log_context: str = "", static_registry: dict[str, type[StaticChannel]] | None = None,
                 dynamic_registry: dict[str, type[DynamicChannel]] | None = None) -> None:
        self.accepted = accepted
        self.log_context = log_context
        self.disabled_channels = (config or SessionConfig()).disabled_channels
        self.gfx_compression = (config or SessionConfig()).gfx_compression
        self.dynamic_registry = DYNAMIC_CHANNELS if dynamic_registry is None else dynamic_registry
        self.state: Active | Closed = Active()
        self.reactivating: Acceptor | None = None
        super().__init__()
        self._input = InputMapper()
        self._apply(accepted)
        # One plug-in per joined static channel that the registry serves, in registry order.
        self.channels: dict[int, StaticChannel] = {}
        self._found_channels: dict[str, StaticChannel | DynamicChannel] = {}  # by name, see ``channel``
        self._reassemblers: dict[int, ChannelReassembler] = {}
        by_name = {name: cid for cid, name in accepted.channels.items() if cid in accepted.joined}
        for name, cls in (STATIC_CHANNELS if static_registry is None else static_registry).items():
            if name in by_name and name not in self.disabled_channels:
                self.channels[by_name[name]] = cls(self, by_name[name])
                self._reassemblers[by_name[name]] = ChannelReassembler(cls.max_message)
        self._start()

    def _apply(self, accepted: AcceptorResult) -> None:
        self.width, self.height, self.bpp = accepted.width, accepted.height, accepted.bpp
        self.fastpath_output = accepted.fastpath_output
        self.max_request_size = accepted.max_request_size
        self.updates = UpdateWriter(accepted.fastpath_output, accepted.max_request_size)
        # Both ends start a new primary order history on every (re)activation.
        self.order_history = OrderHistory()
        order_caps = accepted.capabilities.find(caps.OrderCapability)
        self.scrblt = (isinstance(order_caps, caps.OrderCapability)
                       and len(order_caps.order_support) > NEG_SCRBLT_INDEX
                       and bool(order_caps.order_support[NEG_SCRBLT_INDEX]))

    def _start(self) -> None:
        info = self.accepted.client_info
        self._out += wire.share_data(SaveSessionInfo.logon(username=info.username, domain=info.domain))
        for channel in self.channels.values():
            channel.start()
        self._activated(self.accepted)

    def _activated(self, accepted: AcceptorResult) -> None:
        self._events.append(events.Activated(
            accepted.width, accepted.height, accepted.bpp, accepted.keyboard_layout, accepted.fastpath_output,
            accepted.max_request_size, accepted.reactivation))

    # ---- sans-IO surface ------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return isinstance(self.state, Active) and self.reactivating is None

    def receive_frame(self, action: Action, frame: bytes) -> None:
        """One frame from the peer. A ``RemoteProtocolError`` leaves the session ``Closed``."""
        if isinstance(self.state, Closed):
            return
        try:
            if self.reactivating is not None:
                self._step_reactivation(action, frame)
            else:
                self._on_frame(action, frame)
        except RemoteProtocolError as exc:
            self.state = Closed(f"protocol error: {exc}")
            raise

    def _step_reactivation(self, action: Action, frame: bytes) -> None:
        acceptor = self.reactivating
        assert acceptor is not None
        acceptor.step(action, frame)
        self._events += acceptor.events()
        self._out += acceptor.data_to_send()
        for deferred in acceptor.take_deferred():
            self._on_frame(*deferred)
        if acceptor.done:
            self.reactivating = None
            if isinstance(acceptor.state, Closed):
                self.state = acceptor.state
                return
            result = acceptor.state.result  # type: ignore[union-attr]
            self.accepted = result
            self._apply(result)
            self._activated(result)

    def replay(self, frames: Iterable[Frame]) -> None:
        """Frames of this session that came while the acceptor was finishing."""
        for action, frame in frames:
            self.receive_frame(action, frame)

    # ---- input side ---------------------------------------------------------------------

    def _on_frame(self, action: Action, frame: bytes) -> None:
        if action == Action.FASTPATH:
            for event in FastPathInput.decode(Reader(frame)).events:
                self._events += self._input.map(event, self.width, self.height)
            return
        if self._on_gfx_acknowledge(frame):
            return
        pdu = wire.read_domain_pdu(frame)
        if isinstance(pdu, wire.PeerDisconnect):
            self._events.append(events.Disconnected(pdu.reason))
            self.state = Closed("client disconnected")
            return
        if not isinstance(pdu, mcs.SendDataRequest):
            raise RemoteProtocolError(f"expected SendDataRequest, got {type(pdu).__name__}")
        if pdu.channel_id == IO_CHANNEL_ID:
            self._on_io_data(pdu.data)
        else:
            self._on_channel_data(pdu.channel_id, pdu.data)

    def _on_gfx_acknowledge(self, frame: bytes) -> bool:
        """The graphics channel's Frame Acknowledge, read in one pass (``gfx_ack.read``).

        The client sends one for every graphics frame, one a keystroke while typing, and read
        through TPKT, X.224, MCS, the static and the dynamic channel it was ~50 byte-cursor
        calls and ~15 layer calls. Taken only where the layers would hand it whole to the
        graphics channel and change no state on the way (the channels joined and open, no
        message part way through on either, no debug log of the DVC PDUs asked for), so the
        event is the one they would emit; anything else, errors included, goes through them.
        """
        ack = gfx_ack.read(frame)
        if ack is None:
            return False
        channel_id, dvc_channel_id, queue_depth, frame_id, _ = ack
        # ``channels`` holds only channels the client joined, so the layers' checks of that hold.
        dynamic = self.channels.get(channel_id)
        # Exact types: a subclass may receive differently.
        if (type(dynamic) is not DynamicChannels or self._reassemblers[channel_id].pending
                or not dynamic.is_open(dvc_channel_id) or dynamic.pieces.pending(dvc_channel_id)
                or type(dynamic.channels.get(dvc_channel_id)) is not GraphicsChannel
                or drdynvc.log.isEnabledFor(logging.DEBUG)):
            return False
        self._events.append(events.GfxFrameAcknowledged(frame_id, queue_depth,
                                                        queue_depth == gfx.SUSPEND_FRAME_ACKNOWLEDGEMENT))
        return True

    def _on_io_data(self, data: bytes) -> None:
        pdu = ShareControlPdu.decode(Reader(data))
        if isinstance(pdu, FlowPdu):
            return
        if isinstance(pdu.body, RawControl):
            log.info("%s share control PDU of type %d (%d bytes) ignored", self.log_context, pdu.body.pdu_type,
                     len(pdu.body.data))
            return
        if not isinstance(pdu.body, ShareDataPdu):
            raise RemoteProtocolError(f"unexpected {type(pdu.body).__name__} in state {self.state_name}")
        body = pdu.body.body
        if isinstance(body, InputData):
            for _, event in body.events:
                self._events += self._input.map(event, self.width, self.height)
        elif isinstance(body, RefreshRect):
            self._events.append(events.RefreshRect(body.areas))
        elif isinstance(body, SuppressOutput):
            self._events.append(events.SuppressOutput(body.allow_display_updates, body.desktop_rect))
        elif isinstance(body, ShutdownRequest):
            self._events.append(events.Shutdown())
        elif isinstance(body, FrameAcknowledge):
            self._events.append(events.FrameAcknowledged(body.frame_id))
        elif isinstance(body, RawData) and body.type2 not in PduType2._value2member_map_:
            log.info("%s share data PDU of unknown type %d (%d bytes) ignored", self.log_context, body.type2,
                     len(body.data))
        else:
            log.debug("%s ignoring share data PDU %s", self.log_context, type(body).__name__)

    def _on_channel_data(self, channel_id: int, data: bytes) -> None:
        accepted = self.accepted
        if channel_id not in accepted.channels:
            raise RemoteProtocolError(f"data on unknown MCS channel {channel_id}")
        if channel_id not in accepted.joined:
            raise RemoteProtocolError(f"data on MCS channel {channel_id} ({accepted.channels[channel_id]}), "
                                      "which the client did not join")
        channel = self.channels.get(channel_id)
        if channel is None:
            return  # a channel the client was given but this server does not serve
        message = self._reassemblers[channel_id].push(ChannelPdu.decode(Reader(data)))
        if message is not None:
            channel.receive(message)

    # ---- what channel plug-ins use (channels.base.ChannelHost) ---------------------------

    def write(self, data: bytes) -> None:
        self._out += data

    def emit(self, event: events.Event) -> None:
        self._events.append(event)

    def set_size(self, width: int, height: int) -> None:
        if (width, height) != (self.width, self.height):
            self.require_active("resize")
            self.width, self.height = width, height

    def require_active(self, what: str) -> None:
        if not self.active:
            raise LocalProtocolError(f"{what}() before the connection is active ({self.state_name})")

    @property
    def state_name(self) -> str:
        return type(self.reactivating.state if self.reactivating else self.state).__name__

    def channel(self, name: str) -> StaticChannel | DynamicChannel | None:
        """The plug-in serving the static or dynamic channel ``name``, if this client has it.
        Once found it is remembered: plug-ins are made once per session (dynamic ones when
        the client answers DRDYNVC's capabilities) and never replaced, and the graphics
        channel is asked for several times a frame."""
        if (found := self._found_channels.get(name)) is not None:
            return found
        for channel in self.channels.values():
            found = channel if channel.name == name else channel.subchannel(name)
            if found is not None:
                self._found_channels[name] = found
                return found
        return None

    # ---- output -------------------------------------------------------------------------

    def bitmap_update(self, rectangles: Iterable[BitmapData | bytes]) -> bytes:
        self.require_active("bitmap_update")
        return self.updates.bitmap_update(rectangles)

    def scrblt_update(self, orders: Sequence[ScrBlt]) -> bytes:
        """Screen-to-screen copies as ScrBlt orders; only for a client that supports them."""
        self.require_active("scrblt_update")
        if not self.scrblt:
            raise LocalProtocolError("the client did not negotiate ScrBlt orders")
        return self.updates.orders_update(orders, self.order_history)

    def pointer_position(self, x: int, y: int) -> bytes:
        self.require_active("pointer_position")
        return self.updates.pointer_position(x, y)

    def pointer_system(self, which: SystemPointer) -> bytes:
        self.require_active("pointer system")
        return self.updates.pointer_system(which)

    def pointer_image(self, pointer: ColorPointer | LargePointer) -> bytes:
        self.require_active("pointer_image")
        return self.updates.pointer_image(pointer)

    def pointer_cached(self, cache_index: int) -> bytes:
        self.require_active("pointer_cached")
        return self.updates.pointer_cached(cache_index)

    def shutdown_denied(self) -> bytes:
        """[2.2.2.3] Refuse the client's Shutdown Request: the session stays, the client disconnects."""
        if isinstance(self.state, Closed):
            raise LocalProtocolError("shutdown_denied() on a closed connection")
        return wire.share_data(ShutdownDenied())

    def resize(self, width: int, height: int) -> bytes:
        """Deactivate and reactivate with a new desktop size ([1.3.1.3] Deactivation-Reactivation)."""
        self.require_active("resize")
        self.width, self.height = width, height
        self.reactivating = Acceptor.reactivation(self.accepted, width, height, log_context=self.log_context)
        return self.reactivating.data_to_send()
