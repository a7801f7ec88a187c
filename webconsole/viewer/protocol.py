"""Sans-IO codec of the browser viewer's WebSocket protocol (docs/viewer-protocol.md).

Every WebSocket message is binary: ``u16 BE header length | UTF-8 JSON header | payload``.
``parse_client`` turns one browser message into a typed request or raises
``ViewerProtocolError`` with the close code to use; ``encode_server`` builds a message for the
browser. ``InputBudget`` is the input flood limit (a token bucket; time is passed in).
No sockets and no clock here.
"""

from __future__ import annotations

import enum
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from compositor.audio import FORMATS as AUDIO_FORMATS  # the desktop's sound (docs/audio.md); "off" ends it
from compositor.audio import SHAREABLE as AUDIO_SHAREABLE  # what ``accept`` may list
from compositor.messages import MAX_CLIPBOARD_BYTES, MAX_TOUCH_CONTACTS, MICROPHONE_RATE

MAX_CLIENT_MESSAGE = 512 * 1024  # any message but a clipboard one
# A clipboard message carries up to the session's clipboard limit (UTF-8 in the payload).
# The WebSocket server caps whole messages at MAX_SOCKET_MESSAGE (webconsole/core/daphne_server.py;
# past it the connection is dropped, 1009) so nothing bigger is ever buffered.
MAX_SOCKET_MESSAGE = MAX_CLIPBOARD_BYTES + 64 * 1024
MAX_EVENTS_PER_MESSAGE = 256
MAX_TEXT_EVENT = 4096
# Microphone audio (s16le, 48 kHz, mono): at most 200 ms in one message; a socket may send at
# most MICROPHONE_FLOOD_FACTOR times real time for long (the host itself keeps only real time
# plus a little, docs/microphone.md), past which it is closed as a flood.
MAX_MICROPHONE_MESSAGE = MICROPHONE_RATE * 2 // 5
MICROPHONE_FLOOD_FACTOR = 4
TOUCH_PHASES = ("down", "motion", "up", "cancel")
FORMATS = ("h264", "jpeg")
# Quality presets a page may ask for by name; the consumer maps each to encoder options, so a
# page never chooses encoder settings itself (docs/viewer-protocol.md, *Presets*).
PRESETS = ("quality", "balanced", "low")
DEFAULT_PRESET = "balanced"


class CloseCode(enum.IntEnum):
    """WebSocket close codes this protocol uses: 1000, and the application's 4000–4999 (a
    server may not send the others: Daphne's WebSocket layer refuses to, and the socket then
    stays open)."""

    NORMAL = 1000
    HOST_UNREACHABLE = 4502
    PROTOCOL_ERROR = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    STOPPED = 4409
    REVOKED = 4410  # the share this viewer came through was revoked or expired
    TOO_BIG = 4413
    FLOOD = 4429


