"""The session's screen as the host reads it: its X connection and events, damage, the
snapshot the encoders read, the cursor image and the pointer position.

The connection's events are read as its descriptor signals (``drain``): RandR says the screen
has a new size, XFixes that the cursor image changed, XInput2 raw motion
that the pointer moved. Each is reported to a ``CaptureListener``; events of other parts
(keymap changes, selection traffic) go to its ``other_event``. The parts that act on the
display (input, clipboard) are handed the connection that ``open`` returns. Damage, that the
screen changed and where, comes on a connection of its own (``xregion.DamageConnection``),
read as its descriptor signals too.
"""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import randr, xfixes, xinput

from compositor import messages, rects, xregion
from compositor.display import DisplayError
from compositor.framebuffer import ShmFramebuffer, XGetImageFramebuffer, XwdFramebuffer, attached_framebuffer

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line

# What python-xlib raises when the X server has gone away.
CONNECTION_LOST = (xerror.ConnectionClosedError, OSError)
MIN_SIZE = 64
POINTER_HZ = 60  # at most this many pointer reads a second, and only while it moves
POINTER_CHECK = 1.0  # seconds between pointer checks of a still screen (warps make no raw event)
MAX_EVENTS_PER_TURN = 500


@dataclass(frozen=True)
class CaptureListener:
    """Who hears what the capture reads from the X server."""

    damaged: Callable[[], None]  # the screen changed: ``collect_damage`` says where
    pointer_motion: Callable[[], None]  # the pointer moved: ``schedule_pointer_read`` reads it
    resized: Callable[[int, int], None]  # the screen's new size, already applied
    cursor_changed: Callable[[], None]  # ``read_cursor`` gives the new image
    pointer_at: Callable[[int, int], None]  # a pointer read found it at a new position
    other_event: Callable[[Any], None]  # an X event of another part (keymap, selections)
    lost: Callable[[str], None]  # the X connection is gone, and why


