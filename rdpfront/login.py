"""The RDP login screen: for clients that connect without a password (mstsc without saved
credentials, ``xfreerdp /p:``), the server shows its own form, as xrdp does, and logs the user
in from there.

``LoginForm`` is pure state: keys in, an image out (BGRX, the size of the client's desktop),
and the policy: how many wrong passwords (``LOGIN_ATTEMPTS``) and how long the form waits
(``LOGIN_TIMEOUT``, timed by the driver). Keys arrive as scan codes and are turned into
characters with the client's own keyboard layout through libxkbcommon (``keyboard.Keymap``),
so a password typed on a German keyboard is what the user typed; Unicode keyboard events are
taken as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rdpfront import events
from rdpfront.keyboard import Keymap, evdev_code, keymap_for

__all__ = ["LOGIN_ATTEMPTS", "LOGIN_TIMEOUT", "Keymap", "LoginForm", "keymap_for"]

log = logging.getLogger(__name__)

MAX_FIELD = 128
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
# evdev codes of the keys the form acts on
KEY_ESC, KEY_BACKSPACE, KEY_TAB, KEY_ENTER, KEY_KPENTER = 1, 14, 15, 28, 96
LOGIN_TIMEOUT = 120.0  # seconds the login form waits for a user
PANEL_HEIGHT = 230
LOGIN_ATTEMPTS = 3  # wrong passwords in the form before the connection is closed


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
    attempts: int = LOGIN_ATTEMPTS
    failures: int = 0
    _screen: np.ndarray | None = field(default=None, repr=False, compare=False)

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

    def key_event(self, event: events.KeyboardEvent) -> bool:
        """A client's key event; True when the user submitted the form (then it is busy)."""
        code = evdev_code(event)
        if code is None or not self.key(code, event.down):
            return False
        self.busy = True
        return True

    def rejected(self) -> bool:
        """The user name or password was wrong: True when that was the last attempt (close the
        connection), otherwise the form asks again."""
        self.failures += 1
        if self.failures >= self.attempts:
            return True
        self.busy, self.password, self.message = False, "", "Wrong user name or password"
        return False

    def no_desktop(self) -> None:
        """The login was good but no desktop could be attached: the user may try again."""
        self.busy, self.message = False, "No desktop could be started"

    def close(self) -> None:
        if self.keymap is not None:
            self.keymap.close()

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

    def box(self) -> tuple[int, int, int, int]:
        """Where the form's panel is on the screen: x, y, width, height. Only it ever changes."""
        w = min(420, self.width - 20)
        y = max(10, (self.height - PANEL_HEIGHT) // 2)
        return (self.width - w) // 2, y, w, min(PANEL_HEIGHT, self.height - y)  # cut on tiny screens

    def render(self) -> np.ndarray:
        """The form as a BGRX image of the desktop's size. The screen behind the panel is drawn
        once and the panel redrawn on it (0.3 ms, against 20 ms for a whole 1920x1200 screen),
        so the array returned is the same one each time, updated in place."""
        if self._screen is None:
            self._screen = np.empty((self.height, self.width, 4), np.uint8)
            self._screen[:, :] = (46, 38, 32, 0)
        x0, y0, w, visible = self.box()
        h = PANEL_HEIGHT
        panel = Image.new("RGB", (w, h), (236, 239, 243))
        draw = ImageDraw.Draw(panel)
        font = _font(18)
        draw.rectangle((0, 0, w - 1, h - 1), outline=(90, 110, 140), width=2)
        draw.text((24, 18), "WRD", font=_font(28), fill=(30, 60, 110))
        draw.text((100, 28), "Log in to your desktop", font=font, fill=(60, 60, 60))
        for i, (label, name, value) in enumerate((("User name", "username", self.username),
                                                  ("Password", "password", "•" * len(self.password)))):
            y = 78 + i * 50
            draw.text((24, y + 6), label, font=font, fill=(40, 40, 40))
            field_box = (140, y, w - 24, y + 34)
            active = name == self.focus
            draw.rectangle(field_box, fill=(255, 255, 255), outline=(40, 100, 200) if active else (150, 150, 150),
                           width=2 if active else 1)
            shown = value[-24:]
            while shown and font.getlength(shown + "|") > field_box[2] - field_box[0] - 16:
                shown = shown[1:]
            draw.text((field_box[0] + 8, y + 6), shown + ("|" if active and not self.busy else ""), font=font,
                      fill=(0, 0, 0))
        note = "Logging in…" if self.busy else (self.message or "Enter to log in, Tab to switch fields")
        colour = (170, 30, 30) if self.message and not self.busy else (90, 90, 90)
        draw.text((24, h - 36), note, font=font, fill=colour)
        rgb = np.asarray(panel)[:visible]
        region = self._screen[y0:y0 + visible, x0:x0 + w]
        region[:, :, 0], region[:, :, 1], region[:, :, 2] = rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]
        return self._screen


def _font(size: int) -> ImageFont.ImageFont:
    for path in FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()
