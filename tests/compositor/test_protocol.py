"""The session host protocol codec: both directions, byte at a time, hostile input."""

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compositor.protocol import (
    MAX_FRAME,
    HostProtocol,
    LocalProtocolError,
    RemoteProtocolError,
    encode_message,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
headers = st.dictionaries(st.text(max_size=10), json_values, max_size=5).map(lambda d: {**d, "op": "x"})


CASES = [
    ({"op": "status", "id": 1}, b"", b'\x00\x00\x00\x18\x00\x16{"op":"status","id":1}'),
    ({"op": "frame", "seq": 2}, b"\x01\x02", b'\x00\x00\x00\x1a\x00\x16{"op":"frame","seq":2}\x01\x02'),
]


@pytest.mark.parametrize(("header", "payload", "wire"), CASES)
def test_table_both_directions(header, payload, wire):
    assert encode_message(header, payload) == wire
    proto = HostProtocol()
    proto.receive_data(wire)
    (msg,) = proto.events()
    assert msg.header == header and msg.payload == payload


@given(st.lists(st.tuples(headers, st.binary(max_size=64)), min_size=1, max_size=5))
def test_round_trip_byte_at_a_time(messages):
    wire = b"".join(encode_message(h, p) for h, p in messages)
    proto = HostProtocol()
    got = []
    for i in range(len(wire)):
        proto.receive_data(wire[i:i + 1])
        got.extend(proto.events())
    assert [(m.header, m.payload) for m in got] == messages
    assert proto.buffered == 0


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_remote_errors(data):
    proto = HostProtocol()
    try:
        proto.receive_data(data)
    except RemoteProtocolError:
        return
    for msg in proto.events():
        assert isinstance(msg.op, str)


def test_oversized_frame_is_refused_before_buffering():
    proto = HostProtocol()
    with pytest.raises(RemoteProtocolError, match="out of range"):
        proto.receive_data(struct.pack(">IH", MAX_FRAME + 1, 2))


def test_header_must_be_object_with_op():
    for head in (b"[1,2]", b'{"id":1}', b"\xff\xfe", b'{"op": 5}'):
        proto = HostProtocol()
        with pytest.raises(RemoteProtocolError):
            proto.receive_data(struct.pack(">IH", len(head) + 2, len(head)) + head)


def test_header_length_beyond_frame():
    with pytest.raises(RemoteProtocolError):
        HostProtocol().receive_data(struct.pack(">IH", 4, 10) + b"ab")


def test_we_refuse_to_send_what_the_peer_would_refuse():
    with pytest.raises(LocalProtocolError):
        encode_message({"no": "op"})
    with pytest.raises(LocalProtocolError):
        encode_message({"op": "x", "big": "a" * 70000})
    assert json.loads(encode_message({"op": "ä"})[6:]) == {"op": "ä"}


@pytest.mark.parametrize("head", [
    b'{"op":"x","v":' + b"[" * 5000 + b"]" * 5000 + b"}",  # json's decoder: RecursionError
    b'{"op":"x","v":NaN}', b'{"op":"x","v":-Infinity}', b'{"op":"x","v":1e400}',
    b'{"op":"x","v":"\\ud800"}',  # a lone surrogate: no UTF-8 for it on the way on
    b'{"op":"x"', b'{"op":"x"} {}',
])
def test_headers_that_are_not_json_are_remote_errors(head):
    proto = HostProtocol()
    with pytest.raises(RemoteProtocolError, match="not JSON"):
        proto.receive_data(struct.pack(">IH", len(head) + 2, len(head)) + head)
    assert proto.events() == []


def test_what_json_cannot_carry_is_a_local_error():
    for header in ({"op": "x", "n": 2**64}, {"op": "x", "t": "\ud800"}, {"op": "x", "o": object()}):
        with pytest.raises(LocalProtocolError, match="cannot be sent as JSON"):
            encode_message(header)
    assert encode_message({"op": "x", 1: 2})[6:] == b'{"op":"x","1":2}'
