"""The asyncio driver of the RDP server (aioquic ``asyncio/protocol.py`` style): it moves bytes
between the client's socket, the sans-IO layers and the session host.

read -> ``ServerConnection.receive_data`` -> each event to ``Bridge.receive`` -> carry out the
requests it returns (the TLS upgrade, ``authenticate(username, password, address) -> bool``,
``authenticate_nla(proof, address) -> nla.Verdict`` for NLA logins, and
``attach(username, width, height) -> host socket path``, coroutines Django wires, the session
host's calls) -> write what the layers produced. The decisions are the sans-IO layers': the
protocol in ``connection.py``, the rest behind ``bridge.py`` (login, input, clipboard, and
``output.py``: what the client is shown). The driver does the flow control: a host frame is
acknowledged once the client's socket took it, so a slow client holds the host's window and
gets fewer, merged updates (bounded memory, never a queue); a client that reads nothing for
``write_timeout`` is dropped.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path

from compositor import messages
from compositor.client import HostClient, HostError
from compositor.protocol import LocalProtocolError
from rdpfront import events as ev
from rdpfront import metrics
from rdpfront.bridge import (
    Background,
    Bridge,
    ClipboardWork,
    Close,
    DriveWork,
    LoginTimer,
    Request,
    StartOutput,
    StartTls,
    SubscribeAudio,
    SubscribeGfx,
    VerifyNla,
)
from rdpfront.clipboard_transfer import ClipboardTransfers
from rdpfront.drive_relay import DriveRelay
from rdpfront.errors import RemoteProtocolError
from rdpfront.login_flow import Attach, Authenticate, Connect
from rdpfront.nla import NlaProof, Verdict
from rdpfront.output import SessionResize, Source
from rdpfront.policy import AccessRefused, ConnectionPolicy, PolicyLookup
from rdpfront.rdp.pdus import ErrorInfo
from rdpfront.reconnect import IssueCookie, ReconnectHooks, Reconnects, RedeemCookie
from rdpfront.settings import ServerSettings
from rdpfront.tls import certificate_public_key, ensure_certificate, server_ssl_context

log = logging.getLogger(__name__)

# (user name, password, the client's IP address) -> may they log in
AuthenticateUser = Callable[[str, str, str], Awaitable[bool]]
# (an NLA login to check, the client's IP address) -> the verdict (docs/rdp-server.md, NLA)
AuthenticateNla = Callable[[NlaProof, str], Awaitable[Verdict]]
AttachDesktop = Callable[[str, int, int], Awaitable[str | Path]]
# user name -> a stamp of the account as it is now (None: no such active account); the
# connection ends when it differs from the stamp at login
AccountStamp = Callable[[str], Awaitable[str | None]]
# returns when the user's account or policy may have changed
AccountChanges = Callable[[str], Awaitable[None]]
# Connection history: ``opened(username, host socket path, client address)`` once a desktop is
# attached gives a token that ``closed(token)`` is handed when the connection ends.
HistoryOpened = Callable[[str, Path, str], Awaitable[object]]
HistoryClosed = Callable[[object], Awaitable[None]]
ACCOUNT_RECHECK = 5.0  # seconds between those checks when no ``account_changes`` tells when

READ_SIZE = 1 << 16
PRE_LOGIN_READ_SIZE = 1 << 12
# Above this many bytes waiting in the socket's buffer, stop encoding and let damage merge.
WRITE_HIGH_WATER = 1 << 20
LOGIN_FORM_FPS = 30
KEY_EVENTS = (ev.KeyboardEvent, ev.UnicodeEvent)  # what the login form's input budget counts


class RdpConnection:
    """One client: its socket, the sans-IO layers, and its session host client."""

    def __init__(self, server: RdpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self._tcp_transport = writer.transport  # under the TLS transport once upgraded
        peer = writer.get_extra_info("peername")
        self.name = f"rdp[{peer[0]}:{peer[1]}]" if peer else "rdp[?]"
        self.peer_address = peer[0] if peer else ""
        self.bridge = Bridge(server.settings, self.name)
        self.conn = self.bridge.conn
        self.login = self.bridge.login
        self.output = self.bridge.output
        self.host: HostClient | None = None
        self.drives = DriveRelay(self.conn, write=self._write_drive, host_call=self._call_host,
                                 host_send=lambda request: self._send_host([request]), log_context=self.name)
        self.clipboard_transfers = ClipboardTransfers(
            self.conn, write=self._write_drive, host_call=self._call_host,
            max_file_bytes=server.settings.clipboard_max_file_bytes, log_context=self.name)
        self.closing = False
        self._output_wake = asyncio.Event()
        self._gfx_wake = asyncio.Event()
        self._gfx_parked = False  # the graphics loop waits for host frames (nothing being drained)
        self._tasks: list[asyncio.Task] = []
        self._output_task: asyncio.Task | None = None
        self._timers: list[asyncio.TimerHandle] = []
        # for logs, tests and bench/: milestones of the connection (monotonic seconds), bytes
        self.accepted_at = time.monotonic()
        self.milestones: dict[str, float] = {}
        self.first_frame_at: float | None = None
        self.bytes_written = 0
        self.authenticated = False  # its credentials were checked and good
        self.dropped = False  # aborted to make room for others
        self.counted_as_client = False  # in metrics.CLIENTS: attached to a desktop
        self.bytes_read = 0
        self._form_drawn_at = 0.0
        self.reconnect_cookie: int | None = None  # the logon id of the auto-reconnect cookie it holds
        self.reconnected = False  # it came back with an auto-reconnect cookie, no password
        self.policy = ConnectionPolicy()

    # I/O -------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        # What the layers queued was made before ``data``, so it leaves first: the client must
        # read the graphics channel's messages in the order they were compressed (they share
        # one bulk compression history).
        data = self.bridge.data_to_send() + data
        if data and not self.writer.is_closing():
            self.writer.write(data)
            self.bytes_written += len(data)
            metrics.BYTES.inc(len(data))

    def flush(self) -> None:
        """What the layers produced: bytes for the client, messages for the session host."""
        self.write(b"")
        self._send_host(self.bridge.host_messages())

    def _write_drive(self, data: bytes) -> None:
        if not self.closing:
            self.write(data)

    async def _call_host(self, request: messages.Request) -> messages.Reply:
        if self.host is None or self.host.closed.is_set():
            raise HostError("no session host")
        return await self.host.call(request)

    def _send_host(self, requests: Iterable[messages.Request]) -> None:
        if self.host is None or self.host.closed.is_set():
            return
        for request in requests:
            try:
                self.host.send(request)
            except LocalProtocolError as exc:  # e.g. clipboard text the host's framing cannot carry
                log.warning("%s %s not passed to the session: %s", self.name, request.op.value, exc)
            except HostError:
                return  # the host connection is going; its reading loop ends it

    def _transmit(self) -> None:
        """After an event or a push: pointer updates, what the layers produced, and the output
        loops woken when the output layers have work for them."""
        if self.output.pointer.pending:
            self._send_pointer_state()
        self.flush()
        if self.output.pending:
            self._output_wake.set()
        if self.output.gfx.queue:
            if self._gfx_parked and not self.write_buffer_size():
                self._draw_gfx_now()
            if self.output.gfx.queue:
                self._gfx_wake.set()

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the socket: the TLS layer's and the TCP transport's."""
        size = self._tcp_transport.get_write_buffer_size()
        # A closed TLS transport has dropped its protocol (asking it raises AttributeError).
        if self.writer.transport is not self._tcp_transport and not self.writer.is_closing():
            size += self.writer.transport.get_write_buffer_size()
        return size

    def _congested(self) -> bool:
        return self.write_buffer_size() > WRITE_HIGH_WATER

    async def _drain(self) -> None:
        if not self.write_buffer_size() and not self.writer.is_closing():
            # The socket took everything, so nothing is paused and drain returns at once: no
            # timeout (a task and a timer per frame under asyncio.wait_for) is needed.
            await self.writer.drain()
            return
        timeout = self.server.settings.write_timeout
        try:
            await asyncio.wait_for(self.writer.drain(), timeout)
        except TimeoutError:
            log.warning("%s closing: client read nothing for %g s (%d bytes waiting)", self.name, timeout,
                        self.write_buffer_size())
            self.writer.transport.abort()
            raise ConnectionResetError("client stalled") from None

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

    def _read_timeout(self) -> float | None:
        """How long the next read may wait: up to the handshake's deadline until the client's
        credentials were checked (however its bytes trickle in), per read until it is active,
        then without a limit (the login form times itself)."""
        if self.conn.active:
            return None
        if self.authenticated:
            return self.server.settings.handshake_timeout
        return self.accepted_at + self.server.settings.handshake_timeout - time.monotonic()

    async def _read_loop(self) -> None:
        while not self.conn.closed:
            if self._may_read_directly():
                if (handed := await self._read_directly()) is not None:
                    requests, events = handed
                    await self._perform(requests)
                    await self._on_events(events)
                    self.flush()
                    await self._drain()
                continue
            timeout = self._read_timeout()
            try:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError
                # Small reads until the client logged in: a flood is cut off after little parsing.
                size = READ_SIZE if self.authenticated else PRE_LOGIN_READ_SIZE
                data = await asyncio.wait_for(self.reader.read(size), timeout)
            except TimeoutError:
                raise RemoteProtocolError(f"connection sequence not done within "
                                          f"{self.server.settings.handshake_timeout:g} s") from None
            if not data:
                partial = self.conn.buffered_input
                if partial:
                    log.warning("%s closing: peer closed the connection in the middle of a frame "
                                "(%d bytes of it received)", self.name, partial)
                else:
                    log.info("%s peer closed the connection", self.name)
                return
            self.bytes_read += len(data)
            self.conn.receive_data(data)
            await self._on_events(self.conn.events())
            self.flush()
            await self._drain()

    async def _on_events(self, events: list[ev.Event]) -> None:
        """Each event in turn, then those the layers raised meanwhile, until there are none."""
        while events:
            for event in events:
                await self._on_event(event)
            self._transmit()
            events = self.conn.events()

    def _may_read_directly(self) -> bool:
        """Logged in and active, the stream reader holding nothing, the socket open: the
        client's bytes may go to the layers in the callback that read them (``_DirectReads``)."""
        return (self.conn.active and self.authenticated and not self.reader._buffer
                and self.reader.exception() is None and not self.reader.at_eof()
                and not self.writer.is_closing())

    async def _read_directly(self) -> tuple[list[Request], list[ev.Event]] | None:
        """Hand the client's bytes to the layers as they are read, with no task woken per read,
        until something needs this task: requests to carry out and the events after them,
        writing paused (drained here), the session inactive (a reactivation, read with its
        deadline), the end of the stream or an error (raised here)."""
        transport = self.writer.transport
        reads = _DirectReads(self, transport.get_protocol(), asyncio.get_running_loop().create_future())
        transport.set_protocol(reads)
        try:
            return await reads.done
        finally:
            reads.uninstall()

    def _direct_data(self, data: bytes) -> tuple[list[Request], list[ev.Event]] | None:
        """The read loop's work on ``data`` while no event needs awaiting; what is left for the
        loop when one does, or when the loop must drain or read with a deadline."""
        self.bytes_read += len(data)
        self.conn.receive_data(data)
        events = self.conn.events()
        if not events:
            self.flush()
            return None
        while events:
            for i, event in enumerate(events):
                if requests := self._take_event(event):
                    return requests, events[i + 1:]
            self._transmit()  # which ends with a flush
            events = self.conn.events()
        return None

    def _take_event(self, event: ev.Event) -> list[Request]:
        """An event to the bridge: what it asks to be carried out."""
        log.debug("%s event %s", self.name, event)
        now = time.monotonic()
        if isinstance(event, ev.Credentials):
            self.login.form_allowed = self.server.login_forms_shown() < self.server.settings.max_login_forms
        if self.login.form is not None and isinstance(event, KEY_EVENTS) and not self.login.input_budget.take(now):
            raise RemoteProtocolError(f"login form flooded: more than {self.login.input_budget.burst} keys, "
                                      f"then {self.login.input_budget.rate:g} a second")
        if isinstance(event, ev.Activated):
            self.milestones.setdefault("active", now)
            if event.reactivation:
                log.info("%s reactivated size=%dx%d bpp=%d", self.name, event.width, event.height, event.bpp)
            else:
                log.info("%s active user=%s size=%dx%d bpp=%d fastpath=%s handshake=%.0f ms", self.name,
                         self.login.username, event.width, event.height, event.bpp, event.fastpath_output,
                         (now - self.accepted_at) * 1000)
        return self.bridge.receive(event)

    async def _on_event(self, event: ev.Event) -> None:
        now = time.monotonic()
        await self._perform(self._take_event(event))
        if isinstance(event, ev.Credentials):
            self.milestones.update(credentials=now, login=time.monotonic())

    def _on_host_push(self, push: messages.Push) -> None:
        if not isinstance(push, messages.Frame):
            log.debug("%s host pushed %s", self.name, push)
        if isinstance(push, messages.Bye) and self.bridge.desktop_path is not None:
            self.server.reconnects.desktop_ended(self.bridge.desktop_path, self.name)
        if requests := self.bridge.host_push(push):
            self._tasks.append(asyncio.create_task(self._perform(requests)))
        self._transmit()

    # what the bridge asks for ----------------------------------------------------------------

    async def _perform(self, requests: list[Request]) -> None:
        """Carry out the bridge's requests in order, each answer's requests first; what the
        bridge wrote before asking leaves before each is carried out."""
        while requests:
            self._transmit()
            request, *requests = requests
            requests = await self._carry_out(request) + requests
        self._transmit()

    async def _carry_out(self, request: Request) -> list[Request]:
        loop = asyncio.get_running_loop()
        match request:
            case StartTls():
                await self._start_tls()
            case VerifyNla(proof=proof):
                return self.bridge.nla_verified(await self._verify_nla(proof))
            case Authenticate(username=username, password=password):
                return self.bridge.authenticated(await self._authenticate(username, password))
            case Attach(username=username, width=width, height=height):
                try:
                    if not await self._apply_policy(username):
                        return self.bridge.attach_failed(AccessRefused(self.policy.refusal))
                    path = await self.server.attach(username, width, height)
                except Exception as exc:  # no desktop for this user now (limit reached, start failed)
                    return self.bridge.attach_failed(exc)
                await self._note_opened(username, Path(path))
                return self.bridge.attached(path)
            case RedeemCookie():
                ticket = await self.server.reconnects.redeem(request, address=self.peer_address,
                                                             log_context=self.name)
                if ticket is not None:
                    self.reconnected = True
                    self.server.replaced(ticket.logon_id, self)
                    await self._logged_in(ticket.username)
                    await self._note_opened(ticket.username, ticket.path)
                return self.bridge.reconnect_checked(ticket)
            case IssueCookie():
                cookie = await self.server.reconnects.issue(request, replaces=self.reconnect_cookie,
                                                            log_context=self.name)
                self._timers.append(loop.call_later(self.server.settings.reconnect_rotation, self._rotate_cookie))
                if cookie is not None:
                    self.reconnect_cookie = cookie.logon_id
                    return self.bridge.cookie_issued(cookie)
            case Connect(path=path, keyboard=keyboard):
                await self._connect_host(path, keyboard)
                return self.bridge.connected()
            case SessionResize() if self.host is not None:
                try:
                    reply: messages.ResizeReply | HostError = await self.host.call(request.request)
                except HostError as exc:
                    reply = exc
                return self.bridge.resize_answered(request, reply)
            case SubscribeGfx(request=subscribe) if self.host is not None:
                await self.host.call(subscribe, on_reply=self.output.gfx.subscribed)
                self._tasks.append(asyncio.create_task(self._gfx_loop()))
                return self.bridge.gfx_subscribed()
            case SubscribeAudio(request=subscribe) if self.host is not None:
                try:
                    await self.host.call(subscribe, on_reply=self.bridge.audio_subscribed)
                except HostError as exc:  # a desktop without sound: the client stays silent
                    log.info("%s no sound: %s", self.name, exc)
            case StartOutput(delay=delay):
                self._timers.append(loop.call_later(delay, self._start_output))
                if self._output_task is None:
                    self._output_task = asyncio.create_task(self._output_loop())
            case LoginTimer(seconds=seconds):
                self._timers.append(loop.call_later(seconds, self._login_timed_out))
            case Background(request=background):
                self._tasks.append(asyncio.create_task(self._perform([background])))
            case DriveWork(item=item):
                self.drives.handle(item)
            case ClipboardWork(item=item):
                self.clipboard_transfers.handle(item)
            case Close():
                self.writer.close()
        return []

    async def _apply_policy(self, username: str) -> bool:
        """Take the user's policy for this connection; False when it refuses them RDP."""
        if self.server.connection_policy is not None:
            self.policy = await self.server.connection_policy(username)
        self.bridge.apply_policy(self.policy)
        self.drives.access = self.policy.drives
        if not self.policy.rdp:
            log.warning("%s rdp login of user=%r refused by policy: %s", self.name, username, self.policy.refusal)
        return self.policy.rdp

    async def _start_tls(self) -> None:
        # Stop reading before the Connection Confirm leaves: the client's TLS ClientHello
        # follows it at once, and if the plain-text reader took it in while we wait to
        # drain, the TLS layer would never see it and the handshake would hang.
        self.writer.transport.pause_reading()
        self.flush()
        await self._drain()
        await self.writer.start_tls(self.server.ssl_context,
                                    ssl_handshake_timeout=max(0.1, self._read_timeout() or 0.1))
        self.milestones["tls"] = time.monotonic()
        self.conn.security_upgrade_done(self.server.tls_public_key)

    async def _verify_nla(self, proof: NlaProof) -> Verdict:
        assert self.server.authenticate_nla is not None  # NLA is off without it
        try:
            verdict = await self.server.authenticate_nla(proof, self.peer_address)
        except Exception:
            log.exception("%s authenticate_nla() failed", self.name)
            return Verdict.FAILED
        self.milestones["nla"] = time.monotonic()
        if verdict is Verdict.OK:
            self.login.username = proof.username
            await self._logged_in(proof.username)
        return verdict

    async def _authenticate(self, username: str, password: str) -> bool:
        try:
            ok = bool(await self.server.authenticate(username, password, self.peer_address))
        except Exception:
            log.exception("%s authenticate() failed", self.name)
            return False
        if ok:
            await self._logged_in(username)
        return ok

    async def _logged_in(self, username: str) -> None:
        self.authenticated = True
        if self.server.account_stamp is not None:
            stamp = await self.server.account_stamp(username)
            self._tasks.append(asyncio.create_task(self._watch_account(username, stamp)))

    async def _watch_account(self, username: str, stamp: str | None) -> None:
        """End the connection once the account it logged in with changes: deactivated, gone,
        or given a new password (its stamp is derived from the password hash)."""
        while not self.closing:
            if self.server.account_changes is not None:
                try:
                    await self.server.account_changes(username)
                except Exception:
                    log.exception("%s account_changes() failed", self.name)
                    await asyncio.sleep(ACCOUNT_RECHECK)
            else:
                await asyncio.sleep(ACCOUNT_RECHECK)
            if self.closing:
                return
            try:
                now = await self.server.account_stamp(username)
            except Exception:
                log.exception("%s account_stamp() failed", self.name)
                continue
            if now is None or now != stamp:
                log.info("%s closing: user %s was deactivated or given a new password", self.name, username)
                self.write(self.conn.disconnect(ErrorInfo.RPC_INITIATED_DISCONNECT))
                self.flush()
                self.writer.close()
                return
            if self.server.connection_policy is not None and self.host is not None:
                await self._recheck_policy(username)

    async def _recheck_policy(self, username: str) -> None:
        """The user's policy now, for an open connection: RDP access taken away ends it with
        the reason; the clipboard's ways and the shared folders' access follow a change."""
        try:
            policy = await self.server.connection_policy(username)
        except Exception:
            log.exception("%s connection_policy() failed", self.name)
            return
        if policy == self.policy:
            return
        self.policy = policy
        self.bridge.apply_policy(policy)
        self.drives.access = policy.drives
        if not policy.rdp:
            log.info("%s closing: %s", self.name, policy.refusal)
            self.write(self.conn.disconnect(ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES))
            self.flush()
            self.writer.close()

    async def _connect_host(self, path: str | Path, keyboard: messages.Exec | None) -> None:
        self.host = await HostClient(on_event=self._on_host_push).connect(path)
        self._tasks.append(asyncio.create_task(self._watch_host(self.host)))
        reply = await self.host.call(self.output.subscription(), on_reply=self.output.attach)
        log.info("%s login ok user=%s host=%s size=%dx%d", self.name, self.login.username, path, reply.width,
                 reply.height)
        self.drives.host_ready()
        if keyboard is not None:
            try:
                await self.host.call(keyboard)
                log.info("%s keyboard layout 0x%x -> %s", self.name, self.login.keyboard_layout,
                         " ".join(keyboard.argv[1:]))
            except HostError as exc:
                log.warning("%s setxkbmap failed: %s", self.name, exc)

    async def _watch_host(self, host: HostClient) -> None:
        """End the connection when the session host goes without its goodbye (killed, crashed):
        the client is told the session ended instead of being left on a frozen picture."""
        await host.closed.wait()
        if not self.closing and self.bridge.desktop_path is not None:  # the desktop ended, not this connection
            self.server.reconnects.desktop_ended(self.bridge.desktop_path, self.name)
        if self.closing or self.conn.closed:
            return  # a goodbye (``Bye``) or the client's own end came first
        log.warning("%s session host connection lost: disconnecting the client", self.name)
        self.write(self.conn.disconnect(ErrorInfo.RPC_INITIATED_LOGOFF))
        self.writer.close()

    def _rotate_cookie(self) -> None:
        if not self.closing and (requests := self.bridge.cookie_rotation()):
            self._tasks.append(asyncio.create_task(self._perform(requests)))

    def _login_timed_out(self) -> None:
        if not self.closing and (requests := self.bridge.login_timed_out()):
            self._tasks.append(asyncio.create_task(self._perform(requests)))

    # output ------------------------------------------------------------------------------------

    def _start_output(self) -> None:
        if not self.closing and self.output.start():
            self._send_pointer_state()
            self._output_wake.set()

    def _send_pointer_state(self) -> None:
        """Cursor and pointer position changes now, unless they must wait for the output loop."""
        if self.writer.is_closing():
            return
        self.write(self.output.pointer_updates(self._congested()))
        if self.output.pointer.pending:
            self._output_wake.set()

    async def _write_frame(self, data: bytes, source: str) -> None:
        """One update written, and the socket given the time to take it."""
        self._put_frame(data, source)
        await self._drain()

    def _put_frame(self, data: bytes, source: str) -> None:
        self.write(data)
        metrics.FRAMES_BY_SOURCE[source].inc()
        if self.first_frame_at is None:
            self.first_frame_at = self.milestones["first_frame"] = time.monotonic()
            log.info("%s first frame sent %.0f ms after accept", self.name,
                     (self.first_frame_at - self.accepted_at) * 1000)

    async def _output_loop(self) -> None:
        while not self.closing:
            await self._output_wake.wait()
            self._output_wake.clear()
            if not self.output.drawing:
                continue
            try:
                if self._congested():
                    await self._drain()
                self._send_pointer_state()
                source = self.output.source()
                if source is Source.HOST_BITMAPS:
                    await self._write_host_frames()
                elif source is Source.LOGIN_FORM:
                    await self._write_login_form()
            except ConnectionError:
                return

    async def _write_host_frames(self) -> None:
        """Each host frame written and drained, paced when huge, then acknowledged to the host."""
        if (subscribe := self.output.bitmap_round()) is not None and self.host is not None:
            self.flush()  # the old stream's Unsubscribe first
            await self.host.call(subscribe, on_reply=self.output.bitmaps.subscribed)
        allowed = self.output.bitmaps_allowed()
        self.flush()
        while allowed and not self.closing:
            started = time.monotonic()
            step = self.output.bitmaps.next_frame()
            self.flush()
            if step is None:
                return
            data, frame = step
            await self._write_frame(data, "bitmap")
            if hold := self.output.bitmaps.hold(frame, time.monotonic() - started):
                await asyncio.sleep(hold)
            self.output.bitmaps.done(frame)
            self.flush()

    async def _write_login_form(self) -> None:
        # The form is drawn at most LOGIN_FORM_FPS times a second whatever the client sends:
        # keys in between only change its state.
        if (wait := self._form_drawn_at + 1 / LOGIN_FORM_FPS - time.monotonic()) > 0:
            await asyncio.sleep(wait)
            if self.closing or self.output.source() is not Source.LOGIN_FORM:
                return
        self.bridge.draw_login_form()
        self._form_drawn_at = time.monotonic()
        if (job := self.output.login_form_job()) is None:
            return
        if data := self.output.login_form_encoded(await asyncio.to_thread(job.run)):
            await self._write_frame(data, "login_form")

    def _draw_gfx_now(self) -> None:
        """What the graphics loop would do on its next turn, done in this one while it waits
        and the socket has taken everything (a keystroke's frame: no task woken for it); the
        loop takes over as soon as a write leaves bytes to drain. The loop itself goes on
        writing while bytes wait, up to the transport's high-water mark (``_drain`` only
        waits once it is paused): scrolling keeps the socket full. Stopping at the first
        byte left, as here, for every frame cost a fifth of the frames of
        ``bench/bench_rdp_scroll.py``."""
        while not self.closing:
            data = self.output.gfx.next_frame(self.output.allowed)
            if data is None:
                self.flush()  # with the acknowledgements of frames not drawn
                return
            self._put_frame(data, "gfx")  # what the layers queued first, then the frame
            if self.write_buffer_size():
                self.flush()
                self._gfx_wake.set()  # the loop drains (and goes on with what is queued)
                return

    async def _gfx_loop(self) -> None:
        """Host frames of the H.264 stream as graphics frames, as they come."""
        while not self.closing:
            self._gfx_parked = True
            try:
                await self._gfx_wake.wait()
            finally:
                self._gfx_parked = False
            self._gfx_wake.clear()
            if self.write_buffer_size():  # a frame drawn in another turn left bytes to drain
                try:
                    await self._drain()
                except ConnectionError:
                    return
            while not self.closing:
                data = self.output.gfx.next_frame(self.output.allowed)
                self.flush()  # with the acknowledgements of frames not drawn
                if data is None:
                    break
                try:
                    await self._write_frame(data, "gfx")
                except ConnectionError:
                    return

    def progress(self) -> int:
        """How far the connection got before logging in: 0 nothing received, 1 some bytes, 2
        its TLS handshake done, 3 active (the login form)."""
        if self.conn.active:
            return 3
        if "tls" in self.milestones:
            return 2
        return 1 if self.bytes_read else 0

    @property
    def waiting_for_login(self) -> bool:
        """Open and not logged in yet (nor being dropped)."""
        return not (self.authenticated or self.closing or self.dropped)

    def abort(self) -> None:
        """Drop the client at once (its read loop then ends the connection)."""
        self.dropped = True
        self._tcp_transport.abort()

    async def _note_opened(self, username: str, path: Path) -> None:
        if self.server.history_opened is not None and getattr(self, "history_token", None) is None:
            try:
                self.history_token = await self.server.history_opened(username, path, self.peer_address)
            except Exception:
                log.exception("%s connection history failed", self.name)
        if not self.counted_as_client:
            self.counted_as_client = True
            metrics.CLIENTS.inc()

    async def close(self) -> None:
        if self.counted_as_client:
            self.counted_as_client = False
            metrics.CLIENTS.dec()
        if (token := getattr(self, "history_token", None)) is not None and self.server.history_closed is not None:
            self.history_token = None
            try:
                await self.server.history_closed(token)
            except Exception:
                log.exception("%s connection history failed", self.name)
        self.closing = True
        self.server.reconnects.released(self.reconnect_cookie)
        self._output_wake.set()
        self._gfx_wake.set()
        for timer in self._timers:
            timer.cancel()
        tasks = self._tasks + ([self._output_task] if self._output_task is not None else [])
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.drives.close()
        self.clipboard_transfers.close()
        last_messages = self.bridge.close()
        if self.host is not None:
            self._send_host(last_messages)
            await self.host.close()
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass
        log.info("%s closed in state %s", self.name, type(self.conn.state).__name__)


