"""``ClientInput``: one table from the client's input events to the session host's, and the
login form taking keys while it is shown."""

from __future__ import annotations

import pytest

from compositor import messages
from rdpfront import events
from rdpfront.client_input import ClientInput
from rdpfront.login_flow import Authenticate, LoginFlow
from rdpfront.pointer_output import PointerOutput

from .helpers import credentials_event


def _input(login: LoginFlow | None = None) -> tuple[ClientInput, PointerOutput]:
    pointer = PointerOutput()
    return ClientInput(login or LoginFlow(max_width=1920, max_height=1200), pointer), pointer


@pytest.mark.parametrize(("event", "expected"), [
    (events.KeyboardEvent(0x1E, False, True), [messages.KeyEvent(code=30, down=True)]),
    (events.KeyboardEvent(0x1C, True, False), [messages.KeyEvent(code=96, down=False)]),  # keypad Enter
    (events.KeyboardEvent(0x7F, False, True), []),  # no such key
    (events.UnicodeEvent(0xE9, True), [messages.TextEvent(text="é")]),
    (events.UnicodeEvent(0xE9, False), []),
    (events.MouseEvent(10, 20), [messages.MoveEvent(x=10, y=20)]),
    (events.MouseEvent(10, 20, 3, True), [messages.MoveEvent(x=10, y=20), messages.ButtonEvent(button=3, down=True)]),
    (events.WheelEvent(0, 0, dx=0.0, dy=-2.0), [messages.WheelEvent(dx=0.0, dy=-2.0)]),
    (events.SyncEvent(scroll_lock=False, num_lock=True, caps_lock=True),
     [messages.LocksEvent(caps=True, num=True, scroll=False)]),
])
def test_input_events_for_the_session(event: events.Event, expected: list[messages.InputEvent]) -> None:
    client_input, _ = _input()
    assert client_input.receive(event) == expected


def test_surrogate_pairs_become_one_character() -> None:
    client_input, _ = _input()
    assert client_input.receive(events.UnicodeEvent(0xD83D, True)) == []
    assert client_input.receive(events.UnicodeEvent(0xDE00, True)) == [messages.TextEvent(text="😀")]


def test_pause_is_not_numlock() -> None:
    client_input, _ = _input()
    pause = client_input.receive(events.KeyboardEvent(0x1D, False, True, extended1=True))
    assert client_input.receive(events.KeyboardEvent(0x45, False, True)) == []
    assert pause == [messages.KeyEvent(code=119, down=True)]


def test_pointer_moves_are_noted_as_the_clients_own() -> None:
    client_input, pointer = _input()
    client_input.receive(events.MouseEvent(10, 20))
    pointer.host_moved(10, 20)
    assert not pointer.pending


def test_keys_go_to_the_login_form_while_it_is_shown() -> None:
    login = LoginFlow(max_width=1920, max_height=1200)
    login.credentials(credentials_event(password=""))
    client_input, _ = _input(login)
    assert client_input.receive(events.UnicodeEvent(ord("p"), True)) == []
    assert client_input.receive(events.KeyboardEvent(0x1E, False, True)) == []  # "a"
    assert client_input.receive(events.MouseEvent(1, 1)) == [messages.MoveEvent(x=1, y=1)]
    assert client_input.receive(events.KeyboardEvent(0x1C, False, True)) == Authenticate("alice", "pa")
