"""Touch input in the session host: ``touch`` / ``touch_frame`` events to where they belong.

A touch *sequence* starts when a contact goes down while none is, and ends at the frame after
which no contact is down. Its target is chosen once, at its first contact:

* a window of the Wayland compositor (it marks its X windows with ``_WRD_TOUCH_WINDOW``):
  every event goes to that window as a ``_WRD_TOUCH`` ClientMessage, and the compositor sends
  ``wl_touch.down/motion/up/frame/cancel`` to the client owning the surface
  (``compositor/wayland/handlers/touch.py``);
* anything else (X11 programs, the desktop background): the first contact drives the pointer
  through XTEST (move + button 1), the others are ignored. Xvfb has no touch-capable input
  device and X clients cannot create one (docs/touch.md), so X11 programs never see XI2 touch.

Bounds, each with a log line, each affecting only the client that sent the touch:
contact ids are 0..9 (checked by ``compositor.messages``); a down for a contact already down
and motion/up of a contact not down are dropped; a sequence whose frame is not closed within
``FRAME_TIMEOUT`` seconds is cancelled; a sequence belongs to the control connection that
started it, touch from another connection meanwhile is dropped, and the sequence is cancelled
when its connection closes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from Xlib import X
from Xlib.error import XError
from Xlib.protocol import event as xevent

from compositor import messages

log = logging.getLogger(__name__)

FRAME_TIMEOUT = 1.0  # seconds a touch frame may stay open
TOUCH_ATOM = "_WRD_TOUCH"  # ClientMessage type: host -> compositor
WINDOW_ATOM = "_WRD_TOUCH_WINDOW"  # property the compositor puts on its X windows


class Wire(enum.IntEnum):
    """``data[0] & 0xff`` of a ``_WRD_TOUCH`` ClientMessage; the contact id is ``data[0] >> 8``,
    ``data[1]``/``data[2]`` the window-local position (32-bit two's complement)."""

    DOWN = 0
    MOTION = 1
    UP = 2
    FRAME = 3
    CANCEL = 4


_PHASE_WIRE = {messages.TouchPhase.DOWN: Wire.DOWN, messages.TouchPhase.MOTION: Wire.MOTION,
               messages.TouchPhase.UP: Wire.UP, messages.TouchPhase.CANCEL: Wire.CANCEL}


def pack(kind: Wire, contact: int = 0, x: int = 0, y: int = 0) -> list[int]:
    """The five 32-bit words of a ``_WRD_TOUCH`` ClientMessage."""
    return [int(kind) | (contact << 8), x & 0xFFFFFFFF, y & 0xFFFFFFFF, 0, 0]


def unpack(data: Iterable[int]) -> tuple[Wire, int, int, int] | None:
    """(kind, contact, x, y) of a ``_WRD_TOUCH`` ClientMessage's words, None if malformed."""
    words = list(data)
    if len(words) < 3:
        return None
    head, x, y = (int(w) & 0xFFFFFFFF for w in words[:3])
    try:
        kind = Wire(head & 0xFF)
    except ValueError:
        return None
    contact = head >> 8
    if contact >= messages.MAX_TOUCH_CONTACTS:
        return None

    def signed(v: int) -> int:
        return v - (1 << 32) if v & 0x80000000 else v

    return kind, contact, signed(x), signed(y)


@dataclass
class Sequence:
    owner: Any  # the control connection that started it
    window: Any | None  # the compositor's X window, or None: pointer emulation
    origin: tuple[int, int] = (0, 0)  # the window's position on the screen
    contacts: dict[int, tuple[int, int]] = field(default_factory=dict)
    primary: int | None = None  # the contact that drives the pointer (emulation)
    open_frame: bool = False


class TouchRouter:
    """The session's touch state. ``pointer(events)`` performs pointer events (the host's
    ``InputSink.handle``) for emulation; ``call_later`` arms the frame timeout."""

    def __init__(self, display: Any, pointer: Callable[[list[dict[str, Any]]], None], *, session: str = "",
                 call_later: Callable[[float, Callable[[], None]], Any] | None = None) -> None:
        self._d = display
        self._pointer = pointer
        self._session = session
        self._call_later = call_later or (lambda delay, fn: asyncio.get_running_loop().call_later(delay, fn))
        self._touch_atom = display.intern_atom(TOUCH_ATOM)
        self._window_atom = display.intern_atom(WINDOW_ATOM)
        self.sequence: Sequence | None = None
        self._timer: Any = None
        self.refused = 0  # events dropped by the bounds above (for tests and status)

    # -- entry points ---------------------------------------------------------------------

    def handle(self, owner: Any, event: messages.TouchEvent | messages.TouchFrameEvent) -> None:
        """One touch event of ``owner``'s input request (already clamped to the screen)."""
        seq = self.sequence
        if seq is not None and seq.owner is not owner:
            self._refuse("touch from a second client while another's sequence is active")
            return
        if isinstance(event, messages.TouchFrameEvent):
            self._frame()
            return
        if event.phase is messages.TouchPhase.CANCEL:
            if seq is not None:
                self.cancel("cancelled by the client")
            return
        if event.phase is messages.TouchPhase.DOWN:
            if seq is None:
                seq = self.sequence = self._start(owner, event.x, event.y)
            if event.id in seq.contacts:
                self._refuse(f"touch down for contact {event.id}, which is already down")
                return
            seq.contacts[event.id] = (event.x, event.y)
            if seq.primary is None and seq.window is None and len(seq.contacts) == 1:
                seq.primary = event.id
        elif seq is None or event.id not in seq.contacts:
            self._refuse(f"touch {event.phase.value} for contact {event.id}, which is not down")
            return
        elif event.phase is messages.TouchPhase.UP:
            del seq.contacts[event.id]
        else:
            seq.contacts[event.id] = (event.x, event.y)
        self._deliver(seq, event)
        seq.open_frame = True
        if self._timer is None:
            self._timer = self._call_later(FRAME_TIMEOUT, self._frame_timeout)

    def forget(self, owner: Any) -> None:
        """``owner``'s connection closed: its sequence, if any, is cancelled."""
        if self.sequence is not None and self.sequence.owner is owner:
            self.cancel("its connection closed")

    def cancel(self, reason: str) -> None:
        seq, self.sequence = self.sequence, None
        self._disarm()
        if seq is None:
            return
        log.info("touch sequence cancelled: %s contacts=%d session=%s", reason, len(seq.contacts), self._session)
        if seq.window is not None:
            self._send(seq.window, Wire.CANCEL)
            self._d.flush()
        elif seq.primary is not None and seq.primary in seq.contacts:
            self._pointer([{"t": "button", "button": 1, "down": False}])

    # -- internals ------------------------------------------------------------------------

    def _refuse(self, what: str) -> None:
        self.refused += 1
        log.warning("touch refused: %s session=%s", what, self._session)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _frame_timeout(self) -> None:
        self._timer = None
        if self.sequence is not None and self.sequence.open_frame:
            self.cancel(f"its frame was not closed within {FRAME_TIMEOUT:g} s")

    def _frame(self) -> None:
        seq = self.sequence
        if seq is None or not seq.open_frame:
            return
        seq.open_frame = False
        self._disarm()
        if seq.window is not None:
            self._send(seq.window, Wire.FRAME)
            self._d.flush()
        if not seq.contacts:
            self.sequence = None

    def _start(self, owner: Any, x: int, y: int) -> Sequence:
        try:
            window = self._wayland_window_at(x, y)
            if window is not None:
                origin = self._d.screen().root.translate_coords(window, 0, 0)  # the window's (0, 0) on the root
                return Sequence(owner, window, (origin.x, origin.y))
        except XError:  # a window of the walk went away meanwhile: no Wayland target
            pass
        return Sequence(owner, None)

    def _wayland_window_at(self, x: int, y: int) -> Any | None:
        """The deepest window of the compositor's under (x, y), if the top window there is one."""
        root = self._d.screen().root
        found = None
        window = root
        for _ in range(16):  # the tree is shallow: root > WM frame > client
            child = window.translate_coords(root, x, y).child  # the child of ``window`` under (x, y)
            if not child:
                break
            window = child
            if window.get_full_property(self._window_atom, X.AnyPropertyType) is not None:
                found = window
        return found

    def _deliver(self, seq: Sequence, event: messages.TouchEvent) -> None:
        if seq.window is not None:
            self._send(seq.window, _PHASE_WIRE[event.phase], event.id, event.x - seq.origin[0],
                       event.y - seq.origin[1])
            return
        if event.id != seq.primary:
            return  # pointer emulation follows the first contact only
        move = {"t": "move", "x": event.x, "y": event.y}
        if event.phase is messages.TouchPhase.DOWN:
            self._pointer([move, {"t": "button", "button": 1, "down": True}])
        elif event.phase is messages.TouchPhase.UP:
            self._pointer([move, {"t": "button", "button": 1, "down": False}])
        else:
            self._pointer([move])

    def _send(self, window: Any, kind: Wire, contact: int = 0, x: int = 0, y: int = 0) -> None:
        message = xevent.ClientMessage(window=window, client_type=self._touch_atom,
                                       data=(32, pack(kind, contact, x, y)))
        # No event mask: delivered to the window's creator, the compositor.
        window.send_event(message, event_mask=0, propagate=False)
