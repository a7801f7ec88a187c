"""The pipeline's idle tick runs every IDLE_TICK only while an encoder has lossless touch-ups
to make; screen changes sent losslessly (typed glyphs) leave it at the pointer check's
cadence, so typing costs the session host no tick between keystrokes. On a real Xvfb."""

from __future__ import annotations

import asyncio
import os

import pytest
from Xlib import X, display

from compositor.capture import POINTER_CHECK, Capture, CaptureListener
from compositor.encoders import load_builtin_encoders
from compositor.pipeline import IDLE_TICK, Pipeline


class Conn:
    def __init__(self) -> None:
        self.headers: list[dict] = []

    def send_frame(self, header, payload, stream: int, seq: int) -> None:
        self.headers.append(header)


@pytest.fixture
async def pipeline(xvfb, monkeypatch):
    monkeypatch.setenv("XAUTHORITY", xvfb.env()["XAUTHORITY"])
    load_builtin_encoders()
    stopping = asyncio.Event()
    capture = Capture(session="t", attached=True, stopping=stopping)
    pipe: Pipeline | None = None
    listener = CaptureListener(
        damaged=lambda: pipe.screen_damaged(), pointer_motion=lambda: None, resized=lambda w, h: None,
        cursor_changed=lambda: None, pointer_at=lambda x, y: None, other_event=lambda e: None,
        lost=lambda why: None)
    capture.open(xvfb.env()["DISPLAY"], None, listener)
    pipe = Pipeline(capture, session="t", max_fps=30, stopping=stopping, on_lost=lambda why: None)
    assert capture.pointer_events, "XInput2 raw motion: the pointer is not polled"
    yield pipe
    stopping.set()
    pipe.stop()
    pipe.close()
    capture.close()


def tick_in(pipeline: Pipeline) -> float | None:
    """Seconds until the idle tick's next run, or None when it is not scheduled."""
    handle = pipeline._tick_handle
    return None if handle is None else handle.when() - asyncio.get_running_loop().time()


async def until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {condition.__doc__ or condition}")


def draw(env: dict, x: int, y: int, w: int, h: int, pixels: bytes) -> None:
    d = display.Display(env["DISPLAY"])
    try:
        root = d.screen().root
        gc = root.create_gc()
        rows = max(1, 40_000 // w)  # each request well under the X protocol's size limit
        for top in range(0, h, rows):
            part = min(rows, h - top)
            root.put_image(gc, x, y + top, w, part, X.ZPixmap, 24, 0, pixels[top * w * 4:(top + part) * w * 4])
        d.sync()
    finally:
        d.close()


async def test_lossless_changes_leave_the_tick_at_the_pointer_checks_cadence(pipeline, xvfb):
    conn = Conn()
    pipeline.subscribe(conn, "raw", {}, window=64)
    await until(lambda: conn.headers)
    for i in range(5):  # keystroke-sized changes
        sent = len(conn.headers)
        draw(xvfb.env(), 100 + 10 * i, 100, 8, 16, bytes([255, 255, 255, 0]) * (8 * 16))
        await until(lambda: len(conn.headers) > sent)  # noqa: B023 (awaited within the iteration)
        await asyncio.sleep(0.05)
        assert tick_in(pipeline) is not None and tick_in(pipeline) > IDLE_TICK, \
            "the tick runs on (the pointer check) but not every IDLE_TICK"
    assert tick_in(pipeline) <= POINTER_CHECK


async def test_a_lossy_frame_brings_the_tick_back_until_its_touch_up_is_sent(pipeline, xvfb):
    conn = Conn()
    pipeline.subscribe(conn, "h264", {}, window=64)
    await until(lambda: conn.headers)
    await until(lambda: tick_in(pipeline) is None or tick_in(pipeline) > IDLE_TICK, timeout=10)  # settled

    sent = len(conn.headers)
    draw(xvfb.env(), 0, 0, 400, 300, os.urandom(400 * 300 * 4))  # noise: sent as H.264, lossy
    await until(lambda: len(conn.headers) > sent)
    assert any(h.get("codec") == "h264" for h in conn.headers[sent:])
    assert pipeline._idle_pending()
    assert tick_in(pipeline) is not None and tick_in(pipeline) <= IDLE_TICK

    await until(lambda: any(h.get("touchup") for h in conn.headers[sent:]))
    await until(lambda: not pipeline._idle_pending())
    await asyncio.sleep(IDLE_TICK * 2)
    assert tick_in(pipeline) is not None and tick_in(pipeline) > IDLE_TICK
