"""Input injection into the session's X server through XTEST.

Pointer, buttons, wheel, keys by evdev code or by keysym, and text. Characters with no key
on the current layout are typed through *spare* keycodes (keycodes with no symbols) remapped
on the fly. Spare keycodes are used round-robin and a character keeps its keycode while it
stays mapped, so a client that refreshes its keymap lazily (after MappingNotify) never sees
a keycode change meaning between the remap and the key press. A text maps all its missing
characters before its first key (one keymap change for consumers to follow, not one per
character) as long as there are enough spare keycodes.

Every batch ends with a round trip: python-xlib's ``flush()`` makes a single ``send()``, so
when the X server is slow to read (busy drawing a client that redraws on each key) the rest
of the batch would stay in its buffer until our next request, and the last keys of a line
would only arrive with the next input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from Xlib import XK, X
from Xlib.ext import xtest

log = logging.getLogger(__name__)

EVDEV_TO_X_KEYCODE_OFFSET = 8
SHIFT_KEYSYM = XK.XK_Shift_L
_CONTROL_CHARS = {"\n": XK.XK_Return, "\r": XK.XK_Return, "\t": XK.XK_Tab, "\b": XK.XK_BackSpace}
# Wheel: X buttons 4/5 scroll up/down, 6/7 left/right.
_WHEEL_BUTTONS = {"y": (4, 5), "x": (6, 7)}
_MAX_BUTTON = 16


class InputError(ValueError):
    """An input event the sink cannot perform (bad field, out of range)."""


def char_to_keysym(char: str) -> int:
    if char in _CONTROL_CHARS:
        return _CONTROL_CHARS[char]
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 | code


class InputSink:
    """Performs input events on one X display. Not thread-safe: call from the host's loop."""

    def __init__(self, display) -> None:
        self._d = display
        self._min = display.display.info.min_keycode
        self._max = display.display.info.max_keycode
        self._keymap: dict[int, tuple[int, ...]] = {}
        self._spares: list[int] = []
        self._spare_next = 0
        self._spare_of: dict[int, int] = {}  # keysym -> spare keycode currently holding it
        self._pressed_keys: set[int] = set()
        self._pressed_buttons: set[int] = set()
        self._wheel_rest = {"x": 0.0, "y": 0.0}
        self.last_input: float | None = None
        self.reload_keymap()

    # -- keymap ---------------------------------------------------------------------------

    def reload_keymap(self) -> None:
        """Read the server's keymap (on start and whenever another client changes it)."""
        count = self._max - self._min + 1
        rows = self._d.get_keyboard_mapping(self._min, count)
        self._keymap = {self._min + i: tuple(row) for i, row in enumerate(rows)}
        held = set(self._spare_of.values())
        self._spares = [kc for kc, syms in self._keymap.items()
                        if (not any(syms) or kc in held) and kc > 8]
        self._spare_of = {ks: kc for ks, kc in self._spare_of.items()
                          if kc in self._keymap and self._keymap[kc][:1] == (ks,)}

    def _find_keysym(self, keysym: int) -> tuple[int, bool] | None:
        """The keycode that produces ``keysym`` and whether Shift is needed, if any."""
        best = None
        for keycode, syms in self._keymap.items():
            if syms[:1] == (keysym,):
                return keycode, False
            if best is None and len(syms) > 1 and syms[1] == keysym:
                best = (keycode, True)
        return best

    def _spare_for(self, keysym: int, *, keep: frozenset[int] = frozenset(), sync: bool = True) -> int:
        """The spare keycode holding ``keysym``, remapping the next one if needed; a spare
        holding a keysym in ``keep`` is only taken when every spare does."""
        if keysym in self._spare_of:
            return self._spare_of[keysym]
        if not self._spares:
            raise InputError("no spare keycode to type a character that has no key")
        holding = {kc: ks for ks, kc in self._spare_of.items()}
        for _ in range(len(self._spares)):
            keycode = self._spares[self._spare_next % len(self._spares)]
            self._spare_next += 1
            if holding.get(keycode) not in keep:
                break
        for ks, kc in list(self._spare_of.items()):
            if kc == keycode:
                del self._spare_of[ks]
        width = max(len(self._keymap.get(keycode, ())), 2)
        syms = (keysym, keysym) + (X.NoSymbol,) * (width - 2)
        self._d.change_keyboard_mapping(keycode, [syms])
        if sync:
            self._d.sync()
        self._keymap[keycode] = syms
        self._spare_of[keysym] = keycode
        return keycode

    # -- primitives -----------------------------------------------------------------------

    def _fake(self, kind: int, detail: int = 0, x: int = 0, y: int = 0) -> None:
        if kind == X.MotionNotify:
            xtest.fake_input(self._d, kind, detail, x=x, y=y)
        else:
            xtest.fake_input(self._d, kind, detail)

    def _key(self, keycode: int, down: bool) -> None:
        if not self._min <= keycode <= self._max:
            raise InputError(f"keycode {keycode} outside {self._min}..{self._max}")
        if down:
            self._pressed_keys.add(keycode)
        else:
            self._pressed_keys.discard(keycode)
        self._fake(X.KeyPress if down else X.KeyRelease, keycode)

    def _tap_keysym(self, keysym: int) -> None:
        found = self._find_keysym(keysym)
        if found is None:
            keycode, shift = self._spare_for(keysym), False
        else:
            keycode, shift = found
        shift_code = self._find_keysym(SHIFT_KEYSYM)
        if shift and shift_code:
            self._key(shift_code[0], True)
        self._key(keycode, True)
        self._key(keycode, False)
        if shift and shift_code:
            self._key(shift_code[0], False)

    # -- events ---------------------------------------------------------------------------

    def handle(self, events: Iterable[dict[str, Any]]) -> None:
        """Perform a batch of input events (see docs/session-host-protocol.md). The events
        before a bad one are performed, and all of them are written to X on return."""
        try:
            for event in events:
                kind = event.get("t")
                handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
                if handler is None:
                    raise InputError(f"unknown input event type {kind!r}")
                try:
                    handler(event)
                except (KeyError, TypeError, ValueError) as exc:
                    if isinstance(exc, InputError):
                        raise
                    raise InputError(f"bad {kind} event: {exc}") from None
        finally:
            # Not flush(): it may leave part of the batch unsent (see the module docstring).
            self._d.sync()
        self.last_input = time.time()

    def _on_move(self, e: dict[str, Any]) -> None:
        self._fake(X.MotionNotify, 0, int(e["x"]), int(e["y"]))

    def _on_button(self, e: dict[str, Any]) -> None:
        button = int(e["button"])
        if not 1 <= button <= _MAX_BUTTON:
            raise InputError(f"button {button} out of range")
        down = bool(e["down"])
        (self._pressed_buttons.add if down else self._pressed_buttons.discard)(button)
        self._fake(X.ButtonPress if down else X.ButtonRelease, button)

    def _on_wheel(self, e: dict[str, Any]) -> None:
        for axis, field in (("x", "dx"), ("y", "dy")):
            amount = float(e.get(field, 0) or 0)
            if amount != amount or abs(amount) > 1000:  # NaN or absurd
                raise InputError(f"wheel {field}={amount} out of range")
            self._wheel_rest[axis] += amount
            notches = int(self._wheel_rest[axis])
            self._wheel_rest[axis] -= notches
            back, forward = _WHEEL_BUTTONS[axis]
            button = forward if notches > 0 else back
            for _ in range(abs(notches)):
                self._fake(X.ButtonPress, button)
                self._fake(X.ButtonRelease, button)

    def _on_key(self, e: dict[str, Any]) -> None:
        self._key(int(e["code"]) + EVDEV_TO_X_KEYCODE_OFFSET, bool(e["down"]))

    def _on_keysym(self, e: dict[str, Any]) -> None:
        keysym = int(e["keysym"])
        down = bool(e["down"])
        found = self._find_keysym(keysym)
        if found is None:
            keycode = self._spare_for(keysym)
        else:
            keycode, _shift = found
        self._key(keycode, down)

    def _on_text(self, e: dict[str, Any]) -> None:
        text = e["text"]
        if not isinstance(text, str):
            raise InputError("text must be a string")
        if len(text) > 10000:
            raise InputError("text longer than 10000 characters")
        keysyms = [char_to_keysym(char) for char in text]
        self._map_missing(keysyms)
        for keysym in keysyms:
            self._tap_keysym(keysym)
            # Stream a long text instead of sending it all at the end.
            self._d.flush()

    def _map_missing(self, keysyms: list[int]) -> None:
        """Put every keysym without a key on a spare keycode before typing any of them."""
        needed = frozenset(keysyms)
        missing = [ks for ks in dict.fromkeys(keysyms) if ks not in self._spare_of and self._find_keysym(ks) is None]
        held = sum(1 for ks in self._spare_of if ks in needed)
        if not missing or len(missing) + held > len(self._spares):
            return  # nothing to do, or not enough spares: each character is mapped when typed
        for keysym in missing:
            self._spare_for(keysym, keep=needed, sync=False)
        self._d.sync()

    def _on_release_all(self, e: dict[str, Any]) -> None:
        for keycode in sorted(self._pressed_keys):
            self._fake(X.KeyRelease, keycode)
        for button in sorted(self._pressed_buttons):
            self._fake(X.ButtonRelease, button)
        self._pressed_keys.clear()
        self._pressed_buttons.clear()

    def _on_locks(self, e: dict[str, Any]) -> None:
        mask = self._d.screen().root.query_pointer().mask
        wanted = {
            XK.XK_Caps_Lock: (bool(e.get("caps")), bool(mask & X.LockMask)),
            XK.XK_Num_Lock: (bool(e.get("num")), bool(mask & X.Mod2Mask)),
        }
        for keysym, (want, have) in wanted.items():
            if want != have:
                found = self._find_keysym(keysym)
                if found:
                    self._key(found[0], True)
                    self._key(found[0], False)
