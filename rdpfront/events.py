"""Events the server connection hands to its driver (h11 ``_events.py`` style)."""

from __future__ import annotations

from dataclasses import dataclass, field

from compositor.messages import Monitor
from rdpfront.gcc.client_data import ClientCoreData
from rdpfront.rdp.client_info import ClientInfo
from rdpfront.rdp.pdus import Rectangle16
from rdpfront.x224 import SecurityProtocol


@dataclass(frozen=True)
class SecurityUpgradeRequired:
    """The X.224 Connection Confirm is queued: flush it, then start TLS and call
    ``security_upgrade_done()`` before feeding more bytes."""

    protocol: SecurityProtocol


@dataclass(frozen=True)
class NegotiationRefused:
    """The client asked only for security this server does not offer; the failure is queued."""

    requested: SecurityProtocol
    reason: str


@dataclass(frozen=True)
class Credentials:
    """The Client Info PDU arrived: check these and call ``accept_credentials`` or ``reject_credentials``."""

    username: str
    password: str = field(repr=False)
    domain: str
    desktop_width: int
    desktop_height: int
    client: ClientCoreData = field(repr=False)
    info: ClientInfo = field(repr=False)


@dataclass(frozen=True)
class Activated:
    """Finalization is done: the client shows a desktop of this size and accepts output."""

    width: int
    height: int
    bpp: int
    keyboard_layout: int
    fastpath_output: bool
    max_request_size: int
    reactivation: bool = False


@dataclass(frozen=True)
class KeyboardEvent:
    """A key by its scan code set 1 make code; ``extended`` is the E0 prefix, ``extended1`` E1."""

    scancode: int
    extended: bool
    down: bool
    extended1: bool = False


@dataclass(frozen=True)
class UnicodeEvent:
    """A character typed as such (one UTF-16 code unit; surrogate pairs come as two events)."""

    code_unit: int
    down: bool


@dataclass(frozen=True)
class MouseEvent:
    """Pointer at (x, y); ``button`` 1 left, 2 middle, 3 right, 8 back, 9 forward, or None for a move."""

    x: int
    y: int
    button: int | None = None
    down: bool = False


@dataclass(frozen=True)
class WheelEvent:
    """Scroll in notches (120 wheel units = 1): ``dy`` > 0 is down (towards the user), ``dx`` > 0 right.

    (x, y) is where the pointer last was: clients leave a wheel event's own position at 0, 0."""

    x: int
    y: int
    dx: float = 0.0
    dy: float = 0.0


@dataclass(frozen=True)
class SyncEvent:
    """Bring the lock keys to this state (RDP synchronize event)."""

    scroll_lock: bool
    num_lock: bool
    caps_lock: bool
    kana_lock: bool = False


@dataclass(frozen=True)
class RefreshRect:
    """The client asks for these areas again (inclusive TS_RECTANGLE16)."""

    areas: tuple[Rectangle16, ...]


@dataclass(frozen=True)
class SuppressOutput:
    """``allow`` False: the client is minimised, send nothing; True: resume (repaint ``rect``)."""

    allow: bool
    rect: Rectangle16 | None = None


@dataclass(frozen=True)
class ClipboardOffer:
    """The client's clipboard changed; ``has_text`` says whether it offers CF_UNICODETEXT."""

    has_text: bool
    formats: tuple[int, ...] = ()
    names: tuple[str, ...] = ()  # each format's name ("" for predefined ones); () when none has one


@dataclass(frozen=True)
class ClipboardText:
    """Text from the client's clipboard, answering ``clipboard_request_text()`` (None on failure)."""

    text: str | None


@dataclass(frozen=True)
class ClipboardData:
    """The client's answer to ``ClipboardChannel.request_data(format_id)`` (None on failure)."""

    format_id: int
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClipboardDataRequested:
    """The client pastes a format the server offered that needs the session (an image, the
    file list): answer with ``ClipboardChannel.respond_data``."""

    format_id: int