class _DirectReads(asyncio.Protocol):
    """The client transport's protocol while ``RdpConnection._read_directly`` runs: each read
    goes to the connection's layers in this callback (one event-loop turn per read, where the
    stream reader's ``feed_data`` wakes the reading task in another). Writing flow control
    and the end of the connection still go to the stream's own protocol, so ``drain`` and the
    reader's end-of-stream and errors work as before. Handing back to the read loop puts
    that protocol back first: bytes read from then on wait in the stream reader, behind what
    was handed back."""

    def __init__(self, connection: RdpConnection, stream_protocol: asyncio.BaseProtocol,
                 done: asyncio.Future[tuple[list[Request], list[ev.Event]] | None]) -> None:
        self.connection = connection
        self.stream_protocol = stream_protocol
        self.done = done
        self.writing_paused = False

    def uninstall(self) -> None:
        transport = self.connection.writer.transport
        if transport.get_protocol() is self:
            transport.set_protocol(self.stream_protocol)

    def _hand_back(self, result: tuple[list[Request], list[ev.Event]] | None = None,
                   exc: BaseException | None = None) -> None:
        self.uninstall()
        if self.done.done():
            return
        if exc is not None:
            self.done.set_exception(exc)
        else:
            self.done.set_result(result)

    def data_received(self, data: bytes) -> None:
        connection = self.connection
        try:
            handed = connection._direct_data(data)
        except Exception as exc:  # the read loop's own handling: a protocol error ends the connection
            self._hand_back(exc=exc)
            return
        if handed is not None or self.writing_paused or not connection.conn.active:
            self._hand_back(handed)

    def eof_received(self) -> bool | None:
        keep_open = self.stream_protocol.eof_received()  # type: ignore[attr-defined]
        self._hand_back()
        return keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        self.stream_protocol.connection_lost(exc)
        self._hand_back()

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.stream_protocol.pause_writing()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.stream_protocol.resume_writing()