class Capture:
    """The X connection of a session host and what it reads of the screen.

    An Xvfb's framebuffer is read in place (its ``-fbdir`` file); an attached display, somebody's
    running session, is copied into ours as damage reports it, and only while somebody watches.
    """

    def __init__(self, *, session: str, attached: bool, stopping: asyncio.Event) -> None:
        self.session = session
        self.attached = attached
        self._stopping = stopping
        self.display: xdisplay.Display | None = None
        self.fb: XwdFramebuffer | ShmFramebuffer | XGetImageFramebuffer | None = None
        self.pointer = (-1, -1)
        self._listener: CaptureListener | None = None
        self._snapshot: np.ndarray | None = None
        self._damage: xregion.DamageConnection | None = None
        self._damage_pending = False
        self._x_fd: int | None = None
        self._damage_fd: int | None = None
        self._xi2 = False  # pointer motion comes as XInput2 raw events (else it is polled)
        self._pointer_handle: asyncio.Handle | None = None
        self._last_pointer_read = 0.0

    # -- the connection -------------------------------------------------------------------

    def open(self, display_name: str, framebuffer_path: Path | None, listener: CaptureListener) -> xdisplay.Display:
        """Connect to the display and ask for its events; ``framebuffer_path`` is the Xvfb's
        framebuffer file (None for an attached display). Returns the connection."""
        self._listener = listener
        self.display = d = xdisplay.Display(display_name)
        root = d.screen().root
        for ext in ("DAMAGE", "XFIXES", "RANDR", "XTEST"):
            if not d.has_extension(ext):
                raise DisplayError(f"X server {display_name} lacks the {ext} extension")
        d.damage_query_version()
        d.xfixes_query_version()
        # Xvfb draws a software cursor into the framebuffer; hidden for as long as we are
        # connected, it stays out of frames and screenshots (front ends draw it themselves).
        # An attached display may have somebody at its monitor: leave its cursor alone.
        if not self.attached:
            root.xfixes_hide_cursor()
        geometry = root.get_geometry()
        if framebuffer_path is not None:
            self.fb = XwdFramebuffer(framebuffer_path)
            self.fb.set_visible_size(geometry.width, geometry.height)
        else:
            self.fb = attached_framebuffer(d, geometry.width, geometry.height)
        # NonEmpty + Subtract into a region: one event and one round trip per frame, however
        # fast clients draw (raw rectangles would be an event per drawing request).
        self._damage = xregion.DamageConnection(display_name)
        self._damage_pending = self._damage.notified
        self._damage.notified = False
        d.xfixes_select_cursor_input(root, xfixes.XFixesDisplayCursorNotifyMask)
        if d.has_extension("XInputExtension"):
            # Raw motion reaches the root window whoever has the pointer: the pointer position
            # is read when it moves, not polled.
            d.xinput_query_version()
            root.xinput_select_events([(xinput.AllMasterDevices, xinput.RawMotionMask)])
            self._xi2 = True
        root.xrandr_select_input(randr.RRScreenChangeNotifyMask)
        return d

    def start_reading(self) -> None:
        """Read events as the connection's descriptor signals them."""
        loop = asyncio.get_running_loop()
        self._x_fd = self.display.fileno()
        loop.add_reader(self._x_fd, self.drain)
        self._damage_fd = self._damage.fileno()
        loop.add_reader(self._damage_fd, self.drain_damage)

    def stop_reading(self) -> None:
        """No more event or pointer reads (the connection stays open until ``close``)."""
        if self._pointer_handle is not None:
            self._pointer_handle.cancel()
        loop = asyncio.get_running_loop()
        for fd in (self._x_fd, self._damage_fd):
            if fd is not None:
                loop.remove_reader(fd)

    def close(self) -> None:
        """Close the connections and the framebuffer."""
        for connection in (self._damage, self.display):
            if connection is not None:
                try:
                    connection.close()
                except (xerror.ConnectionClosedError, xerror.XError, OSError):
                    pass  # the X server may already be gone: nothing to tidy there
        if self.fb is not None:
            self.fb.close()

    def drain(self) -> None:
        """Handle the events that have arrived, at most MAX_EVENTS_PER_TURN before requests and
        frames get their turn."""
        d = self.display
        if d is None or self._stopping.is_set():
            return
        moved = False
        handled = 0
        inner = d.display  # python-xlib's protocol connection: its event queue and send buffer
        try:
            # One poll of the socket per drain (its descriptor signalled, or events were queued
            # meanwhile): events python-xlib has queued are taken without polling again, and
            # what arrives later signals the descriptor anew.
            while inner.event_queue or (not handled and d.pending_events()):
                handled += 1
                if handled > MAX_EVENTS_PER_TURN:  # let requests and frames through, then go on
                    asyncio.get_running_loop().call_soon(self.drain)
                    break
                e = d.next_event()
                # python-xlib registers a *copy* of each extension event class, so
                # isinstance() against Xlib.ext classes is always False: match by name.
                kind = type(e).__name__
                if kind == "ScreenChangeNotify":
                    self._screen_changed(e.width_in_pixels, e.height_in_pixels)
                elif kind == "DisplayCursorNotify":
                    self._listener.cursor_changed()
                elif getattr(e, "evtype", None) == xinput.RawMotion:
                    moved = True
                else:
                    self._listener.other_event(e)
            if inner.data_send or inner.request_queue:
                d.flush()  # requests an event's handling queued without a round trip
        except CONNECTION_LOST as exc:
            self._listener.lost(f"X connection lost: {exc}")
            return
        if moved:
            self._listener.pointer_motion()

    def drain_damage(self) -> None:
        """Read the damage connection's events (its descriptor signalled)."""
        if self._damage is None or self._stopping.is_set():
            return
        try:
            notified = self._damage.receive()
        except CONNECTION_LOST as exc:
            self._listener.lost(f"X connection lost: {exc}")
            return
        if notified:
            self._damage_notified()

    def _damage_notified(self) -> None:
        if self._stopping.is_set():
            return
        self._damage.notified = False
        self._damage_pending = True
        self._listener.damaged()

    def after_x_request(self) -> None:
        """Drain soon if python-xlib read events while waiting for a reply (the descriptor
        won't signal those) or holds requests not sent yet; else the descriptor will signal
        what comes, and a drain now would only poll the socket."""
        if self.queued():
            asyncio.get_running_loop().call_soon(self.drain)

    def queued(self) -> bool:
        """Events python-xlib has taken off the socket but not handed out, or requests it has
        not sent (``drain`` flushes them)."""
        d = self.display
        if d is None:
            return False
        inner = d.display  # python-xlib's protocol connection: its queues and send buffer
        return bool(inner.event_queue) or bool(inner.request_queue) or bool(inner.data_send)

    def drain_queued(self) -> None:
        """``drain`` if anything is ``queued``."""
        if self.queued():
            self.drain()

    # -- the screen -----------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        return self.fb.width, self.fb.height

    @property
    def max_size(self) -> tuple[int, int]:
        return self.fb.max_width, self.fb.max_height

    def status(self) -> dict[str, Any]:
        return {"width": self.fb.width, "height": self.fb.height, "max_width": self.fb.max_width,
                "max_height": self.fb.max_height, "capture": self.fb.capture}

    def collect_damage(self) -> list[rects.Rect] | None:
        """What changed since the last call (re-arming the damage notification), or None when
        nothing was reported. Raises a CONNECTION_LOST error when the X server is gone."""
        if not self._damage_pending:
            return None
        self._damage_pending = False
        damaged = self._damage.read()  # DamageSubtract into the region, FetchRegion
        self._after_damage_round_trip()
        return damaged

    def _after_damage_round_trip(self) -> None:
        """A damage event read while waiting for a reply on the damage connection is heard
        soon: its descriptor won't signal it."""
        if self._damage.notified:
            asyncio.get_running_loop().call_soon(self._damage_notified)

    def refresh(self, damaged: list[rects.Rect]) -> None:
        """Bring an attached display's copy of the screen up to date where it changed (an
        Xvfb's framebuffer is the screen itself)."""
        if self.attached:
            self.fb.refresh(rects.merge(damaged, self.fb.width, self.fb.height))

    def refresh_attached(self) -> None:
        """In attach mode the copy of the screen is only kept current while somebody watches:
        all of it, for a first viewer or a screenshot."""
        if self.attached:
            self.fb.refresh([(0, 0, self.fb.width, self.fb.height)])
            self.after_x_request()

    @property
    def snapshot(self) -> np.ndarray | None:
        """The screen as the encoders see it (``take_snapshot``)."""
        return self._snapshot

    def take_snapshot(self, changed: list[rects.Rect] | None) -> None:
        """Copy what changed (None: the whole screen) into the snapshot the encoders read. Xvfb
        keeps drawing into the live framebuffer while an encoder works: encoding, remembering
        what was sent (for copies and unchanged-tile checks) and touch-ups must all see one
        picture, or a client ends up with pixels from two moments that nothing repairs (a
        scrolling terminal showed glyph cells of the next line). A whole frame costs 0.7 ms at
        1080p."""
        screen = self.fb.screen()
        if self._snapshot is None or self._snapshot.shape != screen.shape or changed is None:
            self._snapshot = np.array(screen)
            return
        for x, y, w, h in rects.merge(changed, self.fb.width, self.fb.height):
            self._snapshot[y:y + h, x:x + w] = screen[y:y + h, x:x + w]

    def drop_snapshot(self) -> None:
        """Nobody subscribes: the next subscriber's first frame takes a whole new snapshot."""
        self._snapshot = None

    def screenshot_png(self) -> bytes:
        from PIL import Image

        screen = self.fb.screen()
        rgb = np.ascontiguousarray(screen[:, :, 2::-1])
        out = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(out, "PNG", compress_level=1)
        return out.getvalue()

    async def resize(self, width: int, height: int, env: dict[str, str]) -> tuple[int, int]:
        """Ask for ``width`` x ``height`` (clamped to what the display allows), with ``xrandr``
        run in ``env``; the size the screen has now."""
        if self.attached:  # somebody's real display: its size is not the viewers' to change
            return self.size
        width = max(MIN_SIZE, min(int(width), self.fb.max_width))
        height = max(MIN_SIZE, min(int(height), self.fb.max_height))
        if (width, height) != self.size:
            await asyncio.to_thread(xrandr_set_size, env, width, height)
            geometry = self.display.screen().root.get_geometry()
            self.after_x_request()
            self._screen_changed(geometry.width, geometry.height)
        return self.size

    def _screen_changed(self, width: int, height: int) -> None:
        if (width, height) == self.size:
            return
        self.fb.set_visible_size(width, height)
        log.info("screen resized session=%s size=%dx%d", self.session, self.fb.width, self.fb.height)
        self._listener.resized(self.fb.width, self.fb.height)

    # -- cursor and pointer ---------------------------------------------------------------

    def read_cursor(self) -> messages.Cursor:
        d = self.display
        image = d.xfixes_get_cursor_image(d.screen().root)
        argb = np.asarray(image.cursor_image, dtype=np.uint32).reshape(image.height, image.width)
        a = (argb >> 24).astype(np.uint16)
        rgb = [((argb >> shift) & 0xFF).astype(np.uint16) for shift in (16, 8, 0)]
        with np.errstate(divide="ignore", invalid="ignore"):
            # XFixes gives premultiplied alpha; front ends want straight alpha.
            straight = [np.where(a > 0, np.minimum(c * 255 // np.maximum(a, 1), 255), 0) for c in rgb]
        rgba = np.dstack([*straight, a]).astype(np.uint8)
        self.after_x_request()
        return messages.Cursor(serial=image.cursor_serial, width=image.width, height=image.height,
                               xhot=image.xhot, yhot=image.yhot, rgba=rgba.tobytes())

    @property
    def pointer_events(self) -> bool:
        """Pointer motion comes as events (XInput2); without them it has to be polled."""
        return self._xi2

    def schedule_pointer_read(self, delay: float | None = None) -> None:
        """Read the pointer position after ``delay``, by default as soon as POINTER_HZ allows."""
        if self._pointer_handle is not None or self._stopping.is_set():
            return
        if delay is None:
            delay = max(0.0, self._last_pointer_read + 1.0 / POINTER_HZ - time.monotonic())
        self._pointer_handle = asyncio.get_running_loop().call_later(delay, self.read_pointer)

    def check_pointer(self, now: float) -> None:
        """A still screen's pointer check: a read when motion is polled, or when the last read
        is POINTER_CHECK old (a program warping the pointer makes no raw motion event)."""
        if not self._xi2 or now - self._last_pointer_read >= POINTER_CHECK:
            self.read_pointer()

    def read_pointer(self) -> None:
        self._pointer_handle = None
        self._last_pointer_read = time.monotonic()
        try:
            position = self._damage.query_pointer()  # the damage connection's round trip is the cheaper
        except CONNECTION_LOST:
            return
        if position != self.pointer:
            self.pointer = position
            self._listener.pointer_at(*position)
        self._after_damage_round_trip()


def xrandr_set_size(env: dict[str, str], width: int, height: int) -> None:
    """Switch the screen to ``width`` x ``height`` with a RandR mode (created on first use)."""
    name = f"wrd{width}x{height}"
    query = subprocess.run(["xrandr", "-q"], env=env, capture_output=True, text=True, timeout=10, check=True)
    output = next((line.split()[0] for line in query.stdout.splitlines() if " connected" in line), "screen")
    if name not in query.stdout:
        subprocess.run(["xrandr", "--newmode", name, "0", str(width), "0", "0", "0", str(height), "0", "0", "0"],
                       env=env, capture_output=True, timeout=10, check=True)
        subprocess.run(["xrandr", "--addmode", output, name], env=env, capture_output=True, timeout=10, check=True)
    result = subprocess.run(["xrandr", "--output", output, "--mode", name], env=env, capture_output=True,
                            text=True, timeout=10)
    if result.returncode != 0:
        raise OSError(f"xrandr could not set {width}x{height}: {result.stderr.strip()}")
