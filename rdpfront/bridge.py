"""One RDP client bridged to its desktop's session host, sans-IO.

``Bridge`` takes what the connection raises (``receive(event)``) and what the session host
pushes (``host_push(push)``) and hands each to its handler through one table per side. Out come
bytes for the client (``data_to_send``, in order with the connection's own output), messages
for the session host (``host_messages``), and, from every call, a list of requests the driver
carries out and answers:

- ``StartTls``: upgrade the socket, then ``ServerConnection.security_upgrade_done()``;
- ``VerifyNla``: check an NLA (NTLM) login under the login throttle → ``nla_verified(verdict)``;
- ``Authenticate`` → ``authenticated(ok)``; ``Attach`` → ``attached(path)`` or
  ``attach_failed(error)``; ``Connect``: connect the session host, subscribe to its picture
  (``output.subscription()``, the reply to ``output.attach``), run ``keyboard`` →
  ``connected()``;
- ``SessionResize``: the host's ``Resize`` → ``resize_answered(resize, reply or HostError)``;
- ``SubscribeGfx``: subscribe to the H.264 stream (the reply to ``output.gfx.subscribed``) and
  draw it as it comes → ``gfx_subscribed()``;
- ``SubscribeAudio``: subscribe to the host's ``pcm`` or ``aac`` stream for the client's sound
  channel, rdpsnd or AUDIO_PLAYBACK_DVC (the reply to ``audio_subscribed``); its frames become
  waves on the channel that plays (``rdpfront/channels/sound.py``);
- ``StartOutput``: ``Output.start`` after ``delay`` seconds (or at the client's first input,
  whichever is first), and the output loop;
- ``LoginTimer``: ``login_timed_out()`` after ``seconds``;
- ``Background``: carry out ``request`` without holding up the client's input;
- ``Close``: close the socket (the parting bytes are queued);
- ``RedeemCookie`` (the Client Info carried an auto-reconnect answer) →
  ``reconnect_checked(ticket or None)``; ``IssueCookie`` (logged in, desktop connected, client
  active) → ``cookie_issued(cookie)`` (``rdpfront/reconnect.py``).

The decisions are the parts': ``LoginFlow`` (the login), ``ClientInput`` (input),
``ClipboardRelay`` (the clipboard), ``Output`` (what the client is shown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compositor import messages
from compositor.client import HostError
from rdpfront import events as ev
from rdpfront import gfx, monitors, wire
from rdpfront.acceptor import AcceptorConfig
from rdpfront.channels.sound import playing_channel, sound_disabled_channels
from rdpfront.client_input import ClientInput
from rdpfront.clipboard_relay import ClipboardRelay
from rdpfront.clipboard_transfer import WORK_EVENTS as CLIPBOARD_WORK_EVENTS
from rdpfront.clipboard_transfer import offer_kind
from rdpfront.connection import ServerConnection
from rdpfront.login_flow import Accept, Attach, Authenticate, Connect, Disconnect, Enter, LoginFlow, Reject, ShowForm
from rdpfront.login_flow import Step as LoginStep
from rdpfront.nla import NlaProof, Verdict
from rdpfront.output import Output, SessionResize
from rdpfront.policy import ConnectionPolicy
from rdpfront.rdp.autoreconnect import ServerAutoReconnect, save_session_info
from rdpfront.rdp.pdus import ErrorInfo
from rdpfront.reconnect import IssueCookie, RedeemCookie, Ticket, client_cookie
from rdpfront.session import SessionConfig
from rdpfront.settings import ServerSettings

log = logging.getLogger(__name__)

# FreeRDP fails on any update that reaches it before its post-connect (the pointer and bitmap
# callbacks are not set yet), and it processes every PDU already received when the Font Map
# arrives: output starts at the client's first input (a synchronize event once its window is
# up), or this many seconds after activation.
OUTPUT_START_DELAY = 1.0
INPUT_EVENTS = (ev.KeyboardEvent, ev.UnicodeEvent, ev.MouseEvent, ev.WheelEvent, ev.SyncEvent)
DRIVE_EVENTS = (ev.DriveAnnounced, ev.DriveRemoved, ev.DriveIoCompleted)


@dataclass(frozen=True)
class StartTls:
    """Upgrade the socket to TLS (the Connection Confirm is queued), then go on reading."""


@dataclass(frozen=True)
class VerifyNla:
    """Check an NLA login: the user's NT hash looked up, ``proof.verify`` run, the throttle
    and audit kept; answered with ``nla_verified(verdict)``."""

    proof: NlaProof


@dataclass(frozen=True)
class SubscribeGfx:
    """Subscribe to the host's H.264 stream and draw its frames as they come."""

    request: messages.Subscribe


