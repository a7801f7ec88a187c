"""Typed messages of the session host's local protocol (docs/session-host-protocol.md).

One frozen dataclass per message, in both directions: requests (client → host), their replies
(``ok`` with fields per request, or ``error``) and the host's pushes. Each has
``decode(cls, header, payload)``, which checks every field's type and range and raises
``RemoteProtocolError`` naming the message and the field (pointer coordinates, screen sizes
above the maximum and flow-control windows are clamped instead), and
``encode(self) -> (header, payload)``.
``compositor/protocol.py`` frames them; ``pack`` adds a request id and frames in one step.

Who decodes what: the host decodes requests (``decode_request``); clients decode replies
(``decode_reply``, knowing which request they answer) and pushes (``decode_push``). A host's
messages are untrusted too (a desktop's user can take over their own host), so clients check
them with the same care.

Fields a decoder does not know are ignored, so either end can learn new optional fields first.
Requests carry no payload; one sent anyway is ignored.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from compositor.filenames import BadName, check_name, check_upload_id
from compositor.protocol import LocalProtocolError, RemoteProtocolError, encode_message


class Op(enum.StrEnum):
    """Every ``op`` of the protocol."""

    # requests (client → host)
    STATUS = "status"
    SCREENSHOT = "screenshot"
    INPUT = "input"
    CLIPBOARD_GET = "clipboard_get"
    CLIPBOARD_SET = "clipboard_set"
    RESIZE = "resize"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    ACK = "ack"
    KEYFRAME = "keyframe"
    EXEC = "exec"
    STOP = "stop"
    MICROPHONE = "microphone"
    FILE_PUT = "file_put"
    FILE_STAT = "file_stat"
    FILE_LIST = "file_list"
    FILE_GET = "file_get"
    DRIVE_ATTACH = "drive_attach"
    DRIVE_DETACH = "drive_detach"
    DRIVE_RESULT = "drive_result"
    CLIPBOARD_READ = "clipboard_read"
    CLIPBOARD_SET_IMAGE = "clipboard_set_image"
    CLIPBOARD_FILES = "clipboard_files"
    CLIPBOARD_FILE_READ = "clipboard_file_read"
    CLIPBOARD_SET_FILES = "clipboard_set_files"
    DOWNLOADS_WATCH = "downloads_watch"
    # replies (host → client, carrying the request's id)
    OK = "ok"
    ERROR = "error"
    # pushes (host → client)
    FRAME = "frame"
    CURSOR = "cursor"
    POINTER = "pointer"
    CLIPBOARD = "clipboard"
    RESIZED = "resized"
    BYE = "bye"
    DRIVE_CALL = "drive_call"
    DOWNLOADS = "downloads"


class InputType(enum.StrEnum):
    """The ``t`` of an input event."""

    MOVE = "move"
    BUTTON = "button"
    WHEEL = "wheel"
    KEY = "key"
    KEYSYM = "keysym"
    TEXT = "text"
    RELEASE_ALL = "release_all"
    LOCKS = "locks"
    TOUCH = "touch"
    TOUCH_FRAME = "touch_frame"


class TouchPhase(enum.StrEnum):
    """What a ``touch`` event says of its contact."""

    DOWN = "down"
    MOTION = "motion"
    UP = "up"
    CANCEL = "cancel"  # every contact of the sequence is cancelled


class Selection(enum.StrEnum):
    CLIPBOARD = "CLIPBOARD"
    PRIMARY = "PRIMARY"


# -- limits -------------------------------------------------------------------------------

MAX_COORDINATE = 32767  # X coordinates are INT16 on the wire (XTEST motion, QueryPointer)
MAX_DIMENSION = 32767  # of a screen, a resize request, a rectangle
MAX_CURSOR_SIZE = 1024
MAX_BUTTON = 16
MAX_KEY_CODE = 767  # Linux evdev KEY_MAX
MAX_KEYSYM = 0x1FFFFFFF  # X keysyms are 29 bits
MAX_WHEEL = 1000.0  # notches in one event
MAX_INPUT_EVENTS = 4096
MAX_TOUCH_CONTACTS = 10  # touch contact ids are 0..MAX_TOUCH_CONTACTS-1 (front ends map theirs to these)
MAX_TEXT_EVENT = 10000  # characters typed by one event
MAX_CLIPBOARD_BYTES = 16 * 1024 * 1024  # UTF-8 clipboard text, carried in the payload
MAX_WINDOW = 64
DEFAULT_WINDOW = 4
MAX_ID = 2**53  # stream ids, sequence numbers, pids: integers any JSON reader keeps exact
MAX_RECTS = 65536
MAX_ARGV = 1024
MAX_ENV = 1024
MAX_STRING = 65536  # a path, a reason, an argument: anything that is not text to type or paste
MICROPHONE_RATE = 48000  # the desktop microphone's format: s16le, 48 kHz, mono
MICROPHONE_CHANNELS = 1
MAX_MICROPHONE_BYTES = MICROPHONE_RATE * 2  # one second of audio in one request
MAX_FILE_CHUNK = 8 * 1024 * 1024  # bytes of a file in one file_put or file_get
MAX_FILE_SIZE = 2**50  # a declared or listed file size: far above any disk, exact in JSON
MAX_FILES_LISTED = 1000
FORMAT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")

NO_ID: Any = object()  # ``pack``'s request_id when the message carries no id at all


# -- reading fields -----------------------------------------------------------------------

_MISSING: Any = object()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


T = TypeVar("T")


class _Fields:
    """Checked reads of one header's (or input event's) fields; errors name where and which."""

    def __init__(self, where: str, header: Any) -> None:
        if not isinstance(header, Mapping):
            raise RemoteProtocolError(f"{where} must be an object, not {_show(header)}")
        self.where = where
        self.header = header

    def _get(self, key: str, default: Any) -> Any:
        value = self.header.get(key)
        if value is None:  # null means "not given" wherever there is a default
            if default is _MISSING:
                raise RemoteProtocolError(f"{self.where}: {key} is missing")
            return default
        return value

    def fail(self, key: str, what: str, value: Any) -> RemoteProtocolError:
        return RemoteProtocolError(f"{self.where}: {key} must be {what}, not {_show(value)}")

    def integer(self, key: str, lo: int, hi: int, default: Any = _MISSING, *, clamp: bool = False) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer", value)
        if not lo <= value <= hi:
            if clamp:
                return max(lo, min(value, hi))
            raise RemoteProtocolError(f"{self.where}: {key} {value} out of range {lo}..{hi}")
        return value

    def size(self, key: str) -> int:
        """A screen dimension: refused when not positive, clamped to ``MAX_DIMENSION`` above."""
        value = self._get(key, _MISSING)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer", value)
        if value < 1:
            raise RemoteProtocolError(f"{self.where}: {key} {value} out of range: a size must be positive")
        return min(value, MAX_DIMENSION)


    def number(self, key: str, limit: float, default: Any = _MISSING) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "a number", value)
        if not math.isfinite(value) or abs(value) > limit:
            raise RemoteProtocolError(f"{self.where}: {key} {_show(value)} out of range ±{limit:g}")
        return float(value)


    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value


    def string(self, key: str, max_len: int = MAX_STRING, default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)
        if len(value) > max_len:
            raise RemoteProtocolError(f"{self.where}: {key} longer than {max_len} characters")
        if not _unicode(value):
            raise self.fail(key, "Unicode text (it has a lone surrogate)", value)
        return value


    def optional(self, read: Callable[..., T], key: str, *args: Any) -> T | None:
        """``read(key, *args)`` (one of the readers above), or None when the field is absent or null."""
        return None if self.header.get(key) is None else read(key, *args)

    def selection(self, key: str = "selection") -> Selection:
        value = self._get(key, Selection.CLIPBOARD)
        if not isinstance(value, str) or value not in Selection.__members__:
            raise self.fail(key, "CLIPBOARD or PRIMARY", value)
        return Selection(value)

    def object(self, key: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return value

    def list(self, key: str, max_len: int, *, min_len: int = 0, what: str = "a list") -> list[Any]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list) or not min_len <= len(value) <= max_len:
            raise self.fail(key, f"{what} ({min_len}..{max_len} items)", value)
        return value


def _unicode(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (JSON's escapes can carry lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _copies(f: _Fields) -> tuple[tuple[int, ...], ...]:
    """A frame's ``copy``: ``[[x, y, w, h, sx, sy], …]`` only."""
    copies = _rects(f, "copy")
    if any(len(c) != 6 for c in copies):
        raise f.fail("copy", "a list of [x, y, w, h, sx, sy]", f.header.get("copy"))
    return copies


