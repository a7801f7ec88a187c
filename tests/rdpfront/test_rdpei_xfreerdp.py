"""Debian's xfreerdp with ``/multitouch`` against the input channel (MS-RDPEI).

On an Xvfb, FreeRDP's X11 client finds no XInput2 touch device (Xvfb has none), so it never
sends a contact; what can be checked with the real client is that it opens the channel,
understands SC_READY and answers CS_READY. Contacts are sent by the scripted client of
``tests/touch/test_rdpei_wayland.py``.
"""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from rdpfront import rdpei
from tests.rdpfront.xfreerdp import Harness

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]


async def test_xfreerdp_multitouch_opens_the_input_channel(rdp: Harness) -> None:
    await rdp.client("/multitouch")
    await rdp.wait_first_frame()
    deadline = time.monotonic() + 20
    channel = None
    while time.monotonic() < deadline:
        connections = list(rdp.server.connections)
        if connections:
            session = connections[0].conn.session
            channel = session.channel(rdpei.CHANNEL_NAME) if session is not None else None
            if channel is not None and channel.ready is not None:
                break
        await asyncio.sleep(0.1)
    assert channel is not None and channel.open, "xfreerdp did not open the input channel"
    assert channel.ready is not None, "xfreerdp sent no CS_READY"
    print(f"xfreerdp CS_READY: {channel.ready}")
    assert channel.ready.protocol_version in (rdpei.PROTOCOL_V10, rdpei.PROTOCOL_V101, rdpei.PROTOCOL_V200,
                                              rdpei.PROTOCOL_V300)
    assert channel.ready.max_touch_contacts > 0
