"""The RDP server tells the connection history when a client is on a desktop and when it has
left (the console's hooks: webconsole/desktops/rdp.py), with real xfreerdp."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from rdpfront.server import RdpServer, ServerSettings
from tests.rdpfront.xfreerdp import PASSWORD, harness_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]


async def test_history_sees_the_connection_open_and_close(host, client_display, tmp_path) -> None:
    events: list[tuple] = []

    async def authenticate(username: str, password: str, address: str) -> bool:
        return password == PASSWORD

    async def attach(username: str, width: int, height: int) -> Path:
        return host.socket_path

    async def opened(username: str, path: Path, address: str) -> object:
        events.append(("opened", username, path, address))
        return "token-1"

    async def closed(token: object) -> None:
        events.append(("closed", token))

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert"), authenticate=authenticate,
                       attach=attach, history_opened=opened, history_closed=closed)
    port = await server.start()
    async with harness_for(server, port, client_display, tmp_path) as rdp:
        await rdp.client()
        await rdp.wait_first_frame()
        assert events == [("opened", "alice", Path(host.socket_path), "127.0.0.1")]
        await rdp.stop_clients()
        for _ in range(100):
            if len(events) == 2:
                break
            await asyncio.sleep(0.05)
    assert events[1:] == [("closed", "token-1")], "closed once, with the token opened gave"
