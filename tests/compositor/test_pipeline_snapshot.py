"""The encoders' snapshot (a copy of the whole screen) lives while somebody subscribes: the
first frame takes it, the last subscriber leaving drops it at once, not at a next pump that a
still screen never has. On a real Xvfb."""

from __future__ import annotations

import asyncio

from compositor.capture import Capture, CaptureListener
from compositor.encoders import load_builtin_encoders
from compositor.pipeline import Pipeline


class Conn:
    def __init__(self) -> None:
        self.frames: list[int] = []

    def send_frame(self, header, payload, stream: int, seq: int) -> None:
        self.frames.append(seq)


async def test_the_snapshot_goes_with_the_last_subscriber(xvfb, monkeypatch):
    monkeypatch.setenv("XAUTHORITY", xvfb.env()["XAUTHORITY"])
    load_builtin_encoders()
    listener = CaptureListener(
        damaged=lambda: None, pointer_motion=lambda: None, resized=lambda w, h: None,
        cursor_changed=lambda: None, pointer_at=lambda x, y: None, other_event=lambda e: None,
        lost=lambda why: None)
    stopping = asyncio.Event()
    capture = Capture(session="t", attached=True, stopping=stopping)
    capture.open(xvfb.env()["DISPLAY"], None, listener)
    pipeline = Pipeline(capture, session="t", max_fps=30, stopping=stopping, on_lost=lambda why: None)
    try:
        assert capture.snapshot is None
        first, second = Conn(), Conn()
        a = pipeline.subscribe(first, "raw", {}, window=4)
        b = pipeline.subscribe(second, "raw", {}, window=4)
        for _ in range(50):
            await asyncio.sleep(0.02)
            if first.frames and second.frames:
                break
        assert first.frames and second.frames
        assert capture.snapshot is not None and capture.snapshot.shape == (600, 800, 4)

        pipeline.unsubscribe(a)
        assert capture.snapshot is not None  # the other subscriber's encoder still reads it
        pipeline.unsubscribe(b)
        assert capture.snapshot is None
        assert not pipeline.groups
    finally:
        stopping.set()
        pipeline.stop()
        pipeline.close()
        capture.close()