@dataclass(frozen=True)
class ClipboardFileContentsRequested:
    """The client asks for the size or a range of a file the server offered."""

    request: object  # cliprdr.FileContentsRequest


@dataclass(frozen=True)
class ClipboardFileContents:
    """The client's answer to a File Contents Request of the server's."""

    stream_id: int
    ok: bool
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class DisplayLayout:
    """The client asks for a new desktop size (MS-RDPEDISP Monitor Layout): its window was
    resized. ``width``/``height`` are already held within the extension's bounds; answer by
    resizing the session, then ``resize()`` (a Deactivation-Reactivation), or ``gfx_reset()`` at
    the new size while the graphics pipeline is up (MS-RDPEDISP 1.3) — also when the size stays,
    so a client that waits for an answer before asking again is not left waiting."""

    width: int
    height: int
    monitors: int = 1
    # Several monitors the session is to be laid out as (rdpfront/monitors.py), on a
    # ``width`` x ``height`` framebuffer; empty for one monitor.
    layout: tuple[Monitor, ...] = ()


@dataclass(frozen=True)
class GfxReady:
    """The graphics pipeline (MS-RDPEGFX) is negotiated: draw through ``gfx_reset`` and
    ``gfx_frame`` from now on. ``avc420``: the confirmed capability set allows H.264."""

    version: int
    avc420: bool


@dataclass(frozen=True)
class GfxFrameAcknowledged:
    """The client decoded this graphics frame (``suspend``: it will acknowledge no more)."""

    frame_id: int
    queue_depth: int
    suspend: bool = False


@dataclass(frozen=True)
class TouchInput:
    """Touch from the client's input channel (MS-RDPEI): the session host's ``touch`` and
    ``touch_frame`` events of one TOUCH_EVENT PDU, contacts already mapped to slots 0..9."""

    events: tuple  # of compositor.messages.InputEvent


@dataclass(frozen=True)
class MicrophoneAudio:
    """Audio from the client's microphone (MS-RDPEAI): 16-bit little-endian PCM, 48 kHz, mono."""

    pcm: bytes = field(repr=False)


@dataclass(frozen=True)
class Shutdown:
    """The client asks to end the session (Shutdown Request PDU); answer with ``shutdown_denied`` or ``disconnect``."""


@dataclass(frozen=True)
class FrameAcknowledged:
    frame_id: int


@dataclass(frozen=True)
class Disconnected:
    """The client closed the connection at the protocol level."""

    reason: str


@dataclass(frozen=True)
class SoundReady:
    """The client's rdpsnd channel confirmed training: send it the desktop's sound at ``rate``, as
    the host's ``format`` stream (``pcm``, or ``aac`` at 48 kHz)."""

    rate: int
    format: str = "pcm"


@dataclass(frozen=True)
class DriveAnnounced:
    """The client shares a folder (a file system device of rdpdr) as ``device_id``."""

    device_id: int
    name: str


@dataclass(frozen=True)
class DriveRemoved:
    """The client no longer shares device ``device_id``."""

    device_id: int


@dataclass(frozen=True)
class DriveIoCompleted:
    """The client answered I/O request ``completion_id``: its NTSTATUS and, on success, the
    decoded response (``rdpdr.decode_response``; None for a close or a failure)."""

    completion_id: int
    status: int
    response: object = field(default=None, repr=False)


Event = (SecurityUpgradeRequired | NegotiationRefused | Credentials | Activated | KeyboardEvent
         | UnicodeEvent | MouseEvent | WheelEvent | SyncEvent | RefreshRect | SuppressOutput
         | ClipboardOffer | ClipboardText | DisplayLayout | GfxReady
         | GfxFrameAcknowledged | MicrophoneAudio | TouchInput | Shutdown | FrameAcknowledged | Disconnected
         | SoundReady | DriveAnnounced | DriveRemoved | DriveIoCompleted | ClipboardData | ClipboardDataRequested
         | ClipboardFileContentsRequested | ClipboardFileContents)