def _rects(f: _Fields, key: str = "rects") -> tuple[tuple[int, ...], ...]:
    """``[[x, y, w, h], …]``, ``[[x, y, w, h, nbytes], …]`` for image frames, or
    ``[[x, y, w, h, sx, sy], …]`` for copies."""
    if f.header.get(key) is None:
        return ()
    rects = []
    for rect in f.list(key, MAX_RECTS):
        if not (isinstance(rect, list) and len(rect) in (4, 5, 6)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in rect)
                and all(0 <= v <= MAX_DIMENSION for v in (rect if len(rect) == 6 else rect[:4]))
                and all(0 <= v <= MAX_ID for v in rect[4:])):
            raise f.fail(key, f"a list of [x, y, w, h], [x, y, w, h, nbytes] or [x, y, w, h, sx, sy] "
                              f"in 0..{MAX_DIMENSION}", rect)
        rects.append(tuple(rect))
    return tuple(rects)


def _plain(value: Any) -> Any:
    """A field's JSON shape: enums as their values, tuples (and dataclasses in them) as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


MAX_MONITORS = 16  # monitors of one layout (docs/multimonitor.md)


@dataclass(frozen=True)
class Monitor:
    """One monitor of the screen: a rectangle in screen coordinates (origin top left, never
    negative), and whether it is the primary one. Its JSON shape is ``{"x", "y", "width",
    "height", "primary"}``."""

    x: int
    y: int
    width: int
    height: int
    primary: bool = False


def _monitors(f: _Fields, key: str = "monitors") -> tuple[Monitor, ...]:
    """The optional layout ``[{"x", "y", "width", "height", "primary"}, …]``; absent means none
    (the whole screen is one monitor)."""
    if f.header.get(key) is None:
        return ()
    out = []
    for i, item in enumerate(f.list(key, MAX_MONITORS, what="a list of monitors")):
        m = _Fields(f"{f.where}: {key}[{i}]", item)
        out.append(Monitor(m.integer("x", 0, MAX_DIMENSION - 1), m.integer("y", 0, MAX_DIMENSION - 1),
                           m.integer("width", 1, MAX_DIMENSION), m.integer("height", 1, MAX_DIMENSION),
                           m.boolean("primary", False)))
    return tuple(out)


class _WithMonitors:
    """A size message with an optional ``monitors`` layout, left out of the header when empty
    (the form that predates it)."""

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header, payload = super().encode()  # type: ignore[misc]
        if not header.get("monitors"):
            header.pop("monitors", None)
        return header, payload


# -- base classes -------------------------------------------------------------------------


class HostMessage:
    """A message of the protocol. Subclasses are frozen dataclasses whose fields are the
    header's fields (a ``bytes`` field is the payload)."""

    op: ClassVar[Op]
    payload_field: ClassVar[str | None] = None

    @classmethod
    def describe(cls) -> str:
        """How error messages name this message."""
        return cls.op.value

    @classmethod
    def field_names(cls) -> list[str]:
        """The header's fields (the payload excluded), in wire order."""
        return [f.name for f in dataclasses.fields(cls) if f.name != cls.payload_field]  # type: ignore[arg-type]

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        raise NotImplementedError

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header: dict[str, Any] = {"op": self.op.value}
        for name in self.field_names():
            header[name] = _plain(getattr(self, name))
        return header, self.encode_payload()

    def encode_payload(self) -> bytes:
        """The payload field's bytes (none without one)."""
        return getattr(self, self.payload_field) if self.payload_field else b""


R = TypeVar("R")


class Request(HostMessage, Generic[R]):
    """Client → host. ``reply`` is the class of its ``ok`` reply (None: the host answers nothing)."""

    reply: ClassVar[type[Reply] | None]


class Reply(HostMessage):
    """Host → client, answering one request: ``ok`` with the fields of this class."""

    op = Op.OK
    answers: ClassVar[tuple[Op, ...]] = ()

    @classmethod
    def describe(cls) -> str:
        return f"reply to {'/'.join(op.value for op in cls.answers)}"


class Push(HostMessage):
    """Host → client, unasked: frames of a subscription and what every subscriber is told."""


class _ClipboardText(HostMessage):
    """``text`` travels as UTF-8 in the payload: clipboard text of up to MAX_CLIPBOARD_BYTES,
    where the header (JSON, at most 64 KiB) would cut it short. Where text may be absent
    (``optional_text``), the header's ``is_text`` says whether there is any."""

    payload_field = "text"
    optional_text: ClassVar[bool] = True
    text: str | None  # declared again by each message, in its own field order

    @classmethod
    def field_names(cls) -> list[str]:
        names = super().field_names()
        return [*names, "is_text"] if cls.optional_text else names

    @property
    def is_text(self) -> bool:
        return self.text is not None

    def encode_payload(self) -> bytes:
        try:
            return b"" if self.text is None else self.text.encode()
        except UnicodeEncodeError:
            raise LocalProtocolError(f"{self.describe()}: text is not Unicode (a lone surrogate)") from None

    @classmethod
    def read_text(cls, f: _Fields, payload: bytes) -> str | None:
        if cls.optional_text and not f.boolean("is_text"):
            if payload:
                raise RemoteProtocolError(f"{cls.describe()}: a payload without is_text")
            return None
        if len(payload) > MAX_CLIPBOARD_BYTES:
            raise RemoteProtocolError(
                f"{cls.describe()}: text of {len(payload)} bytes is over {MAX_CLIPBOARD_BYTES}")
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(
                f"{cls.describe()}: text is not UTF-8 ({exc.reason} at byte {exc.start})") from None


# -- replies ------------------------------------------------------------------------------


class _NoFields:
    """A message without fields (any the header carries are checked and ignored)."""

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        _Fields(cls.describe(), header)
        return cls()


@dataclass(frozen=True)
class Ok(_NoFields, Reply):
    """``ok`` without fields."""

    answers = (Op.INPUT, Op.CLIPBOARD_SET, Op.UNSUBSCRIBE, Op.STOP, Op.DRIVE_DETACH, Op.CLIPBOARD_SET_IMAGE,
               Op.CLIPBOARD_SET_FILES)


@dataclass(frozen=True)
class ErrorReply(HostMessage):
    """``error``: the request failed or was malformed; ``error`` says why."""

    op = Op.ERROR
    error: str

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields("error reply", header).string("error"))


@dataclass(frozen=True)
class EncoderStatus:
    """One encoder of the session: its format, how many subscribe to it, how many keyframes
    it made for all of them and how many viewers it brought in on a keyframe of their own."""

    format: str
    subscribers: int
    keyframes: int = 0
    catch_ups: int = 0


# Upper bounds (seconds) of the encode-time buckets a host counts in; one more count holds the
# encodes that took longer. The console turns them into a Prometheus histogram.
ENCODE_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)


@dataclass(frozen=True)
class EncodeTimes:
    """How long one picture format's encodes took since the host started: a count per bucket of
    ``ENCODE_BUCKETS`` (not cumulative; the last for longer ones) and the seconds in all."""

    format: str
    counts: tuple[int, ...]
    total: float


