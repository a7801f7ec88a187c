"""The typed host messages (compositor/messages.py): one table both ways, every message
property-tested through the framing byte at a time, hostile headers, and the protocol
document checked against the code."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compositor import messages as m
from compositor.filenames import is_valid_name
from compositor.protocol import HostProtocol, LocalProtocolError, RemoteProtocolError, encode_message

DOC = Path(__file__).resolve().parents[2] / "docs" / "session-host-protocol.md"

# -- strategies: one per message ----------------------------------------------------------

ids = st.integers(1, m.MAX_ID)
dims = st.integers(1, m.MAX_DIMENSION)
coords = st.integers(0, m.MAX_COORDINATE)
texts = st.text(max_size=40)
selections = st.sampled_from(list(m.Selection))
wheel = st.floats(-m.MAX_WHEEL, m.MAX_WHEEL, allow_nan=False)
json_scalars = st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=10,
)

INPUT_EVENTS: dict[type[m.InputEvent], st.SearchStrategy[Any]] = {
    m.MoveEvent: st.builds(m.MoveEvent, coords, coords),
    m.ButtonEvent: st.builds(m.ButtonEvent, st.integers(1, m.MAX_BUTTON), st.booleans()),
    m.WheelEvent: st.builds(m.WheelEvent, wheel, wheel),
    m.KeyEvent: st.builds(m.KeyEvent, st.integers(0, m.MAX_KEY_CODE), st.booleans()),
    m.KeysymEvent: st.builds(m.KeysymEvent, st.integers(0, m.MAX_KEYSYM), st.booleans()),
    m.TextEvent: st.builds(m.TextEvent, texts),
    m.ReleaseAllEvent: st.just(m.ReleaseAllEvent()),
    m.LocksEvent: st.builds(m.LocksEvent, st.booleans(), st.booleans(), st.booleans()),
    m.TouchEvent: st.builds(m.TouchEvent, st.sampled_from(list(m.TouchPhase)),
                            st.integers(0, m.MAX_TOUCH_CONTACTS - 1), coords, coords),
    m.TouchFrameEvent: st.just(m.TouchFrameEvent()),
}
input_events = st.one_of(*INPUT_EVENTS.values())
rect4 = st.tuples(coords, coords, dims, dims)
rect5 = st.tuples(coords, coords, dims, dims, st.integers(0, 1 << 26))
argv = st.lists(st.text(min_size=1, max_size=10).filter(lambda a: "\0" not in a), min_size=1, max_size=4)
env_names = st.text(min_size=1, max_size=8).filter(lambda k: "=" not in k and "\0" not in k)
upload_ids = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
file_names = st.text(min_size=1, max_size=30).filter(is_valid_name)
file_entries = st.lists(st.builds(m.FileEntry, file_names, st.integers(0, m.MAX_FILE_SIZE), st.floats(0, 2e9)),
                        max_size=3).map(tuple)
envs = st.none() | st.dictionaries(env_names, st.text(max_size=8).filter(lambda v: "\0" not in v), max_size=3)

drive_names = st.text(min_size=1, max_size=m.MAX_DRIVE_NAME).filter(m.path_name_ok)
drive_paths = st.lists(st.text(min_size=1, max_size=12).filter(m.path_name_ok), max_size=4).map(tuple)
drive_entries = st.builds(m.DriveEntry, drive_names, st.booleans(), *[st.integers(0, 2**63 - 1)] * 4, st.booleans())

monitor_origins = st.integers(0, m.MAX_DIMENSION - 1)
monitor_layouts = st.lists(st.builds(m.Monitor, monitor_origins, monitor_origins, dims, dims, st.booleans()),
                           max_size=m.MAX_MONITORS).map(tuple)

MESSAGES: dict[type[m.HostMessage], st.SearchStrategy[Any]] = {
    # requests
    m.Status: st.just(m.Status()),
    m.Screenshot: st.just(m.Screenshot()),
    m.Input: st.builds(m.Input, st.lists(input_events, max_size=6).map(tuple)),
    m.ClipboardGet: st.builds(m.ClipboardGet, selections),
    m.ClipboardSet: st.builds(m.ClipboardSet, texts, selections),
    m.Resize: st.builds(m.Resize, dims, dims, monitor_layouts),
    m.Subscribe: st.builds(m.Subscribe, st.from_regex(m.FORMAT_NAME, fullmatch=True),
                           st.dictionaries(st.text(max_size=6), json_values, max_size=3),
                           st.integers(1, m.MAX_WINDOW)),
    m.Unsubscribe: st.builds(m.Unsubscribe, ids),
    m.Ack: st.builds(m.Ack, ids, st.integers(0, m.MAX_ID)),
    m.Keyframe: st.builds(m.Keyframe, ids),
    m.Exec: st.builds(m.Exec, argv.map(tuple), envs),
    m.Stop: st.just(m.Stop()),
    m.Microphone: st.builds(m.Microphone, st.binary(max_size=64).map(lambda b: b[:len(b) & ~1])),
    m.FilePut: st.integers(0, 64).flatmap(lambda size: st.builds(
        m.FilePut, upload_ids, file_names, st.just(size), st.integers(0, size // 2),
        st.binary(max_size=size - size // 2))),
    m.FileStat: st.builds(m.FileStat, upload_ids),
    m.FileList: st.just(m.FileList()),
    m.DownloadsWatch: st.builds(m.DownloadsWatch, st.booleans()),
    m.FileGet: st.builds(m.FileGet, file_names, st.integers(0, m.MAX_FILE_SIZE), st.integers(1, m.MAX_FILE_CHUNK)),
    # replies
    m.Ok: st.just(m.Ok()),
    m.ErrorReply: st.builds(m.ErrorReply, texts),
    m.StatusReply: st.builds(
        m.StatusReply, session=texts, display=texts, width=dims, height=dims, max_width=dims, max_height=dims,
        pid=ids, xvfb_pid=st.none() | ids, runtime_dir=texts, wayland_display=st.none() | texts,
        subscribers=st.integers(0, 100),
        encoders=st.lists(st.builds(m.EncoderStatus, texts, st.integers(0, 100), st.integers(0, 10**6),
                                    st.integers(0, 10**6)), max_size=3).map(tuple),
        last_input=st.none() | st.floats(0, 2e9), started_at=st.floats(0, 2e9), attached=st.booleans(),
        uid=st.integers(0, 2**32 - 1), home=texts, capture=st.sampled_from(["xwd-mmap", "mit-shm", "xgetimage"]),
        encode_times=st.lists(st.builds(
            m.EncodeTimes, texts, st.lists(st.integers(0, 10**9), min_size=len(m.ENCODE_BUCKETS) + 1,
                                           max_size=len(m.ENCODE_BUCKETS) + 1).map(tuple),
            st.floats(0, 1e6)), max_size=3).map(tuple)),
    m.ScreenshotReply: st.builds(m.ScreenshotReply, st.just("png"), dims, dims, st.binary(max_size=32)),
    m.ClipboardGetReply: st.builds(m.ClipboardGetReply, st.none() | texts),
    m.ResizeReply: st.builds(m.ResizeReply, dims, dims, monitor_layouts),
    m.SubscribeReply: st.builds(m.SubscribeReply, ids, dims, dims, monitor_layouts),
    m.ExecReply: st.builds(m.ExecReply, ids),
    m.FilePutReply: st.builds(m.FilePutReply, st.integers(0, m.MAX_FILE_SIZE), st.none() | file_names),
    m.FileStatReply: st.builds(m.FileStatReply, st.integers(0, m.MAX_FILE_SIZE)),
    m.FileListReply: st.builds(m.FileListReply, file_entries),
    m.DownloadsWatchReply: st.builds(m.DownloadsWatchReply, file_entries),
    m.FileGetReply: st.binary(max_size=32).flatmap(lambda data: st.builds(
        m.FileGetReply, st.just(len(data) + 5), st.just(5), st.just(data))),
    # pushes
    m.Frame: st.builds(
        m.Frame, stream=ids, seq=ids, codec=st.none() | st.sampled_from(["h264", "jpeg", "webp", "prle", "planar"]),
        key=st.none() | st.booleans(), width=st.none() | dims, height=st.none() | dims,
        coded=st.none() | st.tuples(dims, dims), rects=st.lists(rect4 | rect5, max_size=5).map(tuple),
        touchup=st.none() | st.booleans(),
        copy=st.lists(st.tuples(*[st.integers(0, m.MAX_DIMENSION)] * 6), max_size=3).map(tuple),
        payload=st.binary(max_size=32)),
    m.Cursor: st.integers(0, 8).flatmap(lambda w: st.integers(0, 8).flatmap(lambda h: st.builds(
        m.Cursor, ids, st.just(w), st.just(h), st.integers(0, 8), st.integers(0, 8),
        st.binary(min_size=4 * w * h, max_size=4 * w * h)))),
    m.Pointer: st.builds(m.Pointer, st.integers(-32768, 32767), st.integers(-32768, 32767)),
    m.ClipboardChanged: st.builds(m.ClipboardChanged, selections, st.none() | texts, st.sampled_from(
        [(), (m.CLIPBOARD_IMAGE,), (m.CLIPBOARD_FILES,), (m.CLIPBOARD_IMAGE, m.CLIPBOARD_FILES)])),
    m.Resized: st.builds(m.Resized, dims, dims, monitor_layouts),
    m.Bye: st.builds(m.Bye, texts),
    # redirected drives
    m.DriveAttach: st.builds(m.DriveAttach, st.integers(0, 2**32 - 1), drive_names),
    m.DriveAttachReply: st.builds(m.DriveAttachReply, drive_names, texts),
    m.DriveDetach: st.builds(m.DriveDetach, st.integers(0, 2**32 - 1)),
    m.DownloadsChanged: st.builds(m.DownloadsChanged, file_entries),
    m.DriveCall: st.builds(
        m.DriveCall, call=ids, drive=st.integers(0, 2**32 - 1), action=st.sampled_from(list(m.DriveAction)),
        path=drive_paths, target=st.none() | drive_paths, handle=st.none() | st.integers(0, 2**32 - 1),
        offset=st.none() | st.integers(0, 2**63 - 1), length=st.none() | st.integers(0, m.MAX_DRIVE_IO),
        size=st.none() | st.integers(0, 2**63 - 1), atime=st.none() | st.integers(0, 2**63 - 1),
        mtime=st.none() | st.integers(0, 2**63 - 1), flags=st.frozensets(st.sampled_from(list(m.OpenFlag))),
        data=st.binary(max_size=32)),
    m.DriveResult: st.builds(
        m.DriveResult, call=ids, errno=st.sampled_from([0, 2, 5, 13, 17, 39]),
        handle=st.none() | st.integers(0, 2**32 - 1), length=st.none() | st.integers(0, m.MAX_DRIVE_IO),
        entry=st.none() | drive_entries, size=st.none() | st.integers(0, 2**63 - 1),
        free=st.none() | st.integers(0, 2**63 - 1), data=st.binary(max_size=32)),
    # clipboard images and files
    m.ClipboardRead: st.builds(m.ClipboardRead, st.just(m.CLIPBOARD_IMAGE), selections),
    m.ClipboardReadReply: st.builds(m.ClipboardReadReply, st.just(m.CLIPBOARD_IMAGE),
                                    st.binary(max_size=32).map(lambda b: m.PNG_SIGNATURE + b)),
    m.ClipboardSetImage: st.builds(m.ClipboardSetImage, selections,
                                   st.binary(max_size=32).map(lambda b: m.PNG_SIGNATURE + b)),
    m.ClipboardFiles: st.builds(m.ClipboardFiles, selections),
    m.ClipboardFilesReply: st.builds(m.ClipboardFilesReply, ids, st.lists(st.builds(
        m.ClipboardFile, file_names, st.integers(0, m.MAX_FILE_SIZE)), max_size=3).map(tuple)),
    m.ClipboardFileRead: st.builds(m.ClipboardFileRead, ids, st.integers(0, m.MAX_CLIPBOARD_FILES - 1),
                                   st.integers(0, m.MAX_FILE_SIZE), st.integers(0, m.MAX_FILE_CHUNK)),
    m.ClipboardFileReadReply: st.binary(max_size=32).flatmap(lambda data: st.builds(
        m.ClipboardFileReadReply, st.just(len(data) + 5), st.just(5), st.just(data))),
    m.ClipboardSetFiles: st.builds(m.ClipboardSetFiles, st.lists(file_names, min_size=1, max_size=3).map(tuple),
                                   selections),
}
any_message = st.one_of(*MESSAGES.values())


def test_every_message_and_event_has_a_strategy():
    every = {*m.REQUESTS.values(), *m.REPLIES, m.ErrorReply, *m.PUSHES.values()}
    assert set(MESSAGES) == every
    assert set(INPUT_EVENTS) == set(m.INPUT_EVENTS.values())
    assert {op for cls in m.REPLIES for op in cls.answers} == {cls.op for cls in m.REQUESTS.values() if cls.reply}
    for request in m.REQUESTS.values():
        assert request.reply is None or request.op in request.reply.answers


def decode(header: dict[str, Any], payload: bytes, cls: type[m.HostMessage]) -> m.HostMessage | None:
    """Decode as the receiving side would: the host for requests, a client for the rest."""
    if issubclass(cls, m.Request):
        return m.decode_request(header, payload)
    if issubclass(cls, m.Reply):
        return m.decode_reply(m.REQUESTS[cls.answers[0]], header, payload)
    if cls is m.ErrorReply:
        return m.decode_reply(m.Status, header, payload)
    return m.decode_push(header, payload)


@settings(max_examples=300)
@given(any_message)
def test_encode_decode_round_trip(message):
    header, payload = message.encode()
    header = json.loads(json.dumps(header))  # what the other side parses
    assert decode(header, payload, type(message)) == message


@given(st.lists(st.tuples(any_message, st.none() | st.integers(0, 99)), min_size=1, max_size=4))
def test_messages_fed_one_byte_at_a_time(batch):
    wire = b"".join(m.pack(msg, request_id=rid if rid is not None else m.NO_ID) for msg, rid in batch)
    protocol = HostProtocol()
    received = []
    for i in range(len(wire)):
        protocol.receive_data(wire[i:i + 1])
        received.extend(protocol.events())
    assert protocol.buffered == 0
    assert len(received) == len(batch)
    for raw, (msg, rid) in zip(received, batch):
        assert raw.get("id", "absent") == (rid if rid is not None else "absent")
        assert decode(raw.header, raw.payload, type(msg)) == msg


field_names = sorted({name for cls in MESSAGES for name in cls.field_names()} | {"id", "events"})
hostile_headers = st.fixed_dictionaries(
    {"op": st.sampled_from([op.value for op in m.Op]) | json_scalars},
    optional={name: json_values for name in field_names if name != "op"},
)
hostile_events = st.fixed_dictionaries(
    {"t": st.sampled_from([t.value for t in m.InputType]) | json_scalars},
    optional={name: json_values for name in field_names + [
        f for cls in INPUT_EVENTS for f in cls.field_names()] if name != "t"},
)


@settings(max_examples=500)
@given(hostile_headers, st.binary(max_size=16))
def test_hostile_headers_only_raise_remote_errors(header, payload):
    for read in (m.decode_request, m.decode_push,
                 *(lambda h, p, r=request: m.decode_reply(r, h, p) for request in m.REQUESTS.values())):
        try:
            read(header, payload)
        except RemoteProtocolError:
            pass


hostile_file_lists = st.lists(st.fixed_dictionaries({}, optional={
    "name": st.text(max_size=12) | json_values, "size": st.integers(-5, 2**60) | json_values,
    "mtime": st.floats() | json_values}) | json_values, max_size=5)


@settings(max_examples=300)
@given(st.one_of(hostile_file_lists.map(lambda v: json.dumps(v).encode()), json_values.map(
    lambda v: json.dumps(v).encode()), st.binary(max_size=40)))
def test_hostile_download_lists_only_raise_remote_errors(payload):
    for cls in (m.DownloadsChanged, m.DownloadsWatchReply):
        try:
            files = cls.decode({"op": cls.op.value}, payload).files
        except RemoteProtocolError:
            continue
        assert all(is_valid_name(f.name) and 0 <= f.size <= m.MAX_FILE_SIZE for f in files)


def test_deeply_nested_payloads_are_remote_errors():
    deep = b"[" * 5000 + b"]" * 5000  # json.loads: RecursionError
    for cls in (m.DownloadsChanged, m.DownloadsWatchReply):
        with pytest.raises(RemoteProtocolError, match="not a JSON list"):
            cls.decode({"op": cls.op.value}, deep)
    with pytest.raises(RemoteProtocolError, match="not JSON"):
        m.DriveResult(call=1, data=deep).listing()


@settings(max_examples=300)
@given(st.lists(hostile_events | json_values, max_size=4))
def test_hostile_input_events_only_raise_remote_errors(events):
    try:
        m.decode_request({"op": "input", "events": events})
    except RemoteProtocolError:
        pass


# -- the table: wire bytes, both directions ------------------------------------------------

WIRE = [
    (m.Status(), 1, b'{"op":"status","id":1}', b""),
    (m.Ack(stream=3, seq=9), m.NO_ID, b'{"op":"ack","stream":3,"seq":9}', b""),
    (m.Resize(1280, 720), 7, b'{"op":"resize","id":7,"width":1280,"height":720}', b""),
    (m.Resize(1824, 768, (m.Monitor(0, 0, 1024, 768, True), m.Monitor(1024, 0, 800, 600))), 8,
     b'{"op":"resize","id":8,"width":1824,"height":768,"monitors":[{"x":0,"y":0,"width":1024,"height":768,'
     b'"primary":true},{"x":1024,"y":0,"width":800,"height":600,"primary":false}]}', b""),
    (m.Input((m.MoveEvent(5, 6), m.TextEvent("ä"))), m.NO_ID,
     '{"op":"input","events":[{"t":"move","x":5,"y":6},{"t":"text","text":"ä"}]}'.encode(), b""),
    (m.Subscribe("h264", {"qp": 20}, 2), 4, b'{"op":"subscribe","id":4,"format":"h264","options":{"qp":20},"window":2}',
     b""),
    (m.Exec(("sh", "-c", "true")), 5, b'{"op":"exec","id":5,"argv":["sh","-c","true"]}', b""),
    (m.Microphone(b"\x01\x00\xff\x7f"), m.NO_ID, b'{"op":"microphone","rate":48000,"channels":1}',
     b"\x01\x00\xff\x7f"),
    (m.ResizeReply(800, 600), None, b'{"op":"ok","id":null,"width":800,"height":600}', b""),
    (m.ErrorReply("no"), 2, b'{"op":"error","id":2,"error":"no"}', b""),
    (m.Frame(stream=1, seq=2, rects=((0, 0, 1, 1),), payload=b"\x01\x02\x03\x04"), m.NO_ID,
     b'{"op":"frame","stream":1,"seq":2,"rects":[[0,0,1,1]]}', b"\x01\x02\x03\x04"),
    (m.Frame(stream=1, seq=3, codec="h264", key=True, width=8, height=8, coded=(16, 16), rects=((0, 0, 8, 8),),
             payload=b"x"), m.NO_ID,
     b'{"op":"frame","stream":1,"seq":3,"codec":"h264","key":true,"width":8,"height":8,"coded":[16,16],'
     b'"rects":[[0,0,8,8]]}', b"x"),
    (m.Cursor(serial=7, width=1, height=1, xhot=0, yhot=0, rgba=b"\xff\x00\x00\x80"), m.NO_ID,
     b'{"op":"cursor","serial":7,"width":1,"height":1,"xhot":0,"yhot":0}', b"\xff\x00\x00\x80"),
    (m.Pointer(10, 20), m.NO_ID, b'{"op":"pointer","x":10,"y":20}', b""),
    (m.ClipboardChanged(m.Selection.PRIMARY, None), m.NO_ID,
     b'{"op":"clipboard","selection":"PRIMARY","is_text":false}', b""),
    (m.ClipboardSet("ü"), 3, b'{"op":"clipboard_set","id":3,"selection":"CLIPBOARD"}', "ü".encode()),
]


@pytest.mark.parametrize(("message", "rid", "head", "payload"), WIRE)
def test_wire_table_both_directions(message, rid, head, payload):
    wire = struct.pack(">IH", 2 + len(head) + len(payload), len(head)) + head + payload
    assert m.pack(message, request_id=rid) == wire
    protocol = HostProtocol()
    protocol.receive_data(wire)
    (raw,) = protocol.events()
    assert decode(raw.header, raw.payload, type(message)) == message


def test_frames_keep_the_encoders_field_order():
    """What the host sent before the messages were typed, byte for byte."""
    touchup = {"codec": "webp", "rects": [[0, 0, 4, 4, 10]], "touchup": True}
    frame = m.Frame.from_encoder(2, 5, touchup, b"0123456789")
    assert m.pack(frame) == encode_message({"op": "frame", "stream": 2, "seq": 5, **touchup}, b"0123456789")
    riding = {"codec": "indexed", "rects": [[0, 40, 64, 8, 3]], "copy": [[0, 0, 64, 40, 0, 8]]}
    assert m.pack(m.Frame.from_encoder(2, 6, riding, b"abc")) == encode_message(
        {"op": "frame", "stream": 2, "seq": 6, **riding}, b"abc")
    jpeg_full = {"codec": "jpeg", "width": 64, "height": 32, "rects": [[0, 0, 64, 32, 3]]}
    assert m.pack(m.Frame.from_encoder(1, 1, jpeg_full, b"abc")) == encode_message(
        {"op": "frame", "stream": 1, "seq": 1, **jpeg_full}, b"abc")


# -- validation: refused with the field named, or clamped ----------------------------------

REFUSED = [
    ({"op": "nonsense"}, "unknown op 'nonsense'"),
    ({"op": "ok"}, "unknown op 'ok'"),
    ({"op": "resize", "width": -5, "height": 600}, "resize: width -5 out of range"),
    ({"op": "resize", "width": 0, "height": 600}, "width 0 out of range"),
    ({"op": "resize", "width": "800", "height": 600}, "resize: width must be an integer"),
    ({"op": "resize", "width": 800}, "resize: height is missing"),
    ({"op": "resize", "width": True, "height": 600}, "width must be an integer"),
    ({"op": "input", "events": "typing"}, "input: events must be a list of events"),
    ({"op": "input", "events": [{"t": "warp"}]}, "unknown input event type 'warp'"),
    ({"op": "input", "events": ["move"]}, "events must be objects"),
    ({"op": "input", "events": [{"t": "move", "x": "1", "y": 2}]}, "input move: x must be an integer"),
    ({"op": "input", "events": [{"t": "button", "button": 99, "down": True}]}, "button 99 out of range 1..16"),
    ({"op": "input", "events": [{"t": "button", "button": 1, "down": 1}]}, "input button: down must be true or false"),
    ({"op": "input", "events": [{"t": "wheel", "dy": 1e9}]}, "input wheel: dy 1000000000.0 out of range"),
    ({"op": "input", "events": [{"t": "key", "code": 5000, "down": True}]}, "input key: code 5000 out of range"),
    ({"op": "input", "events": [{"t": "text", "text": "x" * 10001}]}, "input text: text longer than 10000"),
    ({"op": "input", "events": [{"t": "text", "text": "\ud800"}]}, "input text: text must be Unicode text"),
    ({"op": "input", "events": [{"t": "move", "x": 1, "y": 1}] * (m.MAX_INPUT_EVENTS + 1)}, "input: events"),
    ({"op": "clipboard_set", "selection": 5}, "selection must be CLIPBOARD or PRIMARY"),
    ({"op": "clipboard_get", "selection": "SECONDARY"}, "selection must be CLIPBOARD or PRIMARY"),
    ({"op": "subscribe", "format": 5}, "subscribe: format must be a string"),
    ({"op": "subscribe", "format": "../etc"}, "subscribe: format must be a format name"),
    ({"op": "subscribe", "options": [1]}, "subscribe: options must be an object"),
    ({"op": "subscribe", "window": "4"}, "subscribe: window must be an integer"),
    ({"op": "unsubscribe", "stream": 0}, "unsubscribe: stream 0 out of range"),
    ({"op": "ack", "stream": 1, "seq": -1}, "ack: seq -1 out of range"),
    ({"op": "keyframe", "stream": [1]}, "keyframe: stream must be an integer"),
    ({"op": "exec", "argv": "ls"}, "exec: argv must be a non-empty list"),
    ({"op": "exec", "argv": []}, "exec: argv must be a non-empty list"),
    ({"op": "exec", "argv": ["ls", 5]}, "exec: argv must be a non-empty list of strings"),
    ({"op": "exec", "argv": ["ls\0"]}, "without NUL"),
    ({"op": "exec", "argv": ["ls"], "env": {"A=B": "c"}}, "exec: env must be an object of NAME"),
    ({"op": "exec", "argv": ["ls"], "env": {"A": 1}}, "exec: env must be"),
    ({"op": "screenshot", "format": "bmp"}, "screenshot: format must be png"),
    ({"op": "microphone", "rate": 44100, "channels": 1}, "microphone: rate 44100 out of range"),
    ({"op": "microphone", "rate": 48000, "channels": 2}, "microphone: channels 2 out of range"),
    ({"op": "microphone", "channels": 1}, "microphone: rate is missing"),
]


@pytest.mark.parametrize(("header", "error"), REFUSED)
def test_malformed_requests_name_the_field(header, error):
    with pytest.raises(RemoteProtocolError, match=re.escape(error)):
        m.decode_request(header)


def test_out_of_range_values_that_are_clamped():
    (move,) = m.decode_request({"op": "input", "events": [{"t": "move", "x": 40000, "y": -3}]}).events
    assert move == m.MoveEvent(32767, 0)
    assert move.within(1024, 768) == m.MoveEvent(1023, 0)
    assert m.decode_request({"op": "resize", "width": 10**9, "height": 600}) == m.Resize(m.MAX_DIMENSION, 600)
    assert m.decode_request({"op": "subscribe", "window": 0}).window == 1
    assert m.decode_request({"op": "subscribe", "window": 10**6}).window == m.MAX_WINDOW


def test_defaults_and_nulls():
    assert m.decode_request({"op": "subscribe"}) == m.Subscribe("raw", {}, m.DEFAULT_WINDOW)
    assert m.decode_request({"op": "subscribe", "options": None}) == m.Subscribe()
    assert m.decode_request({"op": "clipboard_get", "selection": None}) == m.ClipboardGet(m.Selection.CLIPBOARD)
    assert m.decode_request({"op": "input", "events": [{"t": "locks", "caps": True}]}).events == (
        m.LocksEvent(caps=True),)
    assert m.decode_request({"op": "input", "events": [{"t": "wheel", "dx": 1}]}).events == (m.WheelEvent(1.0, 0.0),)
    # unknown fields and a request's payload are ignored
    assert m.decode_request({"op": "status", "id": 4, "later": [1]}, b"ignored") == m.Status()


def test_hostile_host_messages_are_refused():
    with pytest.raises(RemoteProtocolError, match="payload of 3 bytes is not 2x2 RGBA"):
        m.decode_push({"op": "cursor", "serial": 1, "width": 2, "height": 2, "xhot": 0, "yhot": 0}, b"abc")
    with pytest.raises(RemoteProtocolError, match="frame: rects must be a list of"):
        m.decode_push({"op": "frame", "stream": 1, "seq": 1, "rects": [[0, 0, -4, 4]]})
    with pytest.raises(RemoteProtocolError, match="reply to subscribe: stream must be an integer"):
        m.decode_reply(m.Subscribe, {"op": "ok", "stream": "1", "width": 1, "height": 1})
    with pytest.raises(RemoteProtocolError, match="subscribe answered with 'frame'"):
        m.decode_reply(m.Subscribe, {"op": "frame"})
    assert m.decode_reply(m.Subscribe, {"op": "error", "error": "nope"}) == m.ErrorReply("nope")
    assert m.decode_push({"op": "from-a-newer-host"}) is None


def test_a_frames_copies_are_six_numbers_each():
    with pytest.raises(RemoteProtocolError, match="frame: copy"):
        m.decode_push({"op": "frame", "stream": 1, "seq": 1, "copy": [[0, 0, 4, 4]]})
    with pytest.raises(RemoteProtocolError, match="frame: copy"):
        m.decode_push({"op": "frame", "stream": 1, "seq": 1, "copy": [[0, 0, 4, 4, -1, 0]]})
    frame = m.decode_push({"op": "frame", "stream": 1, "seq": 1, "copy": [[0, 0, 4, 4, 0, 2]]})
    assert frame.copy == ((0, 0, 4, 4, 0, 2),)


edge_numbers = st.sampled_from([0, 1, -1, 32, 33, m.MAX_DIMENSION, m.MAX_DIMENSION + 1, m.MAX_ID, m.MAX_ID + 1,
                                True, False, 1.0, "1", None])
frame_values = edge_numbers | st.integers(-5, 2**54) | st.text(max_size=34) | st.lists(
    st.lists(edge_numbers | st.integers(-2, 40000), max_size=7) | edge_numbers, max_size=4)


# Generating nested field values is slow on a loaded machine: that is not what is tested.
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*sorted(m._FRAME_KEYS - {"op"}), "other"]), frame_values, max_size=12),
       st.fixed_dictionaries({"stream": st.integers(1, 9), "seq": st.integers(1, 9)}))
def test_common_frames_decode_like_any_frame(fields, ids_):
    """The quick decode of common frames takes only what the full decode takes, and gives the
    same frame (an unknown key sends a header to the full decode, which ignores it)."""
    for header in ({"op": "frame", **fields}, {"op": "frame", **ids_, **fields}, {"op": "frame", **fields, **ids_}):
        quick = m._common_frame(m.Frame, header, b"p")
        try:
            full = m.Frame.decode({**header, "unknown": 1}, b"p")
        except RemoteProtocolError:
            assert quick is None
            continue
        assert quick is None or quick == full
    typical = {"op": "frame", "stream": 3, "seq": 7, "codec": "planar", "rects": [[1, 2, 3, 4, 5]], "pts": 9}
    assert m._common_frame(m.Frame, typical, b"p") == m.Frame.decode({**typical, "unknown": 1}, b"p")


@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from([*sorted(m._ENCODER_KEYS), "coded", "copy", "other"]),
                       frame_values | st.booleans(), max_size=9))
def test_encoder_headers_are_the_typed_frames_headers(fields):
    """The header built straight from an encoder's fields is the typed frame's, key order
    included, and shares no list with the fields."""
    try:
        full = m.Frame.from_encoder(0, 0, fields, b"p").encode()[0]
    except (TypeError, ValueError, IndexError):
        with pytest.raises((TypeError, ValueError, IndexError)):
            m.Frame.encoder_header(fields)
        return
    quick = m.Frame.encoder_header(fields)
    assert list(quick.items()) == list(full.items())
    assert json.dumps(quick) == json.dumps(full)
    assert not any(q is r for q in quick["rects"] for r in fields.get("rects") or ())
    typical = {"codec": "planar", "rects": [[1, 2, 3, 4, 5]], "pts": 9}
    typed = m.Frame.from_encoder(0, 0, typical, b"").encode()[0]
    assert list(m.Frame.encoder_header(typical).items()) == list(typed.items())


def test_we_refuse_to_send_what_the_host_could_not_read():
    with pytest.raises(LocalProtocolError, match="exceeds"):
        m.pack(m.Input((m.TextEvent("x" * 10_000_000),)))
    with pytest.raises(LocalProtocolError, match="lone surrogate"):
        m.pack(m.ClipboardSet("\ud800"))


# -- the protocol document and the code agree ----------------------------------------------


def _table_after(heading: str) -> list[list[str]]:
    """The rows (cells) of the first table after ``heading`` in the protocol document."""
    lines = DOC.read_text().splitlines()
    at = lines.index(heading) + 1
    while not lines[at].startswith("|"):
        assert not lines[at].startswith("#"), f"no table under {heading!r}"
        at += 1
    rows = []
    for line in lines[at + 2:]:  # past the column names and the |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _names(cell: str) -> list[str]:
    return re.findall(r"`([a-z_]+)`", cell)


def _by_name(rows: list[list[str]]) -> dict[str, list[str]]:
    table = {}
    for row in rows:
        (name,) = _names(row[0])
        table[name] = row
    return table


def test_doc_requests_match_the_messages():
    rows = _by_name(_table_after("## Requests (client → host)"))
    assert set(rows) == {op.value for op in m.REQUESTS}
    for op, (_, fields, reply_fields, _) in rows.items():
        cls = m.REQUESTS[m.Op(op)]
        assert _names(fields) == cls.field_names(), f"fields of {op}"
        if reply_fields == "no reply":
            assert cls.reply is None, f"{op} has a reply in the code"
        else:
            assert cls.reply is not None, f"{op} has no reply in the code"
            assert _names(reply_fields) == cls.reply.field_names(), f"reply fields of {op}"


def test_doc_input_events_match_the_messages():
    rows = _by_name(_table_after("### Input events"))
    assert set(rows) == {t.value for t in m.INPUT_EVENTS}
    for t, (_, fields, _) in rows.items():
        assert _names(fields) == m.INPUT_EVENTS[m.InputType(t)].field_names(), f"fields of {t}"


def test_doc_pushes_match_the_messages():
    rows = _by_name(_table_after("## Pushes (host → client)"))
    assert set(rows) == {op.value for op in m.PUSHES}
    for op, (_, fields, _) in rows.items():
        assert _names(fields) == m.PUSHES[m.Op(op)].field_names(), f"fields of {op}"


def test_doc_replies_match_the_messages():
    rows = _by_name(_table_after("## Replies and errors"))
    assert set(rows) == {m.Op.OK.value, m.Op.ERROR.value}
    assert _names(rows["ok"][1]) == []
    assert _names(rows["error"][1]) == m.ErrorReply.field_names()


def test_the_host_handles_every_request():
    from compositor.host import SessionHost

    assert set(SessionHost.HANDLERS) == set(m.REQUESTS.values())


def test_microphone_audio_is_whole_samples_of_at_most_a_second():
    header = {"op": "microphone", "rate": 48000, "channels": 1}
    assert m.decode_request(header, bytes(m.MAX_MICROPHONE_BYTES)).pcm == bytes(m.MAX_MICROPHONE_BYTES)
    for payload in (b"\x00", bytes(m.MAX_MICROPHONE_BYTES + 2)):
        with pytest.raises(RemoteProtocolError, match=r"microphone: .* not whole samples of at most"):
            m.decode_request(header, payload)


def test_clipboard_text_rides_in_the_payload_and_is_checked():
    big = "ü" * (200 * 1024)  # 400 KB of UTF-8: far past a header's 64 KiB
    header, payload = m.ClipboardSet(big).encode()
    assert "text" not in header and payload == big.encode()
    assert m.ClipboardSet.decode(header, payload).text == big
    header, payload = m.ClipboardGetReply(None).encode()
    assert header["is_text"] is False and payload == b""
    assert m.ClipboardGetReply.decode(header, payload).text is None
    assert m.ClipboardGetReply.decode({"is_text": True}, b"").text == ""  # empty text is text
    for cls, header, payload, error in [
        (m.ClipboardSet, {}, b"\xff\xfe", "not UTF-8"),
        (m.ClipboardGetReply, {"is_text": False}, b"stray", "payload without is_text"),
        (m.ClipboardChanged, {"selection": "CLIPBOARD"}, b"", "is_text is missing"),
        (m.ClipboardSet, {}, b"x" * (m.MAX_CLIPBOARD_BYTES + 1), "is over"),
    ]:
        with pytest.raises(RemoteProtocolError, match=error):
            cls.decode(header, payload)
