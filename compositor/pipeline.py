"""The session's streams at work: stream groups and their encoders, the pump that encodes
damage on the frame clock, a slow viewer paced or split off, and the idle tick.

What a subscription and a group are, and the pacing rules, are compositor/streams.py; this
drives them with what the capture reports. The pump runs when damage arrives or a subscriber
acknowledges frames or asks for a keyframe, at most ``max_fps`` times a second; it and the
idle tick run only while somebody subscribes.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from compositor import messages, rects
from compositor.capture import CONNECTION_LOST, POINTER_CHECK, Capture
from compositor.encoders import ENCODERS, EncodedFrame, options_key
from compositor.streams import (
    PACE_STALL_SECONDS,
    STALL_SECONDS,
    Pace,
    StreamGroup,
    Subscription,
    paced_options,
    split_variant,
)

if TYPE_CHECKING:
    from compositor.host import Connection

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line

IDLE_TICK = 0.1
# How long the idle tick (encoders' lossless touch-up) runs on after the screen last changed
# or a touch-up was last sent; longer than any encoder's settle time.
IDLE_LINGER = 5.0


def stamped(frames: list[EncodedFrame], captured: float) -> list[EncodedFrame]:
    """``frames`` with their ``pts``: ``captured`` (``time.monotonic()`` seconds) in microseconds."""
    for frame in frames:
        frame.fields.setdefault("pts", int(captured * 1_000_000))
    return frames


class Pipeline:
    """Every stream of one session. It reads the screen through ``capture`` (damage, the
    snapshot, the pointer) and sends frames to each subscription's connection; ``on_lost`` is
    told when the X connection is found gone."""

    def __init__(self, capture: Capture, *, session: str, max_fps: int, stopping: asyncio.Event,
                 on_lost: Callable[[str], None]) -> None:
        self.session = session
        self.max_fps = max_fps
        self.groups: dict[tuple, StreamGroup] = {}
        self.next_stream = 1
        self._capture = capture
        self._stopping = stopping
        self._on_lost = on_lost
        self._pump_handle: asyncio.Handle | None = None
        self._last_pump = 0.0
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_fast = False  # the tick is due IDLE_TICK after the last, not POINTER_CHECK
        self._last_activity = 0.0
        # format -> (counts per messages.ENCODE_BUCKETS, seconds in all), for the host's life
        self._encode_times: dict[str, tuple[list[int], float]] = {}

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(self, conn: Connection, fmt: str, options: dict[str, Any], window: int) -> Subscription:
        """A new stream of ``fmt`` for ``conn``: in the group of its (format, options), or a new
        one. Raises ValueError for a format or option the encoders do not have."""
        if fmt not in ENCODERS:
            raise ValueError(f"unknown format {fmt!r}; have {sorted(ENCODERS)}")
        encoder_class = ENCODERS[fmt]
        options, variant = split_variant(encoder_class, options)
        key = (fmt, options_key(options))
        group = self.groups.get(key)
        if group is None:
            group = self._new_group(fmt, options)
            self.groups[key] = group
        if not group.subscribers:
            self._capture.refresh_attached()
        sub = Subscription(conn, self.next_stream, group, window=max(1, min(window, 64)), variant=variant)
        self.next_stream += 1
        group.subscribers.append(sub)
        group.update_variants()
        self._schedule_pump(0)
        self._capture.schedule_pointer_read(0)
        self._wake_idle_tick()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        group = sub.group
        if sub in group.subscribers:
            group.subscribers.remove(sub)
            group.update_variants()
            group.encoder.forget(sub.stream)
        if not group.subscribers:
            group.encoder.close()
            self.groups = {k: g for k, g in self.groups.items() if g is not group}
            if not self.groups:
                # The snapshot (a whole screen, 7.9 MiB at 1080p) goes with the last viewer, not
                # at the next pump: a still screen has none, and would hold it for good.
                self._capture.drop_snapshot()

    def acknowledge(self, sub: Subscription, seq: int) -> None:
        """The subscriber has received frames up to ``seq``: room in its window."""
        if sub.acked_seq < seq <= sub.sent_seq:
            sub.acked_seq = seq
            group = sub.group
            # A pump only when the group has something that waited for room in a window: damage
            # (new damage schedules its own pump), or a whole frame for it or a viewer.
            if group.pending or group.force_full or any(s.needs_full for s in group.subscribers):
                self._schedule_pump()
            self._wake_idle_tick()  # a touch-up may have waited for this subscriber

    def request_keyframe(self, sub: Subscription) -> None:
        sub.needs_full = True
        self._schedule_pump(0)

    def status(self) -> dict[str, Any]:
        return {
            "subscribers": sum(len(g.subscribers) for g in self.groups.values()),
            # one encoder per (format, options), however many subscribe to it
            "encoders": [{"format": g.encoder.format, "subscribers": len(g.subscribers),
                          "keyframes": g.keyframes, "catch_ups": g.catch_ups} for g in self.groups.values()],
            "encode_times": tuple(messages.EncodeTimes(fmt, tuple(counts), total)
                                  for fmt, (counts, total) in self._encode_times.items()),
        }

    def _count_encode(self, fmt: str, seconds: float) -> None:
        counts, total = self._encode_times.setdefault(fmt, ([0] * (len(messages.ENCODE_BUCKETS) + 1), 0.0))
        counts[bisect.bisect_left(messages.ENCODE_BUCKETS, seconds)] += 1
        self._encode_times[fmt] = (counts, total + seconds)

    def stop(self) -> None:
        """No more idle ticks (the host is stopping)."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None

    def close(self) -> None:
        """Release the encoders."""
        for group in self.groups.values():
            group.encoder.close()

    # -- what the capture reports ---------------------------------------------------------

    def screen_damaged(self) -> None:
        """The capture read damage events: a pump in this turn when the frame-rate cap allows
        one now (no loop turn between reading a keystroke's damage and sending its frame)."""
        if not self.groups:
            return
        if (self._pump_handle is None and not self._stopping.is_set()
                and time.monotonic() >= self._last_pump + 1.0 / self.max_fps):
            self._pump()
        else:
            self._schedule_pump()

    def pointer_moved(self) -> None:
        if self.groups:
            self._capture.schedule_pointer_read()

    def screen_resized(self, width: int, height: int) -> None:
        """Every stream starts again at the new size with a whole frame."""
        for group in self.groups.values():
            group.encoder.resize(width, height)
            group.force_full = True
            group.pending = []
            group.pending_since = time.monotonic()
        self._schedule_pump()

    def _add_damage(self, damaged: list[rects.Rect]) -> None:
        if not self.groups:
            return
        self._wake_idle_tick()
        self._capture.refresh(damaged)
        width, height = self._capture.size
        now = time.monotonic()
        for group in self.groups.values():
            group.pending.extend(damaged)
            if len(group.pending) > 256:
                group.pending = rects.merge(group.pending, width, height)
            if group.pending_since is None:
                group.pending_since = now

    # -- frames ---------------------------------------------------------------------------

    def _schedule_pump(self, delay: float | None = None) -> None:
        if self._pump_handle is not None or self._stopping.is_set():
            return
        loop = asyncio.get_running_loop()
        if delay is None:
            delay = max(0.0, self._last_pump + 1.0 / self.max_fps - time.monotonic())
        self._pump_handle = loop.call_later(delay, self._pump)

    def _pump(self) -> None:
        self._pump_handle = None
        try:
            damaged = self._capture.collect_damage()
        except CONNECTION_LOST as exc:
            self._on_lost(f"X connection lost: {exc}")
            return
        if damaged is not None:
            self._add_damage(damaged)
        now = time.monotonic()
        self._last_pump = now
        self._take_snapshot()
        retries = [delay for group in list(self.groups.values())
                   if (delay := self._pump_group(group, now)) is not None]
        self._hasten_idle_tick()
        if retries:
            self._schedule_pump(min(retries))

    def _take_snapshot(self) -> None:
        """Bring the encoders' snapshot up to date: pending damage, the whole screen when a
        group needs a full frame (``Capture.take_snapshot``)."""
        if not self.groups:
            self._capture.drop_snapshot()
            return
        whole = any(g.force_full or any(s.needs_full for s in g.subscribers) for g in self.groups.values())
        self._capture.take_snapshot(None if whole else [r for g in self.groups.values() for r in g.pending])

    def _pump_group(self, group: StreamGroup, now: float) -> float | None:
        """Encode and send one update of this group if it has one and may; the seconds after
        which to try again, or None to wait for the next damage or acknowledgement."""
        ready = [s for s in group.subscribers if s.ready]
        waiting = [s for s in group.subscribers if not s.ready]
        joining = [s for s in ready if s.needs_full]
        # Viewers that join a running stream (or lost their place in it) catch up on their
        # own keyframe while the others carry on; a keyframe for all when nobody is in step.
        catch_up = bool(joining) and not group.force_full and len(joining) < len(ready)
        full = group.force_full or (bool(joining) and not catch_up)
        if not group.pending and not full and not catch_up:
            return None
        since = group.pending_since or now
        if len(group.subscribers) == 1:
            if not ready:  # one viewer, still busy with earlier frames: its link sets the pace
                if now - since >= PACE_STALL_SECONDS and group.pace.stalled(now):
                    self._repace(group)
                return None  # its acknowledgement schedules the pump
            if group.pace.kept_up(now):
                self._repace(group)
        else:
            if not ready:
                return None
            if waiting and now - since < STALL_SECONDS:
                return STALL_SECONDS / 2  # pace to the slowest viewer for a while before leaving it behind
            for sub in waiting:
                self._split_off(sub, now)
        if (wait := group.next_encode(now)) > 0:
            return wait  # the group's frame-rate cap
        in_step = [s for s in ready if s not in joining] if catch_up else ready
        dirty = rects.merge(group.pending, *self._capture.size)
        group.pending = []
        group.pending_since = None
        group.force_full = False
        if dirty or full:
            group.last_encode = now
            started = time.perf_counter()
            try:
                frames = stamped(group.encoder.encode(self._capture.snapshot, dirty, full=full), now)
            except Exception:
                log.exception("encoder %s failed session=%s", group.encoder.format, self.session)
                return None
            self._count_encode(group.encoder.format, time.perf_counter() - started)
            group.keyframes += any(f.fields.get("key") for f in frames)
            self._send_frames(group, in_step, frames)
            for sub in in_step:
                sub.needs_full = False
        if catch_up:
            self._catch_up(group, joining)
        return None

    def _catch_up(self, group: StreamGroup, joining: list[Subscription]) -> None:
        """Bring each joining viewer to the snapshot the others were just sent; a keyframe for
        the whole group on the next pump if the encoder cannot do it for one viewer."""
        for sub in joining:
            try:
                frames = group.encoder.catch_up(self._capture.snapshot, sub.stream, sub.variant)
                if frames is not None:
                    frames = stamped(frames, time.monotonic())
            except Exception:
                log.exception("encoder %s catch-up failed session=%s", group.encoder.format, self.session)
                frames = None
            if frames is None:
                group.force_full = True
                group.pending_since = group.pending_since or time.monotonic()
                self._schedule_pump()
                return
            self._send_frames(group, [sub], frames)
            sub.needs_full = False
            group.catch_ups += 1

    def _new_group(self, fmt: str, options: dict[str, Any], *, solo: bool = False, level: int = 0) -> StreamGroup:
        pace = Pace(max_fps=float(options.get("fps", self.max_fps)), level=level)
        encoder = ENCODERS[fmt](*self._capture.size, paced_options(options, pace))
        return StreamGroup(fmt, options, encoder, pace, solo=solo)

    def _repace(self, group: StreamGroup) -> None:
        """The group's level changed: a new encoder when its quality depends on the level (its
        first frame is whole), and a paced group takes no newcomers at another quality."""
        log.info("stream %s paced to level %d (%.0f fps) session=%s", group.fmt, group.pace.level,
                 group.pace.fps, self.session)
        if not group.solo:
            group.solo = True
            self.groups = {k: g for k, g in self.groups.items() if g is not group}
            self.groups[(group.fmt, "solo", id(group))] = group
        options = paced_options(group.options, group.pace)
        if options != group.encoder.options:
            group.encoder.close()
            group.encoder = ENCODERS[group.fmt](*self._capture.size, options)
            group.update_variants()
            group.force_full = True
            group.pending_since = group.pending_since or time.monotonic()

    def _split_off(self, sub: Subscription, now: float) -> None:
        """A viewer that held its group back too long gets a stream of its own, one level down:
        its own keyframe when it is ready again, and no keyframe for the others."""
        group = sub.group
        group.subscribers.remove(sub)
        group.update_variants()
        group.encoder.forget(sub.stream)
        solo = self._new_group(group.fmt, group.options, solo=True, level=1)
        solo.pace.changed_at = now
        solo.subscribers.append(sub)
        solo.update_variants()
        solo.pending_since = now
        sub.group = solo
        sub.needs_full = True
        self.groups[(group.fmt, "solo", id(solo))] = solo
        log.info("viewer stream %d split off its %s group (too slow to follow) session=%s", sub.stream,
                 group.fmt, self.session)

    def _send_frames(self, group: StreamGroup, subs: list[Subscription], frames) -> None:
        for frame in frames:
            # The header built once per frame (and once more per subscriber the encoder makes a
            # copy of its own for); each subscriber gets its own stream and seq.
            encoded = messages.Frame.encoder_header(frame.fields), frame.payload
            for sub in subs:
                if frame.variant is not None and frame.variant != sub.variant:
                    continue  # the same update in another subscriber's encoding
                if frame.viewer is not None and frame.viewer != sub.stream:
                    continue  # another subscriber's own
                own = group.encoder.personalize(frame, sub.stream)
                header, payload = encoded if own is frame else (messages.Frame.encoder_header(own.fields), own.payload)
                sub.sent_seq += 1
                sub.conn.send_frame(header, payload, sub.stream, sub.sent_seq)

    def _wake_idle_tick(self) -> None:
        self._last_activity = time.monotonic()
        if self._tick_handle is None:
            self._schedule_idle_tick()

    def input_arrived(self) -> None:
        """A front end's input: the idle tick runs again (a program may answer it by warping
        the pointer, which the tick's pointer check sees)."""
        self._wake_idle_tick()

    def _schedule_idle_tick(self) -> None:
        """The next ``_idle_tick``, if it is to run on. A timer callback rather than a task
        sleeping in a loop: a tick while typing is then one timer, without a task's step, a
        future and its wake-up."""
        self._tick_handle = None
        if not self.groups or self._stopping.is_set():
            return
        lingered = time.monotonic() - self._last_activity > IDLE_LINGER
        if lingered and self._capture.pointer_events:
            return
        # Every IDLE_TICK while an encoder has touch-ups to make (or the pointer is polled);
        # else only the pointer check, every POINTER_CHECK: typing lossless glyphs then costs
        # no tick between keystrokes.
        self._tick_fast = not lingered and (not self._capture.pointer_events or self._idle_pending())
        self._tick_handle = asyncio.get_running_loop().call_later(IDLE_TICK if self._tick_fast else POINTER_CHECK,
                                                                  self._idle_tick)

    def _idle_pending(self) -> bool:
        return any(group.encoder.idle_pending for group in self.groups.values())

    def _hasten_idle_tick(self) -> None:
        """After frames: the tick back to IDLE_TICK if an encoder now has touch-ups to make."""
        if self._tick_fast or self._tick_handle is None or not self._idle_pending():
            return
        self._tick_handle.cancel()
        self._tick_fast = True
        self._tick_handle = asyncio.get_running_loop().call_later(IDLE_TICK, self._idle_tick)

    def _idle_tick(self) -> None:
        """While somebody subscribes: the encoders' idle work (lossless touch-up of areas that
        stopped changing) every IDLE_TICK while an encoder has some (``idle_pending``; else
        the tick only checks the pointer, every POINTER_CHECK), for IDLE_LINGER seconds after
        the screen changed, a touch-up was sent, a subscriber acknowledged or input came; then
        the tick ends, so a still screen costs no wake-up at all, until the next of those
        restarts it. Pointer moves by devices (XTEST input included) come as XInput2 raw events
        at once; a program warping the pointer makes no such event, so the tick reads the
        pointer every POINTER_CHECK while it runs, and a cursor image change reads it too
        (host). Without XInput2 the pointer is polled every IDLE_TICK while the tick runs and
        every POINTER_CHECK after, for as long as somebody subscribes."""
        now = time.monotonic()
        try:
            self._capture.check_pointer(now)
            if self._idle_work(now):
                self._last_activity = now
        finally:
            self._schedule_idle_tick()

    def _idle_work(self, now: float) -> bool:
        """Give each encoder its idle call; True if any sent something."""
        sent = False
        for group in list(self.groups.values()):
            if group.wants_idle and not group.pending:
                ready = [s for s in group.subscribers if s.ready and not s.needs_full]
                snapshot = self._capture.snapshot
                viewers = frozenset(s.stream for s in ready)
                if ready and snapshot is not None and (frames := group.encoder.idle(snapshot, now, viewers)):
                    self._send_frames(group, ready, stamped(frames, now))
                    sent = True
        return sent
