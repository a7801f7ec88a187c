"""One client's output through the graphics pipeline (MS-RDPEGFX), sans-IO.

``GfxOutput`` decides how host frames become graphics frames and when host frames are
acknowledged to the session host, which is this connection's flow control:

- **AVC420** (the client allows H.264 and the server does): the session host's ``h264``
  stream, encoded once per session (``GFX_H264_OPTIONS``, ``GFX_WINDOW`` frames in flight).
  Host frames waiting together go into one graphics frame (``GFX_BATCH``: a scroll's copy and
  the rows it exposed are one frame to draw and acknowledge). A host frame is acknowledged to
  the host when the client acknowledges the graphics frame that carried it, so a slow client
  slows its own stream; at once when the client suspended acknowledgements or when the frame
  is not drawn (not active, minimised, or waiting for a keyframe after a reset). The client's
  acknowledgements are passed on only once they cover ``GFX_ACK_EVERY`` frames the host still
  counts (``host_frames``): a keystroke's frame costs the host and this server no message of
  its own, and the host's window never fills with frames the client has taken.
- **Planar** otherwise: the host's bitmap stream with the graphics layout (``BitmapOutput``
  writes it through ``planar_frame``), at most ``GFX_PLANAR_IN_FLIGHT`` graphics frames the
  client has not acknowledged.

``reset`` gives the client a new surface (also how the desktop changes size while the pipeline
is up; with several monitors, one more per monitor, which the graphics channel keeps up to date
from the areas each graphics frame changes, ``gfx_changed_areas``); after it, AVC420 draws
nothing until a keyframe of the surface's size arrives.
Messages for the session host (``Ack``, ``Keyframe``) are appended to the shared ``to_host`` list.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence

from compositor import messages
from rdpfront import events as ev
from rdpfront.connection import ServerConnection
from rdpfront.host_frames import (
    GFX_ACK_EVERY,
    GFX_BATCH,
    GFX_H264_OPTIONS,
    GFX_PLANAR_IN_FLIGHT,
    GFX_WINDOW,
    gfx_changed_areas,
    gfx_commands_for_host_frame,
    h264_key_for,
)

log = logging.getLogger(__name__)

AVC420, PLANAR = "avc420", "planar"


class GfxOutput:
    """Graphics pipeline state of one client: its mode, the host's H.264 stream, the graphics
    frames the client has not acknowledged yet."""

    def __init__(self, conn: ServerConnection, to_host: list[messages.Request], *, h264: bool = True,
                 lossless: bool = True, log_context: str = "") -> None:
        self.conn = conn
        self.to_host = to_host
        self._h264 = h264
        self._lossless = lossless
        self._log = log_context
        self.mode: str | None = None  # None: bitmap updates; AVC420 or PLANAR
        self.stream: int | None = None  # the host's h264 stream
        self.queue: deque[messages.Frame] = deque()  # frames of that stream not drawn yet
        self.unacked: dict[int, int | None] = {}  # graphics frame id -> host seq to ack then
        self.acked_seq = 0  # the highest host seq acknowledged (host acknowledgements are cumulative)
        self.received_seq = 0  # the highest host seq received
        self.held_seq = 0  # the highest host seq the client has taken, not yet acknowledged to the host
        self.acks_sent = 0  # Ack messages to the host
        self.acks_suspended = False
        self.need_key = False
        self.frames_sent = 0
        self.frames_acked = 0
        self.resets = 0  # new surfaces: the first, and every resize while the pipeline is up
        self.commands: Counter[str] = Counter()  # commands sent, by the host frame's codec

    def choose(self, event: ev.GfxReady) -> messages.Subscribe | None:
        """Draw through the pipeline from now on: AVC420 when the client allows it, else Planar.
        For AVC420, the subscription to the host's H.264 stream to make (its reply to
        ``subscribed``)."""
        self.mode = AVC420 if event.avc420 and self._h264 else PLANAR
        if self.mode != AVC420:
            return None
        options = dict(GFX_H264_OPTIONS)
        if not self._lossless:
            options["lossless"] = False  # a stream of its own: without touch-ups
        return messages.Subscribe(format="h264", options=options, window=GFX_WINDOW)

    def subscribed(self, reply: messages.SubscribeReply) -> None:
        self.stream = reply.stream
        self.acked_seq = self.received_seq = self.held_seq = 0  # a new stream counts from 1

    @property
    def window_full(self) -> bool:
        """Planar output waits for the client's frame acknowledgements."""
        return self.mode == PLANAR and len(self.unacked) >= GFX_PLANAR_IN_FLIGHT

    def reset(self, width: int, height: int, monitors: Sequence[tuple[int, int, int, int, int]] = ()) -> bytes:
        """A new surface of ``width`` x ``height`` (on ``monitors``, TS_MONITOR_DEF fields); the
        next picture must be complete (host frames owed to the old surface are acknowledged,
        AVC420 asks for a keyframe)."""
        data = self.conn.gfx_reset(width, height, monitors)
        self.resets += 1
        self._ack_all_unacked()
        if self.mode == AVC420:
            self.keyframe()
        return data

    def keyframe(self) -> None:
        """Ask the host for a whole picture (the client lost or asked to repaint some)."""
        if self.mode == AVC420 and self.stream is not None:
            self.need_key = True
            self.to_host.append(messages.Keyframe(stream=self.stream))

    def acknowledged(self, event: ev.GfxFrameAcknowledged) -> None:
        self.acks_suspended = event.suspend
        if event.suspend:
            self._ack_all_unacked()
            return
        self.frames_acked += 1
        # Frames are acknowledged in order; an ack also covers any frame before it.
        for frame_id in [f for f in self.unacked if f <= event.frame_id]:
            if (seq := self.unacked.pop(frame_id)) is not None and seq > self.held_seq:
                self.held_seq = seq
        if self.received_seq - self.acked_seq >= GFX_ACK_EVERY:
            self._ack(self.held_seq)

    # ---- AVC420: the host's h264 stream ------------------------------------------------------

    def push(self, frame: messages.Frame) -> None:
        self.queue.append(frame)
        if frame.seq > self.received_seq:
            self.received_seq = frame.seq

    def next_frame(self, allowed: bool) -> bytes | None:
        """The next graphics frame of the waiting host frames (up to ``GFX_BATCH`` of them), or
        None when none is to be drawn. ``allowed``: the client has not suppressed output."""
        while self.queue:
            batch = [self.queue.popleft() for _ in range(min(GFX_BATCH, len(self.queue)))]
            commands: list[bytes] = []
            changed: list[tuple[int, int, int, int]] = []
            per_monitor = self.conn.gfx_per_monitor
            last_seq = None
            for frame in batch:
                if (frame_commands := self._commands_of(frame, allowed)) is None:
                    continue
                commands += frame_commands
                if per_monitor:
                    changed += gfx_changed_areas(frame, self.conn.width, self.conn.height)
                last_seq = frame.seq
            if self.conn.closed:
                return None
            if not commands:
                continue
            frame_id, data = self.conn.gfx_frame(commands, changed)
            self.frames_sent += 1
            if self.acks_suspended:
                self._ack(last_seq)
            else:
                self.unacked[frame_id] = last_seq
            return data
        return None

    def _commands_of(self, frame: messages.Frame, allowed: bool) -> list[bytes] | None:
        """The graphics commands of one host frame, or None when it is not drawn (then it is
        acknowledged to the host at once)."""
        conn = self.conn
        if not conn.active or not conn.gfx_ready or conn.gfx_surface is None:
            self._ack(frame.seq)  # dropped: a keyframe follows the reset
            return None
        if not allowed:  # minimised: nothing drawn until it asks again
            self._ack(frame.seq)
            self.need_key = True
            return None
        if self.need_key and not h264_key_for(frame, conn.width, conn.height):
            # Waiting for a whole picture at the surface's size: what comes before it (the
            # rest of the old stream, touch-ups of the old screen) belongs to the old surface.
            self._ack(frame.seq)
            return None
        try:
            commands = gfx_commands_for_host_frame(frame, conn.gfx_surface, conn.width, conn.height)
        except (ValueError, TypeError) as exc:
            log.warning("%s unusable host frame dropped: %s", self._log, exc)
            commands = []
        if not commands:
            self._ack(frame.seq)
            return None
        if frame.codec == "h264" and frame.key:
            self.need_key = False
        self.commands[str(frame.codec)] += len(commands)
        return commands

    # ---- Planar: frames of the bitmap stream -------------------------------------------------

    def planar_frame(self, frame: messages.Frame) -> bytes | None:
        """A Planar or copy frame of the bitmap stream as one graphics frame, or None when the
        pipeline cannot draw it now. The bitmap stream's own acknowledgement is the caller's."""
        conn = self.conn
        if self.mode != PLANAR or not conn.gfx_ready or conn.gfx_surface is None:
            return None
        commands = gfx_commands_for_host_frame(frame, conn.gfx_surface, conn.width, conn.height)
        changed = gfx_changed_areas(frame, conn.width, conn.height) if conn.gfx_per_monitor else []
        frame_id, data = conn.gfx_frame(commands, changed)
        self.commands[str(frame.codec)] += len(commands)
        self.unacked[frame_id] = None
        self.frames_sent += 1
        return data

    # ---- acknowledgements to the host ---------------------------------------------------------

    def _ack(self, seq: int | None) -> None:
        """Acknowledge host frames up to ``seq``. A frame dropped while earlier ones are still
        with the client is acknowledged at once, which covers those too; their own
        acknowledgements then say nothing new and are not sent (the host's count never goes
        back)."""
        if seq is not None and self.stream is not None and seq > self.acked_seq:
            self.acked_seq = seq
            self.acks_sent += 1
            self.to_host.append(messages.Ack(stream=self.stream, seq=seq))

    def _ack_all_unacked(self) -> None:
        for seq in self.unacked.values():
            if seq is not None and seq > self.held_seq:
                self.held_seq = seq
        self.unacked.clear()
        self._ack(self.held_seq)
