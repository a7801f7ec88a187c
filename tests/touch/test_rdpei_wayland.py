"""A scripted MS-RDPEI client (rdpfront's own PDUs over TCP + TLS, the whole connection
sequence) touches a Wayland client in a real desktop: its contacts arrive as wl_touch."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time

import pytest

from rdpfront import dvc, rdpei
from rdpfront.channels.registry import INPUT_CHANNEL_ID
from rdpfront.server import RdpServer, ServerSettings
from tests.compositor.helpers import start_host, stop_host
from tests.conftest import wait_until
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import PASSWORD, close_server
from tests.touch.helpers import Wev, window_origin

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("wev") is None, reason="wev is not installed")]

F = rdpei.ContactFlags
DOWN = int(F.DOWN | F.INRANGE | F.INCONTACT)
MOVE = int(F.UPDATE | F.INRANGE | F.INCONTACT)
UP = int(F.UP)


@pytest.fixture(scope="module")
def host():
    h = start_host(800, 600, wayland=True, startup="exec openbox")
    yield h
    stop_host(h)


def pump_until(client: SocketClient, predicate, timeout: float = 15.0):
    """PDUs until one satisfies ``predicate`` (which is returned)."""
    deadline = time.monotonic() + timeout
    for pdu in client.received:
        if predicate(pdu):
            return pdu
    while time.monotonic() < deadline:
        try:
            new = client.pump()
        except AssertionError:  # a quiet moment
            continue
        for pdu in new:
            if predicate(pdu):
                return pdu
    raise AssertionError("the server never sent the PDU waited for")


def send_rdpei(client: SocketClient, pdu) -> None:
    for piece in dvc.split_message(INPUT_CHANNEL_ID, rdpei.encode_rdpei(pdu)):
        client.send_dvc(piece)


def contact(cid: int, x: int, y: int, flags: int) -> rdpei.TouchFrame:
    return rdpei.TouchFrame((rdpei.Contact(cid, x, y, flags),), 0)


async def test_rdpei_touch_arrives_as_wl_touch(host, tmp_path):
    wev = Wev(host)
    async def authenticate(username: str, password: str, address: str) -> bool:
        return username == "alice" and password == PASSWORD

    async def attach(username: str, width: int, height: int):
        return host.socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert", gfx=False),
                       authenticate=authenticate, attach=attach)
    port = await server.start()
    client = await asyncio.to_thread(SocketClient, port, timeout=3)
    try:
        await asyncio.to_thread(client.connect, username="alice", password=PASSWORD,
                                channels=("cliprdr", "drdynvc"))
        await asyncio.to_thread(pump_until, client, lambda p: isinstance(p, dvc.CapsRequest))
        client.send_dvc(dvc.CapsResponse(3))
        await asyncio.to_thread(pump_until, client, lambda p: isinstance(p, dvc.CreateRequest)
                                and p.name == rdpei.CHANNEL_NAME)
        client.send_dvc(dvc.CreateResponse(INPUT_CHANNEL_ID, 0))
        ready = await asyncio.to_thread(pump_until, client, lambda p: isinstance(p, dvc.Data)
                                        and p.channel_id == INPUT_CHANNEL_ID)
        assert rdpei.decode_rdpei(ready.data, from_server=True) == rdpei.ScReady(rdpei.PROTOCOL_V200)
        send_rdpei(client, rdpei.CsReady(rdpei.CS_READY_FLAGS_SHOW_TOUCH_VISUALS, rdpei.PROTOCOL_V200, 10))
        # As real clients do: without it, a write after an unanswered one waits for the delayed ACK.
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        x, y, w, h = wait_until(lambda: window_origin(host, "wev"), 10, message="wev's window")
        cx, cy = x + w // 2, y + h // 2
        sent_ms = int(time.monotonic() * 1000) & 0xFFFFFFFF  # the compositor's wl_touch time clock
        send_rdpei(client, rdpei.TouchEvent((contact(77, cx, cy, DOWN),)))
        send_rdpei(client, rdpei.TouchEvent((contact(77, cx + 4, cy + 2, MOVE), contact(77, cx + 4, cy + 2, UP))))
        await asyncio.to_thread(wait_until, lambda: [e for e, _ in wev.events()].count("frame") >= 3, 10, 0.05,
                                "wl_touch events in wev")
        got = wev.events()
        assert [e for e, _ in got] == ["down", "frame", "motion", "frame", "up", "frame"], got
        down = dict(got)["down"]
        assert "id: 0" in down and f"x, y: {w // 2:.6f}, {h // 2:.6f}" in down, down
        latency = int(down.split("time: ")[1].split(";")[0]) - sent_ms
        print(f"TOUCH_EVENT sent to wl_touch.down: {latency} ms")
        assert 0 <= latency < 1000
    finally:
        client.close()
        await close_server(server)
        wev.stop()
