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
