"""The RDP login screen: for clients that connect without a password (mstsc without saved
credentials, ``xfreerdp /p:``), the server shows its own form, as xrdp does, and logs the user
in from there.

``LoginForm`` is pure state: keys in, an image out (BGRX, the size of the client's desktop).
Keys arrive as scan codes and are turned into characters with the client's own keyboard layout
through libxkbcommon (``Keymap``), so a password typed on a German keyboard is what the user
typed; Unicode keyboard events are taken as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

MAX_FIELD = 128
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
# evdev codes of the keys the form acts on
KEY_ESC, KEY_BACKSPACE, KEY_TAB, KEY_ENTER, KEY_KPENTER = 1, 14, 15, 28, 96
XKB_KEY_DOWN, XKB_KEY_UP = 1, 0


class _RuleNames(ctypes.Structure):
    _fields_ = [("rules", ctypes.c_char_p), ("model", ctypes.c_char_p), ("layout", ctypes.c_char_p),
                ("variant", ctypes.c_char_p), ("options", ctypes.c_char_p)]


class Keymap:
    """Scan codes to text for one XKB layout, with modifier state (libxkbcommon via ctypes)."""

    def __init__(self, layout: str = "us", variant: str = "") -> None:
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
        self._lib = lib
        self._context = lib.xkb_context_new(0)
        names = _RuleNames(b"evdev", b"pc105", layout.encode(), variant.encode(), None)
        self._keymap = lib.xkb_keymap_new_from_names(self._context, ctypes.byref(names), 0)
        if not self._keymap:
            lib.xkb_context_unref(self._context)
            raise ValueError(f"no XKB keymap for layout {layout!r} variant {variant!r}")
        self._state = lib.xkb_state_new(self._keymap)

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
            self._lib.xkb_keymap_unref(self._keymap)
            self._lib.xkb_context_unref(self._context)
            self._state = None


@dataclass
class LoginForm:
    """User name and password fields, a message line; Tab switches, Enter submits."""

    width: int
    height: int
    username: str = ""
    password: str = ""
    focus: str = "password"
    message: str = ""
    busy: bool = False
    keymap: Keymap | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.username:
            self.focus = "username"

    def key(self, evdev_code: int, down: bool) -> bool:
        """A key from the client; True when the user submitted the form (Enter)."""
        text = self.keymap.key(evdev_code, down) if self.keymap is not None else ""
        if not down or self.busy:
            return False
        if evdev_code in (KEY_ENTER, KEY_KPENTER):
            if self.focus == "username" and self.username:
                self.focus = "password"
                return False
            return bool(self.username)
        if evdev_code == KEY_TAB:
            self.focus = "password" if self.focus == "username" else "username"
        elif evdev_code == KEY_BACKSPACE:
            self._set(self._get()[:-1])
        elif evdev_code == KEY_ESC:
            self._set("")
        elif text and text.isprintable():
            self.type(text)
        return False

    def type(self, text: str) -> None:
        if not self.busy and text.isprintable():
            self._set((self._get() + text)[:MAX_FIELD])

    def _get(self) -> str:
        return self.username if self.focus == "username" else self.password

    def _set(self, value: str) -> None:
        if self.focus == "username":
            self.username = value
        else:
            self.password = value
        self.message = ""

    def render(self) -> np.ndarray:
        """The form as a BGRX image of the desktop's size."""
        image = Image.new("RGB", (self.width, self.height), (32, 38, 46))
        draw = ImageDraw.Draw(image)
        font = _font(18)
        big = _font(28)
        w, h = min(420, self.width - 20), 230
        x0, y0 = (self.width - w) // 2, max(10, (self.height - h) // 2)
        draw.rectangle((x0, y0, x0 + w, y0 + h), fill=(236, 239, 243), outline=(90, 110, 140), width=2)
        draw.text((x0 + 24, y0 + 18), "WRD", font=big, fill=(30, 60, 110))
        draw.text((x0 + 100, y0 + 28), "Log in to your desktop", font=font, fill=(60, 60, 60))
        for i, (label, name, value) in enumerate((("User name", "username", self.username),
                                                  ("Password", "password", "•" * len(self.password)))):
            y = y0 + 78 + i * 50
            draw.text((x0 + 24, y + 6), label, font=font, fill=(40, 40, 40))
            box = (x0 + 140, y, x0 + w - 24, y + 34)
            active = name == self.focus
            draw.rectangle(box, fill=(255, 255, 255), outline=(40, 100, 200) if active else (150, 150, 150),
                           width=2 if active else 1)
            shown = value[-24:]
            draw.text((box[0] + 8, y + 6), shown + ("|" if active and not self.busy else ""), font=font,
                      fill=(0, 0, 0))
        note = "Logging in…" if self.busy else (self.message or "Enter to log in, Tab to switch fields")
        colour = (170, 30, 30) if self.message and not self.busy else (90, 90, 90)
        draw.text((x0 + 24, y0 + h - 36), note, font=font, fill=colour)
        rgb = np.asarray(image)
        out = np.empty((self.height, self.width, 4), np.uint8)
        out[:, :, 0], out[:, :, 1], out[:, :, 2], out[:, :, 3] = rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0], 0
        return out


def _font(size: int) -> ImageFont.ImageFont:
    for path in FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()


def keymap_for(layout: tuple[str, str] | None) -> Keymap | None:
    """A keymap for the client's layout (US when unknown), or None without libxkbcommon."""
    name, variant = layout or ("us", "")
    try:
        return Keymap(name, variant)
    except (OSError, ValueError) as exc:
        log.warning("login screen keymap %s(%s) unavailable: %s", name, variant, exc)
        try:
            return Keymap("us", "") if name != "us" else None
        except (OSError, ValueError):
            return None
