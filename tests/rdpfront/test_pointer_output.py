"""``PointerOutput`` against an active connection in memory: which cursor and position updates
a client gets, and which of the session's pointer moves are its own echo."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from compositor import messages
from rdpfront.fastpath import UpdateCode
from rdpfront.pointer_output import INJECTED_POSITIONS_KEPT, PointerOutput

from .helpers import MemoryClient, connected

ARROW = messages.Cursor(serial=1, width=2, height=2, xhot=0, yhot=0, rgba=b"\xff\x00\x00\xff" * 4)
HIDDEN = messages.Cursor(serial=2, width=0, height=0, xhot=0, yhot=0)


def _updates(client: MemoryClient, data: bytes) -> list[tuple[UpdateCode, bytes]]:
    return [(code, body) for kind, code, body in client.pump(data) if kind == "fastpath"]


def _position(body: bytes) -> tuple[int, int]:
    return int.from_bytes(body[:2], "little"), int.from_bytes(body[2:4], "little")


def test_nothing_is_due_at_first() -> None:
    client = connected()
    pointer = PointerOutput()
    assert not pointer.pending
    assert pointer.take(client.server, 800, 600) == b""


def test_cursor_images_and_hidden_cursor() -> None:
    client = connected()
    pointer = PointerOutput()
    pointer.host_cursor(ARROW)
    pointer.host_cursor(HIDDEN)  # only the latest goes
    assert [code for code, _ in _updates(client, pointer.take(client.server, 800, 600))] == [UpdateCode.PTR_NULL]
    assert not pointer.pending
    pointer.host_cursor(ARROW)
    assert [code for code, _ in _updates(client, pointer.take(client.server, 800, 600))] == [UpdateCode.POINTER]


def test_output_started_again_resends_the_cursor() -> None:
    client = connected()
    pointer = PointerOutput()
    pointer.output_started()
    assert not pointer.pending  # no cursor known yet
    pointer.host_cursor(ARROW)
    pointer.take(client.server, 800, 600)
    pointer.output_started()  # a reactivation: the client forgot it
    assert pointer.pending
    assert [code for code, _ in _updates(client, pointer.take(client.server, 800, 600))] == [UpdateCode.POINTER]


def test_no_position_before_the_clients_first_move() -> None:
    pointer = PointerOutput()
    pointer.host_moved(10, 10)
    assert not pointer.pending


def test_the_clients_own_moves_are_not_echoed_others_are_sent_once() -> None:
    client = connected()
    pointer = PointerOutput()
    for x in range(100, 200, 10):
        pointer.client_moved(x, 50)
    pointer.host_moved(130, 50)  # the host's poll lagging behind the client
    assert not pointer.pending
    pointer.host_moved(300, 400)  # a program warped it
    pointer.host_moved(310, 410)  # the latest wins
    assert [(code, _position(body)) for code, body in _updates(client, pointer.take(client.server, 800, 600))] \
        == [(UpdateCode.PTR_POSITION, (310, 410))]
    assert pointer.positions_sent == 1 and not pointer.pending


def test_a_position_outside_the_screen_is_dropped() -> None:
    client = connected()
    pointer = PointerOutput()
    pointer.client_moved(0, 0)
    pointer.host_moved(1000, 10)
    assert pointer.pending
    assert pointer.take(client.server, 800, 600) == b"" and pointer.positions_sent == 0
    assert not pointer.pending


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=200))
def test_only_the_latest_injected_positions_count_as_echoes(moves: list[tuple[int, int]]) -> None:
    pointer = PointerOutput()
    for x, y in moves:
        pointer.client_moved(x, y)
    recent = set(moves[-INJECTED_POSITIONS_KEPT:])
    for position in {*moves, (99, 99)}:
        pointer.position_pending = None
        pointer.host_moved(*position)
        assert pointer.pending == (position not in recent)
