"""End to end with Debian's rdesktop 1.9, an RDP client with no FreeRDP code in it, on its own
Xvfb, against the asyncio driver and a real session host (openbox + xterm on Xvfb).

rdesktop writes the MCS Connect Initial's INTEGERs in two octets each (65535 as ``02 02 ff ff``,
which strict BER reads as -1), asks for five static channels, sends no clipboard capabilities,
and sends input slow-path. It runs full screen on an Xvfb of the session's size, so its
framebuffer and the session's screen compare pixel for pixel.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from tests.rdpfront.xfreerdp import CLIENT_SIZE, Harness, typed_into_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("rdesktop") is None, reason="rdesktop is not installed (make apt-test)"),
]


@pytest.mark.parametrize(("depth", "tolerance"), [("16", 1.5), ("24", 1.0), ("32", 1.0)])
async def test_rdesktop_logs_in_and_shows_the_session(rdp: Harness, host, depth: str, tolerance: float) -> None:
    await rdp.rdesktop("-a", depth)
    await rdp.wait_first_frame()
    diff = await rdp.wait_pixels_match(host, tolerance=tolerance)
    assert rdp.attached == [("alice", *CLIENT_SIZE)]
    (connection,) = rdp.server.connections
    assert connection.conn.bpp == int(depth)
    print(f"rdesktop -a {depth}: mean pixel difference {diff:.3f}")


async def test_rdesktop_typing_reaches_the_session(rdp: Harness, host) -> None:
    await rdp.rdesktop()
    await rdp.wait_first_frame()

    async def type_text() -> None:
        await rdp.xdotool("mousemove", "300", "300")
        await rdp.xdotool("type", "--delay", "40", "hello rdesktop")
        await rdp.xdotool("key", "Return")

    assert await typed_into_session(host, "typed-rdesktop.txt", type_text) == "hello rdesktop\n"


async def test_rdesktop_wrong_password_is_rejected(rdp: Harness) -> None:
    proc = await rdp.rdesktop(password="wrong")
    await asyncio.wait_for(proc.wait(), 30)
    output = await rdp.finished_output(proc)
    assert proc.returncode != 0, output
    assert rdp.attached == []
