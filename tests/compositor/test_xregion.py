"""The damage read of every frame: ``xregion.DamageConnection`` (its own X connection, read
without python-xlib) against python-xlib's own requests on a real Xvfb, and ``DamageWire``'s
cutting of the X server's bytes, whatever the reads split them into."""

from __future__ import annotations

import itertools
import os
import select
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from Xlib import X
from Xlib.error import XError

from compositor import xregion
from tests.compositor.helpers import x_display

DAMAGE_NOTIFY = 91  # a DAMAGE first event code as an X server may give it


def wait_readable(fd: int, timeout: float = 5.0) -> None:
    assert select.select([fd], [], [], timeout)[0], "nothing arrived on the damage connection"


def test_damage_connection_reads_what_python_xlib_reads(xvfb):
    d = x_display(dict(os.environ, **xvfb.env()))
    damage = xregion.DamageConnection(xvfb.env()["DISPLAY"])
    try:
        d.damage_query_version()
        d.xfixes_query_version()
        root = d.screen().root
        gc = root.create_gc(foreground=d.screen().white_pixel)
        assert damage.read() == [(0, 0, 800, 600)]  # a new damage object starts with all of it
        assert damage.read() == []
        drawings = [
            [(10, 20, 30, 40)],
            [(10, 20, 30, 40), (200, 100, 5, 6), (700, 500, 100, 100)],  # the last one at the corner
            [(x, y, 3, 2) for x in range(0, 800, 40) for y in range(0, 600, 50)],  # 240 rectangles
        ]
        for rects in drawings:
            damage.notified = False
            for x, y, w, h in rects:
                root.fill_rectangle(gc, x, y, w, h)
            d.sync()
            wait_readable(damage.fileno())
            assert damage.receive()  # one DamageNotify: the damage object was empty
            read = damage.read()
            assert sorted(read) == sorted(rects)
            assert damage.read() == []  # the damage was moved out: nothing left
            # the same drawing read by python-xlib: the damage object and the region are the
            # X server's, any client may use them
            damage.notified = False
            for x, y, w, h in rects:
                root.fill_rectangle(gc, x, y, w, h)
            d.sync()
            wait_readable(damage.fileno())
            assert damage.receive()
            damage_id, region = struct.unpack_from("=4xI4xI", damage._requests)  # DamageSubtract's damage, parts
            d.damage_subtract(damage_id, X.NONE, region)
            assert xregion.fetch_region(d, region) == read
    finally:
        damage.close()
        d.close()


def test_pointer_read_on_the_damage_connection(xvfb):
    d = x_display(dict(os.environ, **xvfb.env()))
    damage = xregion.DamageConnection(xvfb.env()["DISPLAY"])
    try:
        root = d.screen().root
        for x, y in ((0, 0), (123, 456), (799, 599), (400, 1)):
            root.warp_pointer(x, y)
            d.sync()
            p = root.query_pointer()
            assert damage.query_pointer() == (p.root_x, p.root_y) == (x, y)
    finally:
        damage.close()
        d.close()


def test_errors_on_the_damage_connection(xvfb, caplog):
    """An error of the request with no reply (DamageSubtract) is logged and the read goes on;
    one of FetchRegion is raised as python-xlib would, and the connection stays usable."""
    d = x_display(dict(os.environ, **xvfb.env()))
    damage = xregion.DamageConnection(xvfb.env()["DISPLAY"])
    try:
        d.damage_query_version()
        d.xfixes_query_version()
        held = damage.read()  # what the region holds now
        damage_id, region = struct.unpack_from("=4xI4xI", damage._requests)
        d.damage_destroy(damage_id)  # another client may free it: the X server's resource
        d.sync()
        with caplog.at_level("WARNING", logger="compositor.host"):
            assert damage.read() == held  # the failed DamageSubtract left the region as it was
        assert "X error on the damage connection" in caplog.text
        xregion.destroy_region(d, region)
        d.sync()
        with pytest.raises(XError):
            damage.read()
        assert damage.query_pointer() == (400, 300)
    finally:
        damage.close()
        d.close()