@dataclass(frozen=True)
class StatusReply(Reply):
    answers = (Op.STATUS,)
    session: str
    display: str
    width: int
    height: int
    max_width: int
    max_height: int
    pid: int
    xvfb_pid: int | None
    runtime_dir: str
    wayland_display: str | None
    subscribers: int
    encoders: tuple[EncoderStatus, ...]
    last_input: float | None  # unix time
    started_at: float  # unix time
    attached: bool
    uid: int
    home: str
    capture: str = ""  # how frames are read: xwd-mmap, mit-shm or xgetimage (empty: not said)
    sound_server: str | None = None  # the desktop's PulseAudio (PULSE_SERVER), None: no sound
    encode_times: tuple[EncodeTimes, ...] = ()

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        encoders = []
        for item in f.list("encoders", MAX_RECTS):
            e = _Fields(f"{cls.describe()}: encoders", item)
            encoders.append(EncoderStatus(e.string("format"), e.integer("subscribers", 0, MAX_ID),
                                          e.integer("keyframes", 0, 2**53, 0), e.integer("catch_ups", 0, 2**53, 0)))
        times = []
        for item in f.list("encode_times", 16) if "encode_times" in header else ():
            t = _Fields(f"{cls.describe()}: encode_times", item)
            counts = t.list("counts", len(ENCODE_BUCKETS) + 1, min_len=len(ENCODE_BUCKETS) + 1)
            if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 2**53 for c in counts):
                raise t.fail("counts", "counts (integers 0..2**53)", counts)
            times.append(EncodeTimes(t.string("format"), tuple(counts), t.number("total", 1e12)))
        return cls(
            session=f.string("session"), display=f.string("display"),
            width=f.integer("width", 1, MAX_DIMENSION), height=f.integer("height", 1, MAX_DIMENSION),
            max_width=f.integer("max_width", 1, MAX_DIMENSION), max_height=f.integer("max_height", 1, MAX_DIMENSION),
            pid=f.integer("pid", 1, MAX_ID), xvfb_pid=f.optional(f.integer, "xvfb_pid", 1, MAX_ID),
            runtime_dir=f.string("runtime_dir"), wayland_display=f.optional(f.string, "wayland_display"),
            subscribers=f.integer("subscribers", 0, MAX_ID), encoders=tuple(encoders),
            last_input=f.optional(f.number, "last_input", 1e12), started_at=f.number("started_at", 1e12),
            attached=f.boolean("attached"), uid=f.integer("uid", 0, 2**32 - 1), home=f.string("home"),
            capture=f.string("capture", 32, default=""),
            sound_server=f.optional(f.string, "sound_server"), encode_times=tuple(times),
        )


@dataclass(frozen=True)
class ScreenshotReply(Reply):
    """The visible screen as a PNG (the cursor not drawn)."""

    answers = (Op.SCREENSHOT,)
    payload_field = "png"
    format: str
    width: int
    height: int
    png: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        fmt = f.string("format", 16, default="png")
        if fmt != "png":
            raise f.fail("format", "png", fmt)
        return cls(fmt, f.integer("width", 1, MAX_DIMENSION), f.integer("height", 1, MAX_DIMENSION), bytes(payload))


@dataclass(frozen=True)
class ClipboardGetReply(_ClipboardText, Reply):
    answers = (Op.CLIPBOARD_GET,)
    text: str | None  # None: the selection is empty or not text

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(cls.read_text(_Fields(cls.describe(), header), payload))


@dataclass(frozen=True)
class ResizeReply(_WithMonitors, Reply):
    """The size set, and the monitors the screen has now (none: the screen is one monitor)."""

    answers = (Op.RESIZE,)
    width: int
    height: int
    monitors: tuple[Monitor, ...] = ()

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("width", 1, MAX_DIMENSION), f.integer("height", 1, MAX_DIMENSION), _monitors(f))


@dataclass(frozen=True)
class SubscribeReply(_WithMonitors, Reply):
    """The stream, and the screen's size and monitors (none: one monitor) at the start."""

    answers = (Op.SUBSCRIBE,)
    stream: int
    width: int
    height: int
    monitors: tuple[Monitor, ...] = ()

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("stream", 1, MAX_ID), f.integer("width", 1, MAX_DIMENSION),
                   f.integer("height", 1, MAX_DIMENSION), _monitors(f))


@dataclass(frozen=True)
class ExecReply(Reply):
    answers = (Op.EXEC,)
    pid: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).integer("pid", 1, MAX_ID))


@dataclass(frozen=True)
class FilePutReply(Reply):
    """The upload's bytes stored after the chunk; ``name`` the file it became, once complete."""

    answers = (Op.FILE_PUT,)
    offset: int
    name: str | None = None

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("offset", 0, MAX_FILE_SIZE), _file_name(f, optional=True))


@dataclass(frozen=True)
class FileStatReply(Reply):
    answers = (Op.FILE_STAT,)
    offset: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).integer("offset", 0, MAX_FILE_SIZE))


@dataclass(frozen=True)
class FileEntry:
    """One file offered for download."""

    name: str
    size: int
    mtime: float  # unix time


@dataclass(frozen=True)
class FileListReply(Reply):
    answers = (Op.FILE_LIST,)
    files: tuple[FileEntry, ...]

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        files = []
        for item in f.list("files", MAX_FILES_LISTED):
            e = _Fields(f"{cls.describe()}: files", item)
            files.append(FileEntry(_file_name(e), e.integer("size", 0, MAX_FILE_SIZE), e.number("mtime", 1e12)))
        return cls(tuple(files))


@dataclass(frozen=True)
class FileGetReply(Reply):
    """``data``: the bytes of the file from ``offset`` (fewer than asked at its end); ``size``
    its size when read."""

    answers = (Op.FILE_GET,)
    payload_field = "data"
    size: int
    offset: int
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        size, offset = f.integer("size", 0, MAX_FILE_SIZE), f.integer("offset", 0, MAX_FILE_SIZE)
        if len(payload) > MAX_FILE_CHUNK or offset + len(payload) > size:
            raise RemoteProtocolError(f"{cls.describe()}: {len(payload)} bytes at {offset} do not fit "
                                      f"a file of {size} (or exceed {MAX_FILE_CHUNK})")
        return cls(size, offset, bytes(payload))