class ViewerProtocolError(Exception):
    """The browser sent something this protocol does not allow; close with ``code``."""

    def __init__(self, reason: str, code: CloseCode = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Subscribe:
    format: str
    preset: str = DEFAULT_PRESET
    # The page's socket is permessage-deflate compressed (``WebSocket.extensions``): it may be
    # sent images left for that compression (``indexed``).
    compressed: bool = False


@dataclass(frozen=True)
class Audio:
    format: str | None  # None: no sound
    accept: tuple[str, ...] = ()  # other formats the page decodes: it may be given one of them


@dataclass(frozen=True)
class Ack:
    seq: int


@dataclass(frozen=True)
class Keyframe:
    pass


@dataclass(frozen=True)
class Input:
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class Clipboard:
    text: str


@dataclass(frozen=True)
class Resize:
    width: int
    height: int


@dataclass(frozen=True)
class Microphone:
    pcm: bytes


ClientMessage = Subscribe | Ack | Keyframe | Input | Clipboard | Resize | Audio | Microphone

_HEAD = struct.Struct(">H")


def encode_server(header: dict[str, Any], payload: bytes | memoryview = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(head) > 0xFFFF:
        raise ValueError(f"header of {len(head)} bytes does not fit the u16 length")
    return b"".join((_HEAD.pack(len(head)), head, payload))


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Header and payload of one message (either direction)."""
    if len(data) < 2:
        raise ViewerProtocolError("message shorter than its length prefix")
    (head_len,) = _HEAD.unpack_from(data)
    if 2 + head_len > len(data):
        raise ViewerProtocolError("header length runs past the end of the message")
    try:
        header = json.loads(data[2:2 + head_len])
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise ViewerProtocolError("header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise ViewerProtocolError("header must be a JSON object with a string 'op'")
    return header, data[2 + head_len:]


def _int(header: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ViewerProtocolError(f"{header.get('op')}: {key} must be an integer in {lo}..{hi}")
    return value


def _bool(event: dict[str, Any], key: str) -> bool:
    value = event.get(key)
    if not isinstance(value, bool):
        raise ViewerProtocolError(f"input {event.get('t')}: {key} must be true or false")
    return value


def _number(event: dict[str, Any], key: str, limit: float) -> float:
    value = event.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or abs(value) > limit:
        raise ViewerProtocolError(f"input {event.get('t')}: {key} must be a number within ±{limit}")
    return float(value)


def clean_event(event: Any) -> dict[str, Any]:
    """One input event, checked and rebuilt with only the fields the host reads."""
    if not isinstance(event, dict):
        raise ViewerProtocolError("input events must be objects")
    t = event.get("t")
    if t == "move":
        return {"t": "move", "x": _int(event, "x", 0, 65535), "y": _int(event, "y", 0, 65535)}
    if t == "button":
        button = event.get("button")
        if button not in (1, 2, 3, 8, 9) or isinstance(button, bool):
            raise ViewerProtocolError("input button: button must be 1, 2, 3, 8 or 9")
        return {"t": "button", "button": button, "down": _bool(event, "down")}
    if t == "wheel":
        return {"t": "wheel", "dx": _number(event, "dx", 100), "dy": _number(event, "dy", 100)}
    if t == "key":
        return {"t": "key", "code": _int(event, "code", 1, 767), "down": _bool(event, "down")}
    if t == "keysym":
        return {"t": "keysym", "keysym": _int(event, "keysym", 1, 0x1FFFFFFF), "down": _bool(event, "down")}
    if t == "text":
        text = event.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT_EVENT:
            raise ViewerProtocolError(f"input text: text must be a string of 1..{MAX_TEXT_EVENT} characters")
        return {"t": "text", "text": text}
    if t == "release_all":
        return {"t": "release_all"}
    if t == "touch":
        phase = event.get("phase")
        if phase not in TOUCH_PHASES:
            raise ViewerProtocolError(f"input touch: phase must be one of {', '.join(TOUCH_PHASES)}")
        return {"t": "touch", "phase": phase, "id": _int(event, "id", 0, MAX_TOUCH_CONTACTS - 1),
                "x": _int(event, "x", 0, 65535) if "x" in event else 0,
                "y": _int(event, "y", 0, 65535) if "y" in event else 0}
    if t == "touch_frame":
        return {"t": "touch_frame"}
    if t == "locks":
        return {"t": "locks", **{k: _bool(event, k) for k in ("caps", "num", "scroll") if k in event}}
    raise ViewerProtocolError(f"unknown input event type {t!r}")


def parse_client(data: bytes | str | None) -> ClientMessage:
    """One browser → server message, validated."""
    if not isinstance(data, bytes | bytearray):
        raise ViewerProtocolError("binary messages only")
    too_big = ViewerProtocolError(f"message of {len(data)} bytes exceeds {MAX_CLIENT_MESSAGE}", CloseCode.TOO_BIG)
    if len(data) > MAX_SOCKET_MESSAGE:
        raise too_big
    try:
        header, payload = split(bytes(data))
    except ViewerProtocolError:
        if len(data) > MAX_CLIENT_MESSAGE:
            raise too_big from None
        raise
    if len(data) > MAX_CLIENT_MESSAGE and header["op"] != "clipboard":
        raise too_big
    op = header["op"]
    if op == "ack":
        return Ack(_int(header, "seq", 0, 2**53))
    if op == "input":
        events = header.get("events")
        if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS_PER_MESSAGE:
            raise ViewerProtocolError(f"input: events must be a list of 1..{MAX_EVENTS_PER_MESSAGE}")
        return Input([clean_event(e) for e in events])
    if op == "subscribe":
        fmt = header.get("format")
        if fmt not in FORMATS:
            raise ViewerProtocolError(f"subscribe: format must be one of {', '.join(FORMATS)}")
        preset = header.get("preset", DEFAULT_PRESET)
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ViewerProtocolError(f"subscribe: preset must be one of {', '.join(PRESETS)}")
        compressed = header.get("compressed", False)
        if not isinstance(compressed, bool):
            raise ViewerProtocolError("subscribe: compressed must be true or false")
        return Subscribe(fmt, preset, compressed)
    if op == "keyframe":
        return Keyframe()
    if op == "audio":
        fmt = header.get("format")
        if fmt != "off" and fmt not in AUDIO_FORMATS:
            raise ViewerProtocolError(f"audio: format must be one of {', '.join(AUDIO_FORMATS)} or off")
        accept = header.get("accept", [])
        if (not isinstance(accept, list) or len(accept) > len(AUDIO_SHAREABLE)
                or not all(isinstance(a, str) and a in AUDIO_SHAREABLE for a in accept)):
            raise ViewerProtocolError(f"audio: accept must list formats among {', '.join(AUDIO_SHAREABLE)}")
        if fmt not in AUDIO_SHAREABLE:  # pcm takes no other format; off takes none
            accept = []
        return Audio(None if fmt == "off" else fmt, tuple(dict.fromkeys(a for a in accept if a != fmt)))
    if op == "clipboard":
        if len(payload) > MAX_CLIPBOARD_BYTES:
            raise ViewerProtocolError(f"clipboard: text of {len(payload)} bytes is over {MAX_CLIPBOARD_BYTES}",
                                     CloseCode.TOO_BIG)
        try:
            return Clipboard(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise ViewerProtocolError("clipboard: the payload must be UTF-8 text") from None
    if op == "resize":
        return Resize(_int(header, "width", 64, 8192), _int(header, "height", 64, 8192))
    if op == "microphone":
        if not 0 < len(payload) <= MAX_MICROPHONE_MESSAGE or len(payload) % 2:
            raise ViewerProtocolError(
                f"microphone: the payload must be 16-bit samples, 2..{MAX_MICROPHONE_MESSAGE} bytes")
        return Microphone(bytes(payload))
    raise ViewerProtocolError(f"unknown op {op!r}")


class InputBudget:
    """Token bucket over input events (or microphone bytes): ``rate`` per second, bursts up to ``burst``."""

    def __init__(self, *, rate: float = 1000.0, burst: float = 2000.0) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at: float | None = None

    def spend(self, count: int, now: float) -> bool:
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if count > self.tokens:
            return False
        self.tokens -= count
        return True
