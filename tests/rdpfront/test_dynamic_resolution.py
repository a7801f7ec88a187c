"""Client-driven resize with Debian's real xfreerdp 2.11 (``/dynamic-resolution``): its window
is resized on its own Xvfb, it asks over the Display Control dynamic channel (drdynvc), the
session host resizes the session (RandR), and the client is given the new size (reactivated with
bitmap updates, a new surface with the graphics pipeline) and shows the session there."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
from Xlib import X

from tests.compositor.helpers import request, screenshot, start_host, stop_host, x_display
from tests.rdpfront.xfreerdp import Harness, client_xvfb, harness_for, start_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]


@pytest.fixture
def host() -> Iterator:
    launched = start_host(800, 600)
    try:
        yield launched
    finally:
        stop_host(launched)


@pytest.fixture
async def rdp(host, tmp_path) -> AsyncIterator[Harness]:
    server, port = await start_server(tmp_path, host.socket_path)
    with client_xvfb(1400, 900) as xvfb:
        async with harness_for(server, port, xvfb, tmp_path) as harness:
            yield harness


def _client_window(env: dict[str, str], width: int, height: int):
    d = x_display(env)
    for child in d.screen().root.query_tree().children:
        attrs = child.get_attributes()
        geometry = child.get_geometry()
        if attrs.map_state == X.IsViewable and (geometry.width, geometry.height) == (width, height):
            return d, child
    d.close()
    return None, None


async def _wait_client_window(rdp: Harness, width: int, height: int, timeout: float = 10.0):
    """The client's top-level window once it is mapped at ``width`` x ``height`` (with its
    display connection, to close), or (None, None) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d, window = await asyncio.to_thread(_client_window, rdp.xvfb.env(), width, height)
        if window is not None:
            return d, window
        await asyncio.sleep(0.1)
    return None, None


async def _wait_session_size(host, size: tuple[int, int], timeout: float = 20.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    got = (0, 0)
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(request, host, "status")
        got = (status.get("width"), status.get("height"))
        if got == size:
            return got
        await asyncio.sleep(0.2)
    return got


async def _wait_window_shows_session(rdp: Harness, host, window, size: tuple[int, int],
                                     timeout: float = 20.0) -> float:
    """The client's window (wherever xfreerdp put it on its display) shows the session."""
    w, h = size
    deadline = time.monotonic() + timeout
    diff = 255.0
    while time.monotonic() < deadline:
        session = await asyncio.to_thread(screenshot, host)
        at = await asyncio.to_thread(window.get_geometry)
        shown = (await asyncio.to_thread(rdp.client_rgb))[at.y:at.y + h, at.x:at.x + w]
        if session.shape[:2] == (h, w) == shown.shape[:2]:
            diff = float(np.abs(session.astype(np.int16) - shown.astype(np.int16)).mean())
            if diff <= 1.0:
                return diff
        await asyncio.sleep(0.3)
    raise AssertionError(f"the client's window differs from the {w}x{h} session by {diff:.2f} on average")


@pytest.mark.parametrize("gfx", [False, True], ids=["bitmaps", "gfx-avc420"])
async def test_resizing_the_client_window_resizes_the_session(rdp: Harness, host, gfx: bool) -> None:
    """With bitmap updates (the server's graphics pipeline off: FreeRDP 2.11 turns it on by
    itself with ``/dynamic-resolution``), and with the graphics pipeline, where a resize also
    replaces the surface and restarts the H.264 stream with a keyframe."""
    rdp.server.settings.gfx = gfx
    await rdp.client("/size:800x600", "/dynamic-resolution", *(["/gfx:avc420"] if gfx else []), fullscreen=False)
    await rdp.wait_first_frame()
    d, window = await _wait_client_window(rdp, 800, 600)
    assert window is not None, "xfreerdp's window was not found on its display"
    try:
        await _check_resizes(rdp, host, gfx, d, window)
    finally:
        d.close()


async def _check_resizes(rdp: Harness, host, gfx: bool, d, window) -> None:
    await _wait_window_shows_session(rdp, host, window, (800, 600))
    (connection,) = rdp.server.connections
    await _wait_until(lambda: connection.output.gfx.mode is not None or not gfx)
    assert connection.output.gfx.mode == ("avc420" if gfx else None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not connection.conn.display_control_open:
        await asyncio.sleep(0.1)
    assert connection.conn.display_control_open, "xfreerdp did not open the Display Control channel"
    for size in ((1024, 700), (640, 480)):
        window.configure(width=size[0], height=size[1])
        d.sync()
        assert await _wait_session_size(host, size) == size
        diff = await _wait_window_shows_session(rdp, host, window, size)
        assert (connection.conn.width, connection.conn.height) == size
        print(f"{size[0]}x{size[1]}: mean pixel difference {diff:.3f}")

    # Larger than the session may be (1920x1200): held to the maximum...
    window.configure(width=2100, height=1300)
    d.sync()
    assert await _wait_session_size(host, (1920, 1200)) == (1920, 1200)
    # ...and asking again past it changes nothing, but the client still gets an answer (a
    # client that waits for one is not left waiting), so the next resize works. With the
    # graphics pipeline the answer is a new surface, never a reactivation ([MS-RDPEDISP] 1.3).
    answers = (lambda: connection.output.gfx.resets) if gfx else (lambda: connection.output.activations)
    await _wait_until(lambda: answers() >= 4 and connection.conn.active)
    before = answers()
    window.configure(width=2200, height=1400)
    d.sync()
    await _wait_until(lambda: answers() > before and connection.conn.active)
    assert (connection.conn.width, connection.conn.height) == (1920, 1200)
    window.configure(width=800, height=600)
    d.sync()
    assert await _wait_session_size(host, (800, 600)) == (800, 600)
    await _wait_window_shows_session(rdp, host, window, (800, 600))
    if gfx:
        assert connection.output.activations == 1, "a resize under the graphics pipeline reactivated the client"


async def _wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_a_resize_during_a_reactivation_is_followed(rdp: Harness, host) -> None:
    """The session is resized twice in a row from outside the client (the console, another
    client): the second ``resized`` push reaches a client still reactivating for the first, and
    the client must still end up at the session's final size."""
    rdp.server.settings.gfx = False  # reactivation is the bitmap-update path's resize
    proc = await rdp.client("/size:800x600", fullscreen=False)
    await rdp.wait_first_frame()
    (connection,) = rdp.server.connections
    await _wait_until(lambda: connection.conn.active)
    # The client is held (SIGSTOP) so that its reactivation for the first size cannot finish
    # before the second push arrives.
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        await asyncio.to_thread(request, host, "resize", width=1024, height=768)
        await _wait_until(lambda: not connection.conn.active, timeout=5)  # reactivating for 1024x768
        await asyncio.to_thread(request, host, "resize", width=900, height=700)
        await asyncio.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    await _wait_until(lambda: connection.conn.active and (connection.conn.width, connection.conn.height) == (900, 700))
    d, window = await _wait_client_window(rdp, 900, 700)
    assert window is not None, "xfreerdp's window did not take the session's final size"
    try:
        await _wait_window_shows_session(rdp, host, window, (900, 700))
    finally:
        d.close()
