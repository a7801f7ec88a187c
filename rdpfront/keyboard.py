"""The client's keyboard: its layout, its keys, its typed characters.

- ``setxkbmap_argv``: the client's Windows keyboard layout id (KLID) as the ``setxkbmap`` the
  session runs, so scan codes mean what the keys on the user's keyboard say.
- ``Keymap`` / ``keymap_for``: scan codes to text through libxkbcommon with that layout, for
  the login form (which has no session to type into yet).
- ``KeyInput``: RDP keyboard events as the session host's input events: scan codes to evdev
  codes (E1 1D 45 is Pause, not NumLock), UTF-16 code units to characters (surrogate pairs
  arrive as two key-downs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

from compositor import messages
from compositor.keycodes import rdp_scancode_to_evdev, xkb_layout_for_windows_layout
from rdpfront import events

log = logging.getLogger(__name__)

XKB_KEY_DOWN, XKB_KEY_UP = 1, 0


def setxkbmap_argv(klid: int) -> list[str] | None:
    """The ``setxkbmap`` command giving a session the layout ``klid``; None when unknown."""
    xkb = xkb_layout_for_windows_layout(klid)
    if xkb is None:
        return None
    layout, variant = xkb
    return ["setxkbmap", "-layout", layout] + (["-variant", variant] if variant else [])


def evdev_code(event: events.KeyboardEvent) -> int | None:
    return rdp_scancode_to_evdev(event.scancode, extended=event.extended, extended1=event.extended1)


class KeyInput:
    """Keyboard events of one connection as host input events."""

    def __init__(self, log_context: str = "") -> None:
        self._log = log_context
        self._pending_pause_numlock = False
        self._high_surrogate: int | None = None

    def key(self, event: events.KeyboardEvent) -> messages.KeyEvent | None:
        if event.extended1 and event.scancode == 0x1D:
            self._pending_pause_numlock = True  # Pause is E1 1D 45: the 45 is not NumLock
        elif self._pending_pause_numlock and event.scancode == 0x45 and not event.extended:
            if not event.down:
                self._pending_pause_numlock = False
            return None
        code = evdev_code(event)
        if code is None:
            log.debug("%s no key for scancode 0x%02x ext=%s", self._log, event.scancode, event.extended)
            return None
        return messages.KeyEvent(code=code, down=event.down)

    def character(self, event: events.UnicodeEvent) -> str | None:
        """The character a Unicode key-down completes (None for key-ups and high surrogates)."""
        if not event.down:
            return None
        unit = event.code_unit
        if 0xD800 <= unit < 0xDC00:
            self._high_surrogate = unit
            return None
        if 0xDC00 <= unit < 0xE000:
            high, self._high_surrogate = self._high_surrogate, None
            if high is None:
                return None
            unit = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
        return chr(unit)


class _RuleNames(ctypes.Structure):
    _fields_ = [("rules", ctypes.c_char_p), ("model", ctypes.c_char_p), ("layout", ctypes.c_char_p),
                ("variant", ctypes.c_char_p), ("options", ctypes.c_char_p)]


_KEYMAPS: dict[tuple[str, str], int] = {}  # (layout, variant) -> compiled xkb_keymap, kept for the process


@functools.cache
def _xkbcommon() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("xkbcommon") or "libxkbcommon.so.0")
    p = ctypes.c_void_p
    lib.xkb_context_new.restype = p
    lib.xkb_context_new.argtypes = [ctypes.c_int]
    lib.xkb_keymap_new_from_names.restype = p
    lib.xkb_keymap_new_from_names.argtypes = [p, ctypes.POINTER(_RuleNames), ctypes.c_int]
    lib.xkb_state_new.restype = p
    lib.xkb_state_new.argtypes = [p]
    lib.xkb_state_update_key.argtypes = [p, ctypes.c_uint32, ctypes.c_int]
    lib.xkb_state_key_get_utf8.argtypes = [p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for name in ("xkb_state_unref", "xkb_keymap_unref", "xkb_context_unref"):
        getattr(lib, name).argtypes = [p]
    return lib


class Keymap:
    """Scan codes to text for one XKB layout, with modifier state (libxkbcommon via ctypes).

    Compiling a layout takes about 18 ms; each layout is compiled once per process and shared
    (an xkb_keymap does not change), each Keymap having its own xkb_state."""

    def __init__(self, layout: str = "us", variant: str = "") -> None:
        lib = _xkbcommon()
        self._lib = lib
        keymap = _KEYMAPS.get((layout, variant))
        if keymap is None:
            context = lib.xkb_context_new(0)
            names = _RuleNames(b"evdev", b"pc105", layout.encode(), variant.encode(), None)
            keymap = lib.xkb_keymap_new_from_names(context, ctypes.byref(names), 0)
            lib.xkb_context_unref(context)  # the keymap holds its own reference
            if not keymap:
                raise ValueError(f"no XKB keymap for layout {layout!r} variant {variant!r}")
            _KEYMAPS[(layout, variant)] = keymap
        self._state = lib.xkb_state_new(keymap)

    def key(self, evdev_code: int, down: bool) -> str:
        """Feed one key; on a press, the text it types ("" for modifiers and the like)."""
        keycode = evdev_code + 8
        text = ""
        if down:
            buf = ctypes.create_string_buffer(16)
            n = self._lib.xkb_state_key_get_utf8(self._state, keycode, buf, len(buf))
            text = buf.raw[:max(0, min(n, 15))].decode("utf-8", "replace")
        self._lib.xkb_state_update_key(self._state, keycode, XKB_KEY_DOWN if down else XKB_KEY_UP)
        return text

    def close(self) -> None:
        if self._state:
            self._lib.xkb_state_unref(self._state)
            self._state = None



def keymap_for(layout: tuple[str, str] | None) -> Keymap | None:
    """A keymap for an XKB (layout, variant) (US when None), or None without libxkbcommon."""
    name, variant = layout or ("us", "")
    try:
        return Keymap(name, variant)
    except (OSError, ValueError) as exc:
        log.warning("keymap %s(%s) unavailable: %s", name, variant, exc)
        try:
            return Keymap("us", "") if name != "us" else None
        except (OSError, ValueError):
            return None


def keymap_for_windows_layout(klid: int) -> Keymap | None:
    """A keymap for the client's Windows layout id (US when unknown)."""
    return keymap_for(xkb_layout_for_windows_layout(klid))
