"""One RDP client, server side, sans-IO: the acceptor, then the active session.

``ServerConnection`` cuts the byte stream into frames (``tpkt.Framer``) and gives them to the
``Acceptor`` until it is ``Accepted``, then to the ``ActiveSession`` built from its result
(with any session frames that came early). The API, h11-style: ``receive_data(bytes)``, then
``events()`` and ``data_to_send()``; a ``RemoteProtocolError`` leaves the connection
``Closed`` and ``disconnect()`` gives the parting bytes. The driver's calls
(``security_upgrade_done``, ``accept_credentials``, the output methods) go to whichever layer
is running; output of the active session before it exists is a ``LocalProtocolError``.

With NLA the stream after the TLS upgrade belongs to ``nla.CredsspServer`` (TSRequests, not
TPKT) until it is done; what came after its last message then goes to the framer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rdpfront import events, wire
from rdpfront.acceptor import Accepted, Acceptor, AcceptorConfig, Closed, Credssp, SecurityUpgrade, State
from rdpfront.bitmap import BitmapData
from rdpfront.channels.clipboard import ClipboardChannel
from rdpfront.channels.drdynvc import DynamicChannels
from rdpfront.channels.graphics import GraphicsChannel
from rdpfront.channels.registry import DISP_CHANNEL_ID
from rdpfront.cliprdr import CHANNEL_NAME as CLIPRDR
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import MAX_FRAGMENT
from rdpfront.gfx import CHANNEL_NAME as GRAPHICS
from rdpfront.nla import CredsspServer, Verdict
from rdpfront.nla import State as CredsspState
from rdpfront.orders import ScrBlt
from rdpfront.pointer import ColorPointer, LargePointer, SystemPointer
from rdpfront.rdp.pdus import ErrorInfo
from rdpfront.session import Active, ActiveSession, SessionConfig
from rdpfront.tpkt import Framer
from rdpfront.x224 import SecurityProtocol


class ServerConnection:
    """Feed ``receive_data``; drain ``events`` and ``data_to_send``."""

    def __init__(self, config: AcceptorConfig | None = None, session_config: SessionConfig | None = None, *,
                 log_context: str = "") -> None:
        self.acceptor = Acceptor(config, log_context=log_context)
        self.session: ActiveSession | None = None
        self._session_config = session_config or SessionConfig()
        self._framer = Framer()
        self._log = log_context
        self.credssp: CredsspServer | None = None
        self._nla_events: list[events.Event] = []

    # ---- sans-IO surface ------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer. Raises ``RemoteProtocolError`` when the peer misbehaves."""
        if self.closed:
            return
        if self._in_credssp():
            self._credssp_receive(data)
            return
        try:
            self._framer.feed(data)
        except RemoteProtocolError as exc:
            self._close(f"protocol error: {exc}")
            raise
        self._pump()

    def _in_credssp(self) -> bool:
        return self.credssp is not None and isinstance(self.acceptor.state, Credssp)

    def _credssp_receive(self, data: bytes) -> None:
        assert self.credssp is not None
        try:
            self.credssp.receive_data(data)
        except RemoteProtocolError as exc:
            if self.credssp.authenticated:
                self.acceptor.credssp_denied()
            self._close(f"NLA: {exc}")
            raise RemoteProtocolError(f"NLA: {exc}", error_info=exc.error_info) from exc
        self._credssp_progress()

    def _credssp_progress(self) -> None:
        """Take CredSSP's events; once it is done, MCS goes on with the bytes that followed."""
        assert self.credssp is not None
        for event in self.credssp.events():
            self._nla_events.append(event)  # type: ignore[arg-type]
            if isinstance(event, events.NlaAuthenticated):
                self.acceptor.credssp_done(event.username)
                rest = self.credssp.take_rest()
                if rest:
                    self._framer.feed(rest)
                self._pump()
        if self.credssp.state is CredsspState.FAILED:
            self._close("NLA refused")

    def credssp_verified(self, verdict: Verdict) -> None:
        """The driver's answer to ``NlaVerify``: a refusal is sent and the connection ends."""
        if self.credssp is None:
            raise LocalProtocolError("credssp_verified() without NLA")
        self.credssp.verified(verdict)
        try:
            self._credssp_progress()
        except RemoteProtocolError as exc:
            if not self.closed:
                self._close(f"protocol error: {exc}")
            raise

    def _pump(self) -> None:
        """Frames to the running layer until it waits on the driver, closes, or frames run out."""
        try:
            self._next_frames()
        except RemoteProtocolError as exc:
            if not self.closed:
                self._close(f"protocol error: {exc}")
            raise

    def _next_frames(self) -> None:
        while not self.closed:
            if self.session is None and self.acceptor.waiting_on_driver:
                return
            frame = self._framer.next_frame()
            if frame is None:
                return
            if self.session is not None:
                self.session.receive_frame(*frame)
                continue
            self.acceptor.step(*frame)
            if isinstance(self.acceptor.state, Accepted):
                self.session = ActiveSession(self.acceptor.state.result, self._session_config,
                                             log_context=self._log)
                self.session.replay(self.acceptor.take_deferred())

    def events(self) -> list[events.Event]:
        # CredSSP's events come before what MCS raised after it (bytes that followed its end).
        nla, self._nla_events = self._nla_events, []
        out = nla + self.acceptor.events()
        return out + self.session.events() if self.session is not None else out

    def data_to_send(self) -> bytes:
        out = (self.credssp.data_to_send() if self.credssp is not None else b"") + self.acceptor.data_to_send()
        return out + self.session.data_to_send() if self.session is not None else out

    @property
    def state(self) -> State | Active:
        if self.session is None:
            return self.acceptor.state
        if self.session.reactivating is not None:
            return self.session.reactivating.state
        return self.session.state

    @property
    def closed(self) -> bool:
        return isinstance(self.state, Closed)

    @property
    def active(self) -> bool:
        return self.session is not None and self.session.active

    @property
    def buffered_input(self) -> int:
        """Bytes received that do not make a whole frame yet (a truncated PDU at end of stream)."""
        return self._framer.buffered()

    def _close(self, reason: str) -> None:
        if self.session is not None:
            self.session.state = Closed(reason)
            self.session.reactivating = None
        else:
            self.acceptor.state = Closed(reason)

    # ---- the connection sequence ----------------------------------------------------------

    def reached_security_upgrade(self) -> SecurityProtocol | None:
        st = self.acceptor.state
        return st.protocol if isinstance(st, SecurityUpgrade) else None

    def security_upgrade_done(self, public_key: bytes | None = None) -> None:
        """The driver has completed the TLS handshake; continue with NLA when it was selected
        (``public_key``: the SubjectPublicKey of the server's certificate), else with MCS."""
        self.acceptor.security_upgrade_done()
        if isinstance(self.acceptor.state, Credssp):
            if public_key is None:
                raise LocalProtocolError("NLA selected but no server public key given")
            self.credssp = CredsspServer(public_key, log_context=self._log)
            return
        self._pump()

    def accept_credentials(self, *, width: int | None = None, height: int | None = None) -> None:
        """Credentials are good: send the licence and the Demand Active for this desktop size."""
        self.acceptor.accept_credentials(width=width, height=height)
        self._pump()

    def reject_credentials(self, error_info: int = ErrorInfo.SERVER_DENIED_CONNECTION) -> None:
        """Credentials are bad: licence (so clients read what follows), error info, ultimatum."""
        self.acceptor.reject_credentials(error_info)

    def disconnect(self, error_info: int | None = None) -> bytes:
        """Bytes that end the connection politely: Set Error Info (when useful) and the MCS
        Disconnect Provider Ultimatum (once MCS is up); the connection is ``Closed`` afterwards."""
        client = self.acceptor.client
        out = wire.parting(client.core.early_capability_flags or 0, error_info) if client is not None else b""
        if not self.closed:
            self._close("disconnected by server")
        return out

    # ---- what the connection settled -------------------------------------------------------

    @property
    def width(self) -> int:
        return self.session.width if self.session is not None else self.acceptor.width

    @property
    def height(self) -> int:
        return self.session.height if self.session is not None else self.acceptor.height

    @property
    def bpp(self) -> int:
        return self.session.bpp if self.session is not None else 32

    @property
    def fastpath_output(self) -> bool:
        return self.session is not None and self.session.fastpath_output

    @property
    def scrblt(self) -> bool:
        """The active client draws ScrBlt orders (its order capability set says so)."""
        return self.session is not None and self.session.scrblt

    @property
    def max_request_size(self) -> int:
        return self.session.max_request_size if self.session is not None else MAX_FRAGMENT

    # ---- output of the active session -------------------------------------------------------

    def _session(self, what: str) -> ActiveSession:
        if self.session is None:
            raise LocalProtocolError(f"{what}() before the connection is active ({type(self.state).__name__})")
        return self.session

    def bitmap_update(self, rectangles: Iterable[BitmapData | bytes]) -> bytes:
        return self._session("bitmap_update").bitmap_update(rectangles)

    def scrblt_update(self, orders: Sequence[ScrBlt]) -> bytes:
        return self._session("scrblt_update").scrblt_update(orders)

    def pointer_position(self, x: int, y: int) -> bytes:
        return self._session("pointer_position").pointer_position(x, y)

    def pointer_hidden(self) -> bytes:
        return self._session("pointer_hidden").pointer_system(SystemPointer.SYSPTR_NULL)

    def pointer_default(self) -> bytes:
        return self._session("pointer_default").pointer_system(SystemPointer.SYSPTR_DEFAULT)

    def pointer_image(self, pointer: ColorPointer | LargePointer) -> bytes:
        return self._session("pointer_image").pointer_image(pointer)

    def pointer_cached(self, cache_index: int) -> bytes:
        return self._session("pointer_cached").pointer_cached(cache_index)

    def shutdown_denied(self) -> bytes:
        return self._session("shutdown_denied").shutdown_denied()

    def resize(self, width: int, height: int) -> bytes:
        return self._session("resize").resize(width, height)

    # ---- channels ----------------------------------------------------------------------------

    def channel(self, name: str) -> object | None:
        """The plug-in serving channel ``name`` for this client, if any."""
        return self.session.channel(name) if self.session is not None else None

    def _clipboard(self) -> ClipboardChannel:
        channel = self._session("clipboard").channel(CLIPRDR)
        if not isinstance(channel, ClipboardChannel):
            raise LocalProtocolError("the client did not open the cliprdr channel")
        return channel

    @property
    def clipboard_available(self) -> bool:
        channel = self.channel(CLIPRDR)
        return isinstance(channel, ClipboardChannel) and channel.available

    def clipboard_set_text(self, text: str | None) -> bytes:
        return self._clipboard().set_text(text)

    def clipboard_request_text(self) -> bytes:
        return self._clipboard().request_text()

    def dynamic_channel_open(self, channel_id: int) -> bool:
        drdynvc = self.channel(DynamicChannels.name)
        return isinstance(drdynvc, DynamicChannels) and drdynvc.is_open(channel_id)

    @property
    def display_control_open(self) -> bool:
        return self.dynamic_channel_open(DISP_CHANNEL_ID)

    def _graphics(self) -> GraphicsChannel | None:
        channel = self.channel(GRAPHICS)
        return channel if isinstance(channel, GraphicsChannel) else None

    @property
    def gfx_ready(self) -> bool:
        graphics = self._graphics()
        return graphics is not None and graphics.ready

    @property
    def gfx_surface(self) -> int | None:
        graphics = self._graphics()
        return graphics.surface_id if graphics is not None else None

    def gfx_reset(self, width: int, height: int, monitors: Sequence[tuple[int, int, int, int, int]] = ()) -> bytes:
        graphics = self._graphics()
        if graphics is None:
            raise LocalProtocolError("gfx_reset() before the graphics pipeline is ready")
        return graphics.reset(width, height, monitors)

    @property
    def gfx_per_monitor(self) -> bool:
        """Whether the graphics pipeline has a surface per monitor: ``gfx_frame`` then needs
        the areas its commands change."""
        graphics = self._graphics()
        return graphics is not None and bool(graphics.monitor_surfaces)

    def gfx_frame(self, commands: list[bytes],
                  changed: Sequence[tuple[int, int, int, int]] = ()) -> tuple[int, bytes]:
        graphics = self._graphics()
        if graphics is None:
            raise LocalProtocolError("gfx_frame() before gfx_reset()")
        return graphics.frame(commands, changed)
