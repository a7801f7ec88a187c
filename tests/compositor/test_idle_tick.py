"""The session host's idle tick on a real host: it sleeps a second while no encoder has a
touch-up pending (typing, all lossless, costs no tick every 100 ms), and a lossy frame sent
during such a sleep wakes it, so the touch-up still follows the settle time."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from Xlib import X

from compositor import messages
from tests.compositor.helpers import Subscriber, session_env, start_host, stop_host, x_display


@pytest.fixture(scope="module")
def host():
    h = start_host(800, 600)
    yield h
    stop_host(h)


def _draw_noise(d, seed: int) -> None:
    """A mapped 256x256 window, then random pixels copied into it at once (picture-like: sent
    lossy as H.264); it lasts as long as the connection ``d``."""
    screen = d.screen()
    win = screen.root.create_window(100, 100, 256, 256, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                                    override_redirect=True)
    win.map()
    gc = win.create_gc()
    d.sync()
    pixmap = win.create_pixmap(256, 256, screen.root_depth)
    pixels = np.random.default_rng(seed).integers(0, 256, (256, 256, 4), np.uint8).tobytes()
    for y in range(0, 256, 32):  # strips under the request size limit
        pixmap.put_image(gc, 0, y, 256, 32, X.ZPixmap, screen.root_depth, 0, pixels[y * 1024:(y + 32) * 1024])
    d.sync()
    time.sleep(1.0)  # the black window's frame, then quiet: the tick asleep for a second again
    win.copy_area(gc, pixmap, 0, 0, 256, 256, 0, 0)  # one damage, one lossy frame, nothing after
    d.sync()


async def test_a_lossy_frame_after_a_still_spell_is_touched_up_after_the_settle_time(host) -> None:
    sub = await Subscriber().connect(host)
    d = x_display(session_env(host))
    seen: list[tuple[float, str, bool]] = []  # (arrival, codec, touch-up)
    acking = [True]  # an acknowledgement also wakes the tick: none once the noise is drawn

    async def collect(stream: int) -> None:
        while True:
            msg = await sub.next("frame", stream=stream, timeout=60)
            seen.append((time.monotonic(), msg.get("codec"), bool(msg.get("touchup"))))
            if acking[0]:
                sub.client.send(messages.Ack(stream=stream, seq=msg.get("seq")))

    try:
        stream = (await sub.client.request("subscribe", format="h264", options={"images": "planar"})).get("stream")
        task = asyncio.create_task(collect(stream))
        try:
            # The keyframe is lossy: its touch-up comes, then nothing is pending for a while
            # (the tick sleeps a second from then on).
            deadline = time.monotonic() + 20
            while not any(touchup for _, _, touchup in seen) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert any(touchup for _, _, touchup in seen), f"no touch-up of the keyframe: {seen}"
            await asyncio.sleep(2.5)
            before = len(seen)
            acking[0] = False  # the window (4) has room for the lossy frame and its touch-up
            await asyncio.to_thread(_draw_noise, d, 1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                new = seen[before:]
                lossy = [t for t, codec, touchup in new if codec == "h264" and not touchup]
                if lossy and [t for t, _, touchup in new if touchup and t > lossy[-1]]:
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
        new = seen[before:]
        lossy = [t for t, codec, touchup in new if codec == "h264" and not touchup]
        assert lossy, f"the noise was not sent as H.264: {new}"
        touchups = [t for t, _, touchup in new if touchup and t > lossy[-1]]
        assert touchups, f"no touch-up after the noise: {new}"
        # settle (0.3 s) and two 100 ms ticks; a tick left asleep for its second would take
        # 1 s or more
        assert touchups[0] - lossy[-1] < 0.8, f"touch-up {touchups[0] - lossy[-1]:.2f} s after the lossy frame"
    finally:
        d.close()
        await sub.client.close()
