"""The login form: keys through the client's XKB layout, field editing, rendering."""

from __future__ import annotations

import pytest

from rdpfront.login import Keymap, LoginForm, keymap_for

# evdev codes
Y, Z, Q, A, ENTER, TAB, BACKSPACE, ESC, SHIFT, ALTGR = 21, 44, 16, 30, 28, 15, 14, 1, 42, 100


def _press(form: LoginForm, *codes: int) -> bool:
    submitted = False
    for code in codes:
        submitted |= form.key(code, True)
        form.key(code, False)
    return submitted


@pytest.mark.parametrize(("layout", "expected"), [("us", "yzqYq"), ("de", "zyqZ@"), ("fr", "ywaYæ")])
def test_keys_follow_the_clients_layout(layout: str, expected: str) -> None:
    """The same physical keys type what that layout says: y/z swapped on German, AltGr+Q is @."""
    keymap = Keymap(layout)
    form = LoginForm(640, 480, username="alice", keymap=keymap)
    _press(form, Y, Z, Q)
    form.key(SHIFT, True)
    _press(form, Y)
    form.key(SHIFT, False)
    form.key(ALTGR, True)
    _press(form, Q)
    form.key(ALTGR, False)
    assert form.password == expected
    keymap.close()


def test_fields_tab_backspace_escape_and_enter() -> None:
    form = LoginForm(640, 480, keymap=keymap_for(("us", "")))
    assert form.focus == "username"  # no user name came with the connection
    assert not _press(form, ENTER)  # nothing to submit yet
    _press(form, A, A, BACKSPACE)
    assert form.username == "a"
    assert not _press(form, ENTER)  # Enter in the user name moves to the password
    assert form.focus == "password"
    _press(form, Q, Q, ESC)
    assert form.password == ""
    form.type("pässwörd ✓")  # Unicode keyboard events
    assert form.password == "pässwörd ✓"
    _press(form, TAB)
    assert form.focus == "username"
    _press(form, TAB)
    assert _press(form, ENTER)  # submitted
    form.busy = True
    _press(form, A)
    assert form.password == "pässwörd ✓"  # no typing while it logs in


def test_fields_are_bounded_and_only_printable() -> None:
    form = LoginForm(640, 480, username="bob")
    form.type("x" * 500)
    form.type("\x00\n")
    assert form.password == "x" * 128


@pytest.mark.parametrize("size", [(640, 480), (200, 200), (1920, 1080)])
def test_render_is_a_bgrx_image_of_the_desktop_size(size) -> None:
    form = LoginForm(*size, username="alice", message="Wrong user name or password")
    image = form.render()
    assert image.shape == (size[1], size[0], 4) and image.dtype.name == "uint8"
    assert tuple(image[2, 2, :3]) == (46, 38, 32)  # the background, in B, G, R order
    assert (image[:, :, :3] != image[2, 2, :3]).any()  # and a form on it


def test_wrong_passwords_until_the_attempts_run_out() -> None:
    from rdpfront import events
    from rdpfront.login import LOGIN_ATTEMPTS

    form = LoginForm(640, 480, username="alice")
    form.type("bad")
    assert form.key_event(events.KeyboardEvent(0x1C, False, True)) and form.busy  # Enter
    for _ in range(LOGIN_ATTEMPTS - 1):
        assert not form.rejected()
        assert (form.busy, form.password, form.message) == (False, "", "Wrong user name or password")
    assert form.rejected()
    form.no_desktop()
    assert form.message == "No desktop could be started" and not form.busy
