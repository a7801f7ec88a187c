"""ScrBlt primary drawing orders (rdpfront/orders.py): the field encoding against the order
history, bounds, orders updates on both paths, and the negotiation with the client."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdpfront import orders
from rdpfront.cursor import Reader, Writer, decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import UpdateCode
from rdpfront.orders import Bounds, OrderHistory, OrdersUpdate, PrimaryOrder, ScrBlt
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.pdus import UpdateData

from . import helpers
from .helpers import MemoryClient


def _encoded(history: OrderHistory, order: ScrBlt, bounds: Bounds | None = None) -> bytes:
    w = Writer()
    history.encode(w, order, bounds)
    return w.getvalue()


# (order, bounds, bytes) in sequence against one history: each row's bytes depend on the rows
# before it, as they do on the wire ([MS-RDPEGDI 2.2.2.2.1.1.2]).
SEQUENCE = [
    # First order: type named (STANDARD | TYPE_CHANGE), every field differs from zero, absolute.
    (ScrBlt(10, 300, 640, 200, 0xCC, 10, 316), None,
     bytes([0x09, 0x02, 0x7F]) + (10).to_bytes(2, "little") + (300).to_bytes(2, "little")
     + (640).to_bytes(2, "little") + (200).to_bytes(2, "little") + b"\xcc"
     + (10).to_bytes(2, "little") + (316).to_bytes(2, "little")),
    # The same again: no field byte at all (ZERO_FIELD_BYTE_BIT0), one byte in total.
    (ScrBlt(10, 300, 640, 200, 0xCC, 10, 316), None, bytes([0x41])),
    # Moved by 16 rows: top and ySrc as one-byte deltas (DELTA_COORDINATES).
    (ScrBlt(10, 284, 640, 200, 0xCC, 10, 300), None, bytes([0x11, 0x02 | 0x40, 0xF0, 0xF0])),
    # A jump that a byte cannot hold: absolute again.
    (ScrBlt(10, 284, 640, 200, 0xCC, 10, 600), None, bytes([0x01, 0x40]) + (600).to_bytes(2, "little")),
    # With bounds: left absolute, top/right/bottom deltas from the zero bounds.
    (ScrBlt(10, 284, 640, 200, 0xCC, 10, 600), Bounds(1000, 5, 100, 0),
     bytes([0x45, 0x01 | 0x20 | 0x40]) + (1000).to_bytes(2, "little") + bytes([5, 100])),
    # The same bounds: TS_ZERO_BOUNDS_DELTAS, no bounds bytes.
    (ScrBlt(10, 284, 640, 200, 0xCC, 10, 600), Bounds(1000, 5, 100, 0), bytes([0x65])),
]


def test_scrblt_sequence_both_directions() -> None:
    sender, receiver = OrderHistory(), OrderHistory()
    for order, bounds, data in SEQUENCE:
        assert _encoded(sender, order, bounds) == data, order
        r = Reader(data)
        assert receiver.decode(r) == PrimaryOrder(order, bounds)
        assert r.remaining() == 0
    assert sender == receiver


def test_first_order_without_its_type_is_not_a_scrblt() -> None:
    # The history starts at PatBlt ([3.2.1.1]): an order that does not name its type is one.
    with pytest.raises(RemoteProtocolError, match="type 0x01"):
        OrderHistory().decode(Reader(bytes([0x01, 0x00])))


@pytest.mark.parametrize("data", [
    bytes([0x03, 0x02]),  # a secondary order
    bytes([0x00]),  # an alternate secondary order
    bytes([0x09, 0x0A, 0x00]),  # OpaqueRect
    bytes([0x09, 0x02, 0x80]),  # an eighth field
    bytes([0x89, 0x02]),  # two zero field bytes of a one-byte fieldFlags
    bytes([0x29, 0x02, 0x00]),  # zero bounds deltas without bounds
    bytes([0x09, 0x02, 0x01, 0x05]),  # truncated coordinate
])
def test_malformed_orders_are_the_peers_fault(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        OrderHistory().decode(Reader(data))


def test_values_outside_the_wire_range_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        _encoded(OrderHistory(), ScrBlt(0, 0, 40000, 1))
    with pytest.raises(LocalProtocolError):
        _encoded(OrderHistory(), ScrBlt(0, 0, 1, 1, rop=0x100))


coord = st.integers(-0x8000, 0x7FFF)
near = st.integers(-200, 200)
scrblts = st.builds(ScrBlt, coord, coord, coord, coord, st.integers(0, 255), coord, coord)
small_scrblts = st.builds(ScrBlt, near, near, near, near, st.sampled_from([0xCC, 0x00]), near, near)
bounds = st.none() | st.builds(Bounds, coord, coord, coord, coord) | st.builds(Bounds, near, near, near, near)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(scrblts | small_scrblts, bounds), min_size=1, max_size=12))
def test_round_trip_against_the_history(sequence: list[tuple[ScrBlt, Bounds | None]]) -> None:
    """Any sequence encoded by one history decodes, with another, to itself; both histories
    end equal. Small values exercise the delta forms, repeats the zero field byte."""
    sender, receiver = OrderHistory(), OrderHistory()
    w = Writer()
    for order, b in sequence:
        sender.encode(w, order, b)
    r = Reader(w.getvalue())
    for order, b in sequence:
        decoded = receiver.decode(r)
        assert decoded.order == order
        assert decoded.bounds == b
    assert r.remaining() == 0
    assert sender == receiver


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(scrblts | small_scrblts, bounds), min_size=0, max_size=8))
def test_orders_update_round_trip_byte_at_a_time_prefixes(sequence: list[tuple[ScrBlt, Bounds | None]]) -> None:
    """A fast-path orders update decodes to what was encoded; every shorter prefix of it is a
    truncation the peer is blamed for."""
    update = OrdersUpdate(tuple(PrimaryOrder(o, b) for o, b in sequence))
    data = encode(update)
    assert decode(OrdersUpdate, data) == update
    assert update.size() == len(data)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            decode(OrdersUpdate, data[:cut])


def _orders_of(received: list, history: OrderHistory) -> list[ScrBlt]:
    out: list[ScrBlt] = []
    for item in received:
        if isinstance(item, UpdateData):
            r = Reader(item.data)
            assert r.u16() == orders.UPDATETYPE_ORDERS
            r.skip(2)
            count = r.u16()
            r.skip(2)
            out += [history.decode(r).order for _ in range(count)]
        elif item[0] == "fastpath" and item[1] == UpdateCode.ORDERS:
            out += [o.order for o in OrdersUpdate.decode(Reader(item[2]), history).orders]
    return out


@pytest.mark.parametrize("fastpath", [True, False])
def test_scrblt_updates_reach_a_client_that_negotiated_them(fastpath: bool) -> None:
    client = MemoryClient(fastpath=fastpath)
    client.connect()
    server = client.server
    assert server.scrblt
    sent = [ScrBlt(0, y, 800, 64, x_src=0, y_src=y + 16) for y in range(0, 30000, 3)]
    history = OrderHistory()
    new = client.pump(server.scrblt_update(sent))
    # Slow path: split into updates under 16 KiB; fast path: one update, fragmented.
    assert len(new) == (1 if fastpath else 3)
    assert _orders_of(new, history) == sent
    # A reactivation starts both histories afresh: the first order names its type again.
    new = client.pump(server.resize(1024, 768))
    client.finish(new[1])
    history = OrderHistory()
    assert _orders_of(client.pump(server.scrblt_update(sent[:1])), history) == sent[:1]


def test_no_scrblt_for_a_client_without_it(monkeypatch) -> None:
    original = helpers.client_confirm_caps

    def without_orders(**kw: object) -> tuple[caps.Capability, ...]:
        return tuple(caps.OrderCapability(order_support=bytes(32)) if isinstance(c, caps.OrderCapability) else c
                     for c in original(**kw))  # type: ignore[arg-type]

    monkeypatch.setattr(helpers, "client_confirm_caps", without_orders)  # a client that offers no orders
    client = MemoryClient()
    client.connect()
    assert not client.server.scrblt
    with pytest.raises(LocalProtocolError):
        client.server.scrblt_update([ScrBlt(0, 0, 8, 8)])


def test_server_order_capability_advertises_scrblt_only() -> None:
    cap = caps.OrderCapability()
    assert cap.order_support[orders.NEG_SCRBLT_INDEX] == 1
    assert sum(cap.order_support) == 1
