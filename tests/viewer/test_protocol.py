"""The viewer wire format (webconsole/viewer/protocol.py): table-driven, property-tested."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compositor.messages import decode_input_event
from webconsole.viewer.protocol import (
    MAX_CLIENT_MESSAGE,
    MAX_CLIPBOARD_BYTES,
    MAX_SOCKET_MESSAGE,
    PRESETS,
    Ack,
    Audio,
    Clipboard,
    CloseCode,
    Input,
    InputBudget,
    Keyframe,
    Resize,
    Subscribe,
    ViewerProtocolError,
    clean_event,
    encode_server,
    parse_client,
    split,
)


def msg(header: dict, payload: bytes = b"") -> bytes:
    return encode_server(header, payload)


GOOD = [
    ({"op": "ack", "seq": 7}, Ack(7)),
    ({"op": "keyframe"}, Keyframe()),
    ({"op": "subscribe", "format": "h264"}, Subscribe("h264")),
    ({"op": "subscribe", "format": "jpeg"}, Subscribe("jpeg")),
    ({"op": "subscribe", "format": "h264"}, Subscribe("h264", "balanced")),  # no preset: the shared stream
    ({"op": "subscribe", "format": "h264", "preset": "quality"}, Subscribe("h264", "quality")),
    ({"op": "subscribe", "format": "jpeg", "preset": "low"}, Subscribe("jpeg", "low")),
    ({"op": "subscribe", "format": "h264", "compressed": True}, Subscribe("h264", "balanced", True)),
    ({"op": "subscribe", "format": "h264", "compressed": False}, Subscribe("h264")),
    ({"op": "resize", "width": 1280, "height": 800}, Resize(1280, 800)),
    ({"op": "audio", "format": "opus"}, Audio("opus")),
    ({"op": "audio", "format": "pcm"}, Audio("pcm")),
    ({"op": "audio", "format": "off"}, Audio(None)),
    ({"op": "audio", "format": "aac"}, Audio("aac")),
    ({"op": "audio", "format": "pcm", "accept": ["aac"]}, Audio("pcm")),  # pcm takes no other format
    ({"op": "audio", "format": "opus", "accept": ["aac"]}, Audio("opus", ("aac",))),
    ({"op": "audio", "format": "opus", "accept": ["aac", "opus", "aac"][:2]}, Audio("opus", ("aac",))),
    ({"op": "input", "events": [
        {"t": "move", "x": 1, "y": 2}, {"t": "button", "button": 3, "down": True},
        {"t": "wheel", "dx": 0.25, "dy": -2}, {"t": "key", "code": 30, "down": False},
        {"t": "text", "text": "ä"}, {"t": "release_all"}, {"t": "locks", "caps": True},
        {"t": "keysym", "keysym": 0xFF0D, "down": True}]},
     Input([{"t": "move", "x": 1, "y": 2}, {"t": "button", "button": 3, "down": True},
            {"t": "wheel", "dx": 0.25, "dy": -2.0}, {"t": "key", "code": 30, "down": False},
            {"t": "text", "text": "ä"}, {"t": "release_all"}, {"t": "locks", "caps": True},
            {"t": "keysym", "keysym": 0xFF0D, "down": True}])),
]


@pytest.mark.parametrize(("header", "expected"), GOOD)
def test_parse_good(header, expected):
    assert parse_client(msg(header)) == expected


def test_clipboard_text_is_the_payload():
    assert parse_client(msg({"op": "clipboard"}, "héllo ✓".encode())) == Clipboard("héllo ✓")
    assert parse_client(msg({"op": "clipboard"})) == Clipboard("")
    big = "ü" * (3 * MAX_CLIENT_MESSAGE)  # clipboard text may exceed the other messages' limit
    assert parse_client(msg({"op": "clipboard"}, big.encode())) == Clipboard(big)


def test_extra_event_fields_are_dropped():
    (event,) = parse_client(msg({"op": "input", "events": [
        {"t": "move", "x": 1, "y": 2, "evil": "x" * 10}]})).events
    assert event == {"t": "move", "x": 1, "y": 2}


BAD = [
    ("text", CloseCode.PROTOCOL_ERROR),
    (b"", CloseCode.PROTOCOL_ERROR),
    (b"\x00", CloseCode.PROTOCOL_ERROR),
    (b"\x00\x10{}", CloseCode.PROTOCOL_ERROR),
    (b"\x00\x02{}", CloseCode.PROTOCOL_ERROR),
    (b"\x00\x04null", CloseCode.PROTOCOL_ERROR),
    (msg({"op": "teleport"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "ack", "seq": "1"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "ack", "seq": True}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "raw"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "h264", "preset": "ultra"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "h264", "preset": None}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "h264", "preset": ["low"]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "h264", "preset": "Quality"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "h264", "compressed": 1}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "subscribe", "format": "h264", "compressed": "yes"}), CloseCode.PROTOCOL_ERROR),
    # Options are the server's to choose: a page naming them is refused, not obeyed.
    (msg({"op": "subscribe", "format": "h264", "preset": {"qp": 0}}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "resize", "width": 10, "height": 800}), CloseCode.PROTOCOL_ERROR),
    # Audio formats are the host's audio streams by name; nothing else (no video, no options).
    (msg({"op": "audio", "format": "h264"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio", "format": None}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio", "format": ["opus"]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio", "format": "opus", "accept": "aac"}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio", "format": "opus", "accept": ["pcm"]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio", "format": "opus", "accept": ["aac", "aac", "aac"]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "audio", "format": "opus", "accept": [1]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": []}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "move", "x": 1}] * 257}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "button", "button": 4, "down": True}]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "wheel", "dx": 1e9}]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "key", "code": 30, "down": 1}]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "text", "text": ""}]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": ["move"]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "touch", "phase": "down", "id": 10, "x": 1, "y": 1}]}),
     CloseCode.PROTOCOL_ERROR),
    (msg({"op": "input", "events": [{"t": "touch", "phase": "hover", "id": 0}]}), CloseCode.PROTOCOL_ERROR),
    (msg({"op": "clipboard"}, b"x" * (MAX_CLIPBOARD_BYTES + 1)), CloseCode.TOO_BIG),
    (msg({"op": "resize", "width": 800, "height": 600}, b"x" * MAX_CLIENT_MESSAGE), CloseCode.TOO_BIG),
    (b"\x00" * (MAX_SOCKET_MESSAGE + 1), CloseCode.TOO_BIG),
    (msg({"op": "clipboard"}, b"\xff\xfe"), CloseCode.PROTOCOL_ERROR),
    (b"\x00" * (MAX_CLIENT_MESSAGE + 1), CloseCode.TOO_BIG),
]


@pytest.mark.parametrize(("data", "code"), BAD)
def test_parse_bad(data, code):
    with pytest.raises(ViewerProtocolError) as info:
        parse_client(data)
    assert info.value.code == code


def test_nan_wheel_is_refused():
    data = b'{"op":"input","events":[{"t":"wheel","dx":NaN,"dy":0}]}'
    with pytest.raises(ViewerProtocolError):
        parse_client(len(data).to_bytes(2, "big") + data)


def test_deeply_nested_header_is_refused():
    data = b'{"op":"input","events":' + b"[" * 5000 + b"]" * 5000 + b"}"  # json.loads: RecursionError
    with pytest.raises(ViewerProtocolError, match="not JSON"):
        parse_client(len(data).to_bytes(2, "big") + data)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_protocol_error(data):
    try:
        parse_client(data)
    except ViewerProtocolError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@given(st.sampled_from(["ack", "input", "subscribe", "keyframe", "clipboard", "resize", "audio", "x"]),
       st.dictionaries(st.sampled_from(["seq", "events", "format", "preset", "text", "width", "height"]),
                       json_values, max_size=4))
def test_any_header_parses_or_raises_protocol_error(op, fields):
    try:
        parse_client(msg({"op": op, **fields}))
    except ViewerProtocolError:
        pass


@given(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=5),
       st.binary(max_size=64))
def test_server_messages_round_trip(fields, payload):
    header = {**fields, "op": "frame"}
    assert split(encode_server(header, payload)) == (json.loads(json.dumps(header)), payload)


def test_input_budget():
    budget = InputBudget(rate=100, burst=200)
    assert budget.spend(200, 0.0)
    assert not budget.spend(1, 0.0)
    assert budget.spend(50, 0.5)
    assert not budget.spend(100, 0.5)
    assert budget.spend(200, 100.0)  # refills to the burst, no more
    assert not budget.spend(1, 100.0)


viewer_events = st.fixed_dictionaries(
    {"t": st.sampled_from(["move", "button", "wheel", "key", "keysym", "text", "release_all", "locks", "touch",
                           "touch_frame"])},
    optional={
        "x": st.integers(-10, 70000), "y": st.integers(-10, 70000), "button": st.integers(0, 12),
        "down": st.booleans(), "dx": st.floats(-200, 200), "dy": st.floats(-200, 200),
        "code": st.integers(0, 800), "keysym": st.integers(0, 0x20000000), "text": st.text(max_size=5000),
        "caps": st.booleans(), "num": st.booleans(), "scroll": st.booleans(),
        "phase": st.sampled_from(["down", "motion", "up", "cancel", "press", 3]), "id": st.integers(-2, 12),
    },
)


@given(viewer_events)
def test_what_the_viewer_lets_through_the_host_accepts(event):
    """The consumer relays the viewer's checked events as typed host input
    (compositor/messages.py): nothing the browser may send can fail there."""
    try:
        cleaned = clean_event(event)
    except ViewerProtocolError:
        return
    assert decode_input_event(cleaned).encode()["t"] == cleaned["t"]


@given(st.sampled_from(["h264", "jpeg"]), st.one_of(st.sampled_from(PRESETS), json_values))
def test_subscribe_takes_only_a_known_preset_name(fmt, preset):
    """Whatever a page puts in ``preset``, the result is one of the names or a protocol error."""
    try:
        parsed = parse_client(msg({"op": "subscribe", "format": fmt, "preset": preset}))
    except ViewerProtocolError as exc:
        assert exc.code == CloseCode.PROTOCOL_ERROR
        assert preset not in PRESETS or not isinstance(preset, str)
        return
    assert parsed == Subscribe(fmt, preset)
    assert parsed.preset in PRESETS


def test_every_preset_maps_to_options_for_every_format():
    """The consumer's table covers each preset the protocol lets through; "balanced" is the
    desktop's shared stream (the options an RDP client's stream has, bar the image variant)."""
    from webconsole.viewer.consumers import PRESET_OPTIONS
    from webconsole.viewer.protocol import FORMATS

    assert set(PRESET_OPTIONS) == set(PRESETS)
    for preset in PRESETS:
        assert set(PRESET_OPTIONS[preset]) == set(FORMATS)
    assert PRESET_OPTIONS["balanced"]["h264"] == {"images": "web"}
    assert PRESET_OPTIONS["quality"]["h264"]["qp"] < 28 < PRESET_OPTIONS["low"]["h264"]["qp"]