@dataclass(frozen=True)
class SubscribeAudio:
    """Subscribe to the host's sound for the client's sound channel."""

    request: messages.Subscribe


@dataclass(frozen=True)
class StartOutput:
    """Output starts ``delay`` seconds after an activation at the latest."""

    delay: float


@dataclass(frozen=True)
class LoginTimer:
    """The login form gives up after ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Background:
    """Carry out ``request`` while the client's input goes on being read."""

    request: Request


@dataclass(frozen=True)
class DriveWork:
    """A shared folder's event or the session's file operation, for the driver's ``DriveRelay``."""

    item: ev.DriveAnnounced | ev.DriveRemoved | ev.DriveIoCompleted | messages.DriveCall


@dataclass(frozen=True)
class ClipboardWork:
    """An image or file exchange of the clipboard, for the driver's ``ClipboardTransfers``."""

    item: object


@dataclass(frozen=True)
class Close:
    """Close the socket once what is queued for it has been written."""


Request = (StartTls | VerifyNla | Authenticate | Attach | Connect | SessionResize | SubscribeGfx | StartOutput
           | LoginTimer | Background | DriveWork | Close | SubscribeAudio | RedeemCookie | IssueCookie | ClipboardWork)


def server_connection(settings: ServerSettings, log_context: str = "") -> ServerConnection:
    """A client's sans-IO connection as the server's settings make it."""
    return ServerConnection(
        AcceptorConfig(max_width=settings.max_width, max_height=settings.max_height,
                       fastpath_output=settings.fastpath_output, allow_nla=settings.nla in ("offer", "require"),
                       require_nla=settings.nla == "require"),
        SessionConfig(disabled_channels=(frozenset() if settings.gfx else frozenset({gfx.CHANNEL_NAME}))
                      | sound_disabled_channels(settings.sound_transport),
                      gfx_compression=settings.gfx_compression),
        log_context=log_context)


