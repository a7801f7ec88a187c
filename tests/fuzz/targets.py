"""What the fuzzer feeds, family by family: every parser that reads another party's bytes.

A family makes inputs from a seeded ``random.Random`` (random bytes, or valid messages mutated)
and feeds one to the code under test. Feeding may raise only the error the code uses to turn a
peer away (``RemoteProtocolError`` for RDP and the host protocol, ``ViewerProtocolError`` for the
viewer socket); anything else is a crash (``tests/fuzz/run.py`` keeps it as a regression file).

Families: ``rdp-pdus`` (every PDU parser of ``codecs_table.PARSERS``, with the decode → encode →
decode oracle), ``rdp-channels`` (the audio output, audio input and drive channels' messages),
``rdp-session`` (the connection and the driver's decisions, ``Bridge``, fed a
real client's stream up to any point and then mutated frames, with host pushes between),
``host-requests`` (the session host's framing and op dispatch: what it reads from its clients),
``host-pushes`` (what a client reads from a host: a desktop's user can take theirs over),
``viewer-messages`` (the browser's messages to the viewer socket), ``login-form`` (RDP key and
Unicode events into the server's login form).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from compositor import messages
from compositor.protocol import HostProtocol, encode_message
from compositor.protocol import RemoteProtocolError as HostRemoteError
from rdpfront import events
from rdpfront.bridge import Bridge
from rdpfront.errors import RemoteProtocolError
from rdpfront.login_flow import LoginFlow
from rdpfront.settings import ServerSettings
from tests.rdpfront.helpers import credentials_event
from webconsole.viewer.protocol import ViewerProtocolError, parse_client


@dataclass(frozen=True)
class Family:
    name: str
    make: Callable[[random.Random], bytes]  # one input
    feed: Callable[[bytes], None]  # raises only ``allowed``
    allowed: tuple[type[BaseException], ...]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A few byte-level changes: overwrite, cut, insert, flip a bit, set a boundary value."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1 and buf:
            del buf[rng.randrange(len(buf)):]
        elif op == 2:
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op == 4 and buf:
            buf[rng.randrange(len(buf))] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
    return bytes(buf)


def _pick(rng: random.Random, seeds: list[bytes]) -> bytes:
    """A third random bytes, the rest a seed mutated."""
    if rng.randrange(3) == 0:
        return rng.randbytes(rng.randrange(64))
    return mutate(rng, rng.choice(seeds))


def _with_length_prefix(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


def _split_length_prefixed(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


# ---- RDP PDUs ------------------------------------------------------------------------------

def _rdp_pdus() -> Family:
    from tests.rdpfront.codecs_table import PARSERS
    from tests.rdpfront.test_properties import SEEDS, check

    names = sorted(PARSERS)

    def make(rng: random.Random) -> bytes:
        parser = rng.randrange(len(names))
        return bytes([parser]) + _pick(rng, SEEDS[names[parser]] or [b""])

    def feed(data: bytes) -> None:
        if not data:
            return
        check(names[data[0] % len(names)], data[1:])

    return Family("rdp-pdus", make, feed, (RemoteProtocolError,))


# ---- RDP virtual channel messages (audio out and in, drives) ------------------------------

def _rdp_channels() -> Family:
    from rdpfront import audin, rdpdr, rdpsnd
    from tests.rdpfront.test_audin import TABLE as AUDIN
    from tests.rdpfront.test_rdpdr import TABLE as RDPDR

    decoders = [
        ("rdpsnd", rdpsnd.decode, [rdpsnd.encode(rdpsnd.AudioFormats((rdpsnd.AudioFormat.pcm(48000),))),
                                   bytes.fromhex("050004003412" "07" "00"),
                                   *rdpsnd.encode_wave(5, 1, 2, b"abcdefgh", wave2=False)]),
        ("audin-client", audin.decode_audin, [data for _, data, from_server in AUDIN if not from_server]),
        ("audin-server", lambda d: audin.decode_audin(d, from_server=True),
         [data for _, data, from_server in AUDIN if from_server]),
        ("rdpdr-client", rdpdr.decode_client, [data for side, data, _ in RDPDR if side == "client"]),
        ("rdpdr-server", rdpdr.decode_server, [data for side, data, _ in RDPDR if side == "server"]),
        *((f"rdpdr-response-{m.name}", lambda d, m=m: rdpdr.decode_response(m, d), [b"\0" * 8, b"\1\0\0\0ab"])
          for m in rdpdr.MajorFunction),
    ]

    def make(rng: random.Random) -> bytes:
        which = rng.randrange(len(decoders))
        return bytes([which]) + _pick(rng, decoders[which][2] or [b""])

    def feed(data: bytes) -> None:
        if data:
            decoders[data[0] % len(decoders)][1](data[1:])

    return Family("rdp-channels", make, feed, (RemoteProtocolError,))


# ---- the RDP session: connection, bridge and host pushes ------------------------------------

HOST_PUSHES: list[messages.Push] = [
    messages.Frame(stream=1, seq=1, codec="planar", width=800, height=600, rects=((0, 0, 8, 8, 4),), payload=b"abcd"),
    messages.Frame(stream=2, seq=1, codec="h264", key=True, width=800, height=600, coded=(800, 608),
                   rects=((0, 0, 800, 600),), payload=b"\x00\x00\x00\x01\x67"),
    messages.Frame(stream=1, seq=2, codec="copy", rects=((0, 0, 100, 50, 0, 16),)),
    messages.Cursor(serial=1, width=1, height=1, xhot=0, yhot=0, rgba=b"\xff\x00\x00\xff"),
    messages.Pointer(x=5, y=7),
    messages.ClipboardChanged(selection=messages.Selection.CLIPBOARD, text="hello"),
    messages.ClipboardChanged(selection=messages.Selection.CLIPBOARD, text=None,
                              formats=(messages.CLIPBOARD_IMAGE, messages.CLIPBOARD_FILES)),
    messages.Resized(width=1024, height=768),
    messages.Bye(reason="stopped"),
]


def _rdp_session() -> Family:
    from tests.rdpfront.test_bridge import Driver
    from tests.rdpfront.test_state_machines import FRAMES

    def make(rng: random.Random) -> bytes:
        point = rng.randrange(len(FRAMES) + 1)
        pieces = [bytes([point])]
        for _ in range(rng.randint(1, 4)):
            if rng.randrange(4) == 0:
                pieces.append(b"P" + bytes([rng.randrange(len(HOST_PUSHES))]))
            else:
                pieces.append(b"F" + _pick(rng, FRAMES))
        return _with_length_prefix(pieces)

    def feed(data: bytes) -> None:
        pieces = _split_length_prefixed(data)
        if not pieces or not pieces[0]:
            return
        bridge = Bridge(ServerSettings())
        driver = Driver(bridge)
        point = pieces[0][0] % (len(FRAMES) + 1)
        try:
            for frame in FRAMES[:point]:
                _to_bridge(bridge, driver, frame)
            for piece in pieces[1:]:
                if piece[:1] == b"P" and len(piece) > 1:
                    driver.carry_out(bridge.host_push(HOST_PUSHES[piece[1] % len(HOST_PUSHES)]))
                    bridge.data_to_send()
                    bridge.host_messages()
                elif piece[:1] == b"F":
                    _to_bridge(bridge, driver, piece[1:])
        except RemoteProtocolError:
            assert bridge.conn.closed, f"a peer error left the connection in {type(bridge.conn.state).__name__}"

    return Family("rdp-session", make, feed, ())


def _to_bridge(bridge: Bridge, driver, data: bytes) -> None:
    bridge.conn.receive_data(data)
    driver.receive(bridge.conn.events())
    if bridge.conn.reached_security_upgrade():  # the driver's TLS handshake, done
        bridge.conn.security_upgrade_done()
        driver.receive(bridge.conn.events())
    bridge.data_to_send()
    bridge.host_messages()


# ---- the session host's protocol -------------------------------------------------------------

HOST_REQUESTS: list[messages.Request] = [
    messages.Status(), messages.Screenshot(),
    messages.Input(events=(messages.MoveEvent(x=10, y=20), messages.ButtonEvent(button=1, down=True),
                           messages.KeyEvent(code=30, down=True), messages.TextEvent(text="héllo"),
                           messages.WheelEvent(dx=0.0, dy=-1.5), messages.LocksEvent(caps=True))),
    messages.ClipboardGet(selection=messages.Selection.CLIPBOARD),
    messages.ClipboardSet(selection=messages.Selection.PRIMARY, text="text"),
    messages.Resize(width=1024, height=768),
    messages.Subscribe(format="h264", options={"fps": 30, "images": "planar"}, window=4),
    messages.Unsubscribe(stream=1), messages.Ack(stream=1, seq=5), messages.Keyframe(stream=1),
    messages.Exec(argv=("xterm", "-e", "true"), env={"A": "b"}), messages.Stop(),
    messages.ClipboardRead(), messages.ClipboardSetImage(png=messages.PNG_SIGNATURE + b"IHDR"),
    messages.ClipboardFiles(), messages.ClipboardFileRead(serial=3, index=1, offset=10, length=4096),
    messages.ClipboardSetFiles(names=("a.txt", "b c.png")),
]
HOST_REQUEST_BYTES = [messages.pack(r, request_id=i) for i, r in enumerate(HOST_REQUESTS)]
HOST_PUSH_BYTES = [messages.pack(p) for p in HOST_PUSHES] + [
    encode_message({"op": "ok", "id": 1, "session": "s", "display": ":5", "width": 800, "height": 600,
                    "max_width": 1920, "max_height": 1200, "pid": 5, "xvfb_pid": 6, "runtime_dir": "/run/x",
                    "wayland_display": None, "subscribers": 1, "encoders": [], "last_input": None,
                    "started_at": 1.0, "attached": False, "uid": 1000, "home": "/home/x"}),
    encode_message({"op": "ok", "id": 2, "stream": 3, "width": 800, "height": 600}),
    encode_message({"op": "ok", "id": 3, "pid": 77}),
    encode_message({"op": "ok", "id": 4}, b"\x89PNG"),
    encode_message({"op": "error", "id": 5, "error": "no"}),
    messages.pack(messages.ClipboardFilesReply(serial=4, files=(messages.ClipboardFile("a.txt", 10),)), request_id=6),
    messages.pack(messages.ClipboardReadReply(format=messages.CLIPBOARD_IMAGE, data=messages.PNG_SIGNATURE),
                  request_id=7),
    messages.pack(messages.ClipboardFileReadReply(size=10, offset=2, data=b"abc"), request_id=8),
]


def _json_mutation(rng: random.Random, seeds: list[bytes]) -> bytes:
    """A valid message whose JSON header had a value swapped for one of another type or range."""
    protocol = HostProtocol()
    protocol.receive_data(rng.choice(seeds))
    (message,) = protocol.events()
    header = dict(message.header)
    key = rng.choice(list(header))
    header[key] = rng.choice([None, True, -1, 0, 2**63, 1e308, float("nan"), "", "x" * 70000, [], {}, [1, 2],
                              {"x": [None]}, -(2**53) - 1])
    payload = message.payload if rng.randrange(2) else rng.randbytes(rng.randrange(16))
    head = json.dumps(header, allow_nan=True).encode()[:0xFFFF]  # framed by hand: no sender-side checks
    return struct.pack(">IH", 2 + len(head) + len(payload), len(head)) + head + payload


def _host_requests() -> Family:
    def make(rng: random.Random) -> bytes:
        return _json_mutation(rng, HOST_REQUEST_BYTES) if rng.randrange(3) == 0 else _pick(rng, HOST_REQUEST_BYTES)

    def feed(data: bytes) -> None:
        protocol = HostProtocol()
        protocol.receive_data(data)
        for message in protocol.events():
            try:
                messages.decode_request(message.header, message.payload)
            except HostRemoteError:
                pass  # the host answers an error and keeps the connection

    return Family("host-requests", make, feed, (HostRemoteError,))


def _host_pushes() -> Family:
    seeds = HOST_PUSH_BYTES
    requests = list(messages.REQUESTS.values())

    def make(rng: random.Random) -> bytes:
        return _json_mutation(rng, seeds) if rng.randrange(3) == 0 else _pick(rng, seeds)

    def feed(data: bytes) -> None:
        protocol = HostProtocol()
        protocol.receive_data(data)
        for message in protocol.events():
            try:
                messages.decode_push(message.header, message.payload)
            except HostRemoteError:
                pass
            for request in requests:  # as the answer to each request
                try:
                    messages.decode_reply(request, message.header, message.payload)
                except HostRemoteError:
                    pass

    return Family("host-pushes", make, feed, (HostRemoteError,))


# ---- the viewer socket -------------------------------------------------------------------

def _viewer_seed(header: dict, payload: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">H", len(head)) + head + payload


VIEWER_MESSAGES = [
    _viewer_seed({"op": "subscribe", "format": "h264", "preset": "balanced"}),
    _viewer_seed({"op": "ack", "seq": 7}),
    _viewer_seed({"op": "keyframe"}),
    _viewer_seed({"op": "resize", "width": 1280, "height": 720}),
    _viewer_seed({"op": "clipboard"}, "héllo".encode()),
    _viewer_seed({"op": "input", "events": [
        {"t": "move", "x": 1, "y": 2}, {"t": "button", "button": 1, "down": True},
        {"t": "wheel", "dx": 0, "dy": 1.5}, {"t": "key", "code": 30, "down": True},
        {"t": "keysym", "keysym": 65, "down": False}, {"t": "text", "text": "ab"},
        {"t": "release_all"}, {"t": "locks", "caps": True}]}),
]


def _viewer_messages() -> Family:
    def make(rng: random.Random) -> bytes:
        return _pick(rng, VIEWER_MESSAGES)

    def feed(data: bytes) -> None:
        parse_client(data)

    return Family("viewer-messages", make, feed, (ViewerProtocolError,))


# ---- the RDP login form ------------------------------------------------------------------

def _login_form() -> Family:
    def make(rng: random.Random) -> bytes:
        return rng.randbytes(rng.randrange(4, 200))

    def feed(data: bytes) -> None:
        flow = LoginFlow(max_width=800, max_height=600)
        flow.credentials(credentials_event(password=""))
        try:
            for i in range(0, len(data) - 3, 4):
                kind, a, b, c = data[i:i + 4]
                if kind % 5 == 0:
                    code = (a << 8 | b) % 0x110000
                    flow.text("x" if 0xD800 <= code < 0xE000 else chr(code))
                elif kind % 5 == 1 and flow.form is not None and flow.form.busy:
                    step = flow.authenticated(bool(a & 1))
                    if step is not None and flow.form is not None and a & 2:
                        flow.attach_failed(RuntimeError("no desktop"))
                else:
                    flow.key(events.KeyboardEvent(a, bool(b & 1), bool(b & 2)))
                if flow.form is None:
                    return
            if data[0] % 20 == 0:  # drawing is not parsing: one input in twenty draws what it typed
                flow.take_image()
        finally:
            flow.close()

    return Family("login-form", make, feed, ())


FAMILIES: dict[str, Callable[[], Family]] = {
    "rdp-pdus": _rdp_pdus,
    "rdp-channels": _rdp_channels,
    "rdp-session": _rdp_session,
    "host-requests": _host_requests,
    "host-pushes": _host_pushes,
    "viewer-messages": _viewer_messages,
    "login-form": _login_form,
}
