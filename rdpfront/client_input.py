"""Where a client's input goes, sans-IO: to the login form while it is shown, otherwise to the
session host as its input events (``compositor.messages``), through one table from the
client's event type to its handler.

Scan codes become evdev codes and Unicode code units characters (``keyboard.KeyInput``); the
pointer's moves are also noted for ``PointerOutput``, which must not echo them back.
"""

from __future__ import annotations

from collections.abc import Callable

from compositor import messages
from rdpfront import events as ev
from rdpfront.keyboard import KeyInput
from rdpfront.login_flow import Authenticate, LoginFlow
from rdpfront.pointer_output import PointerOutput

Routed = list[messages.InputEvent] | Authenticate  # for the host, or the login form submitted


class ClientInput:
    """One connection's input: ``receive(event)`` gives the host's input events for it, or
    ``Authenticate`` when it submitted the login form."""

    def __init__(self, login: LoginFlow, pointer: PointerOutput, log_context: str = "") -> None:
        self.keys = KeyInput(log_context)
        self._login = login
        self._pointer = pointer
        self._handlers: dict[type, Callable[[ev.Event], Routed]] = {
            ev.KeyboardEvent: self._key,  # type: ignore[dict-item]
            ev.UnicodeEvent: self._unicode,  # type: ignore[dict-item]
            ev.MouseEvent: self._mouse,  # type: ignore[dict-item]
            ev.WheelEvent: self._wheel,  # type: ignore[dict-item]
            ev.SyncEvent: self._sync,  # type: ignore[dict-item]
        }

    def handles(self, event: ev.Event) -> bool:
        return type(event) in self._handlers

    def receive(self, event: ev.Event) -> Routed:
        return self._handlers[type(event)](event)

    def _key(self, event: ev.KeyboardEvent) -> Routed:
        if self._login.form is not None:
            return self._login.key(event) or []
        key = self.keys.key(event)
        return [key] if key is not None else []

    def _unicode(self, event: ev.UnicodeEvent) -> Routed:
        char = self.keys.character(event)
        if char is None:
            return []
        if self._login.form is not None:
            self._login.text(char)
            return []
        return [messages.TextEvent(text=char)]

    def _mouse(self, event: ev.MouseEvent) -> Routed:
        self._pointer.client_moved(event.x, event.y)
        moves: list[messages.InputEvent] = [messages.MoveEvent(x=event.x, y=event.y)]
        if event.button is not None:
            moves.append(messages.ButtonEvent(button=event.button, down=event.down))
        return moves

    def _wheel(self, event: ev.WheelEvent) -> Routed:
        return [messages.WheelEvent(dx=event.dx, dy=event.dy)]

    def _sync(self, event: ev.SyncEvent) -> Routed:
        return [messages.LocksEvent(caps=event.caps_lock, num=event.num_lock, scroll=event.scroll_lock)]
