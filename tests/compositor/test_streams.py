"""Streams: a viewer that cannot keep up costs the others nothing, and a lone viewer's stream
follows its link (fewer frames, then a higher quantiser, and back up once it keeps up)."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from compositor import messages
from compositor.client import HostClient
from compositor.encoders.h264 import DEFAULT_QP
from compositor.streams import LEVELS, STEP_INTERVAL, STEP_UP_AFTER, Pace, paced_options
from tests.compositor.helpers import session_env, start_host, stop_host


def test_pace_steps_down_when_stalled_and_up_after_keeping_up():
    pace = Pace(max_fps=60)
    assert (pace.fps, pace.qp_added) == (60, 0)
    assert pace.stalled(10.0) and pace.level == 1 and pace.fps == LEVELS[1][1]
    assert not pace.stalled(10.5)  # at most one step per STEP_INTERVAL
    assert pace.stalled(10.0 + STEP_INTERVAL) and pace.qp_added > 0
    t = 20.0
    assert not pace.kept_up(t)  # keeping up starts counting now
    assert not pace.kept_up(t + STEP_UP_AFTER - 0.1)
    assert pace.kept_up(t + STEP_UP_AFTER) and pace.level == 1
    for _ in range(10):
        pace.stalled(t := t + STEP_INTERVAL)
    assert pace.level == len(LEVELS) - 1  # never past the last level
    assert Pace(max_fps=15).fps == 15  # a stream asked for fewer frames keeps its cap


def test_paced_options_raise_the_quantiser_only():
    pace = Pace(max_fps=60, level=3)
    assert paced_options({"images": "web"}, pace)["qp"] == DEFAULT_QP + LEVELS[3][0]
    assert paced_options({"qp": 40}, pace)["qp"] <= 44
    assert paced_options({"crf": 23}, pace) == {"crf": 23}  # rate control asked for: left alone
    assert paced_options({"qp": 20}, Pace(max_fps=60)) == {"qp": 20}


class Viewer:
    """A subscriber of the host's h264 stream that acknowledges what it receives, or not."""

    def __init__(self, *, acks: bool) -> None:
        self.acks = acks
        self.frames: list[messages.Frame] = []
        self.client = HostClient(on_event=self._on_event)
        self.stream = 0

    def _on_event(self, push: messages.Push) -> None:
        if isinstance(push, messages.Frame) and push.stream == self.stream:
            self.frames.append(push)
            if self.acks:
                self.client.send(messages.Ack(stream=push.stream, seq=push.seq))

    async def subscribe(self, host) -> Viewer:
        await self.client.connect(host.socket_path)
        reply = await self.client.call(messages.Subscribe(format="h264", options={}, window=2))
        self.stream = reply.stream
        return self

    def keyframes(self) -> int:
        return sum(1 for f in self.frames if f.codec == "h264" and f.key)


ANIMATE = ("import time, itertools\nfrom Xlib import display, X\n"
           "d = display.Display(); s = d.screen(); w = s.root.create_window(0, 0, 640, 480, 0, s.root_depth)\n"
           "w.map(); gc = w.create_gc()\n"
           "for i in itertools.count():\n"
           "    for x in range(0, 640, 2):\n"  # a new colour every 2 pixels: picture-like, H.264
           "        gc.change(foreground=((x * 7 + i * 13) % 256) << 16 | ((x + i * 5) % 256) << 8 | (i * 3) % 256)\n"
           "        w.fill_rectangle(gc, x, 0, 2, 480)\n"
           "    d.flush(); time.sleep(1 / 30)\n")


@pytest.fixture
def host():
    h = start_host(640, 480)
    yield h
    stop_host(h)


async def test_a_viewer_that_stops_reading_is_split_off_and_the_other_keeps_its_frames(host):
    """Two viewers share one encoder; one stops acknowledging (a throttled link). After a
    short while it gets a stream of its own: the other goes on receiving frames at the same
    rate, with no keyframe forced on it; the slow one gets its own keyframe once it reads again."""
    fast = await Viewer(acks=True).subscribe(host)
    slow = await Viewer(acks=False).subscribe(host)
    proc = subprocess.Popen([".venv/bin/python", "-c", ANIMATE], env=session_env(host))
    try:
        await asyncio.sleep(1.0)
        status = await fast.client.call(messages.Status())
        assert [(e.format, e.subscribers) for e in status.encoders] == [("h264", 1), ("h264", 1)]
        keys_before = fast.keyframes()
        slow_before = len(slow.frames)
        start = len(fast.frames)
        await asyncio.sleep(2.0)
        got = len(fast.frames) - start
        assert got >= 20, f"the fast viewer got {got} frames in 2 s of a 30 fps animation"
        assert fast.keyframes() == keys_before, "a keyframe was forced on the viewer that kept up"
        assert len(slow.frames) == slow_before  # nothing more than its window while it reads nothing
        slow.acks = True
        for f in slow.frames[-2:]:
            slow.client.send(messages.Ack(stream=f.stream, seq=f.seq))
        for _ in range(50):
            if slow.keyframes() >= 2:
                break
            await asyncio.sleep(0.1)
        assert slow.keyframes() >= 2, "the split-off viewer did not start again from a keyframe"
        assert fast.keyframes() == keys_before
    finally:
        proc.kill()
        proc.wait()
        await fast.client.close()
        await slow.client.close()


async def test_a_viewer_joining_or_asking_for_a_keyframe_costs_the_others_nothing(host):
    """A second viewer joins a running stream, later asks for a keyframe (as a browser does
    after dropping frames): each time it gets an IDR of its own, the P-frames that follow
    renumbered for its decoder, and the first viewer receives no keyframe at all."""
    import av

    from compositor.encoders import h264_syntax as hs

    first = await Viewer(acks=True).subscribe(host)
    proc = subprocess.Popen([".venv/bin/python", "-c", ANIMATE], env=session_env(host))
    second = Viewer(acks=True)
    try:
        await asyncio.sleep(1.0)
        assert first.keyframes() == 1
        await second.subscribe(host)
        await asyncio.sleep(1.0)
        second.client.send(messages.Keyframe(stream=second.stream))
        await asyncio.sleep(1.0)
        status = await first.client.call(messages.Status())
        assert [(e.format, e.subscribers) for e in status.encoders] == [("h264", 2)]
        assert first.keyframes() == 1, "a keyframe was forced on the viewer already in the stream"
        assert second.keyframes() == 2
        video = [f for f in second.frames if f.codec == "h264"]
        assert len(video) > 20  # it follows the animation
        info = hs.sequence_of(video[0].payload)
        assert info is not None
        numbers = [hs.frame_num(f.payload, info) for f in video]
        restart = next(i for i, f in enumerate(video) if i and f.key)
        modulus = 1 << info.log2_max_frame_num
        assert numbers == [i % modulus for i in range(restart)] + [i % modulus for i in range(len(video) - restart)]
        decoder = av.CodecContext.create("h264", "r")
        pictures = sum(len(decoder.decode(av.Packet(f.payload))) for f in video)
        assert pictures == len(video)
    finally:
        proc.kill()
        proc.wait()
        await first.client.close()
        await second.client.close()