class _DownloadsPayload(HostMessage):
    """``files`` (``FileEntry`` objects, newest first) travel as a JSON array of {name, size,
    mtime} in the payload: a full list (1000 names of up to 255 bytes) would not fit a header."""

    payload_field = "files"
    files: tuple[FileEntry, ...]

    def encode_payload(self) -> bytes:
        return json.dumps([_plain(f) for f in self.files], separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def read_files(cls, payload: bytes) -> tuple[FileEntry, ...]:
        if not payload:
            return ()
        try:
            items = json.loads(bytes(payload))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
            raise RemoteProtocolError(f"{cls.describe()}: the payload is not a JSON list of files") from None
        if not isinstance(items, list) or len(items) > MAX_FILES_LISTED:
            raise RemoteProtocolError(f"{cls.describe()}: the payload must be a list of at most "
                                      f"{MAX_FILES_LISTED} files")
        files = []
        for item in items:
            e = _Fields(f"{cls.describe()}: files", item)
            files.append(FileEntry(_file_name(e), e.integer("size", 0, MAX_FILE_SIZE), e.number("mtime", 1e12)))
        return tuple(files)


@dataclass(frozen=True)
class DownloadsWatchReply(_DownloadsPayload, Reply):
    """The files of ``~/Downloads`` now (none after ``on`` false)."""

    answers = (Op.DOWNLOADS_WATCH,)
    files: tuple[FileEntry, ...] = field(default=())

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        _Fields(cls.describe(), header)
        return cls(cls.read_files(payload))


def _file_name(f: _Fields, key: str = "name", *, optional: bool = False) -> Any:
    """A file name field, checked by ``compositor.filenames.check_name``."""
    if optional and f.header.get(key) is None:
        return None
    value = f.string(key, 1024)
    try:
        return check_name(value)
    except BadName as exc:
        raise RemoteProtocolError(f"{f.where}: {key}: {exc}") from None


def _upload_id(f: _Fields) -> str:
    value = f.string("upload", 64)
    try:
        return check_upload_id(value)
    except BadName as exc:
        raise RemoteProtocolError(f"{f.where}: upload: {exc}") from None


# -- input events -------------------------------------------------------------------------


class InputEvent:
    """One event of an ``input`` request: ``{"t": …, fields…}``."""

    t: ClassVar[InputType]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        raise NotImplementedError

    def encode(self) -> dict[str, Any]:
        return {"t": self.t.value, **{name: getattr(self, name) for name in self.field_names()}}


@dataclass(frozen=True)
class MoveEvent(InputEvent):
    """Absolute pointer position; clamped to 0..32767 here and to the screen by the host."""

    t = InputType.MOVE
    x: int
    y: int

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input move", event)
        return cls(f.integer("x", 0, MAX_COORDINATE, clamp=True), f.integer("y", 0, MAX_COORDINATE, clamp=True))

    def within(self, width: int, height: int) -> MoveEvent:
        """This position clamped to a ``width`` x ``height`` screen."""
        return MoveEvent(min(self.x, max(0, width - 1)), min(self.y, max(0, height - 1)))


@dataclass(frozen=True)
class ButtonEvent(InputEvent):
    t = InputType.BUTTON
    button: int  # 1 left, 2 middle, 3 right, 8 back, 9 forward
    down: bool

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input button", event)
        return cls(f.integer("button", 1, MAX_BUTTON), f.boolean("down"))


@dataclass(frozen=True)
class WheelEvent(InputEvent):
    t = InputType.WHEEL
    dx: float = 0.0  # notches, + is right
    dy: float = 0.0  # notches, + is down

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input wheel", event)
        return cls(f.number("dx", MAX_WHEEL, default=0.0), f.number("dy", MAX_WHEEL, default=0.0))


@dataclass(frozen=True)
class KeyEvent(InputEvent):
    t = InputType.KEY
    code: int  # Linux evdev code
    down: bool

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input key", event)
        return cls(f.integer("code", 0, MAX_KEY_CODE), f.boolean("down"))


@dataclass(frozen=True)
class KeysymEvent(InputEvent):
    t = InputType.KEYSYM
    keysym: int
    down: bool

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input keysym", event)
        return cls(f.integer("keysym", 0, MAX_KEYSYM), f.boolean("down"))


@dataclass(frozen=True)
class TextEvent(InputEvent):
    t = InputType.TEXT
    text: str

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        return cls(_Fields("input text", event).string("text", MAX_TEXT_EVENT))


@dataclass(frozen=True)
class ReleaseAllEvent(InputEvent):
    t = InputType.RELEASE_ALL

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        _Fields("input release_all", event)
        return cls()


@dataclass(frozen=True)
class LocksEvent(InputEvent):
    t = InputType.LOCKS
    caps: bool = False
    num: bool = False
    scroll: bool = False

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input locks", event)
        return cls(f.boolean("caps", False), f.boolean("num", False), f.boolean("scroll", False))


@dataclass(frozen=True)
class TouchEvent(InputEvent):
    """One contact of a touch screen: ``id`` 0..9 (a front end maps its own ids to these slots),
    position clamped like ``move``. Events up to the next ``touch_frame`` form one frame; the
    host cancels a sequence whose frame is not closed in time (docs/touch.md)."""

    t = InputType.TOUCH
    phase: TouchPhase
    id: int
    x: int = 0
    y: int = 0

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        f = _Fields("input touch", event)
        phase = event.get("phase")
        if not isinstance(phase, str) or phase not in TouchPhase._value2member_map_:
            raise f.fail("phase", "down, motion, up or cancel", phase)
        return cls(TouchPhase(phase), f.integer("id", 0, MAX_TOUCH_CONTACTS - 1),
                   f.integer("x", 0, MAX_COORDINATE, 0, clamp=True), f.integer("y", 0, MAX_COORDINATE, 0, clamp=True))

    def encode(self) -> dict[str, Any]:
        return {"t": self.t.value, "phase": self.phase.value, "id": self.id, "x": self.x, "y": self.y}

    def within(self, width: int, height: int) -> TouchEvent:
        """This position clamped to a ``width`` x ``height`` screen."""
        return dataclasses.replace(self, x=min(self.x, max(0, width - 1)), y=min(self.y, max(0, height - 1)))


@dataclass(frozen=True)
class TouchFrameEvent(InputEvent):
    """The touch events since the previous frame belong together (``wl_touch.frame``)."""

    t = InputType.TOUCH_FRAME

    @classmethod
    def decode(cls, event: Mapping[str, Any]) -> Self:
        _Fields("input touch_frame", event)
        return cls()


INPUT_EVENTS: dict[InputType, type[InputEvent]] = {cls.t: cls for cls in (
    MoveEvent, ButtonEvent, WheelEvent, KeyEvent, KeysymEvent, TextEvent, ReleaseAllEvent, LocksEvent,
    TouchEvent, TouchFrameEvent)}


def decode_input_event(event: Any) -> InputEvent:
    if not isinstance(event, Mapping):
        raise RemoteProtocolError(f"input: events must be objects with 't', not {_show(event)}")
    kind = event.get("t")
    cls = INPUT_EVENTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RemoteProtocolError(f"input: unknown input event type {_show(kind)}")
    return cls.decode(event)


# -- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Status(_NoFields, Request[StatusReply]):
    op = Op.STATUS
    reply = StatusReply


@dataclass(frozen=True)
class Screenshot(Request[ScreenshotReply]):
    op = Op.SCREENSHOT
    reply = ScreenshotReply
    format: str = "png"

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        fmt = f.string("format", 16, default="png")
        if fmt != "png":
            raise f.fail("format", "png", fmt)
        return cls(fmt)


@dataclass(frozen=True)
class Input(Request[Ok]):
    """Input events, performed in order; answered only when the request carries an id."""

    op = Op.INPUT
    reply = Ok
    events: tuple[InputEvent, ...]

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        events = f.list("events", MAX_INPUT_EVENTS, what="a list of events")
        return cls(tuple(decode_input_event(e) for e in events))

    def encode(self) -> tuple[dict[str, Any], bytes]:
        return {"op": self.op.value, "events": [e.encode() for e in self.events]}, b""


@dataclass(frozen=True)
class ClipboardGet(Request[ClipboardGetReply]):
    op = Op.CLIPBOARD_GET
    reply = ClipboardGetReply
    selection: Selection = Selection.CLIPBOARD

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).selection())


@dataclass(frozen=True)
class ClipboardSet(_ClipboardText, Request[Ok]):
    """The host takes the X selection and serves ``text`` from it."""

    op = Op.CLIPBOARD_SET
    reply = Ok
    optional_text = False
    text: str
    selection: Selection = Selection.CLIPBOARD

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(cls.read_text(f, payload), f.selection())


@dataclass(frozen=True)
class Resize(_WithMonitors, Request[ResizeReply]):
    """The host clamps the size to 64..its maximum and answers the size it set. ``monitors``
    (optional) lays the screen out as several monitors; the host keeps those that fit the
    size it set and do not overlap, and answers the ones it applied."""

    op = Op.RESIZE
    reply = ResizeReply
    width: int
    height: int
    monitors: tuple[Monitor, ...] = ()

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.size("width"), f.size("height"), _monitors(f))


@dataclass(frozen=True)
class Subscribe(Request[SubscribeReply]):
    """Start a stream of ``frame`` pushes in ``format`` (one encoder per format and options)."""

    op = Op.SUBSCRIBE
    reply = SubscribeReply
    format: str = "raw"
    options: Mapping[str, Any] = field(default_factory=dict)
    window: int = DEFAULT_WINDOW  # frames in flight before the host waits for an ack

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        fmt = f.string("format", 32, default="raw")
        if not FORMAT_NAME.fullmatch(fmt):
            raise f.fail("format", "a format name (lower-case letters, digits, '_', '.', '-')", fmt)
        return cls(fmt, f.object("options", {}), f.integer("window", 1, MAX_WINDOW, DEFAULT_WINDOW, clamp=True))

    def encode(self) -> tuple[dict[str, Any], bytes]:
        return {"op": self.op.value, "format": self.format, "options": dict(self.options), "window": self.window}, b""


class _StreamOnly:
    """A request whose one field is the ``stream`` it is about."""

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).integer("stream", 1, MAX_ID))


@dataclass(frozen=True)
class Unsubscribe(_StreamOnly, Request[Ok]):
    op = Op.UNSUBSCRIBE
    reply = Ok
    stream: int


@dataclass(frozen=True)
class Ack(Request[None]):
    """Frames of ``stream`` up to ``seq`` were consumed (flow control); no reply."""

    op = Op.ACK
    reply = None
    stream: int
    seq: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("stream", 1, MAX_ID), f.integer("seq", 0, MAX_ID))


@dataclass(frozen=True)
class Keyframe(_StreamOnly, Request[None]):
    """The next frame of ``stream`` is a full/key frame; no reply."""

    op = Op.KEYFRAME
    reply = None
    stream: int


