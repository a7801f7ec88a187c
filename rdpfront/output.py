"""What one client is shown, and when, sans-IO: the output side of an active connection.

``Output`` joins the output parts and makes the decisions that span them:

- ``BitmapOutput`` (the host's bitmap stream), ``GfxOutput`` (the graphics pipeline) and
  ``PointerOutput`` (cursor image and pointer position);
- ``Damage``: areas the client must get again (activation, Refresh Rect, output resumed);
- the size of the session and of the client's desktop: a session resized (by this client's
  Display Control request, or pushed by the host) is given to the client with a new surface
  when the graphics pipeline is up, otherwise with a deactivation-reactivation;
- when output starts (``start``: FreeRDP fails on any update before its post-connect, so the
  driver calls it at the client's first input or a moment after activation) and whether the
  client suppressed it (minimised);
- the login form's picture while it is shown, encoded here (``LoginFormJob``, run by the driver
  on a worker thread): its pixels are this server's own, not the session's.

Methods return the bytes to write to the client at once, in order with the connection's own
output. Messages for the session host gather in ``to_host`` (``host_messages``). What the
driver must await is returned as a request (``GfxStart.subscribe``, ``SessionResize``, the
``Subscribe`` of ``bitmap_round``), and its answer goes to the method named with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

import numpy as np

from compositor import messages
from compositor.client import HostError
from compositor.rects import disjoint
from rdpfront import events as ev
from rdpfront import wire
from rdpfront.bitmap_output import BitmapOutput, Damage, Rect, max_update_size
from rdpfront.connection import ServerConnection
from rdpfront.gcc.client_data import EarlyCapabilityFlags
from rdpfront.gfx_output import AVC420, GfxOutput
from rdpfront.host_frames import BITMAP_BYTES_PER_SECOND, size_only_screen
from rdpfront.monitors import monitor_defs, monitor_layout_pdu
from rdpfront.pointer_output import PointerOutput

log = logging.getLogger(__name__)

RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU = EarlyCapabilityFlags.RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU


class Source(Enum):
    """What the output loop draws from."""

    HOST_BITMAPS = "host bitmaps"  # the host's bitmap stream (bitmap updates, or Planar frames)
    LOGIN_FORM = "login form"
    NONE = "none"  # nothing to draw (H.264 through the graphics pipeline draws on its own)


@dataclass(frozen=True)
class GfxStart:
    """The graphics pipeline taken into use: the new surface to write, and for AVC420 the
    subscription to the host's H.264 stream to make."""

    reset: bytes
    subscribe: messages.Subscribe | None


@dataclass(frozen=True)
class SessionResize:
    """A resize to ask the session host for, and the client's size when it was asked."""

    request: messages.Resize
    before: tuple[int, int]
    before_monitors: tuple[messages.Monitor, ...] = ()


@dataclass(frozen=True)
class LoginFormJob:
    """The login form's damaged areas to encode as TS_BITMAP_DATA (``run`` takes a while)."""

    screen: np.ndarray
    rects: list[Rect]
    bpp: int
    max_update_size: int
    compress: bool

    def run(self) -> list[bytes]:
        from rdpfront.codecs import build_bitmap_data

        return build_bitmap_data(self.screen, self.rects, bpp=self.bpp, max_update_size=self.max_update_size,
                                 compress=self.compress)


def clipped(rects: list[Rect], width: int, height: int) -> list[Rect]:
    """``rects`` made disjoint and cut to a ``width`` x ``height`` screen (empty ones left out)."""
    out = []
    for x, y, w, h in disjoint(rects):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


