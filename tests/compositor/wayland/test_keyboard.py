"""The X server's keymap reaches Wayland clients, and follows a layout change."""

from __future__ import annotations

import time

from tests.compositor.helpers import x_display
from tests.compositor.wayland.conftest import Session

KEYCODE_Y_ON_US = 29  # the same physical key is "z" on a German layout


def _press_keycode(session: Session, keycode: int) -> None:
    from Xlib import X
    from Xlib.ext import xtest

    d = x_display(session.env)
    try:
        xtest.fake_input(d, X.KeyPress, keycode)
        xtest.fake_input(d, X.KeyRelease, keycode)
        d.sync()
    finally:
        d.close()


def test_layout_change_is_sent_to_clients(session: Session, need) -> None:
    need("foot", "setxkbmap")
    session.spawn(["foot", "--", "sh"])
    _, x, y, w, h = session.wait_window("foot")
    session.xdotool("mousemove", str(x + w // 2), str(y + h // 2))
    session.wait_for(lambda: session.xdotool("getwindowfocus", "getwindowname") == "foot", what="foot focused")
    time.sleep(0.3)
    session.xdotool("type", "--delay", "20", "echo ")
    _press_keycode(session, KEYCODE_Y_ON_US)
    session.xdotool("type", "--delay", "20", " > us.txt")
    session.xdotool("key", "Return")
    session.wait_for(lambda: (session.tmp / "us.txt").exists() and (session.tmp / "us.txt").read_text() == "y\n",
                     what="US layout: keycode 29 is y")

    assert session.run(["setxkbmap", "-layout", "de"]).returncode == 0
    session.wait_for(lambda: "keymap reloaded" in session.log_text(), what="keymap resent")
    time.sleep(0.3)
    session.xdotool("type", "--delay", "20", "echo ")
    _press_keycode(session, KEYCODE_Y_ON_US)
    session.xdotool("type", "--delay", "20", " > de.txt")
    session.xdotool("key", "Return")
    session.wait_for(lambda: (session.tmp / "de.txt").exists() and (session.tmp / "de.txt").read_text() == "z\n",
                     what="German layout: keycode 29 is z")
