"""One client's output from the session host's bitmap stream, sans-IO.

The host encodes the session's pixels once per session and stream options: TS_BITMAP_DATA at
the client's colour depth (bitmap updates), or Planar images for the graphics pipeline, with
copies (scrolling) as ScrBlt orders or SurfaceToSurface commands. ``BitmapOutput`` keeps the
host frames waiting for the client's socket and decides what to write next (``next_frame``).
A host frame is acknowledged to the host only once the driver has written it and the socket
took it (``done``), so a slow client holds the host's window (``BITMAP_WINDOW``) and gets
fewer, merged updates: bounded memory, never a queue. Huge frames (video) are paced to a byte
budget (``hold``, from ``host_frames.bitmap_hold``).

Damage (``Damage``) noted by the client's side (activation, a refresh request, output resumed)
asks the host for a full frame; when the client now needs another stream (capabilities
confirmed, the graphics pipeline chose Planar) it is subscribed to that one instead.
Messages for the session host go to the shared ``to_host`` list.
"""

from __future__ import annotations

from collections import deque

from compositor import messages
from rdpfront.connection import ServerConnection
from rdpfront.gfx_output import PLANAR, GfxOutput
from rdpfront.host_frames import (
    BITMAP_BYTES_PER_SECOND,
    BITMAP_WINDOW,
    bitmap_hold,
    host_bitmap_data,
    scrblt_orders,
)

Rect = tuple[int, int, int, int]

MAX_DIRTY_RECTS = 64
# The largest slow-path update: one MCS PER length, less the headers around it.
SLOW_PATH_UPDATE_LIMIT = 0x3FFF - 64


class Damage:
    """Damaged rectangles ``(x, y, w, h)``: at most ``MAX_DIRTY_RECTS``, beyond which they are
    merged into their bounding box."""

    def __init__(self) -> None:
        self.rects: list[Rect] = []

    def __bool__(self) -> bool:
        return bool(self.rects)

    def add(self, rect: Rect) -> None:
        self.rects.append(rect)
        if len(self.rects) > MAX_DIRTY_RECTS:
            x0 = min(r[0] for r in self.rects)
            y0 = min(r[1] for r in self.rects)
            x1 = max(r[0] + r[2] for r in self.rects)
            y1 = max(r[1] + r[3] for r in self.rects)
            self.rects = [(x0, y0, x1 - x0, y1 - y0)]

    def take(self) -> list[Rect]:
        rects, self.rects = self.rects, []
        return rects

    def clear(self) -> None:
        self.rects = []


def max_update_size(conn: ServerConnection) -> int:
    """The largest bitmap update the client takes in one piece."""
    return conn.max_request_size if conn.fastpath_output else SLOW_PATH_UPDATE_LIMIT


class BitmapOutput:
    """The host's bitmap stream for one client: which stream, its options, the frames waiting."""

    def __init__(self, conn: ServerConnection, gfx: GfxOutput, to_host: list[messages.Request], *,
                 compress: bool = True, bytes_per_second: float = BITMAP_BYTES_PER_SECOND) -> None:
        self.conn = conn
        self.gfx = gfx
        self.to_host = to_host
        self._compress = compress
        self._bytes_per_second = bytes_per_second
        self.stream: int | None = None  # while the host draws for this client through it
        self.options: dict[str, object] = {}  # of that stream
        self.frames: deque[messages.Frame] = deque()  # not yet written
        self.updates_sent = 0  # bitmap updates written
        self.scrblt_orders_sent = 0  # screen-to-screen copies sent as ScrBlt orders
        self.hold_seconds = 0.0  # acknowledgements of huge frames held (pacing)

    def wanted_options(self) -> dict[str, object]:
        """The stream this client draws: Planar images for the graphics pipeline, or
        TS_BITMAP_DATA at its colour depth, each fitting one of its bitmap updates."""
        if self.gfx.mode == PLANAR:  # scrolling as SurfaceToSurface
            return {"layout": "gfx", "codec": "planar", "copy": True}
        options: dict[str, object] = {"bpp": self.conn.bpp, "max_update_size": max_update_size(self.conn),
                                      "codec": "auto" if self._compress else "raw"}
        if self.conn.scrblt:  # scrolling as ScrBlt orders
            options["copy"] = True
        return options

    def subscription(self) -> messages.Subscribe:
        """The subscription this client needs (its reply to ``subscribed``)."""
        self.options = self.wanted_options()
        return messages.Subscribe(format="bitmap", options=self.options, window=BITMAP_WINDOW)

    def subscribed(self, reply: messages.SubscribeReply) -> None:
        self.stream = reply.stream

    def unsubscribe(self) -> None:
        """The client stopped drawing from this stream (the host would go on encoding it)."""
        if self.stream is not None:
            self.to_host.append(messages.Unsubscribe(stream=self.stream))
            self.stream = None
        self.frames.clear()

    def push(self, frame: messages.Frame) -> None:
        self.frames.append(frame)

    def full_frame(self) -> messages.Subscribe | None:
        """The client's picture was damaged: a new subscription when it needs another stream
        now (a new stream starts with a full frame), otherwise a keyframe of this one, which
        supersedes the frames waiting."""
        if self.stream is not None and self.wanted_options() != self.options:
            self.unsubscribe()
            return self.subscription()
        self.drop_waiting()
        if self.stream is not None:
            self.to_host.append(messages.Keyframe(stream=self.stream))
        return None

    def drop_waiting(self) -> None:
        """The frames waiting are not to be drawn (acknowledged: the host goes on)."""
        self._ack(list(self.frames))
        self.frames.clear()

    def next_frame(self) -> tuple[bytes, messages.Frame] | None:
        """The bytes of the next host frame to write and the frame (for ``hold`` and ``done``
        once the socket took them), or None: none waiting, or the graphics pipeline's window is
        full (the client's frame acknowledgement lets it go on)."""
        conn, gfx = self.conn, self.gfx
        while self.frames:
            if gfx.window_full:
                return None
            frame = self.frames.popleft()
            if frame.stream != self.stream or not conn.active:
                continue
            if frame.codec == "planar" or (frame.codec == "copy" and gfx.mode == PLANAR):
                data = gfx.planar_frame(frame)
            elif frame.codec == "bitmap" and gfx.mode is None:
                data = conn.bitmap_update(host_bitmap_data(frame, conn.width, conn.height))
                self.updates_sent += 1
            elif frame.codec == "copy" and gfx.mode is None and conn.scrblt:
                orders = scrblt_orders(frame, conn.width, conn.height)
                data = conn.scrblt_update(orders)
                self.scrblt_orders_sent += len(orders)
            else:  # a frame of the stream this client no longer draws from
                data = None
            if data is None:
                self._ack([frame])
                continue
            return data, frame
        return None

    def hold(self, frame: messages.Frame, took: float) -> float:
        """Seconds to wait before ``done(frame)``, for a frame whose bytes took ``took`` seconds
        to write and drain: a huge change is paced, and the host merges what comes meanwhile
        into its next frame."""
        seconds = bitmap_hold(len(frame.payload), took, self._bytes_per_second)
        self.hold_seconds += seconds
        return seconds

    def done(self, frame: messages.Frame) -> None:
        """The socket took ``frame``: the host may send the next one."""
        self._ack([frame])

    def _ack(self, frames: list[messages.Frame]) -> None:
        """Acknowledge frames of the current stream (the last covers the ones before it)."""
        frames = [f for f in frames if f.stream == self.stream]
        if frames:
            self.to_host.append(messages.Ack(stream=frames[-1].stream, seq=frames[-1].seq))
