"""Client input PDUs ([2.2.8.1.1.3], [2.2.8.1.2]) as the driver's events: keys by scan code,
Unicode keys, pointer moves, buttons and wheel turns, lock-key synchronisation."""

from __future__ import annotations

from rdpfront import events
from rdpfront.input import (
    ExtendedPointerEvent,
    ExtendedPointerFlags,
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

WHEEL_UNITS_PER_NOTCH = 120


class InputMapper:
    """Keeps where the pointer last was (wheel events carry no usable position)."""

    def __init__(self) -> None:
        self.pointer_at = (0, 0)

    def map(self, event: InputEvent, width: int, height: int) -> list[events.Event]:
        """The driver events for one input event on a ``width`` x ``height`` desktop."""
        if isinstance(event, ScancodeEvent):
            return [events.KeyboardEvent(event.key_code, event.extended, not event.release, event.extended1)]
        if isinstance(event, UnicodeKeyEvent):
            return [events.UnicodeEvent(event.code_unit, not event.release)]
        if isinstance(event, SyncEvent):
            f = event.toggle_flags
            return [events.SyncEvent(bool(f & SyncToggleFlags.SCROLL_LOCK), bool(f & SyncToggleFlags.NUM_LOCK),
                                     bool(f & SyncToggleFlags.CAPS_LOCK), bool(f & SyncToggleFlags.KANA_LOCK))]
        if isinstance(event, PointerEvent):
            return self._pointer(event, width, height)
        if isinstance(event, ExtendedPointerEvent):
            self.pointer_at = (event.x, event.y)
            xflags = event.flags
            button = (8 if xflags & ExtendedPointerFlags.BUTTON1
                      else 9 if xflags & ExtendedPointerFlags.BUTTON2 else None)
            if button is None:
                return []
            return [events.MouseEvent(event.x, event.y, button, bool(xflags & ExtendedPointerFlags.DOWN))]
        if isinstance(event, RelativePointerEvent | QoeTimestampEvent | UnusedEvent):
            return []
        return []

    def _pointer(self, event: PointerEvent, width: int, height: int) -> list[events.Event]:
        flags = event.flags
        if flags & (PointerFlags.WHEEL | PointerFlags.HWHEEL):
            # Clients put 0, 0 (FreeRDP) or garbage in a wheel event's position: the wheel
            # turns where the pointer last was.
            x, y = self.pointer_at
            notches = event.wheel_delta / WHEEL_UNITS_PER_NOTCH
            if flags & PointerFlags.HWHEEL:
                return [events.WheelEvent(x, y, dx=notches)]
            # RDP: positive rotation = away from the user = scroll up; ours: + is down.
            return [events.WheelEvent(x, y, dy=-notches)]
        x, y = min(event.x, max(width - 1, 0)), min(event.y, max(height - 1, 0))
        self.pointer_at = (x, y)
        button = (1 if flags & PointerFlags.BUTTON1 else 3 if flags & PointerFlags.BUTTON2
                  else 2 if flags & PointerFlags.BUTTON3 else None)
        out: list[events.Event] = []
        if button is None or flags & PointerFlags.MOVE:
            out.append(events.MouseEvent(x, y))
        if button is not None:
            out.append(events.MouseEvent(x, y, button, bool(flags & PointerFlags.DOWN)))
        return out
