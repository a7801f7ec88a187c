"""The ``_WRD_TOUCH`` ClientMessage words between the session host and the Wayland compositor
(compositor/touch.py): what any X client may send is either read whole or refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from compositor import messages, touch

words = st.integers(0, 2**32 - 1)
positions = st.integers(-(2**31), 2**31 - 1)


@given(st.sampled_from(list(touch.Wire)), st.integers(0, messages.MAX_TOUCH_CONTACTS - 1), positions, positions)
def test_pack_unpack_round_trip(kind, contact, x, y):
    data = touch.pack(kind, contact, x, y)
    assert len(data) == 5 and all(0 <= w < 2**32 for w in data)
    assert touch.unpack(data) == (kind, contact, x, y)


@given(st.lists(words, max_size=6))
def test_any_words_are_read_or_refused(data):
    decoded = touch.unpack(data)
    if decoded is None:
        return
    kind, contact, x, y = decoded
    assert kind in touch.Wire and 0 <= contact < messages.MAX_TOUCH_CONTACTS
    assert touch.unpack(touch.pack(kind, contact, x, y)) == decoded


def test_unknown_kinds_and_contact_ids_beyond_the_slots_are_refused():
    assert touch.unpack([5, 0, 0, 0, 0]) is None
    assert touch.unpack([touch.Wire.DOWN | (messages.MAX_TOUCH_CONTACTS << 8), 0, 0, 0, 0]) is None
    assert touch.unpack([0, 0]) is None
    assert touch.unpack([touch.Wire.MOTION | (9 << 8), 0xFFFFFFFF, 7, 0, 0]) == (touch.Wire.MOTION, 9, -1, 7)