@dataclass(frozen=True)
class Exec(Request[ExecReply]):
    """Start a program in the session's environment (plus ``env``)."""

    op = Op.EXEC
    reply = ExecReply
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        argv = f.list("argv", MAX_ARGV, min_len=1, what="a non-empty list of strings")
        if not all(isinstance(a, str) and len(a) <= MAX_STRING and "\0" not in a and _unicode(a) for a in argv) \
                or not argv[0]:
            raise f.fail("argv", "a non-empty list of strings without NUL", argv)
        env = None
        if header.get("env") is not None:
            env = f.object("env")
            if len(env) > MAX_ENV or not all(
                    k and "=" not in k and "\0" not in k and _unicode(k)
                    and isinstance(v, str) and "\0" not in v and _unicode(v) for k, v in env.items()):
                raise f.fail("env", "an object of NAME: string (no '=' in names, no NUL)", env)
        return cls(tuple(argv), env)

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header: dict[str, Any] = {"op": self.op.value, "argv": list(self.argv)}
        if self.env is not None:
            header["env"] = dict(self.env)
        return header, b""


@dataclass(frozen=True)
class Stop(_NoFields, Request[Ok]):
    """End the session: the host answers, then stops."""

    op = Op.STOP
    reply = Ok


@dataclass(frozen=True)
class Microphone(Request[None]):
    """Audio for the desktop's microphone (docs/microphone.md): ``pcm`` is the payload, 16-bit
    little-endian samples at ``rate`` Hz, ``channels`` interleaved — only 48000 and 1 are taken.
    No reply; the host keeps what fits a small buffer ahead of real time and drops the rest."""

    op = Op.MICROPHONE
    reply = None
    payload_field = "pcm"
    pcm: bytes = field(repr=False)
    rate: int = MICROPHONE_RATE
    channels: int = MICROPHONE_CHANNELS

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        rate = f.integer("rate", MICROPHONE_RATE, MICROPHONE_RATE)
        channels = f.integer("channels", MICROPHONE_CHANNELS, MICROPHONE_CHANNELS)
        if len(payload) > MAX_MICROPHONE_BYTES or len(payload) % (2 * channels):
            raise RemoteProtocolError(f"{cls.describe()}: {len(payload)} bytes of audio, not whole samples "
                                      f"of at most {MAX_MICROPHONE_BYTES} bytes")
        return cls(bytes(payload), rate, channels)


@dataclass(frozen=True)
class FilePut(Request[FilePutReply]):
    """Store ``data`` at ``offset`` of upload ``upload``, which is ``size`` bytes in all and
    becomes ``~/Uploads/<name>`` with its last byte. ``offset`` must be what the host holds
    (``file_stat``); the bytes never go past ``size``."""

    op = Op.FILE_PUT
    reply = FilePutReply
    payload_field = "data"
    upload: str
    name: str
    size: int
    offset: int
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        upload, name = _upload_id(f), _file_name(f)
        size = f.integer("size", 0, MAX_FILE_SIZE)
        offset = f.integer("offset", 0, size)
        if len(payload) > MAX_FILE_CHUNK:
            raise RemoteProtocolError(f"{cls.describe()}: a chunk of {len(payload)} bytes is over {MAX_FILE_CHUNK}")
        if offset + len(payload) > size:
            raise RemoteProtocolError(f"{cls.describe()}: {offset + len(payload)} bytes are more than the "
                                      f"{size} declared")
        return cls(upload, name, size, offset, bytes(payload))


@dataclass(frozen=True)
class FileStat(Request[FileStatReply]):
    """How many bytes of upload ``upload`` the host holds (where to resume)."""

    op = Op.FILE_STAT
    reply = FileStatReply
    upload: str

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_upload_id(_Fields(cls.describe(), header)))


@dataclass(frozen=True)
class FileList(_NoFields, Request[FileListReply]):
    """The files of ``~/Downloads`` offered to browsers."""

    op = Op.FILE_LIST
    reply = FileListReply


@dataclass(frozen=True)
class FileGet(Request[FileGetReply]):
    """Up to ``length`` bytes of ``~/Downloads/<name>`` from ``offset``."""

    op = Op.FILE_GET
    reply = FileGetReply
    name: str
    offset: int
    length: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(_file_name(f), f.integer("offset", 0, MAX_FILE_SIZE), f.integer("length", 1, MAX_FILE_CHUNK))


@dataclass(frozen=True)
class DownloadsWatch(Request[DownloadsWatchReply]):
    """``on``: push ``downloads`` to this connection whenever the list of ``~/Downloads``
    changes, until ``on`` false or the connection ends."""

    op = Op.DOWNLOADS_WATCH
    reply = DownloadsWatchReply
    on: bool = True

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).boolean("on", True))


