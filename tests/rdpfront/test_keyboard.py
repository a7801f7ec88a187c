"""The client's keyboard: layouts as setxkbmap, scan codes and Unicode keys as host input."""

from __future__ import annotations

from compositor import messages
from rdpfront import events
from rdpfront.keyboard import KeyInput, setxkbmap_argv


def test_layouts_become_setxkbmap() -> None:
    assert setxkbmap_argv(0x407) == ["setxkbmap", "-layout", "de"]
    assert setxkbmap_argv(0x409) == ["setxkbmap", "-layout", "us"]
    assert setxkbmap_argv(0x7777) is None


def test_pause_is_not_numlock() -> None:
    keys = KeyInput()
    pause = [events.KeyboardEvent(0x1D, False, True, True), events.KeyboardEvent(0x45, False, True),
             events.KeyboardEvent(0x1D, False, False, True), events.KeyboardEvent(0x45, False, False)]
    assert [keys.key(e) for e in pause] == [messages.KeyEvent(code=119, down=True), None,
                                            messages.KeyEvent(code=119, down=False), None]
    assert keys.key(events.KeyboardEvent(0x45, False, True)) == messages.KeyEvent(code=69, down=True)


def test_surrogate_pairs_make_one_character() -> None:
    keys = KeyInput()
    assert keys.character(events.UnicodeEvent(0xD83D, True)) is None
    assert keys.character(events.UnicodeEvent(0xDE00, True)) == "\U0001F600"
    assert keys.character(events.UnicodeEvent(0xDE00, True)) is None  # a lone low surrogate
    assert keys.character(events.UnicodeEvent(ord("é"), False)) is None
    assert keys.character(events.UnicodeEvent(ord("é"), True)) == "é"
