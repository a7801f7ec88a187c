"""A still desktop with a subscriber attached costs its session host nothing: no timer, no
poll, not one wake-up (counted by the kernel); what the removed polls were for still arrives
as events (a cursor image change, with the pointer's new place)."""

from __future__ import annotations

import asyncio

import psutil
import pytest
from Xlib import X

from compositor import messages
from compositor.pipeline import IDLE_LINGER
from tests.compositor.helpers import Subscriber, session_env, start_host, stop_host, x_display
from tests.idle_counters import threads, work_over

QUIET = 5.0  # seconds measured


@pytest.fixture(scope="module")
def host():
    h = start_host(1024, 768, startup="exec sleep infinity")
    yield h
    stop_host(h)


async def _acking(sub: Subscriber, stream: int, frames: list[messages.Message]) -> None:
    """Consume the stream's frames, acknowledging each, as a front end does."""
    while True:
        msg = await sub.messages.get()
        if msg.op == "frame" and msg.get("stream") == stream:
            frames.append(msg)
            sub.client.send(messages.Ack(stream=stream, seq=msg.get("seq")))


async def _settle(frames: list, idle: float) -> None:
    """Until no frame came for ``idle`` seconds (the touch-ups of the first picture are done)."""
    seen = -1
    while seen != len(frames):
        seen = len(frames)
        await asyncio.sleep(idle)


async def test_a_still_desktop_with_a_subscriber_makes_the_host_wake_up_not_once(host):
    sub = await Subscriber().connect(host)
    frames: list = []
    try:
        stream = (await sub.client.request("subscribe", format="h264", window=4)).get("stream")
        consumer = asyncio.create_task(_acking(sub, stream, frames))
        await _settle(frames, IDLE_LINGER + 1.5)
        assert frames, "the subscriber got its first picture"
        # The host and what it runs beside the screen (sound server, D-Bus, the session's
        # leader), Xvfb aside; measured from another thread: this loop's turns are not theirs.
        pids = {f"{p.name()} {p.pid}": p.pid for p in psutil.Process(host.pid).children()
                if p.name() != "Xvfb"} | {"host": host.pid}
        work = await asyncio.to_thread(work_over, pids, QUIET)
        assert work["host"].switches == 0, (
            f"the session host woke up {work['host'].switches} times in {QUIET} s of a still screen "
            f"(threads {threads(host.pid)})")
        assert all(w.switches == 0 and w.ticks == 0 for w in work.values()), work
        consumer.cancel()
    finally:
        await sub.client.close()


async def test_a_cursor_change_on_a_still_desktop_reaches_the_subscriber_with_the_pointer(host):
    """The pointer is not polled on a still screen: a cursor image change comes as an event
    (XFixes), and the host reads the pointer then, so a program's warp into a window with
    another cursor (no raw motion event) still reaches the subscriber."""
    sub = await Subscriber().connect(host)
    frames: list = []
    d = x_display(session_env(host))
    try:
        stream = (await sub.client.request("subscribe", format="h264", window=4)).get("stream")
        consumer = asyncio.create_task(_acking(sub, stream, frames))
        root = d.screen().root
        font = d.open_font("cursor")
        watch = font.create_glyph_cursor(font, 150, 151, (65535, 65535, 65535), (0, 0, 0))  # XC_watch
        cross = font.create_glyph_cursor(font, 34, 35, (65535, 65535, 65535), (0, 0, 0))  # XC_crosshair
        window = root.create_window(200, 150, 400, 300, 0, X.CopyFromParent, cursor=watch)
        window.map()
        d.sync()
        await _settle(frames, IDLE_LINGER + 1.5)
        consumer.cancel()  # nothing is drawn from here on; the pushes below are read here
        while not sub.messages.empty():
            sub.messages.get_nowait()

        root.warp_pointer(321, 234)  # into the window: its cursor shows, no raw motion event
        d.sync()
        cursor = await sub.next("cursor", timeout=5)
        assert cursor.get("width") > 0 and len(cursor.payload) == 4 * cursor.get("width") * cursor.get("height")
        pointer = await sub.next("pointer", timeout=5)
        assert (pointer.get("x"), pointer.get("y")) == (321, 234)

        window.change_attributes(cursor=cross)  # the program changes its cursor
        d.sync()
        changed = await sub.next("cursor", timeout=5)
        assert changed.payload != cursor.payload
    finally:
        d.close()
        await sub.client.close()
