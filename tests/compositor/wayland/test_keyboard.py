"""The X server's keymap reaches Wayland clients, follows a layout change, and is sent
before a key whose keycode was just given a symbol."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from compositor.input import char_to_keysym
from tests.compositor.helpers import x_display
from tests.compositor.wayland.conftest import REPO, Session

KEY_RECORDER = Path(__file__).with_name("key_recorder.py")

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



def _spare_keycodes(session: Session) -> tuple[list[int], list[int]]:
    """Keycodes without symbols: those the server's XKB keycodes name, and those it does not."""
    xkb = session.run(["xkbcomp", "-xkb", session.env["DISPLAY"], "-"]).stdout.decode()
    named = {int(code) for code in re.findall(r"<[^>]+>\s*=\s*(\d+);", xkb)}
    d = x_display(session.env)
    try:
        low = d.display.info.min_keycode
        rows = d.get_keyboard_mapping(low, d.display.info.max_keycode - low + 1)
    finally:
        d.close()
    spare = [low + i for i, row in enumerate(rows) if not any(row) and low + i > 8]
    return [kc for kc in spare if kc in named], [kc for kc in spare if kc not in named]


def test_a_key_remapped_just_before_it_is_pressed_reaches_a_client_decoded(session: Session, need) -> None:
    """What the session host does for a character with no key: give a spare keycode the
    character's keysym, then press it at once. The client must get the new keymap before the
    key, and the keycode must be in that keymap even when the X server's keycodes do not
    name it (93 under evdev), which leaves it out of ``xkbcomp``'s text."""
    need("xkbcomp")
    from Xlib import X
    from Xlib.ext import xtest

    named, unnamed = _spare_keycodes(session)
    assert len(named) >= 2 and unnamed, (named, unnamed)
    out = session.tmp / "keys.jsonl"
    session.spawn([sys.executable, str(KEY_RECORDER), str(out)], env=dict(session.client_env, PYTHONPATH=str(REPO)))
    session.wait_for(lambda: out.exists() and '"enter"' in out.read_text(), what="the recorder focused")

    d = x_display(session.env)
    try:
        width = len(d.get_keyboard_mapping(named[0], 1)[0])
        # A different keycode for each character, as the host does: a keycode remapped again
        # before the compositor got to the first key would be read with the later symbol.
        for keycode, char in ((named[0], "€"), (unnamed[0], "é"), (named[1], "Ω")):
            keysym = char_to_keysym(char)
            d.change_keyboard_mapping(keycode, [(keysym, keysym) + (X.NoSymbol,) * (width - 2)])
            xtest.fake_input(d, X.KeyPress, keycode)
            xtest.fake_input(d, X.KeyRelease, keycode)
        d.sync()
    finally:
        d.close()

    def keys() -> list[dict]:
        events = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        return [e for e in events if e["e"] == "key"]

    session.wait_for(lambda: len(keys()) >= 6, what="three key presses and releases")
    assert "".join(k.get("utf8", "") for k in keys() if k["state"] == 1) == "€éΩ"