class RdpServer:
    """Accepts RDP clients; each runs as an ``RdpConnection`` isolated from the others."""

    def __init__(self, settings: ServerSettings, *, authenticate: AuthenticateUser, attach: AttachDesktop,
                 account_stamp: AccountStamp | None = None, ssl_context: ssl.SSLContext | None = None,
                 history_opened: HistoryOpened | None = None, history_closed: HistoryClosed | None = None,
                 reconnect_hooks: ReconnectHooks | None = None, connection_policy: PolicyLookup | None = None,
                 authenticate_nla: AuthenticateNla | None = None, tls_public_key: bytes | None = None,
                 account_changes: AccountChanges | None = None) -> None:
        """``tls_public_key``: the SubjectPublicKey of ``ssl_context``'s certificate, which NLA
        binds to (read from the certificate when the server makes its own context).
        ``account_changes(username)`` returns when that user's account or policy may have
        changed: open connections check them then, instead of every ACCOUNT_RECHECK."""
        self.account_changes = account_changes
        self.connection_policy = connection_policy
        self.history_opened = history_opened
        self.history_closed = history_closed
        self.authenticate = authenticate
        self.attach = attach
        self.account_stamp = account_stamp
        self.reconnects = Reconnects(lifetime=settings.reconnect_lifetime, account_stamp=account_stamp,
                                     hooks=reconnect_hooks)
        if ssl_context is None:
            cert_path, key_path = ensure_certificate(settings.cert_dir)
            ssl_context = server_ssl_context(cert_path, key_path)
            tls_public_key = certificate_public_key(cert_path)
        self.ssl_context = ssl_context
        self.tls_public_key = tls_public_key
        self.authenticate_nla = authenticate_nla
        if settings.nla != "off" and (authenticate_nla is None or tls_public_key is None):
            if settings.nla == "require":
                raise ValueError("NLA required but the server has no NLA authenticator or TLS public key")
            settings = replace(settings, nla="off")
        if settings.nla not in ("off", "offer", "require"):
            raise ValueError(f"nla must be off, offer or require, not {settings.nla!r}")
        self.settings = settings
        self.connections: set[RdpConnection] = set()
        self._server: asyncio.Server | None = None
        self._refused = 0
        self._refusal_logged_at = -1.0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._on_client, self.settings.host, self.settings.port,
                                                  limit=READ_SIZE)
        port = self._server.sockets[0].getsockname()[1]
        log.info("rdp server listening on %s:%d", self.settings.host, port)
        return port

    def replaced(self, logon_id: int, by: RdpConnection) -> None:
        """A client came back with the cookie of a connection still open here: that one is dead
        to the client (its network dropped and the server has not noticed yet), so it ends."""
        for old in list(self.connections):
            if old is not by and old.reconnect_cookie == logon_id and not old.closing:
                log.info("%s closing: its client is back as %s (auto-reconnect)", old.name, by.name)
                old.abort()

    def login_forms_shown(self) -> int:
        return sum(c.login.form is not None for c in self.connections)

    def _admit(self, address: str) -> str | None:
        """Why a new client from ``address`` is refused, or None to take it (after dropping the
        oldest client not yet logged in when their number is at its bound)."""
        settings = self.settings
        if len(self.connections) >= settings.max_connections:
            return f"{len(self.connections)} connections open"
        waiting = [c for c in self.connections if c.waiting_for_login]
        if sum(c.peer_address == address for c in waiting) >= settings.max_unauthenticated_per_address:
            return f"{settings.max_unauthenticated_per_address} connections from {address} not logged in yet"
        if len(waiting) >= settings.max_unauthenticated:
            # The one that got least far, the oldest of those: a silent socket before a slow TLS
            # handshake before a login form; a real client gets past the first two in milliseconds.
            victim = min(waiting, key=lambda c: (c.progress(), c.accepted_at))
            self._note_refusal(f"{victim.name} dropped to make room: {len(waiting)} connections not logged in yet")
            victim.abort()
        return None

    def _note_refusal(self, why: str) -> None:
        """Log a refused or dropped client; a flood of them gives one line a second with a count."""
        now = time.monotonic()
        self._refused += 1
        if now - self._refusal_logged_at >= 1.0:
            log.warning("rdp client refused or dropped (%d since the last line): %s", self._refused, why)
            self._refused, self._refusal_logged_at = 0, now

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if (why := self._admit(peer[0] if peer else "")) is not None:
            self._note_refusal(why)
            writer.transport.abort()
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = RdpConnection(self, reader, writer)
        metrics.CONNECTIONS.inc()
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