class Output:
    """The picture one client is shown: from its session host, or the login form."""

    def __init__(self, conn: ServerConnection, *, compress: bool = True, gfx_h264: bool = True,
                 gfx_lossless: bool = True, bitmap_bytes_per_second: float = BITMAP_BYTES_PER_SECOND,
                 log_context: str = "") -> None:
        self.conn = conn
        self._compress = compress
        self._log = log_context
        self.to_host: list[messages.Request] = []
        self.damage = Damage()
        self.gfx = GfxOutput(conn, self.to_host, h264=gfx_h264, lossless=gfx_lossless, log_context=log_context)
        self.bitmaps = BitmapOutput(conn, self.gfx, self.to_host, compress=compress,
                                    bytes_per_second=bitmap_bytes_per_second)
        self.pointer = PointerOutput(log_context)
        # The login form's picture, or a session's size (``size_only_screen``: no pixels).
        self.screen: np.ndarray | None = None
        self.attached = False  # to a session host
        self.form_shown = False  # the login form is the picture
        self.form_stale = False  # it changed and waits to be drawn (``Bridge.draw_login_form``)
        self.allowed = True  # the client did not suppress output
        self.ready = False  # output started since the last activation
        self.activations = 0  # the first one and every reactivation
        self.pending_layout: ev.DisplayLayout | None = None  # asked for mid-reactivation
        self.monitors: tuple[messages.Monitor, ...] = ()  # the session's layout; () is one monitor
        self.deferred_gfx: ev.GfxReady | None = None  # negotiated while the login form was up

    def host_messages(self) -> list[messages.Request]:
        out = list(self.to_host)
        self.to_host.clear()
        return out

    @property
    def pending(self) -> bool:
        """Something waits for the output loop."""
        return bool(self.damage) or bool(self.bitmaps.frames) or self.pointer.pending or self.form_stale

    @property
    def drawing(self) -> bool:
        """The client is active and takes output."""
        return self.conn.active and self.ready

    def source(self) -> Source:
        """What the output loop draws from now; with nothing to draw from, damage is dropped."""
        if self.bitmaps.stream is not None:
            return Source.HOST_BITMAPS
        if self.form_shown:
            return Source.LOGIN_FORM
        self.damage.clear()
        return Source.NONE

    def session_size(self) -> tuple[int, int] | None:
        """The attached session's size, None while no session is attached."""
        if not self.attached or self.screen is None:
            return None
        return self.screen.shape[1], self.screen.shape[0]

    def _full_screen(self) -> None:
        if self.screen is not None:
            self.damage.add((0, 0, self.screen.shape[1], self.screen.shape[0]))

    # ---- the client ------------------------------------------------------------------------------

    def activated(self, event: ev.Activated) -> bytes:
        """(Re)activation: everything is due again once output starts, at the session's size."""
        self.activations += 1
        self.ready = False
        self.damage.add((0, 0, event.width, event.height))
        session = self.session_size()
        if session is not None and session != (event.width, event.height):
            return self.give_size(*session)  # the session was resized again while it reactivated
        if self.gfx.mode is not None and event.reactivation and self.conn.gfx_ready:
            return self.gfx_reset() + self.monitor_layout()
        return self.monitor_layout()

    def start(self) -> bool:
        """Output may start (the client's first input, or a moment after activation). True if
        it started now: the current cursor image is due and the output loop has work."""
        if self.ready or not self.conn.active:
            return False
        self.ready = True
        self.pointer.output_started()
        return True

    def pointer_updates(self, congested: bool) -> bytes:
        """Cursor image and position changes, unless output has not started or the socket is
        backed up (``congested``): then the latest of each waits for the output loop."""
        if not self.drawing or congested:
            return b""
        h, w = self.screen.shape[:2] if self.screen is not None else (self.conn.height, self.conn.width)
        return self.pointer.take(self.conn, w, h)

    def refresh(self, event: ev.RefreshRect) -> None:
        for a in event.areas:
            self.damage.add((a.left, a.top, a.right - a.left + 1, a.bottom - a.top + 1))
        self.gfx.keyframe()

    def suppress(self, event: ev.SuppressOutput) -> None:
        self.allowed = event.allow
        log.info("%s output %s", self._log, "resumed" if event.allow else "suppressed")
        if event.allow:
            self._full_screen()
            self.gfx.keyframe()

    def gfx_acknowledged(self, event: ev.GfxFrameAcknowledged) -> None:
        self.gfx.acknowledged(event)

    # ---- sizes -----------------------------------------------------------------------------------

    def give_size(self, width: int, height: int) -> bytes:
        """Tell the active client the desktop is ``width`` x ``height``: through the graphics
        pipeline when it is up (Reset Graphics and a new surface), otherwise by a
        deactivation-reactivation. Also when the size stays, so a client that waits for an
        answer before asking again is not left waiting."""
        if self.gfx.mode is not None and self.conn.gfx_ready:
            return self.gfx_reset((width, height)) + self.monitor_layout()
        return self.conn.resize(width, height)  # its activation tells the monitors

    def monitor_layout(self) -> bytes:
        """[MS-RDPBCGR 2.2.12.1] The session's monitors, to an active client that takes the
        Monitor Layout PDU, when the session has several that lie on the client's desktop."""
        client = self.conn.acceptor.client
        flags = (client.core.early_capability_flags or 0) if client is not None else 0
        if not (self.monitors and flags & RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU and self.conn.active
                and self.monitor_defs(self.conn.width, self.conn.height)):
            return b""
        log.info("%s monitor layout sent: %d monitors", self._log, len(self.monitors))
        return wire.share_data(monitor_layout_pdu(self.monitors))

    def monitor_defs(self, width: int, height: int) -> list[tuple[int, int, int, int, int]]:
        """The session's monitors as TS_MONITOR_DEF fields for a ``width`` x ``height``
        output; none (one monitor covering it) unless every monitor lies on it."""
        if all(m.x + m.width <= width and m.y + m.height <= height for m in self.monitors):
            return monitor_defs(self.monitors)
        return []

    def gfx_reset(self, size: tuple[int, int] | None = None) -> bytes:
        """A new surface at ``size`` (default: the current size), drawn whole again."""
        width, height = size or (self.conn.width, self.conn.height)
        data = self.gfx.reset(width, height, self.monitor_defs(width, height))
        if self.gfx.mode != AVC420:  # AVC420 asked the host for a keyframe
            self._full_screen()
        return data

    def resize_request(self, width: int, height: int,
                       layout: tuple[messages.Monitor, ...] = ()) -> SessionResize | None:
        """The client's window or monitors changed (Display Control), or it came with several
        monitors: the session is to be resized to ``width`` x ``height`` laid out as
        ``layout``, once the client is active again when it asks mid-reactivation."""
        if not self.attached:
            return None
        if not self.conn.active:
            self.pending_layout = ev.DisplayLayout(width, height, max(1, len(layout)), layout)
            return None
        self.pending_layout = None
        return SessionResize(messages.Resize(width=width, height=height, monitors=layout),
                             (self.conn.width, self.conn.height), self.monitors)

    def resize_answered(self, resize: SessionResize, reply: messages.ResizeReply | HostError) -> bytes:
        """The host's ``resized`` push gives every client of the session the new size; when the
        size stays (already that size, or held to the session's maximum) this client is given
        it anyway, so a client waiting for an answer before asking again is not stuck."""
        asked = resize.request
        if isinstance(reply, HostError):
            log.warning("%s resize to %dx%d failed: %s", self._log, asked.width, asked.height, reply)
            after, layout = resize.before, resize.before_monitors
        else:
            after, layout = (reply.width, reply.height), reply.monitors
        log.info("%s client asked for %dx%d on %d monitor(s), session is %dx%d on %d", self._log, asked.width,
                 asked.height, max(1, len(asked.monitors)), *after, max(1, len(layout)))
        if after == resize.before and layout == resize.before_monitors and self.conn.active:  # no `resized` push
            return self.give_size(*resize.before)
        return b""

    # ---- the graphics pipeline -------------------------------------------------------------------

    def start_gfx(self, event: ev.GfxReady) -> GfxStart | None:
        """Draw through the graphics pipeline: H.264 from the session host (one encode per
        session, whoever watches) when the client takes AVC420, otherwise Planar images from the
        host's bitmap stream (subscribed again with the pipeline's layout). While the login form
        is up this waits for the session (``attach`` returns it)."""
        if self.gfx.mode is not None:
            return None
        if not self.attached:
            self.deferred_gfx = event
            return None
        subscribe = self.gfx.choose(event)
        return GfxStart(self.gfx_reset(), subscribe)

    def gfx_started(self) -> None:
        """The pipeline draws (for AVC420, from the H.264 stream now subscribed)."""
        if self.gfx.mode == AVC420:
            self.bitmaps.unsubscribe()  # it only fed bitmap updates
        log.info("%s drawing through the graphics pipeline (%s)", self._log, self.gfx.mode)

    # ---- the session host ------------------------------------------------------------------------

    def subscription(self) -> messages.Subscribe:
        """The first subscription to the session host's picture (its reply to ``attach``)."""
        return self.bitmaps.subscription()

    def attach(self, reply: messages.SubscribeReply) -> None:
        """Subscribed to a session's picture: it is what the client is shown from now on."""
        self.bitmaps.subscribed(reply)
        self.screen = size_only_screen(reply.width, reply.height)
        self.monitors = reply.monitors
        self.attached = True

    def enter_session(self) -> tuple[bytes, ev.GfxReady | None]:
        """The session replaces the login form on an active client: at the session's size (the
        desktop may already run at another one). Also the graphics pipeline negotiated
        meanwhile, to take into use now."""
        deferred, self.deferred_gfx = self.deferred_gfx, None
        size = self.session_size()
        if size is not None and size != (self.conn.width, self.conn.height) and self.conn.active:
            return self.give_size(*size), deferred
        self._full_screen()
        return b"", deferred

    def closing_messages(self) -> list[messages.Request]:
        """The connection ends: keys and buttons this client holds are released in the session,
        and its streams end (the host would go on encoding them)."""
        streams = [s for s in (self.bitmaps.stream, self.gfx.stream) if s is not None]
        if not streams:
            return []
        return [messages.Input(events=(messages.ReleaseAllEvent(),)),
                *(messages.Unsubscribe(stream=s) for s in streams)]

    def host_frame(self, frame: messages.Frame) -> None:
        if frame.stream == self.bitmaps.stream:
            self.bitmaps.push(frame)
        elif self.gfx.stream is not None and frame.stream == self.gfx.stream:
            self.gfx.push(frame)

    def host_resized(self, push: messages.Resized) -> bytes:
        self.screen = size_only_screen(push.width, push.height)
        self.monitors = push.monitors
        self.damage.clear()
        return self.give_size(push.width, push.height) if self.conn.active else b""

    # ---- host bitmaps and the login form ---------------------------------------------------------

    def bitmap_round(self) -> messages.Subscribe | None:
        """Before writing host frames: damage asks the host for a full frame, from a new
        stream when the client needs another one now (the subscription to make, its reply to
        ``bitmaps.subscribed``)."""
        if not self.damage:
            return None
        self.damage.clear()
        return self.bitmaps.full_frame()

    def bitmaps_allowed(self) -> bool:
        """Whether the waiting host frames are to be written: while the client is minimised they
        are dropped (a full frame follows when it is back)."""
        if not self.allowed:
            self.bitmaps.drop_waiting()
        return self.allowed

    def login_changed(self) -> None:
        """The login form is shown and changed: the output loop draws it."""
        self.form_shown = self.form_stale = True

    def show_login(self, image: np.ndarray, area: Rect | None = None) -> None:
        """The login form's picture, of which ``area`` changed (all of it by default)."""
        self.screen = image
        self.form_shown = True
        self.form_stale = False
        self.damage.add(area or (0, 0, image.shape[1], image.shape[0]))

    def close_login(self) -> None:
        """The login form is done; the session's picture follows."""
        self.form_shown = self.form_stale = False

    def login_form_job(self) -> LoginFormJob | None:
        """The login form's damaged areas to encode, if any are due."""
        if not self.allowed or self.screen is None or not self.damage:
            return None
        h, w = self.screen.shape[:2]
        rects = clipped(self.damage.take(), w, h)
        if not rects or self.gfx.mode is not None:
            return None
        return LoginFormJob(self.screen, rects, bpp=self.conn.bpp, max_update_size=max_update_size(self.conn),
                            compress=self._compress)

    def login_form_encoded(self, bitmaps: list[bytes]) -> bytes:
        if self.conn.closed or not self.conn.active:
            return b""
        self.bitmaps.updates_sent += 1
        return self.conn.bitmap_update(bitmaps)
