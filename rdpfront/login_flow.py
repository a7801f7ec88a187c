"""How one client logs in, sans-IO: with the password of its Client Info, or through the
server's login form (``login.LoginForm``) when it sent none.

``LoginFlow`` decides; the driver carries out the step each call returns and reports back:

- ``resumed(event, username, path)`` → ``Connect`` (the Client Info's auto-reconnect cookie
  was good: ``rdpfront/reconnect.py``), else
- ``credentials(event)`` → ``ShowForm`` (no password: activate at the client's size and show the
  form), ``Authenticate``, or ``Reject`` (no user name);
- ``key(event)`` / ``text(char)`` while the form is shown → ``Authenticate`` when the user submits;
- ``authenticated(ok)`` → ``Attach``, ``Reject`` (Client Info), ``Disconnect`` (the form's last
  attempt failed) or nothing (the form asks again);
- ``attached(path)`` → ``Connect`` (with the ``setxkbmap`` giving the session the client's
  keyboard layout, so scan codes mean what the user's keys say); ``attach_failed(error)`` →
  ``Reject``, or nothing (the form says so and the user may try again);
- ``connected()`` → ``Accept`` (Client Info: activate at the session's size) or ``Enter`` (the
  session replaces the form on a client that is already active);
- ``timed_out()`` → ``Disconnect`` while the form is still shown (the driver times it:
  ``timeout`` seconds after ``ShowForm``).

Authentication, attaching a desktop and connecting its session host are the driver's awaits.
Whenever the form changed (``changed``), ``take_image()`` gives its new picture and the area
that changed. The driver takes it at the pace of its output, never once per key, so a client
flooding the form with keys costs a key's handling each, not a picture each; ``InputBudget``
bounds how many input events a client may send while the form is shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compositor import messages
from rdpfront import events as ev
from rdpfront.keyboard import keymap_for_windows_layout, setxkbmap_argv
from rdpfront.login import LOGIN_TIMEOUT, LoginForm
from rdpfront.policy import AccessRefused
from rdpfront.rdp.pdus import ErrorInfo

log = logging.getLogger(__name__)

MIN_CLIENT_SIZE = 200
# Key events a client may send while the login form is shown: a burst, then a rate. A person
# typing or holding a key down, or a password manager pasting, stays below; a flood is cut off
# at once.
FORM_INPUT_BURST = 200
FORM_INPUT_RATE = 50.0  # events a second


class InputBudget:
    """A token bucket over a client's key events; ``take(now)`` is False once it is spent."""

    def __init__(self, burst: int = FORM_INPUT_BURST, rate: float = FORM_INPUT_RATE) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(frozen=True)
class ShowForm:
    """Accept the connection at ``width`` x ``height`` and draw the login form."""

    width: int
    height: int


@dataclass(frozen=True)
class Authenticate:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Attach:
    """Find or start the user's desktop at ``width`` x ``height``: its session host's socket."""

    username: str
    width: int
    height: int


@dataclass(frozen=True)
class Connect:
    """Connect to the session host at ``path``, subscribe to its picture, then run ``keyboard``
    in the session (when there is one)."""

    path: str | Path
    keyboard: messages.Exec | None = None


@dataclass(frozen=True)
class Accept:
    """Accept the credentials at the session's size."""


@dataclass(frozen=True)
class Enter:
    """The form is done: the session takes the client's screen."""


@dataclass(frozen=True)
class Reject:
    """Refuse the credentials (the connection ends)."""

    error_info: int


@dataclass(frozen=True)
class Disconnect:
    """End the connection of a client that is already active."""

    error_info: int


Step = ShowForm | Authenticate | Attach | Connect | Accept | Enter | Reject | Disconnect


