"""The asyncio driver of the RDP server (aioquic ``asyncio/protocol.py`` style): it moves bytes
and wires the sans-IO connection to the session host.

read -> ``ServerConnection.receive_data`` -> handle events -> write ``data_to_send``. The
protocol lives in ``connection.py`` (acceptor, then active session and its channel plug-ins);
the login form in ``login.py``, keyboard layouts in ``keyboard.py``, the certificate in
``tls.py``, host frames as graphics commands in ``host_frames.py``.
TLS: after the X.224 exchange the stream is upgraded in place with ``StreamWriter.start_tls``.
Login and sessions are injected: ``authenticate(username, password) -> bool`` and
``attach(username, width, height) -> host socket path`` coroutines (Django wires them).
Output: the session host's ``bitmap`` stream brings the session's pixels encoded once per
session (TS_BITMAP_DATA, or Planar images for the graphics pipeline); this driver frames them
into PDUs and acknowledges each host frame once the client's socket took it, so a slow client
holds the host's window and gets fewer, merged updates (bounded memory, never a queue).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compositor import messages
from compositor.client import HostClient, HostError
from compositor.protocol import LocalProtocolError
from compositor.rects import disjoint
from rdpfront import events as ev
from rdpfront import gfx
from rdpfront.acceptor import AcceptorConfig
from rdpfront.connection import ServerConnection
from rdpfront.errors import RemoteProtocolError
from rdpfront.host_frames import (
    BITMAP_BYTES_PER_SECOND,
    BITMAP_WINDOW,
    GFX_BATCH,
    GFX_H264_OPTIONS,
    GFX_PLANAR_IN_FLIGHT,
    GFX_WINDOW,
    bitmap_hold,
    gfx_commands_for_host_frame,
    h264_key_for,
    host_bitmap_data,
    scrblt_orders,
    size_only_screen,
)
from rdpfront.keyboard import KeyInput, keymap_for_windows_layout, setxkbmap_argv
from rdpfront.login import LOGIN_TIMEOUT, LoginForm
from rdpfront.pointer import pointer_from_rgba
from rdpfront.rdp.pdus import ErrorInfo
from rdpfront.session import SessionConfig
from rdpfront.tls import ensure_certificate, server_ssl_context

log = logging.getLogger(__name__)

Authenticate = Callable[[str, str], Awaitable[bool]]
Attach = Callable[[str, int, int], Awaitable[str | Path]]

READ_SIZE = 1 << 16
# Above this many bytes waiting in the socket's buffer, stop encoding and let damage merge.
WRITE_HIGH_WATER = 1 << 20
MAX_DIRTY_RECTS = 64
HANDSHAKE_TIMEOUT = 30.0
OUTPUT_START_DELAY = 1.0
# A client that reads nothing for this long is gone: close it rather than hold its buffers.
WRITE_STALL_TIMEOUT = 60.0
# Pointer positions this connection injected lately: the host's 30 Hz pointer poll can report
# any of them (it lags the client's moves), and echoing one would drag the user's pointer back.
INJECTED_POSITIONS_KEPT = 64


# ---- one connection ----------------------------------------------------------------------

@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 3389
    cert_dir: Path = Path("var/rdp")
    max_width: int = 1920
    max_height: int = 1200
    compress: bool = True
    fastpath_output: bool = True
    # The graphics pipeline (MS-RDPEGFX) for clients that announce it, with H.264 (AVC420, the
    # session host's stream encoded once per session) where the client allows it.
    gfx: bool = True
    gfx_h264: bool = True
    # With H.264, send areas that stopped changing again losslessly (Planar) so text is exact.
    gfx_lossless: bool = True
    # RDP 8.0 bulk compression (rdpfront/zgfx.py) of graphics pipeline messages up to 8 KB:
    # frame headers and glyph images repeat from keystroke to keystroke.
    gfx_compression: bool = True
    # A client that sends no password gets the server's own login form (rdpfront/login.py).
    login_screen: bool = True
    login_timeout: float = LOGIN_TIMEOUT
    # Give the session the client's keyboard layout (setxkbmap inside the session), so scan
    # codes mean what the keys say on the user's keyboard.
    apply_keyboard_layout: bool = True
    # Seconds allowed for the connection sequence and the TLS handshake.
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    # A client whose socket accepts nothing for this long is dropped (its buffers freed).
    write_timeout: float = WRITE_STALL_TIMEOUT
    # Huge-area bitmap changes (video) go at most at this many bytes a second per client.
    bitmap_bytes_per_second: float = BITMAP_BYTES_PER_SECOND


class RdpConnection:
    """One client: the sans-IO connection, its socket, and its session host subscription."""

    def __init__(self, server: RdpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self._tcp_transport = writer.transport  # under the TLS transport once upgraded
        peer = writer.get_extra_info("peername")
        self.name = f"rdp[{peer[0]}:{peer[1]}]" if peer else "rdp[?]"
        settings = server.settings
        self.conn = ServerConnection(
            AcceptorConfig(max_width=settings.max_width, max_height=settings.max_height,
                           fastpath_output=settings.fastpath_output),
            SessionConfig(disabled_channels=frozenset() if settings.gfx else frozenset({gfx.CHANNEL_NAME}),
                          gfx_compression=settings.gfx_compression),
            log_context=self.name)
        self.host: HostClient | None = None
        self.stream: int | None = None  # the host's bitmap stream, while it draws
        self._stream_options: dict[str, object] = {}
        self._host_frames: deque[messages.Frame] = deque()  # bitmap frames not yet written
        self.username = ""
        self.screen: np.ndarray | None = None
        self.dirty: list[tuple[int, int, int, int]] = []
        self.dirty_event = asyncio.Event()
        self.output_allowed = True
        self.accepted_at = time.monotonic()
        # milestones of the connection sequence (monotonic seconds), for logs and bench/
        self.milestones: dict[str, float] = {}
        self.first_frame_at: float | None = None
        self.keys = KeyInput(self.name)
        self.closing = False
        self._tasks: list[asyncio.Task] = []
        self._cursor: messages.Cursor | None = None
        self._cursor_pending = False
        self._pointer_pending: tuple[int, int] | None = None
        self._injected_positions: deque[tuple[int, int]] = deque(maxlen=INJECTED_POSITIONS_KEPT)
        self.output_ready = False
        self._pending_layout: tuple[int, int] | None = None
        self.login: LoginForm | None = None  # the login form, while it is shown
        self._login_timer: asyncio.TimerHandle | None = None
        self._keyboard_layout = 0
        self._deferred_gfx: ev.GfxReady | None = None
        self.activations = 0  # the first one and every reactivation
        self.gfx_resets = 0  # new surfaces: the first, and every resize while the pipeline is up
        # graphics pipeline: None (bitmap updates), "avc420" or "planar"
        self.gfx_mode: str | None = None
        self.gfx_stream: int | None = None
        self._gfx_queue: asyncio.Queue[messages.Frame] = asyncio.Queue()
        self._gfx_unacked: dict[int, int | None] = {}  # gfx frame id -> host seq to ack then
        self._gfx_acks_suspended = False
        self._gfx_need_key = False
        self.gfx_frames_sent = 0
        self.gfx_frames_acked = 0
        self.bitmap_updates_sent = 0  # output loop rounds that wrote bitmap updates
        self.scrblt_orders_sent = 0  # screen-to-screen copies sent as ScrBlt orders
        self.bitmap_hold_seconds = 0.0  # acknowledgements of huge bitmap frames held (rate cap)
        self.gfx_commands: Counter[str] = Counter()  # commands sent, by source codec
        # counters for logs, tests and bench/
        self.bytes_written = 0
        self.pointer_positions_sent = 0

    # I/O -------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        # What the connection queued (its answers to the client's PDUs) was made before
        # ``data``, so it leaves first: the client must read the graphics channel's messages
        # in the order they were compressed (they share one bulk compression history).
        data = self.conn.data_to_send() + data
        if data and not self.writer.is_closing():
            self.writer.write(data)
            self.bytes_written += len(data)

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the socket: the TLS layer's and the TCP transport's."""
        size = self._tcp_transport.get_write_buffer_size()
        # A closed TLS transport has dropped its protocol (asking it raises AttributeError).
        if self.writer.transport is not self._tcp_transport and not self.writer.is_closing():
            size += self.writer.transport.get_write_buffer_size()
        return size

    def _congested(self) -> bool:
        return self.write_buffer_size() > WRITE_HIGH_WATER

    def flush(self) -> None:
        self.write(b"")

    async def run(self) -> None:
        try:
            await self._read_loop()
        except RemoteProtocolError as exc:
            log.warning("%s closing: peer protocol error: %s", self.name, exc)
            self.write(self.conn.disconnect(exc.error_info))
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.info("%s connection lost in state %s: %r", self.name, type(self.conn.state).__name__, exc)
        except HostError as exc:
            log.warning("%s session host failed: %s", self.name, exc)
            self.write(self.conn.disconnect(ErrorInfo.SERVER_DENIED_CONNECTION))
        finally:
            await self.close()

    async def _read_loop(self) -> None:
        handshake_timeout = self.server.settings.handshake_timeout
        while not self.conn.closed:
            timeout = None if self.conn.active else handshake_timeout
            try:
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
            except TimeoutError:
                raise RemoteProtocolError(f"connection sequence stalled for {handshake_timeout:g} s") from None
            if not data:
                partial = self.conn.buffered_input
                if partial:
                    log.warning("%s closing: peer closed the connection in the middle of a frame "
                                "(%d bytes of it received)", self.name, partial)
                else:
                    log.info("%s peer closed the connection", self.name)
                return
            self.conn.receive_data(data)
            await self._handle_events()
            self.flush()
            await self._drain()

    async def _drain(self) -> None:
        timeout = self.server.settings.write_timeout
        try:
            await asyncio.wait_for(self.writer.drain(), timeout)
        except TimeoutError:
            log.warning("%s closing: client read nothing for %g s (%d bytes waiting)", self.name, timeout,
                        self.write_buffer_size())
            self.writer.transport.abort()
            raise ConnectionResetError("client stalled") from None

    async def _handle_events(self) -> None:
        while True:
            events = self.conn.events()
            if not events:
                return
            for event in events:
                await self._on_event(event)
            self.flush()

    def _start_output(self) -> None:
        if not self.output_ready and self.conn.active and not self.closing:
            self.output_ready = True
            self._cursor_pending = self._cursor is not None
            self._send_pointer_state()
            self.dirty_event.set()

    async def _on_event(self, event: ev.Event) -> None:
        log.debug("%s event %s", self.name, event)
        if not isinstance(event, ev.Activated) and self.conn.active and not self.output_ready:
            self._start_output()
        if isinstance(event, ev.SecurityUpgradeRequired):
            # Stop reading before the Connection Confirm leaves: the client's TLS ClientHello
            # follows it at once, and if the plain-text reader took it in while we wait to
            # drain, the TLS layer would never see it and the handshake would hang.
            self.writer.transport.pause_reading()
            self.flush()
            await self._drain()
            await self.writer.start_tls(self.server.ssl_context,
                                        ssl_handshake_timeout=self.server.settings.handshake_timeout)
            self.milestones["tls"] = time.monotonic()
            self.conn.security_upgrade_done()
        elif isinstance(event, ev.NegotiationRefused):
            log.info("%s negotiation refused: %s", self.name, event.reason)
        elif isinstance(event, ev.Credentials):
            self.milestones["credentials"] = time.monotonic()
            await self._login(event)
            self.milestones["login"] = time.monotonic()
        elif isinstance(event, ev.Activated):
            self.milestones.setdefault("active", time.monotonic())
            self.activations += 1
            if event.reactivation:
                log.info("%s reactivated size=%dx%d bpp=%d", self.name, event.width, event.height, event.bpp)
            else:
                log.info("%s active user=%s size=%dx%d bpp=%d fastpath=%s handshake=%.0f ms", self.name,
                         self.username, event.width, event.height, event.bpp, event.fastpath_output,
                         (time.monotonic() - self.accepted_at) * 1000)
            # FreeRDP fails on any update that reaches it before its post-connect (the
            # pointer and bitmap callbacks are not set yet), and it processes every PDU
            # already received when the Font Map arrives: wait for the client's first input
            # (it sends a synchronize event once its window is up), or at most a moment.
            self.output_ready = False
            self.mark_dirty((0, 0, event.width, event.height))
            asyncio.get_running_loop().call_later(OUTPUT_START_DELAY, self._start_output)
            if not self._tasks:
                self._tasks.append(asyncio.create_task(self._output_loop()))
            session = self._session_size()
            if session is not None and session != (event.width, event.height):
                self._give_size(*session)  # the session was resized again while it reactivated
            elif self.gfx_mode is not None and event.reactivation and self.conn.gfx_ready:
                self._gfx_reset()
            if self._pending_layout is not None:
                await self._resize_session(*self._pending_layout)
        elif isinstance(event, ev.KeyboardEvent):
            if self.login is not None:
                self._login_key(event)
            else:
                self._on_key(event)
        elif isinstance(event, ev.UnicodeEvent):
            self._on_unicode(event)
        elif isinstance(event, ev.MouseEvent):
            self._injected_positions.append((event.x, event.y))
            self._input(messages.MoveEvent(x=event.x, y=event.y))
            if event.button is not None:
                self._input(messages.ButtonEvent(button=event.button, down=event.down))
        elif isinstance(event, ev.WheelEvent):
            self._input(messages.WheelEvent(dx=event.dx, dy=event.dy))
        elif isinstance(event, ev.SyncEvent):
            self._input(messages.LocksEvent(caps=event.caps_lock, num=event.num_lock, scroll=event.scroll_lock))
        elif isinstance(event, ev.RefreshRect):
            for a in event.areas:
                self.mark_dirty((a.left, a.top, a.right - a.left + 1, a.bottom - a.top + 1))
            self._gfx_keyframe()
        elif isinstance(event, ev.SuppressOutput):
            self.output_allowed = event.allow
            log.info("%s output %s", self.name, "resumed" if event.allow else "suppressed")
            if event.allow and self.screen is not None:
                self.mark_dirty((0, 0, self.screen.shape[1], self.screen.shape[0]))
            if event.allow:
                self._gfx_keyframe()
        elif isinstance(event, ev.ClipboardOffer):
            if event.has_text:
                self.write(self.conn.clipboard_request_text())
        elif isinstance(event, ev.ClipboardText):
            if event.text is not None and self.host is not None:
                try:
                    self.host.send(messages.ClipboardSet(text=event.text))
                except LocalProtocolError as exc:
                    log.warning("%s clipboard text not passed to the session: %s", self.name, exc)
        elif isinstance(event, ev.DisplayLayout):
            await self._resize_session(event.width, event.height)
        elif isinstance(event, ev.GfxReady):
            await self._start_gfx(event)
        elif isinstance(event, ev.GfxFrameAcknowledged):
            self._on_gfx_ack(event)
        elif isinstance(event, ev.Shutdown):
            # The desktop outlives the connection: deny, and the client disconnects (mstsc
            # closing its window), leaving the session running for a reconnect.
            self.write(self.conn.shutdown_denied())
        elif isinstance(event, ev.Disconnected):
            log.info("%s %s", self.name, event.reason)

    async def _resize_session(self, width: int, height: int) -> None:
        """The client's window changed size (Display Control): resize the session to it. The
        host's ``resized`` push gives every client of the session the new size (``_give_size``);
        when the size stays (already that size, or held to the session's maximum) this client is
        given it anyway, so a client waiting for an answer before asking again is not stuck."""
        if self.host is None:
            return
        if not self.conn.active:
            self._pending_layout = (width, height)  # asked mid-reactivation: after it
            return
        self._pending_layout = None
        before = (self.conn.width, self.conn.height)
        try:
            reply = await self.host.call(messages.Resize(width=width, height=height))
            after = (reply.width, reply.height)
        except HostError as exc:
            log.warning("%s resize to %dx%d failed: %s", self.name, width, height, exc)
            after = before
        log.info("%s client asked for %dx%d, session is %dx%d", self.name, width, height, *after)
        if after == before and self.conn.active and not self.closing:  # no `resized` push comes
            self._give_size(*before)

    async def _authenticate(self, username: str, password: str) -> bool:
        try:
            return bool(username) and await self.server.authenticate(username, password)
        except Exception:
            log.exception("%s authenticate() failed", self.name)
            return False

    def _client_size(self, event: ev.Credentials) -> tuple[int, int]:
        return (max(200, min(event.desktop_width, self.server.settings.max_width)),
                max(200, min(event.desktop_height, self.server.settings.max_height)))

    async def _login(self, event: ev.Credentials) -> None:
        self.username = event.username
        self._keyboard_layout = event.client.keyboard_layout
        if not event.password and self.server.settings.login_screen:
            self._show_login_form(event)
            return
        if not await self._authenticate(event.username, event.password):
            log.warning("%s login rejected user=%r", self.name, event.username)
            self.conn.reject_credentials(ErrorInfo.SERVER_DENIED_CONNECTION)
            return
        width, height = self._client_size(event)
        try:
            path = await self.server.attach(event.username, width, height)
        except Exception as exc:  # no desktop for this user now (limit reached, start failed)
            log.warning("%s no desktop for user=%r: %s", self.name, event.username, exc)
            self.conn.reject_credentials(ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES)
            return
        width, height = await self._connect_host(path)
        if self.server.settings.apply_keyboard_layout:
            await self._apply_keyboard_layout(self._keyboard_layout)
        self.conn.accept_credentials(width=width, height=height)

    async def _connect_host(self, path: Path) -> tuple[int, int]:
        """Attach to the user's session host and subscribe to its bitmap stream; its size."""
        self.host = await HostClient(on_event=self._on_host_push).connect(path)

        def subscribed(reply: messages.SubscribeReply) -> None:  # before the first frame is pushed
            self.stream = reply.stream
            self.screen = size_only_screen(reply.width, reply.height)

        options = self._bitmap_options()
        reply = await self.host.call(messages.Subscribe(format="bitmap", options=options, window=BITMAP_WINDOW),
                                     on_reply=subscribed)
        self._stream_options = options
        width, height = reply.width, reply.height
        log.info("%s login ok user=%s host=%s size=%dx%d", self.name, self.username, path, width, height)
        return width, height

    # the login form -------------------------------------------------------------------------

    def _show_login_form(self, event: ev.Credentials) -> None:
        """No password came with the connection: activate at the client's size and draw the
        login form; the session is attached once the user logged in there."""
        width, height = self._client_size(event)
        keymap = keymap_for_windows_layout(event.client.keyboard_layout)
        self.login = LoginForm(width, height, username=event.username, keymap=keymap)
        self.screen = self.login.render()
        self._login_timer = asyncio.get_running_loop().call_later(
            self.server.settings.login_timeout, self._login_timed_out)
        log.info("%s no password: showing the login form (user=%r)", self.name, event.username)
        self.conn.accept_credentials(width=width, height=height)

    def _redraw_login(self) -> None:
        if self.login is not None:
            self.screen = self.login.render()
            self.mark_dirty((0, 0, self.login.width, self.login.height))

    def _login_key(self, event: ev.KeyboardEvent) -> None:
        assert self.login is not None
        if self.login.key_event(event):
            self._tasks.append(asyncio.create_task(self._login_submit()))
        if event.down:
            self._redraw_login()

    def _login_timed_out(self) -> None:
        if self.login is not None and not self.closing:
            log.info("%s login form timed out", self.name)
            self.write(self.conn.disconnect(ErrorInfo.SERVER_DENIED_CONNECTION))
            self.writer.close()

    async def _login_submit(self) -> None:
        form = self.login
        assert form is not None
        self._redraw_login()
        if not await self._authenticate(form.username, form.password):
            log.warning("%s login form: rejected user=%r (%d)", self.name, form.username, form.failures + 1)
            if form.rejected():
                self.write(self.conn.disconnect(ErrorInfo.SERVER_DENIED_CONNECTION))
                self.writer.close()
                return
            self._redraw_login()
            return
        self.username = form.username
        try:
            path = await self.server.attach(form.username, form.width, form.height)
        except Exception as exc:
            log.warning("%s no desktop for user=%r: %s", self.name, form.username, exc)
            form.no_desktop()
            self._redraw_login()
            return
        if self._login_timer is not None:
            self._login_timer.cancel()
        form.close()
        self.login = None
        width, height = await self._connect_host(path)
        if self.server.settings.apply_keyboard_layout:
            await self._apply_keyboard_layout(self._keyboard_layout)
        if (width, height) != (self.conn.width, self.conn.height) and self.conn.active:
            self._give_size(width, height)  # the desktop already has its own size
        else:
            self.mark_dirty((0, 0, width, height))
        if self._deferred_gfx is not None:
            await self._start_gfx(self._deferred_gfx)

    async def _apply_keyboard_layout(self, klid: int) -> None:
        argv = setxkbmap_argv(klid)
        if argv is None or self.host is None:
            log.info("%s keyboard layout 0x%x unknown; the session keeps its own", self.name, klid)
            return
        try:
            await self.host.call(messages.Exec(argv=tuple(argv)))
            log.info("%s keyboard layout 0x%x -> %s", self.name, klid, " ".join(argv[1:]))
        except HostError as exc:
            log.warning("%s setxkbmap failed: %s", self.name, exc)

    # input --------------------------------------------------------------------------------

    def _input(self, event: messages.InputEvent) -> None:
        if self.host is not None and not self.host.closed.is_set():
            try:
                self.host.send(messages.Input(events=(event,)))
            except HostError:
                pass

    def _on_unicode(self, event: ev.UnicodeEvent) -> None:
        char = self.keys.character(event)
        if char is None:
            return
        if self.login is not None:
            self.login.type(char)
            self._redraw_login()
            return
        self._input(messages.TextEvent(text=char))

    def _on_key(self, event: ev.KeyboardEvent) -> None:
        key = self.keys.key(event)
        if key is not None:
            self._input(key)

    # output -------------------------------------------------------------------------------

    def _on_host_push(self, push: messages.Push) -> None:
        if not isinstance(push, messages.Frame):
            log.debug("%s host pushed %s", self.name, push)
        if isinstance(push, messages.Frame):
            if push.stream == self.stream:
                self._apply_frame(push)
            elif self.gfx_stream is not None and push.stream == self.gfx_stream:
                self._gfx_queue.put_nowait(push)
        elif isinstance(push, messages.Cursor):
            self._cursor = push
            self._cursor_pending = True
            self._send_pointer_state()
        elif isinstance(push, messages.Pointer):
            self._on_host_pointer(push.x, push.y)
        elif isinstance(push, messages.Resized):
            self.screen = size_only_screen(push.width, push.height)
            self.dirty.clear()
            if self.conn.active:
                self._give_size(push.width, push.height)
        elif isinstance(push, messages.ClipboardChanged):
            if push.selection == messages.Selection.CLIPBOARD and self.conn.active and self.conn.clipboard_available:
                self.write(self.conn.clipboard_set_text(push.text))
        elif isinstance(push, messages.Bye):
            log.info("%s session ended: %s", self.name, push.reason)
            self.write(self.conn.disconnect(ErrorInfo.RPC_INITIATED_LOGOFF))
            self.writer.close()

    def _apply_frame(self, frame: messages.Frame) -> None:
        """A frame of the bitmap stream waits for the output loop, which acknowledges it once
        the client's socket took it."""
        self._host_frames.append(frame)
        self.dirty_event.set()

    def _ack_host_frames(self, frames: list[messages.Frame]) -> None:
        """Acknowledge host frames of the current stream (the last covers the ones before it)."""
        frames = [f for f in frames if f.stream == self.stream]
        if frames and self.host is not None and not self.host.closed.is_set():
            self.host.send(messages.Ack(stream=frames[-1].stream, seq=frames[-1].seq))

    def _bitmap_options(self) -> dict[str, object]:
        """The bitmap stream this client draws: Planar images for the graphics pipeline, or
        TS_BITMAP_DATA at its colour depth, each fitting one of its bitmap updates."""
        if self.gfx_mode == "planar":  # scrolling as SurfaceToSurface
            return {"layout": "gfx", "codec": "planar", "copy": True}
        limit = self.conn.max_request_size if self.conn.fastpath_output else 0x3FFF - 64
        options: dict[str, object] = {"bpp": self.conn.bpp, "max_update_size": limit,
                                      "codec": "auto" if self.server.settings.compress else "raw"}
        if self.conn.scrblt:  # scrolling as ScrBlt orders
            options["copy"] = True
        return options

    async def _resubscribe(self) -> bool:
        """Capabilities confirmed or the graphics pipeline chosen: subscribe to the stream this
        client needs if it is another one. True if it did."""
        options = self._bitmap_options()
        if self.host is None or self.stream is None or options == self._stream_options:
            return False
        self.host.send(messages.Unsubscribe(stream=self.stream))
        self.stream = None
        self._host_frames.clear()
        self._stream_options = options
        await self.host.call(messages.Subscribe(format="bitmap", options=options, window=BITMAP_WINDOW),
                             on_reply=lambda reply: setattr(self, "stream", reply.stream))
        return True

    def mark_dirty(self, rect: tuple[int, int, int, int]) -> None:
        self.dirty.append(rect)
        if len(self.dirty) > MAX_DIRTY_RECTS:
            xs = [r[0] for r in self.dirty]
            ys = [r[1] for r in self.dirty]
            x2 = max(r[0] + r[2] for r in self.dirty)
            y2 = max(r[1] + r[3] for r in self.dirty)
            self.dirty = [(min(xs), min(ys), x2 - min(xs), y2 - min(ys))]
        self.dirty_event.set()

    def _on_host_pointer(self, x: int, y: int) -> None:
        """The session's pointer moved. Tell the client only when something other than this
        client's own input moved it (a program warping it, another viewer): the host's poll
        lags the client's moves, so any position this connection injected lately is its own.
        Nothing is sent before the client's first move: where the session's pointer happens to
        be when a client connects is no reason to pull the user's pointer there."""
        if not self._injected_positions or (x, y) in self._injected_positions:
            return
        self._pointer_pending = (x, y)
        self._send_pointer_state()

    def _send_pointer_state(self) -> None:
        """Cursor image and position changes, unless the socket is backed up: then they wait
        (the latest of each) for the output loop, which sends them once the client reads."""
        if self.writer.is_closing():
            return
        if not (self.conn.active and self.output_ready) or self._congested():
            if self._cursor_pending or self._pointer_pending:
                self.dirty_event.set()
            return
        if self._cursor_pending:
            self._send_cursor()
        if self._pointer_pending is not None:
            x, y = self._pointer_pending
            self._pointer_pending = None
            h, w = (self.screen.shape[:2] if self.screen is not None else (self.conn.height, self.conn.width))
            if 0 <= x < w and 0 <= y < h:
                log.debug("%s pointer moved in the session to %d,%d", self.name, x, y)
                self.write(self.conn.pointer_position(x, y))
                self.pointer_positions_sent += 1

    def _send_cursor(self) -> None:
        self._cursor_pending = False
        if self._cursor is None or not self.conn.active:
            return
        cursor = self._cursor
        try:
            if cursor.width == 0 or cursor.height == 0:
                self.write(self.conn.pointer_hidden())
                return
            pointer = pointer_from_rgba(cursor.width, cursor.height, cursor.xhot, cursor.yhot, cursor.rgba)
            self.write(self.conn.pointer_image(pointer))
        except Exception:
            log.exception("%s cursor update failed", self.name)

    async def _output_loop(self) -> None:
        while not self.closing:
            await self.dirty_event.wait()
            self.dirty_event.clear()
            if not self.conn.active or not self.output_ready:
                continue
            if self._congested():
                try:
                    await self._drain()
                except ConnectionError:
                    return
            self._send_pointer_state()
            try:
                if self.stream is not None:
                    await self._write_host_frames()
                elif self.login is not None:
                    await self._write_login_form()
                else:
                    self.dirty.clear()  # H.264 through the graphics pipeline draws
            except ConnectionError:
                return

    async def _write_host_frames(self) -> None:
        """Frame the host's encoded bitmaps into PDUs, acknowledging each host frame once the
        socket took it. Damage noted here (activation, a refresh request, output resumed)
        asks the host for a full frame instead."""
        if self.dirty:
            self.dirty.clear()
            if not await self._resubscribe():  # a new stream starts with a full frame anyway
                self._ack_host_frames(list(self._host_frames))  # superseded by the full frame
                self._host_frames.clear()
                if self.host is not None and self.stream is not None:
                    self.host.send(messages.Keyframe(stream=self.stream))
        if not self.output_allowed:  # minimised: drop, a full frame follows when it is back
            self._ack_host_frames(list(self._host_frames))
            self._host_frames.clear()
            return
        while self._host_frames and not self.closing:
            if self.gfx_mode == "planar" and len(self._gfx_unacked) >= GFX_PLANAR_IN_FLIGHT:
                return  # the client's frame acknowledgement wakes this loop again
            frame = self._host_frames.popleft()
            if frame.stream != self.stream or not self.conn.active:
                continue
            started = time.monotonic()
            if frame.codec == "planar" or (frame.codec == "copy" and self.gfx_mode == "planar"):
                if self.gfx_mode != "planar" or not self.conn.gfx_ready or self.conn.gfx_surface is None:
                    self._ack_host_frames([frame])
                    continue
                commands = gfx_commands_for_host_frame(frame, self.conn.gfx_surface, self.conn.width, self.conn.height)
                frame_id, data = self.conn.gfx_frame(commands)
                self.gfx_commands[str(frame.codec)] += len(commands)
                self._gfx_unacked[frame_id] = None
                self.write(data)
                self.gfx_frames_sent += 1
            elif frame.codec == "bitmap" and self.gfx_mode is None:
                self.write(self.conn.bitmap_update(host_bitmap_data(frame, self.conn.width, self.conn.height)))
                self.bitmap_updates_sent += 1
            elif frame.codec == "copy" and self.gfx_mode is None and self.conn.scrblt:
                orders = scrblt_orders(frame, self.conn.width, self.conn.height)
                self.write(self.conn.scrblt_update(orders))
                self.scrblt_orders_sent += len(orders)
            else:  # a frame of the stream this client no longer draws from
                self._ack_host_frames([frame])
                continue
            self._first_frame_sent()
            await self._drain()
            hold = bitmap_hold(len(frame.payload), time.monotonic() - started,
                               self.server.settings.bitmap_bytes_per_second)
            if hold:  # a huge change: the host merges what comes meanwhile into the next frame
                self.bitmap_hold_seconds += hold
                await asyncio.sleep(hold)
            self._ack_host_frames([frame])

    async def _write_login_form(self) -> None:
        """The login form's pixels are this server's own: encoded here."""
        from rdpfront.codecs import build_bitmap_data

        if not self.output_allowed or self.screen is None or not self.dirty:
            return
        rects, self.dirty = self.dirty, []
        screen = self.screen
        h, w = screen.shape[:2]
        clipped = []
        for x, y, rw, rh in disjoint(rects):
            x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + rw), min(h, y + rh)
            if x1 > x0 and y1 > y0:
                clipped.append((x0, y0, x1 - x0, y1 - y0))
        if not clipped or self.gfx_mode is not None:
            return
        limit = self.conn.max_request_size if self.conn.fastpath_output else 0x3FFF - 64
        bitmaps = await asyncio.to_thread(build_bitmap_data, screen, clipped, bpp=self.conn.bpp,
                                          max_update_size=limit, compress=self.server.settings.compress)
        if self.conn.closed or not self.conn.active:
            return
        self.write(self.conn.bitmap_update(bitmaps))
        self.bitmap_updates_sent += 1
        self._first_frame_sent()
        await self._drain()

    def _first_frame_sent(self) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = self.milestones["first_frame"] = time.monotonic()
            log.info("%s first frame sent %.0f ms after accept", self.name,
                     (self.first_frame_at - self.accepted_at) * 1000)

    # graphics pipeline ----------------------------------------------------------------------

    async def _start_gfx(self, event: ev.GfxReady) -> None:
        """Switch output to the graphics pipeline: H.264 from the session host (one encode per
        session, whoever watches) when the client takes AVC420, otherwise Planar images from the
        host's bitmap stream (resubscribed with the graphics pipeline's layout). The session
        host's touch-ups (settled areas, sent again losslessly) come already encoded as Planar."""
        if self.gfx_mode is not None:
            return
        if self.host is None:  # the login form is up: after the login
            self._deferred_gfx = event
            return
        self.gfx_mode = "avc420" if event.avc420 and self.server.settings.gfx_h264 else "planar"
        self._gfx_reset()
        if self.gfx_mode == "avc420":
            options = dict(GFX_H264_OPTIONS)
            if not self.server.settings.gfx_lossless:
                options["lossless"] = False  # a stream of its own: without touch-ups
            await self.host.call(messages.Subscribe(format="h264", options=options, window=GFX_WINDOW),
                                 on_reply=lambda reply: setattr(self, "gfx_stream", reply.stream))
            self._tasks.append(asyncio.create_task(self._gfx_loop()))
            if self.stream is not None:
                # The bitmap stream only fed bitmap updates: stop it (the host would go on
                # encoding it for nothing).
                self.host.send(messages.Unsubscribe(stream=self.stream))
                self.stream = None
        log.info("%s drawing through the graphics pipeline (%s)", self.name, self.gfx_mode)

    def _session_size(self) -> tuple[int, int] | None:
        """The attached session's size (its mirror's), None while no session is attached."""
        if self.host is None or self.screen is None:
            return None
        return self.screen.shape[1], self.screen.shape[0]

    def _give_size(self, width: int, height: int) -> None:
        """Tell the active client the desktop is ``width`` x ``height``: through the graphics
        pipeline when it is up (Reset Graphics and a new surface), otherwise by a
        deactivation-reactivation. Also when the size stays, so a client that waits for an
        answer before asking again is not left waiting."""
        if self.gfx_mode is not None and self.conn.gfx_ready:
            self._gfx_reset((width, height))
        else:
            self.write(self.conn.resize(width, height))

    def _gfx_reset(self, size: tuple[int, int] | None = None) -> None:
        """A new surface at ``size`` (default: the current size); the next picture must be
        complete."""
        self.write(self.conn.gfx_reset(*(size or (self.conn.width, self.conn.height))))
        self.gfx_resets += 1
        for seq in self._gfx_unacked.values():
            self._ack_host_gfx(seq)
        self._gfx_unacked.clear()
        if self.gfx_mode == "avc420":
            self._gfx_keyframe()
        elif self.screen is not None:
            self.mark_dirty((0, 0, self.screen.shape[1], self.screen.shape[0]))

    def _gfx_keyframe(self) -> None:
        """Ask the host for a whole picture (the client lost or asked to repaint some)."""
        if self.gfx_mode == "avc420" and self.gfx_stream is not None and self.host is not None:
            self._gfx_need_key = True
            self.host.send(messages.Keyframe(stream=self.gfx_stream))

    def _ack_host_gfx(self, seq: int | None) -> None:
        if seq is not None and self.host is not None and self.gfx_stream is not None and not self.host.closed.is_set():
            self.host.send(messages.Ack(stream=self.gfx_stream, seq=seq))

    def _on_gfx_ack(self, event: ev.GfxFrameAcknowledged) -> None:
        self._gfx_acks_suspended = event.suspend
        if event.suspend:
            for seq in self._gfx_unacked.values():
                self._ack_host_gfx(seq)
            self._gfx_unacked.clear()
            return
        self.gfx_frames_acked += 1
        # Frames are acknowledged in order; an ack also covers any frame before it.
        for frame_id in [f for f in self._gfx_unacked if f <= event.frame_id]:
            self._ack_host_gfx(self._gfx_unacked.pop(frame_id))
        if self.gfx_mode == "planar" and (self.dirty or self._host_frames):
            self.dirty_event.set()

    async def _gfx_loop(self) -> None:
        """Host H.264 frames (and Planar, copy and touch-up frames) → graphics frames, in order.
        Host frames that are already waiting go into one graphics frame (a scroll's copy and the
        rows it exposed: one frame to draw and acknowledge, not two)."""
        while not self.closing:
            batch = [await self._gfx_queue.get()]
            while not self._gfx_queue.empty() and len(batch) < GFX_BATCH:
                batch.append(self._gfx_queue.get_nowait())
            commands: list[bytes] = []
            last_seq = None
            for frame in batch:
                if (frame_commands := self._gfx_commands_of(frame)) is None:
                    continue
                commands += frame_commands
                last_seq = frame.seq
            if self.conn.closed:
                return
            if not commands:
                continue
            frame_id, data = self.conn.gfx_frame(commands)
            self.write(data)
            self.gfx_frames_sent += 1
            if self._gfx_acks_suspended:
                self._ack_host_gfx(last_seq)
            else:
                self._gfx_unacked[frame_id] = last_seq
            if self.first_frame_at is None:
                self.first_frame_at = self.milestones["first_frame"] = time.monotonic()
            try:
                await self._drain()
            except ConnectionError:
                return

    def _gfx_commands_of(self, frame: messages.Frame) -> list[bytes] | None:
        """The graphics commands of one host frame, or None when it is not drawn (then it is
        acknowledged to the host at once)."""
        seq = frame.seq
        if not self.conn.active or not self.conn.gfx_ready or self.conn.gfx_surface is None:
            self._ack_host_gfx(seq)  # dropped: a keyframe follows the reset
            return None
        if not self.output_allowed:  # minimised: nothing drawn until it asks again
            self._ack_host_gfx(seq)
            self._gfx_need_key = True
            return None
        if self._gfx_need_key and not h264_key_for(frame, self.conn.width, self.conn.height):
            # Waiting for a whole picture at the surface's size: what comes before it (the
            # rest of the old stream, touch-ups of the old screen) belongs to the old surface.
            self._ack_host_gfx(seq)
            return None
        try:
            commands = gfx_commands_for_host_frame(frame, self.conn.gfx_surface, self.conn.width, self.conn.height)
        except (ValueError, TypeError) as exc:
            log.warning("%s unusable host frame dropped: %s", self.name, exc)
            commands = []
        if not commands:
            self._ack_host_gfx(seq)
            return None
        if frame.codec == "h264" and frame.key:
            self._gfx_need_key = False
        self.gfx_commands[str(frame.codec)] += len(commands)
        return commands

    async def close(self) -> None:
        self.closing = True
        self.dirty_event.set()
        if self._login_timer is not None:
            self._login_timer.cancel()
        if self.login is not None:
            self.login.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.host is not None:
            streams = [s for s in (self.stream, self.gfx_stream) if s is not None]
            if streams and not self.host.closed.is_set():
                try:
                    self.host.send(messages.Input(events=(messages.ReleaseAllEvent(),)))
                    for stream in streams:
                        self.host.send(messages.Unsubscribe(stream=stream))
                except HostError:
                    pass
            await self.host.close()
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass
        log.info("%s closed in state %s", self.name, type(self.conn.state).__name__)


class RdpServer:
    """Accepts RDP clients; each runs as an ``RdpConnection`` isolated from the others."""

    def __init__(self, settings: ServerSettings, *, authenticate: Authenticate, attach: Attach,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.authenticate = authenticate
        self.attach = attach
        if ssl_context is None:
            ssl_context = server_ssl_context(*ensure_certificate(settings.cert_dir))
        self.ssl_context = ssl_context
        self.connections: set[RdpConnection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._on_client, self.settings.host, self.settings.port,
                                                  limit=READ_SIZE)
        port = self._server.sockets[0].getsockname()[1]
        log.info("rdp server listening on %s:%d", self.settings.host, port)
        return port

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = RdpConnection(self, reader, writer)
        self.connections.add(connection)
        try:
            await connection.run()
        except Exception:
            log.exception("%s crashed", connection.name)
        finally:
            self.connections.discard(connection)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for c in list(self.connections):
            c.writer.close()
