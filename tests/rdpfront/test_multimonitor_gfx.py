"""The graphics pipeline with several monitors end to end, with Debian's real xfreerdp 2.11
(``/multimon``) on its own Xvfb with two RandR monitors of different sizes, the primary on the
right (so the client's other monitor is at a negative origin): the server creates one surface
per monitor, mapped at the monitor's origin in the session, and a terminal drawn and scrolling
across the boundary between the monitors (and past the right one's bottom edge, over the gap of
the layout) shows pixel for pixel on each monitor of the client."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.compositor.helpers import request, screenshot, session_env, start_host, stop_host
from tests.compositor.window_geometry import find_window, frame_geometry, randr_monitors
from tests.rdpfront.test_multimonitor import LEFT, RIGHT, SPAN, _harness, _wait

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

SCROLLER = ("for i in $(seq 1 200); do echo \"line $i scrolls across two monitors: $(seq -s ' ' $i $((i + 14)))\";"
            " sleep 0.005; done; sleep 60")
POINTER_AT = (40, 740)  # where both Xvfbs draw their software cursor: on the left monitor, off the terminal


@pytest.fixture
def host() -> Iterator:
    launched = start_host(1024, 768)
    try:
        yield launched
    finally:
        stop_host(launched)


def _differing(rdp, host) -> dict[str, int]:
    """Pixels that differ between the session and the client's display, per monitor (the
    pointer's corner left out: each Xvfb draws its own software cursor)."""
    session = screenshot(host)
    shown = rdp.client_rgb()
    out = {}
    for name, (x, y, w, h) in (("left", LEFT), ("right", RIGHT)):
        a, b = session[y:y + h, x:x + w], shown[y:y + h, x:x + w]
        if a.shape != b.shape:
            out[name] = w * h
            continue
        differs = (a != b).any(axis=2)
        px, py = POINTER_AT[0] - x, POINTER_AT[1] - y
        if 0 <= px < w and 0 <= py < h:
            differs[max(0, py - 32):py + 32, max(0, px - 32):px + 32] = False
        out[name] = int(differs.sum())
    return out


@pytest.mark.parametrize("h264", [True, False], ids=["avc420", "planar"])
async def test_one_surface_per_monitor_and_a_terminal_across_them_is_pixel_exact(host, tmp_path, caplog,
                                                                                  h264: bool) -> None:
    async with _harness(host, tmp_path) as rdp:
        rdp.server.settings.gfx = True
        rdp.server.settings.gfx_h264 = h264
        proc = await rdp.client("/multimon", "/gfx:avc420")
        await rdp.wait_first_frame()
        env = session_env(host)
        assert await _wait(lambda: (s := request(host, "status")) and (s.get("width"), s.get("height")) == SPAN), \
            rdp.output(proc)
        assert await _wait(lambda: randr_monitors(env) == sorted([LEFT, RIGHT]))
        (connection,) = rdp.server.connections
        graphics = connection.conn._graphics()

        # From the server's side: one surface per monitor, of its size, mapped at its origin in
        # the session; what is drawn goes into a surface that is not mapped.
        assert await _wait(lambda: len(graphics.mapped) == 2), graphics.mapped
        assert sorted((x, y, w, h) for _, x, y, w, h in graphics.mapped) == sorted([LEFT, RIGHT])
        assert connection.conn.gfx_surface not in {s for s, *_ in graphics.mapped}
        assert connection.output.gfx.mode == ("avc420" if h264 else "planar")
        logged = [r.getMessage() for r in caplog.records if "surfaces mapped" in r.getMessage()]
        assert any(m.endswith("output 1824x768, surfaces mapped "
                              + " ".join(f"{s}:{w}x{h}+{x}+{y}" for s, x, y, w, h in graphics.mapped))
                   for m in logged), logged

        # A terminal across the monitors' boundary (x = 1024) and past the right monitor's
        # bottom (y = 600), printing lines: drawn and scrolled across the layout.
        await rdp.xdotool("mousemove", *map(str, POINTER_AT))
        copies_before = graphics.monitor_copies_sent
        term = await asyncio.create_subprocess_exec(
            "xterm", "-name", "wrd-across", "-bg", "#203040", "-fg", "#f0e080", "-geometry", "90x26+760+330",
            "-e", "sh", "-c", SCROLLER, env=env)
        try:
            window = await asyncio.to_thread(find_window, env, "wrd-across")
            x, y, w, h = await asyncio.to_thread(frame_geometry, env, window)
            assert x < 1024 < x + w and y < 600 < y + h, (x, y, w, h)
            scrolled = "copy" if h264 else "planar"
            assert await _wait(lambda: connection.output.gfx.commands[scrolled] >= 10, timeout=30), \
                dict(connection.output.gfx.commands)
            await asyncio.sleep(2.5)  # the lines end; what was sent lossily settles and is touched up
            differing: dict[str, int] = {}

            def exact() -> bool:
                differing.update(_differing(rdp, host))
                return not any(differing.values())

            assert await _wait(exact, timeout=20, interval=0.3), f"pixels differing per monitor: {differing}"
            shown = rdp.client_rgb()
            Image.fromarray(shown).save(tmp_path / "client.png")
            # Both monitors show the terminal's background on either side of their boundary.
            for left in (1024 - 24, 1024):
                band = shown[y + 30:600, left:left + 24]
                background = np.all(band == (0x20, 0x30, 0x40), axis=2).mean()
                assert background > 0.3, (left, background)
            assert graphics.monitor_copies_sent > copies_before
            if h264:
                print(f"across two monitors: {dict(connection.output.gfx.commands)}, "
                      f"{graphics.monitor_copies_sent} copies onto the monitors' surfaces")
        finally:
            term.kill()
            await term.wait()