class LoginFlow:
    """One connection's login, from its Client Info to an attached session."""

    def __init__(self, *, max_width: int, max_height: int, login_screen: bool = True,
                 timeout: float = LOGIN_TIMEOUT, apply_keyboard_layout: bool = True,
                 log_context: str = "") -> None:
        self._max_size = (max_width, max_height)
        self._login_screen = login_screen
        self._apply_keyboard_layout = apply_keyboard_layout
        self.timeout = timeout
        self._log = log_context
        self.username = ""
        self.keyboard_layout = 0
        self.form: LoginForm | None = None  # while it is shown
        self._via_form = False
        self._size = (0, 0)  # the client's desktop size, held within bounds
        self._changed = False
        self._drawn = False  # the whole form was drawn once; since then only its panel changes
        self.form_allowed = True  # the driver clears it while the server shows as many forms as it will
        self.input_budget = InputBudget()

    # ---- the Client Info ---------------------------------------------------------------------

    def credentials(self, event: ev.Credentials) -> Step:
        self.username = event.username
        self.keyboard_layout = event.client.keyboard_layout
        self._size = self._client_size(event)
        if not event.password and self._login_screen:
            if not self.form_allowed:
                log.warning("%s no password, and no login form free for it: refused (user=%r)", self._log,
                            event.username)
                return Reject(ErrorInfo.SERVER_DENIED_CONNECTION)
            width, height = self._size
            keymap = keymap_for_windows_layout(event.client.keyboard_layout)
            self.form = LoginForm(width, height, username=event.username, keymap=keymap)
            self._via_form = self._changed = True
            log.info("%s no password: showing the login form (user=%r)", self._log, event.username)
            return ShowForm(width, height)
        if not event.username:
            return self._rejected()
        return Authenticate(event.username, event.password)

    def resumed(self, event: ev.Credentials, username: str, path: str | Path) -> Connect:
        """The Client Info's auto-reconnect cookie was good for ``username``'s desktop at
        ``path``: connect to it, no password asked."""
        self.username = username
        self.keyboard_layout = event.client.keyboard_layout
        self._size = self._client_size(event)
        log.info("%s auto-reconnect: user=%r back to %s without a password", self._log, username, path)
        return self.attached(path)

    def _client_size(self, event: ev.Credentials) -> tuple[int, int]:
        max_width, max_height = self._max_size
        return (max(MIN_CLIENT_SIZE, min(event.desktop_width, max_width)),
                max(MIN_CLIENT_SIZE, min(event.desktop_height, max_height)))

    # ---- the form ------------------------------------------------------------------------------

    def key(self, event: ev.KeyboardEvent) -> Authenticate | None:
        """A key for the form; ``Authenticate`` when it submits the form."""
        form = self.form
        if form is None:
            return None
        submitted = form.key_event(event)
        if event.down or submitted:
            self._changed = True
        return Authenticate(form.username, form.password) if submitted else None

    def text(self, char: str) -> None:
        """A character typed as such (a Unicode keyboard event)."""
        if self.form is not None:
            self.form.type(char)
            self._changed = True

    @property
    def changed(self) -> bool:
        """The form's picture changed since it was last taken."""
        return self._changed and self.form is not None

    def take_image(self) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The form's picture and the area of it that changed (x, y, w, h), if it changed since
        it was last taken: the whole screen the first time, the panel after that."""
        form = self.form
        if not self._changed or form is None:
            return None
        self._changed = False
        image = form.render()
        area = form.box() if self._drawn else (0, 0, form.width, form.height)
        self._drawn = True
        return image, area

    def timed_out(self) -> Disconnect | None:
        if self.form is None:
            return None
        log.info("%s login form timed out", self._log)
        return Disconnect(ErrorInfo.SERVER_DENIED_CONNECTION)

    # ---- what the driver reports ---------------------------------------------------------------

    def authenticated(self, ok: bool) -> Attach | Reject | Disconnect | None:
        form = self.form
        if form is None:
            if not ok:
                return self._rejected()
            return Attach(self.username, *self._size)
        if not ok:
            log.warning("%s login form: rejected user=%r (%d)", self._log, form.username, form.failures + 1)
            if form.rejected():
                return Disconnect(ErrorInfo.SERVER_DENIED_CONNECTION)
            self._changed = True
            return None
        self.username = form.username
        return Attach(form.username, form.width, form.height)

    def _rejected(self) -> Reject:
        log.warning("%s login rejected user=%r", self._log, self.username)
        return Reject(ErrorInfo.SERVER_DENIED_CONNECTION)

    def attached(self, path: str | Path) -> Connect:
        if self.form is not None:
            self.form.close()
            self.form = None
        return Connect(path, self._keyboard_layout_exec())

    def _keyboard_layout_exec(self) -> messages.Exec | None:
        if not self._apply_keyboard_layout:
            return None
        argv = setxkbmap_argv(self.keyboard_layout)
        if argv is None:
            log.info("%s keyboard layout 0x%x unknown; the session keeps its own", self._log, self.keyboard_layout)
            return None
        return messages.Exec(argv=tuple(argv))

    def attach_failed(self, error: BaseException) -> Reject | Disconnect | None:
        """No desktop for the user now (limit reached, start failed)."""
        username = self.form.username if self.form is not None else self.username
        log.warning("%s no desktop for user=%r: %s", self._log, username, error)
        if self.form is None:
            return Reject(ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES)
        if isinstance(error, AccessRefused):  # trying again cannot help: end it, saying why
            return Disconnect(ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES)
        self.form.no_desktop()
        self._changed = True
        return None

    def connected(self) -> Accept | Enter:
        return Enter() if self._via_form else Accept()

    def close(self) -> None:
        if self.form is not None:
            self.form.close()