def test_damage_connection_numbers_requests_past_the_wrap(xvfb, monkeypatch):
    """Sequence numbers are 16 bits: reads go on matching their replies after 65536 requests."""
    monkeypatch.setenv("XAUTHORITY", xvfb.env()["XAUTHORITY"])
    damage = xregion.DamageConnection(xvfb.env()["DISPLAY"])
    try:
        damage.read()
        for _ in range(32800):  # two requests a read
            assert damage.read() == []
        assert damage._serial < 1000
        assert damage.query_pointer() == (400, 300)  # and one a pointer read
    finally:
        damage.close()


# -- DamageWire ---------------------------------------------------------------------------

def event(code: int, sequence: int) -> bytes:
    return struct.pack("=BBH", code, 0, sequence) + bytes(range(28))


def generic_event(sequence: int, extra: int) -> bytes:
    return struct.pack("=BBHI", 35, 131, sequence, extra) + bytes(24) + b"\x07" * (4 * extra)


def error(sequence: int, code: int) -> bytes:
    return struct.pack("=BBHIHB", 0, code, sequence, 0x200001, 2, 143) + bytes(21)


def region_reply(sequence: int, rects: list[tuple[int, int, int, int]]) -> bytes:
    body = b"".join(struct.pack("=hhHH", *r) for r in rects)
    return struct.pack("=BBHI", 1, 0, sequence, len(body) // 4) + bytes(24) + body


rect = st.tuples(st.integers(-32768, 32767), st.integers(-32768, 32767), st.integers(0, 65535),
                 st.integers(0, 65535))
packet = st.one_of(
    st.builds(lambda s: ((xregion.DAMAGE_NOTIFY, s), event(DAMAGE_NOTIFY, s)), st.integers(0, 65535)),
    st.builds(lambda s: ((xregion.DAMAGE_NOTIFY, s), event(DAMAGE_NOTIFY | 0x80, s)), st.integers(0, 65535)),
    st.builds(lambda c, s: ((xregion.OTHER_EVENT, s), event(c, s)),
              st.sampled_from([2, 34, 90, 92, 127]), st.integers(0, 65535)),
    st.builds(lambda s, n: ((xregion.OTHER_EVENT, s), generic_event(s, n)), st.integers(0, 65535),
              st.integers(0, 20)),
    st.builds(lambda s, c: ((xregion.ERROR, s), error(s, c)), st.integers(0, 65535), st.integers(1, 255)),
    st.builds(lambda s, r: ((xregion.REPLY, s, tuple(r)), region_reply(s, r)), st.integers(0, 65535),
              st.lists(rect, max_size=12)),
)


@given(st.lists(packet, max_size=12), st.lists(st.integers(0, 4000), max_size=30))
def test_damage_wire_cuts_any_split(packets, cuts):
    """Whatever the reads split the bytes into, the same errors, replies and events come out
    whole and in order, and nothing is handed out before it is complete."""
    data = b"".join(raw for _, raw in packets)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    wire = xregion.DamageWire(DAMAGE_NOTIFY)
    items = []
    for start, end in itertools.pairwise(bounds):
        wire.receive_data(data[start:end])
        assert len(wire._buffer) == wire.buffered  # nothing handed out is kept
        while (item := wire.next_item()) is not None:
            items.append(item)
        assert wire.buffered < 32 or data[end - wire.buffered] in (1, 35)  # only an unfinished packet stays
    assert wire.buffered == 0
    got = [(kind, seq, tuple(xregion.region_rectangles(raw))) if kind == xregion.REPLY else (kind, seq)
           for kind, seq, raw in items]
    assert got == [expected for expected, _ in packets]
    assert b"".join(raw for _, _, raw in items) == data


def test_damage_wire_starts_with_what_python_xlib_left():
    """Bytes python-xlib read past its last reply are parsed first."""
    first = event(DAMAGE_NOTIFY, 7)
    wire = xregion.DamageWire(DAMAGE_NOTIFY, first[:20])
    assert wire.next_item() is None
    wire.receive_data(first[20:] + region_reply(9, [(1, 2, 3, 4)]))
    assert wire.next_item() == (xregion.DAMAGE_NOTIFY, 7, first)
    kind, sequence, raw = wire.next_item()
    assert (kind, sequence, xregion.region_rectangles(raw)) == (xregion.REPLY, 9, [(1, 2, 3, 4)])
    assert wire.next_item() is None
