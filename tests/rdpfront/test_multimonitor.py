"""Several monitors end to end with Debian's real xfreerdp 2.11 (``/multimon``): its own Xvfb
has two RandR monitors of different sizes, the primary on the right, so the client's layout
has the other at a negative origin. The session gets the layout as two RandR monitors, a window
maximised on the second fills exactly that monitor, and the client's display shows the whole
session (both monitors) pixel for pixel."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
from PIL import Image

from tests.compositor.helpers import request, screenshot, session_env, start_host, stop_host
from tests.compositor.window_geometry import find_window, maximise_and_wait, randr_monitors
from tests.rdpfront.xfreerdp import Harness, client_xvfb, harness_for, start_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

# The client's display: a 1024x768 monitor, and right of it an 800x600 one, the primary.
LEFT = (0, 0, 1024, 768)
RIGHT = (1024, 0, 800, 600)
SPAN = (1824, 768)


@pytest.fixture
def host() -> Iterator:
    launched = start_host(1024, 768)  # the session's maximum is 1920 x 1200
    try:
        yield launched
    finally:
        stop_host(launched)


def _set_client_monitors(env: dict[str, str], left: tuple[int, int, int, int] = LEFT,
                         right: tuple[int, int, int, int] = RIGHT) -> None:
    """Two RandR 1.5 monitors on the client's Xvfb (xfreerdp's xf_detect_monitors reads them
    with XRRGetMonitors); the first owns the output, so the output's own monitor goes."""
    for name, (x, y, w, h), output in (("LEFT", left, "screen"), ("*RIGHT", right, "none")):
        subprocess.run(["xrandr", "--setmonitor", name, f"{w}/0x{h}/0+{x}+{y}", output], env=env, check=True,
                       capture_output=True, timeout=10)
    assert randr_monitors(env) == sorted([left, right])


@asynccontextmanager
async def _harness(host, tmp_path, **monitors) -> AsyncIterator[Harness]:
    server, port = await start_server(tmp_path, host.socket_path)
    with client_xvfb(*SPAN) as xvfb:
        _set_client_monitors(xvfb.env(), **monitors)
        async with harness_for(server, port, xvfb, tmp_path) as harness:
            yield harness


@pytest.fixture
async def rdp(host, tmp_path) -> AsyncIterator[Harness]:
    async with _harness(host, tmp_path) as harness:
        yield harness


async def _wait(predicate, timeout: float = 20.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(interval)
    return value


def _differences(rdp: Harness, host) -> dict[str, float]:
    """Mean difference per monitor between the session's picture and the client's display."""
    session = screenshot(host)
    shown = rdp.client_rgb()
    out = {}
    for name, (x, y, w, h) in (("left", LEFT), ("right", RIGHT)):
        a = session[y:y + h, x:x + w].astype(np.int16)
        b = shown[y:y + h, x:x + w].astype(np.int16)
        out[name] = float(np.abs(a - b).mean()) if a.shape == b.shape == (h, w, 3) else 255.0
    return out


@pytest.mark.parametrize(("args", "gfx"), [
    (("/multimon",), False),
    (("/multimon", "/gfx:avc420"), True),
    (("/multimon", "/monitors:0,1"), False),
    (("/multimon", "/dynamic-resolution"), True),
], ids=["multimon-bitmaps", "multimon-gfx-avc420", "monitors-list", "multimon-dynamic-resolution"])
async def test_multimon_client_gets_two_session_monitors(rdp: Harness, host, args: tuple[str, ...], gfx: bool,
                                                          caplog, tmp_path) -> None:
    rdp.server.settings.gfx = gfx
    proc = await rdp.client(*args)
    await rdp.wait_first_frame()
    env = session_env(host)

    # The session is the layout's bounding box, with one RandR monitor per client monitor.
    status = await _wait(lambda: (s := request(host, "status")) and (s.get("width"), s.get("height")) == SPAN)
    assert status, f"the session did not become {SPAN}: {request(host, 'status').header} {rdp.output(proc)}"
    monitors = await _wait(lambda: randr_monitors(env) == sorted([LEFT, RIGHT]))
    assert monitors, f"session monitors: {randr_monitors(env)}"

    # A window maximised on the second monitor fills exactly that monitor.
    request(host, "exec", argv=["xterm", "-name", "wrd-multimon", "-bg", "#2050c0", "-geometry", "40x10+1100+60"])
    window = await asyncio.to_thread(find_window, env, "wrd-multimon")
    assert await asyncio.to_thread(maximise_and_wait, env, window, RIGHT) == RIGHT

    # The client shows both monitors' pixels: the session, one to one on its display.
    diffs: dict[str, float] = {}

    def matches() -> bool:
        diffs.update(_differences(rdp, host))
        return all(d <= (2.0 if gfx else 0.5) for d in diffs.values())

    assert await _wait(matches, timeout=20), f"client differs from the session per monitor: {diffs}"
    # What it shows on the right monitor is the maximised window's blue background.
    shown = rdp.client_rgb()
    x, y, w, h = RIGHT
    blue = np.all(np.abs(shown[y + 40:y + h - 10, x + 10:x + w - 10].astype(np.int16) - (0x20, 0x50, 0xC0)) <= 12,
                  axis=2)
    assert blue.mean() > 0.8, f"only {blue.mean():.0%} of the right monitor shows the maximised window"
    Image.fromarray(shown).save(tmp_path / "client.png")

    # Input on the second monitor lands there in the session.
    await rdp.xdotool("mousemove", "1500", "300")

    def pointer() -> str:
        return subprocess.run(["xdotool", "getmouselocation"], env=env, capture_output=True, text=True,
                              timeout=10).stdout

    assert await _wait(lambda: pointer().startswith("x:1500 y:300 ")), pointer()
    # The client sent its monitors in its own coordinates: the primary at 0,0, the other left
    # of it at a negative origin, shifted onto the session's framebuffer.
    assert any("client monitors 800x600+1024+0* 1024x768+0+0 on 1824x768 (its origin -1024,0)" in r.getMessage()
               for r in caplog.records), "the client's layout did not arrive as expected"
    # xfreerdp announces RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU: it was told the session's layout
    # (and went on).
    assert any("monitor layout sent: 2 monitors" in r.getMessage() for r in caplog.records)



async def test_overlapping_client_monitors_are_skipped_and_the_connection_goes_on(host, tmp_path, caplog) -> None:
    """Bad input from a real client: xfreerdp on a display whose two monitors overlap sends
    them as they are; the layout is skipped with a log line, the session stays one monitor, and
    the client is served."""
    async with _harness(host, tmp_path, right=(800, 0, 800, 600)) as rdp:
        rdp.server.settings.gfx = False
        proc = await rdp.client("/multimon")
        await rdp.wait_first_frame()
        assert await _wait(lambda: any("monitors overlap" in r.getMessage() for r in caplog.records)), \
            rdp.output(proc)
        env = session_env(host)
        width, height = (request(host, "status").get(k) for k in ("width", "height"))
        assert randr_monitors(env) == [(0, 0, width, height)]
        (connection,) = rdp.server.connections
        assert connection.conn.active and proc.returncode is None