# -- pushes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame(Push):
    """One update of a stream. ``rects`` are the updated areas; the other optional fields and
    the payload are the format's (compositor/encoders/): ``codec``, ``key``, the screen's
    ``width``/``height`` and the ``coded`` picture size on key/full frames, ``touchup``.
    ``pts`` is when the content was captured, in microseconds of the host's monotonic clock
    (one clock for every stream of a session, so streams can be lined up with each other)."""

    op = Op.FRAME
    payload_field = "payload"
    stream: int
    seq: int
    codec: str | None = None
    key: bool | None = None
    width: int | None = None
    height: int | None = None
    coded: tuple[int, int] | None = None
    rects: tuple[tuple[int, ...], ...] = ()
    touchup: bool | None = None
    pts: int | None = None
    # ``[[x, y, w, h, sx, sy], …]`` run before this frame's images (compositor/encoders/scroll.py)
    copy: tuple[tuple[int, ...], ...] = ()
    payload: bytes = field(default=b"", repr=False)

    @classmethod
    def from_encoder(cls, stream: int, seq: int, fields: Mapping[str, Any], payload: bytes) -> Frame:
        """A frame of ``stream`` from an encoder's ``EncodedFrame`` fields."""
        coded = fields.get("coded")
        return cls(stream=stream, seq=seq, codec=fields.get("codec"), key=fields.get("key"),
                   width=fields.get("width"), height=fields.get("height"),
                   coded=None if coded is None else (int(coded[0]), int(coded[1])),
                   rects=tuple(tuple(r) for r in fields.get("rects", ())), touchup=fields.get("touchup"),
                   pts=fields.get("pts"), copy=tuple(tuple(r) for r in fields.get("copy", ())), payload=payload)

    @classmethod
    def encoder_header(cls, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The header ``from_encoder(0, 0, fields, payload).encode()`` gives (stream and seq 0:
        ``Connection.send_frame`` sets each subscriber's own), built straight from the fields of
        the frames an encoder sends all the time (plain ints, strings and booleans, ``rects`` a
        list of lists of ints, no ``coded`` or ``copy``): a keystroke's frame builds no
        dataclass. Other fields go through ``from_encoder``."""
        if type(fields) is dict and _ENCODER_KEYS.issuperset(fields):
            get = fields.get
            codec, key, width, height = get("codec"), get("key"), get("width"), get("height")
            rects, touchup, pts = get("rects", ()), get("touchup"), get("pts")
            if ((codec is None or type(codec) is str) and (key is None or type(key) is bool)
                    and (width is None or type(width) is int) and (height is None or type(height) is int)
                    and (touchup is None or type(touchup) is bool) and (pts is None or type(pts) is int)
                    and type(rects) in (list, tuple)
                    and all(type(r) is list and all(type(v) is int for v in r) for r in rects)):
                header: dict[str, Any] = {"op": cls.op.value, "stream": 0, "seq": 0}
                if codec is not None:
                    header["codec"] = codec
                if key is not None:
                    header["key"] = key
                if width is not None:
                    header["width"] = width
                if height is not None:
                    header["height"] = height
                header["rects"] = [r.copy() for r in rects]
                if touchup is not None:
                    header["touchup"] = touchup
                if pts is not None:
                    header["pts"] = pts
                return header
        return cls.from_encoder(0, 0, fields, b"").encode()[0]

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        if (frame := _common_frame(cls, header, payload)) is not None:
            return frame
        f = _Fields(cls.describe(), header)
        coded = None
        if header.get("coded") is not None:
            value = header["coded"]
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_DIMENSION for v in value)):
                raise f.fail("coded", "[width, height]", value)
            coded = (value[0], value[1])
        return cls(
            stream=f.integer("stream", 1, MAX_ID), seq=f.integer("seq", 1, MAX_ID),
            codec=f.optional(f.string, "codec", 32), key=f.optional(f.boolean, "key"),
            width=f.optional(f.integer, "width", 1, MAX_DIMENSION),
            height=f.optional(f.integer, "height", 1, MAX_DIMENSION),
            coded=coded, rects=_rects(f), touchup=f.optional(f.boolean, "touchup"),
            pts=f.optional(f.integer, "pts", 0, MAX_ID), copy=_copies(f), payload=bytes(payload),
        )

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header: dict[str, Any] = {"op": self.op.value, "stream": self.stream, "seq": self.seq}
        for name in ("codec", "key", "width", "height", "coded"):
            if (value := getattr(self, name)) is not None:
                header[name] = _plain(value)
        header["rects"] = _plain(self.rects)
        if self.touchup is not None:
            header["touchup"] = self.touchup
        if self.pts is not None:
            header["pts"] = self.pts
        if self.copy:
            header["copy"] = _plain(self.copy)
        return header, self.payload


_ENCODER_KEYS = frozenset(("codec", "key", "width", "height", "rects", "touchup", "pts"))
_FRAME_KEYS = frozenset(("op", "stream", "seq", "codec", "key", "width", "height", "coded", "rects", "touchup",
                         "pts", "copy"))


def _common_frame(cls: type[Frame], header: Mapping[str, Any], payload: bytes) -> Frame | None:
    """``Frame.decode`` of the frames a host sends all the time (no ``coded`` or ``copy``, a
    few image or damage rectangles), checked with fewer calls; None for anything else, which
    the full decode takes (and refuses with its precise message when it is malformed). It
    accepts only what the full decode accepts, and gives the same frame."""
    if type(header) is not dict or not _FRAME_KEYS.issuperset(header):
        return None
    get = header.get
    stream, seq, codec, key, pts = get("stream"), get("seq"), get("codec"), get("key"), get("pts")
    width, height, touchup, rects = get("width"), get("height"), get("touchup"), get("rects")
    if (type(stream) is not int or type(seq) is not int or not (1 <= stream <= MAX_ID and 1 <= seq <= MAX_ID)
            or get("coded") is not None or get("copy") is not None
            or not (codec is None or (type(codec) is str and len(codec) <= 32 and codec.isascii()))
            or not (key is None or type(key) is bool) or not (touchup is None or type(touchup) is bool)
            or not (pts is None or (type(pts) is int and 0 <= pts <= MAX_ID))
            or not (width is None or (type(width) is int and 1 <= width <= MAX_DIMENSION))
            or not (height is None or (type(height) is int and 1 <= height <= MAX_DIMENSION))
            or not (rects is None or (type(rects) is list and len(rects) <= 64))):
        return None
    checked = []
    for rect in rects or ():
        if type(rect) is not list or len(rect) not in (4, 5) or not all(type(v) is int for v in rect):
            return None
        x, y, w, h = rect[:4]
        if not (0 <= x <= MAX_DIMENSION and 0 <= y <= MAX_DIMENSION and 0 <= w <= MAX_DIMENSION
                and 0 <= h <= MAX_DIMENSION and (len(rect) == 4 or 0 <= rect[4] <= MAX_ID)):
            return None
        checked.append(tuple(rect))
    return cls(stream=stream, seq=seq, codec=codec, key=key, width=width, height=height, coded=None,
               rects=tuple(checked), touchup=touchup, pts=pts, copy=(), payload=bytes(payload))


@dataclass(frozen=True)
class Cursor(Push):
    """The cursor image: straight-alpha RGBA, ``width`` x ``height`` (0 x 0: hidden)."""

    op = Op.CURSOR
    payload_field = "rgba"
    serial: int
    width: int
    height: int
    xhot: int
    yhot: int
    rgba: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        width, height = f.integer("width", 0, MAX_CURSOR_SIZE), f.integer("height", 0, MAX_CURSOR_SIZE)
        if len(payload) != 4 * width * height:
            raise RemoteProtocolError(f"cursor: payload of {len(payload)} bytes is not {width}x{height} RGBA")
        return cls(f.integer("serial", 0, MAX_ID), width, height, f.integer("xhot", 0, MAX_CURSOR_SIZE),
                   f.integer("yhot", 0, MAX_CURSOR_SIZE), bytes(payload))


@dataclass(frozen=True)
class Pointer(Push):
    """The session's pointer moved (polled while anyone subscribes)."""

    op = Op.POINTER
    x: int
    y: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("x", -MAX_COORDINATE - 1, MAX_COORDINATE),
                   f.integer("y", -MAX_COORDINATE - 1, MAX_COORDINATE))


@dataclass(frozen=True)
class ClipboardChanged(_ClipboardText, Push):
    """Another program took ``selection``; ``text`` is None when it is not text."""

    op = Op.CLIPBOARD
    selection: Selection
    text: str | None
    # What else the owner offers, of ``CLIPBOARD_FORMATS`` ("image/png", "files"): read with
    # ``clipboard_read`` and ``clipboard_files``. Unknown values are dropped.
    formats: tuple[str, ...] = ()

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        formats: tuple[str, ...] = ()
        if header.get("formats") is not None:
            listed = f.list("formats", 16, what="a list of format names")
            formats = tuple(v for v in CLIPBOARD_FORMATS if v in listed)
        return cls(f.selection(), cls.read_text(f, payload), formats)

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header, payload = super().encode()
        if not self.formats:  # text only: the message as hosts without images and files send it
            del header["formats"]
        return header, payload


@dataclass(frozen=True)
class Resized(_WithMonitors, Push):
    """The visible screen is now ``width`` x ``height`` laid out as ``monitors`` (none: one
    monitor); every stream's next frame is full."""

    op = Op.RESIZED
    width: int
    height: int
    monitors: tuple[Monitor, ...] = ()

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("width", 1, MAX_DIMENSION), f.integer("height", 1, MAX_DIMENSION), _monitors(f))


@dataclass(frozen=True)
class Bye(Push):
    """The session is ending."""

    op = Op.BYE
    reason: str

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).string("reason", default=""))


@dataclass(frozen=True)
class DownloadsChanged(_DownloadsPayload, Push):
    """The list of ``~/Downloads`` changed (to a connection that asked with ``downloads_watch``)."""

    op = Op.DOWNLOADS
    files: tuple[FileEntry, ...] = field(default=())

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        _Fields(cls.describe(), header)
        return cls(cls.read_files(payload))


# -- redirected drives (docs/drive-redirection.md) ----------------------------------------

MAX_DRIVE_IO = 1024 * 1024  # bytes of one read or write
MAX_DRIVE_LISTING = 65536  # entries of one directory listing
MAX_PATH_PARTS = 64
MAX_NAME_CHARS = 255  # of one path component
MAX_PATH_CHARS = 1024  # of a whole path, separators included
MAX_DRIVE_NAME = 32
# Characters no path component may hold: separators of either side, NT wildcards and reserved
# characters, and controls (checked apart).
_FORBIDDEN_IN_NAME = frozenset('/\\:*?"<>|')
_DRIVE_ERRNOS = frozenset(range(1, 134))  # Linux errno values a drive result may carry


class DriveAction(enum.StrEnum):
    """What the session asks of a redirected drive (``drive_call``)."""

    STAT = "stat"  # path → is_dir, size, times, readonly
    LIST = "list"  # path → the payload is the directory's entries (JSON)
    OPEN = "open"  # path, flags → handle
    READ = "read"  # handle, offset, length → the payload is the data
    WRITE = "write"  # handle, offset, the payload → length (bytes written)
    CLOSE = "close"  # handle
    TRUNCATE = "truncate"  # path, size
    SETTIMES = "settimes"  # path, atime, mtime (ns since the epoch; null: unchanged)
    MKDIR = "mkdir"  # path
    UNLINK = "unlink"  # path
    RMDIR = "rmdir"  # path
    RENAME = "rename"  # path, target, flags ("replace")
    STATFS = "statfs"  # → size (total bytes), free (bytes)