class Bridge:
    """One client's connection and its session host, for the driver to carry between them."""

    def __init__(self, settings: ServerSettings, log_context: str = "", conn: ServerConnection | None = None) -> None:
        self.conn = conn = conn if conn is not None else server_connection(settings, log_context)
        self._log = log_context
        self._max_size = (settings.max_width, settings.max_height)
        self._monitors_due = False  # the client's monitors lay the session out at its activation
        self.login = LoginFlow(max_width=settings.max_width, max_height=settings.max_height,
                               login_screen=settings.login_screen, timeout=settings.login_timeout,
                               apply_keyboard_layout=settings.apply_keyboard_layout, log_context=log_context)
        self.output = Output(conn, compress=settings.compress, gfx_h264=settings.gfx_h264,
                             gfx_lossless=settings.gfx_lossless,
                             bitmap_bytes_per_second=settings.bitmap_bytes_per_second, log_context=log_context)
        self.input = ClientInput(self.login, self.output.pointer, log_context)
        self.clipboard = ClipboardRelay(conn)
        self._out = bytearray()
        self.audio_stream: int | None = None
        self._sound_ready_at: ev.SoundReady | None = None  # rdpsnd is ready; not yet subscribed
        self._host_connected = False
        self._auto_reconnect = settings.auto_reconnect
        self._credentials: ev.Credentials | None = None
        self._desktop_path: str | Path | None = None
        self._cookie_asked = False
        self._client_events: dict[type, Callable[[Any], list[Request] | None]] = {
            ev.SecurityUpgradeRequired: lambda e: [StartTls()],
            ev.NegotiationRefused: lambda e: log.info("%s negotiation refused: %s", self._log, e.reason),
            ev.NlaVerify: lambda e: [VerifyNla(e.proof)],
            ev.NlaAuthenticated: lambda e: log.info("%s NLA authenticated user=%r", self._log, e.username),
            ev.Credentials: self._on_credentials,
            ev.Activated: self._activated,
            **dict.fromkeys(INPUT_EVENTS, self._input),
            ev.RefreshRect: self.output.refresh,
            ev.SuppressOutput: self.output.suppress,
            ev.GfxReady: self._start_gfx,
            ev.GfxFrameAcknowledged: self.output.gfx_acknowledged,
            ev.DisplayLayout: self._display_layout,
            ev.TouchInput: self._touch,
            ev.ClipboardOffer: self._clipboard_offer,
            **dict.fromkeys(CLIPBOARD_WORK_EVENTS, lambda e: [ClipboardWork(e)]),
            ev.ClipboardText: lambda e: self.output.to_host.extend(self.clipboard.client_text(e)),
            ev.MicrophoneAudio: lambda e: self.output.to_host.append(messages.Microphone(pcm=e.pcm)),
            # The desktop outlives the connection: deny, and the client disconnects (mstsc
            # closing its window), leaving the session running for a reconnect.
            ev.Shutdown: lambda e: self._write(self.conn.shutdown_denied()),
            ev.Disconnected: lambda e: log.info("%s %s", self._log, e.reason),
            ev.SoundReady: self._sound_ready,
            **dict.fromkeys(DRIVE_EVENTS, lambda e: [DriveWork(e)]),
        }
        self._host_pushes: dict[type, Callable[[Any], list[Request] | None]] = {
            messages.Frame: self._host_frame,
            messages.Cursor: self.output.pointer.host_cursor,
            messages.Pointer: lambda p: self.output.pointer.host_moved(p.x, p.y),
            messages.Resized: lambda p: self._write(self.output.host_resized(p)),
            messages.ClipboardChanged: lambda p: self._write(self.clipboard.host_changed(p)),
            messages.Bye: self._bye,
            messages.DriveCall: lambda p: [DriveWork(p)],
        }

    # ---- the sans-IO surface -------------------------------------------------------------------

    def receive(self, event: ev.Event) -> list[Request]:
        if not isinstance(event, (ev.Activated, *DRIVE_EVENTS)):
            self.output.start()  # the client's first input after activation
        handler = self._client_events.get(type(event))
        return (handler(event) if handler is not None else None) or []

    def host_push(self, push: messages.Push) -> list[Request]:
        handler = self._host_pushes.get(type(push))
        return (handler(push) if handler is not None else None) or []

    def data_to_send(self) -> bytes:
        if not self._out:
            return self.conn.data_to_send()
        out = bytes(self._out) + self.conn.data_to_send()
        self._out.clear()
        return out

    def host_messages(self) -> list[messages.Request]:
        return self.output.host_messages()

    def _write(self, data: bytes) -> None:
        # The connection's own output was made first (a graphics channel message it queued
        # was compressed before ``data``: the client must read them in that order).
        self._out += self.conn.data_to_send() + data

    # ---- the client's events -------------------------------------------------------------------

    def _activated(self, event: ev.Activated) -> list[Request]:
        self._write(self.output.activated(event))
        requests: list[Request] = [StartOutput(OUTPUT_START_DELAY)]
        if not event.reactivation:
            requests += self._cookie_due()
        if self.output.pending_layout is not None:  # asked for while the client reactivated
            requests += self._display_layout(self.output.pending_layout)
        elif self._monitors_due and self.output.attached:  # the first activation in the session
            self._monitors_due = False
            requests += self._client_monitors()
        return requests

    def _input(self, event: ev.Event) -> list[Request]:
        routed = self.input.receive(event)
        self._show_login_form()
        if isinstance(routed, Authenticate):  # the login form was submitted
            return [Background(routed)]
        self.output.to_host.extend(messages.Input(events=(e,)) for e in routed)
        return []

    def _clipboard_offer(self, event: ev.ClipboardOffer) -> list[Request]:
        if offer_kind(event) is not None:  # an image or files: fetched by the driver's transfers
            return [ClipboardWork(event)] if self.clipboard.to_desktop else []
        self._write(self.clipboard.client_offer(event))
        return []

    def _touch(self, event: ev.TouchInput) -> None:
        if self.login.form is None:  # no touch for the login form: it takes keys and clicks
            self.output.to_host.append(messages.Input(events=event.events))

    def _display_layout(self, event: ev.DisplayLayout) -> list[Request]:
        resize = self.output.resize_request(event.width, event.height, event.layout)
        return [resize] if resize is not None else []

    def _client_monitors(self) -> list[Request]:
        """A client that came with several monitors (Client Monitor Data) has the session laid
        out as its monitors once it is active in it (through the login form or not)."""
        client = self.conn.acceptor.client
        block = client.monitor if client is not None else None
        if block is None or len(block.monitors) < 2:
            if block is not None:
                log.info("%s client monitor data: %d monitor(s)", self._log, len(block.monitors))
            return []
        layout = monitors.client_layout(monitors.from_monitor_defs(block.monitors), self._max_size[0],
                                        self._max_size[1], log_context=self._log, source="Client Monitor Data")
        if layout is None:
            return []
        log.info("%s client monitors %s on %dx%d (its origin %d,%d)", self._log, " ".join(
            f"{m.width}x{m.height}+{m.x}+{m.y}{'*' if m.primary else ''}" for m in layout.monitors),
            layout.width, layout.height, *layout.origin)
        return self._display_layout(ev.DisplayLayout(layout.width, layout.height, len(layout.monitors),
                                                     layout.monitors))

    def resize_answered(self, resize: SessionResize, reply: messages.ResizeReply | HostError) -> list[Request]:
        self._write(self.output.resize_answered(resize, reply))
        return []

    def _start_gfx(self, event: ev.GfxReady) -> list[Request]:
        start = self.output.start_gfx(event)
        if start is None:
            return []
        self._write(start.reset)
        if start.subscribe is not None:
            return [SubscribeGfx(start.subscribe)]
        return self.gfx_subscribed()

    def gfx_subscribed(self) -> list[Request]:
        self.output.gfx_started()
        return []

    # ---- the login -----------------------------------------------------------------------------

    def nla_verified(self, verdict: Verdict) -> list[Request]:
        if verdict is not Verdict.OK:
            log.warning("%s NLA login refused: %s (client told NTSTATUS 0x%08x)", self._log, verdict.name,
                        verdict.value)
        self.conn.credssp_verified(verdict)
        return []

    def _on_credentials(self, event: ev.Credentials) -> list[Request]:
        self._credentials = event
        # After NLA the connection is its authenticated user's: no cookie can make it another's.
        answer = (client_cookie(event.info, self._log)
                  if self._auto_reconnect and event.nla_username is None else None)
        if answer is not None:
            return [RedeemCookie(answer, event.username, event.domain)]
        return self._login_step(self.login.credentials(event))

    def reconnect_checked(self, ticket: Ticket | None) -> list[Request]:
        """The Client Info's auto-reconnect answer was good (``ticket``: straight to its desktop)
        or not (None: the login goes on as if there had been none)."""
        assert self._credentials is not None
        if ticket is None:
            return self._login_step(self.login.credentials(self._credentials))
        return self._login_step(self.login.resumed(self._credentials, ticket.username, ticket.path))

    def _cookie_due(self) -> list[Request]:
        """A cookie once the client is logged in, its desktop connected and the client active."""
        if (not self._auto_reconnect or self._cookie_asked or not self._host_connected or not self.conn.active
                or self._credentials is None or self._desktop_path is None):
            return []
        self._cookie_asked = True
        info = self._credentials
        return [IssueCookie(self.login.username, info.username, info.domain, self._desktop_path)]

    @property
    def desktop_path(self) -> str | Path | None:
        """The session host socket of the desktop the client was connected to, once it was."""
        return self._desktop_path

    def cookie_rotation(self) -> list[Request]:
        """Time for a new cookie (the driver's timer): asked for again once one was given."""
        if not self._cookie_asked or not self.conn.active or self._credentials is None or self._desktop_path is None:
            return []
        info = self._credentials
        return [IssueCookie(self.login.username, info.username, info.domain, self._desktop_path)]

    def cookie_issued(self, cookie: ServerAutoReconnect) -> list[Request]:
        self._write(wire.share_data(save_session_info(cookie)))
        return []

    def authenticated(self, ok: bool) -> list[Request]:
        return self._login_step(self.login.authenticated(ok))

    def attached(self, path: str | Path) -> list[Request]:
        return self._login_step(self.login.attached(path))

    def apply_policy(self, policy: ConnectionPolicy) -> None:
        """The user's policy for this connection (the clipboard's ways)."""
        self.clipboard.to_desktop = policy.clipboard_to_desktop
        self.clipboard.from_desktop = policy.clipboard_from_desktop

    def attach_failed(self, error: BaseException) -> list[Request]:
        return self._login_step(self.login.attach_failed(error))

    def connected(self) -> list[Request]:
        self._host_connected = True
        return self._login_step(self.login.connected()) + self._subscribe_audio() + self._cookie_due()

    # ---- sound (rdpsnd / AUDIO_PLAYBACK_DVC) ----------------------------------------------------

    def _sound_ready(self, event: ev.SoundReady) -> list[Request]:
        self._sound_ready_at = event
        return self._subscribe_audio()

    def _subscribe_audio(self) -> list[Request]:
        if self._sound_ready_at is None or not self._host_connected or self.audio_stream is not None:
            return []
        ready, self._sound_ready_at = self._sound_ready_at, None
        options = {"rate": ready.rate} if ready.format == "pcm" else {}
        return [SubscribeAudio(messages.Subscribe(format=ready.format, options=options))]

    def audio_subscribed(self, reply: messages.SubscribeReply) -> None:
        self.audio_stream = reply.stream

    def _host_frame(self, push: messages.Frame) -> list[Request] | None:
        if self.audio_stream is not None and push.stream == self.audio_stream:
            sound = playing_channel(self.conn.channel)
            if sound is not None and self.conn.active:
                self._write(sound.wave(push.payload, (push.pts or 0) // 1000))
            return None
        return self.output.host_frame(push)

    def login_timed_out(self) -> list[Request]:
        return self._login_step(self.login.timed_out())

    def _login_step(self, step: LoginStep | None) -> list[Request]:
        """The login flow's awaits go to the driver; its outcomes are taken here."""
        self._show_login_form()
        match step:
            case Authenticate() | Attach():
                return [step]
            case Connect(path=path):
                self._desktop_path = path
                self.output.close_login()
                return [step]
            case ShowForm(width=width, height=height):
                self.conn.accept_credentials(width=width, height=height)
                return [LoginTimer(self.login.timeout)]
            case Accept():
                width, height = self.output.session_size() or (self.conn.width, self.conn.height)
                self.conn.accept_credentials(width=width, height=height)
                self._monitors_due = True  # once active
            case Enter():
                data, deferred_gfx = self.output.enter_session()
                self._write(data)
                requests = self._client_monitors()
                if deferred_gfx is not None:
                    return self._start_gfx(deferred_gfx) + requests
                return requests
            case Reject(error_info=error_info):
                self.conn.reject_credentials(error_info)
            case Disconnect(error_info=error_info):
                self._write(self.conn.disconnect(error_info))
                return [Close()]
        return []

    def _show_login_form(self) -> None:
        if self.login.changed:
            self.output.login_changed()

    def draw_login_form(self) -> None:
        """Bring the login form's picture up to date (the output loop calls this at its pace)."""
        if (taken := self.login.take_image()) is not None:
            self.output.show_login(*taken)

    # ---- the session host ----------------------------------------------------------------------

    def _bye(self, push: messages.Bye) -> list[Request]:
        log.info("%s session ended: %s", self._log, push.reason)
        self._write(self.conn.disconnect(ErrorInfo.RPC_INITIATED_LOGOFF))
        return [Close()]

    def close(self) -> list[messages.Request]:
        """The connection ends: the last messages for the session host."""
        self.login.close()
        return self.output.closing_messages()