class OpenFlag(enum.StrEnum):
    WRITE = "write"
    CREATE = "create"
    EXCLUSIVE = "exclusive"
    TRUNCATE = "truncate"
    REPLACE = "replace"  # of a rename: an existing target is replaced


def path_name_ok(name: Any) -> bool:
    """Whether ``name`` may be one component of a path inside a shared folder: not empty, not
    ``.`` or ``..``, no separator, NT wildcard or reserved character, no control character."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and name not in (".", "..")
            and _unicode(name) and not any(c in _FORBIDDEN_IN_NAME or not c.isprintable() for c in name))


def _path(f: _Fields, key: str) -> tuple[str, ...]:
    """A path inside a shared folder, as its components (the folder itself: ``[]``)."""
    if f.header.get(key) is None:
        return ()
    parts = f.list(key, MAX_PATH_PARTS, what="a list of names")
    if not all(path_name_ok(p) for p in parts) or sum(len(p) + 1 for p in parts) > MAX_PATH_CHARS:
        raise f.fail(key, f"a path of names (no '.', '..', separators, control characters; at most "
                          f"{MAX_PATH_CHARS} characters)", parts)
    return tuple(parts)


def _flags(f: _Fields) -> frozenset[OpenFlag]:
    if f.header.get("flags") is None:
        return frozenset()
    flags = f.list("flags", len(OpenFlag), what="a list of open flags")
    if not all(isinstance(v, str) and v in OpenFlag._value2member_map_ for v in flags):
        raise f.fail("flags", "a list of " + ", ".join(OpenFlag), flags)
    return frozenset(OpenFlag(v) for v in flags)


@dataclass(frozen=True)
class DriveAttachReply(Reply):
    """Where the drive appears: ``name`` is its folder under the session's drives folder
    (``~/Drives``), made unique among the session's drives."""

    answers = (Op.DRIVE_ATTACH,)
    name: str
    path: str

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.string("name", MAX_DRIVE_NAME + 8), f.string("path"))


@dataclass(frozen=True)
class DriveAttach(Request[DriveAttachReply]):
    """A client shares a folder as ``drive`` (the client's device id) named ``name``; the host
    answers ``drive_call`` pushes about it from then on. The drive belongs to this connection:
    it goes when the connection does, or at ``drive_detach``."""

    op = Op.DRIVE_ATTACH
    reply = DriveAttachReply
    drive: int
    name: str

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        name = f.string("name", MAX_DRIVE_NAME)
        if not path_name_ok(name):
            raise f.fail("name", "a folder name", name)
        return cls(f.integer("drive", 0, 2**32 - 1), name)


@dataclass(frozen=True)
class DriveDetach(Request[Ok]):
    op = Op.DRIVE_DETACH
    reply = Ok
    drive: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).integer("drive", 0, 2**32 - 1))


@dataclass(frozen=True)
class DriveCall(Push):
    """The session asks the connection that holds ``drive`` for one file operation; the
    connection answers with a ``drive_result`` carrying the same ``call``. Only the fields of
    the action are set (``DriveAction``); ``data`` (the payload) is what a write writes."""

    op = Op.DRIVE_CALL
    payload_field = "data"
    call: int
    drive: int
    action: DriveAction
    path: tuple[str, ...] = ()
    target: tuple[str, ...] | None = None
    handle: int | None = None
    offset: int | None = None
    length: int | None = None
    size: int | None = None
    atime: int | None = None
    mtime: int | None = None
    flags: frozenset[OpenFlag] = frozenset()
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        action = f.string("action", 16)
        if action not in DriveAction._value2member_map_:
            raise f.fail("action", "a drive action", action)
        if len(payload) > MAX_DRIVE_IO:
            raise RemoteProtocolError(f"{cls.describe()}: {len(payload)} bytes of data, over {MAX_DRIVE_IO}")
        return cls(
            call=f.integer("call", 1, MAX_ID), drive=f.integer("drive", 0, 2**32 - 1), action=DriveAction(action),
            path=_path(f, "path"), target=_path(f, "target") if header.get("target") is not None else None,
            handle=f.optional(f.integer, "handle", 0, 2**32 - 1), offset=f.optional(f.integer, "offset", 0, 2**63 - 1),
            length=f.optional(f.integer, "length", 0, MAX_DRIVE_IO), size=f.optional(f.integer, "size", 0, 2**63 - 1),
            atime=f.optional(f.integer, "atime", 0, 2**63 - 1), mtime=f.optional(f.integer, "mtime", 0, 2**63 - 1),
            flags=_flags(f), data=bytes(payload))

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header: dict[str, Any] = {"op": self.op.value, "call": self.call, "drive": self.drive,
                                  "action": self.action.value, "path": list(self.path)}
        for name in ("target", "handle", "offset", "length", "size", "atime", "mtime"):
            if (value := getattr(self, name)) is not None:
                header[name] = _plain(value)
        if self.flags:
            header["flags"] = sorted(flag.value for flag in self.flags)
        return header, self.data


@dataclass(frozen=True)
class DriveEntry:
    """One entry of a directory listing, or what ``stat`` tells of a file."""

    name: str
    is_dir: bool
    size: int = 0
    mtime: int = 0  # ns since the epoch
    atime: int = 0
    ctime: int = 0
    readonly: bool = False

    def as_list(self) -> list[Any]:
        return [self.name, self.is_dir, self.size, self.mtime, self.atime, self.ctime, self.readonly]

    @classmethod
    def from_list(cls, where: str, value: Any) -> DriveEntry:
        if not (isinstance(value, list) and len(value) == 7 and path_name_ok(value[0])
                and isinstance(value[1], bool) and isinstance(value[6], bool)
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in value[2:6])):
            raise RemoteProtocolError(f"{where}: a listing entry must be [name, is_dir, size, mtime, atime, ctime, "
                                      f"readonly], not {_show(value)}")
        return cls(*value)


@dataclass(frozen=True)
class DriveResult(Request[None]):
    """The answer to ``drive_call`` ``call``: ``errno`` 0 and the action's results, or a Linux
    errno. A stat's answer is ``entry`` (its name is the file's); a listing's entries and a
    read's data are the payload (``data``: JSON list of entries for ``list``). No reply."""

    op = Op.DRIVE_RESULT
    reply = None
    payload_field = "data"
    call: int
    errno: int = 0
    handle: int | None = None
    length: int | None = None
    entry: DriveEntry | None = None
    size: int | None = None
    free: int | None = None
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        errno = f.integer("errno", 0, 2**31, 0)
        if errno and errno not in _DRIVE_ERRNOS:
            raise f.fail("errno", "0 or a Linux errno", errno)
        if len(payload) > MAX_DRIVE_IO + 64 * MAX_DRIVE_LISTING:
            raise RemoteProtocolError(f"{cls.describe()}: payload of {len(payload)} bytes is too large")
        entry = None if header.get("entry") is None else DriveEntry.from_list(cls.describe(), header["entry"])
        return cls(call=f.integer("call", 1, MAX_ID), errno=errno, handle=f.optional(f.integer, "handle", 0, 2**32 - 1),
                   length=f.optional(f.integer, "length", 0, MAX_DRIVE_IO), entry=entry,
                   size=f.optional(f.integer, "size", 0, 2**63 - 1), free=f.optional(f.integer, "free", 0, 2**63 - 1),
                   data=bytes(payload))

    def encode(self) -> tuple[dict[str, Any], bytes]:
        header: dict[str, Any] = {"op": self.op.value, "call": self.call, "errno": self.errno}
        for name in ("handle", "length", "size", "free"):
            if (value := getattr(self, name)) is not None:
                header[name] = value
        if self.entry is not None:
            header["entry"] = self.entry.as_list()
        return header, self.data

    def listing(self) -> list[DriveEntry]:
        """The entries of a ``list`` answer (the payload), checked."""
        try:
            value = json.loads(self.data) if self.data else []
        except (ValueError, RecursionError):
            raise RemoteProtocolError(f"{self.describe()}: the listing is not JSON") from None
        if not isinstance(value, list) or len(value) > MAX_DRIVE_LISTING:
            raise RemoteProtocolError(f"{self.describe()}: the listing must be a list of at most "
                                      f"{MAX_DRIVE_LISTING} entries")
        return [DriveEntry.from_list(self.describe(), v) for v in value]

    @staticmethod
    def encode_listing(entries: list[DriveEntry]) -> bytes:
        return json.dumps([e.as_list() for e in entries], separators=(",", ":")).encode()


# -- clipboard images and files (docs/clipboard.md) ---------------------------------------

CLIPBOARD_IMAGE = "image/png"
CLIPBOARD_FILES = "files"
CLIPBOARD_FORMATS = (CLIPBOARD_IMAGE, CLIPBOARD_FILES)
MAX_CLIPBOARD_FILES = 4096
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(where: str, payload: bytes) -> bytes:
    if len(payload) > MAX_CLIPBOARD_BYTES:
        raise RemoteProtocolError(f"{where}: an image of {len(payload)} bytes is over {MAX_CLIPBOARD_BYTES}")
    if not bytes(payload[:8]) == PNG_SIGNATURE:
        raise RemoteProtocolError(f"{where}: the image is not a PNG")
    return bytes(payload)


@dataclass(frozen=True)
class ClipboardReadReply(Reply):
    """The selection's ``format`` data: a PNG for ``image/png``."""

    answers = (Op.CLIPBOARD_READ,)
    payload_field = "data"
    format: str
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        fmt = f.string("format", 32)
        if fmt != CLIPBOARD_IMAGE:
            raise f.fail("format", CLIPBOARD_IMAGE, fmt)
        return cls(fmt, _png(cls.describe(), payload))


@dataclass(frozen=True)
class ClipboardRead(Request[ClipboardReadReply]):
    """The selection's data in ``format`` (only ``image/png``); an error when it has none."""

    op = Op.CLIPBOARD_READ
    reply = ClipboardReadReply
    format: str = CLIPBOARD_IMAGE
    selection: Selection = Selection.CLIPBOARD

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        fmt = f.string("format", 32, default=CLIPBOARD_IMAGE)
        if fmt != CLIPBOARD_IMAGE:
            raise f.fail("format", CLIPBOARD_IMAGE, fmt)
        return cls(fmt, f.selection())


@dataclass(frozen=True)
class ClipboardSetImage(Request[Ok]):
    """The host takes the selection and serves ``png`` (the payload) as ``image/png``."""

    op = Op.CLIPBOARD_SET_IMAGE
    reply = Ok
    payload_field = "png"
    selection: Selection = Selection.CLIPBOARD
    png: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.selection(), _png(cls.describe(), payload))


@dataclass(frozen=True)
class ClipboardFile:
    """One file of the selection's file list: its name (one component) and size."""

    name: str
    size: int


@dataclass(frozen=True)
class ClipboardFilesReply(Reply):
    """The regular files the selection's uri-list names; ``serial`` identifies this list for
    ``clipboard_file_read`` (a newer list replaces it)."""

    answers = (Op.CLIPBOARD_FILES,)
    serial: int
    files: tuple[ClipboardFile, ...]

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        files = []
        for item in f.list("files", MAX_CLIPBOARD_FILES):
            e = _Fields(f"{cls.describe()}: files", item)
            files.append(ClipboardFile(_file_name(e), e.integer("size", 0, MAX_FILE_SIZE)))
        return cls(f.integer("serial", 0, MAX_ID), tuple(files))


@dataclass(frozen=True)
class ClipboardFiles(Request[ClipboardFilesReply]):
    """List the files the selection holds (``text/uri-list`` or ``x-special/gnome-copied-files``)."""

    op = Op.CLIPBOARD_FILES
    reply = ClipboardFilesReply
    selection: Selection = Selection.CLIPBOARD

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        return cls(_Fields(cls.describe(), header).selection())


@dataclass(frozen=True)
class ClipboardFileReadReply(FileGetReply):
    answers = (Op.CLIPBOARD_FILE_READ,)


@dataclass(frozen=True)
class ClipboardFileRead(Request[ClipboardFileReadReply]):
    """Up to ``length`` bytes of file ``index`` of list ``serial`` from ``offset``."""

    op = Op.CLIPBOARD_FILE_READ
    reply = ClipboardFileReadReply
    serial: int
    index: int
    offset: int
    length: int

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        return cls(f.integer("serial", 0, MAX_ID), f.integer("index", 0, MAX_CLIPBOARD_FILES - 1),
                   f.integer("offset", 0, MAX_FILE_SIZE), f.integer("length", 0, MAX_FILE_CHUNK))


@dataclass(frozen=True)
class ClipboardSetFiles(Request[Ok]):
    """The host takes the selection and offers ``~/Uploads/<name>`` of each of ``names`` as a
    file list (``text/uri-list``, ``x-special/gnome-copied-files``, and their paths as text)."""

    op = Op.CLIPBOARD_SET_FILES
    reply = Ok
    names: tuple[str, ...]
    selection: Selection = Selection.CLIPBOARD

    @classmethod
    def decode(cls, header: Mapping[str, Any], payload: bytes = b"") -> Self:
        f = _Fields(cls.describe(), header)
        names = f.list("names", MAX_CLIPBOARD_FILES, min_len=1, what="a list of file names")
        checked = []
        for name in names:
            try:
                checked.append(check_name(name))
            except BadName as exc:
                raise RemoteProtocolError(f"{cls.describe()}: names: {exc}") from None
        return cls(tuple(checked), f.selection())


# -- tables and entry points --------------------------------------------------------------

REQUESTS: dict[Op, type[Request[Any]]] = {cls.op: cls for cls in (
    Status, Screenshot, Input, ClipboardGet, ClipboardSet, Resize, Subscribe, Unsubscribe, Ack, Keyframe,
    Exec, Stop, Microphone, FilePut, FileStat, FileList, FileGet, DriveAttach, DriveDetach, DriveResult,
    ClipboardRead, ClipboardSetImage, ClipboardFiles, ClipboardFileRead, ClipboardSetFiles, DownloadsWatch)}
REPLIES: tuple[type[Reply], ...] = (Ok, StatusReply, ScreenshotReply, ClipboardGetReply, ResizeReply,
                                    SubscribeReply, ExecReply, FilePutReply, FileStatReply, FileListReply,
                                    FileGetReply, DriveAttachReply, ClipboardReadReply, ClipboardFilesReply,
                                    ClipboardFileReadReply, DownloadsWatchReply)
PUSHES: dict[Op, type[Push]] = {cls.op: cls for cls in (Frame, Cursor, Pointer, ClipboardChanged, Resized, Bye,
                                                        DriveCall, DownloadsChanged)}


def decode_request(header: Mapping[str, Any], payload: bytes = b"") -> Request[Any]:
    """A request the host received; an unknown op is a ``RemoteProtocolError`` too (the host
    answers it with an error and keeps the connection)."""
    op = header.get("op")
    cls = REQUESTS.get(op) if isinstance(op, str) else None
    if cls is None:
        raise RemoteProtocolError(f"unknown op {_show(op)}")
    return cls.decode(header, payload)


def decode_reply(request: type[Request[Any]], header: Mapping[str, Any], payload: bytes = b"") -> Reply | ErrorReply:
    """The answer to a ``request`` of this class: its ``ok`` reply, or an ``ErrorReply``."""
    op = header.get("op")
    if op == Op.ERROR:
        return ErrorReply.decode(header, payload)
    if op != Op.OK or request.reply is None:
        raise RemoteProtocolError(f"{request.op.value} answered with {_show(op)}")
    return request.reply.decode(header, payload)


def decode_push(header: Mapping[str, Any], payload: bytes = b"") -> Push | None:
    """A pushed message; None for an op this side does not know (a newer host's)."""
    op = header.get("op")
    cls = PUSHES.get(op) if isinstance(op, str) else None
    return None if cls is None else cls.decode(header, payload)


def pack(message: HostMessage, *, request_id: Any = NO_ID) -> bytes:
    """``message`` framed for the wire, with ``"id": request_id`` right after the op when given
    (a reply always repeats its request's id, null included)."""
    header, payload = message.encode()
    if request_id is not NO_ID:
        header = {"op": header.pop("op"), "id": request_id, **header}
    return encode_message(header, payload)

