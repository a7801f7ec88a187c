"""End to end with aardwolf (PyPI), an asyncio RDP client with no FreeRDP code in it, against
the asyncio driver and a real session host (openbox + xterm on Xvfb).

aardwolf writes the MCS maxima as negative INTEGERs (-1, -1001), counts six bytes too many in
its share data PDUs' totalLength, never joins its user channel, and waits for the server's
Synchronize before sending its own. It is also a client that sends TS_UNICODE_KEYBOARD_EVENT:
characters outside the keyboard layout, an astral one as a surrogate pair, reach a program in
the session. It draws 15/16 bpp interleaved bitmaps (its planar decoder wants an alpha plane
the server does not send), so it runs at 16 bpp; ``aardwolf_client.py`` drives it from the
clients' venv.

aardwolf is also the NLA client that asks for HYBRID_EX and reads the Early User Authorization
Result PDU (xfreerdp 2.11's ``/sec:ext`` cannot go on once HYBRID_EX is granted): with its own
offer it logs in through CredSSP and NTLMv2 under HYBRID_EX.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from PIL import Image

from rdpfront.x224 import SecurityProtocol
from tests.compositor.helpers import screenshot
from tests.rdpfront.xfreerdp import (
    CLIENT_SIZE,
    CLIENTS_PYTHON,
    AardwolfClient,
    Harness,
    harness_for,
    start_server,
    typed_into_session,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLIENTS_PYTHON.exists(), reason="the RDP clients' venv is missing (make clients-venv)"),
]

# Scan codes (set 1) of what the tests type as keys rather than characters.
KEYS = {"h": 0x23, "i": 0x17, "\n": 0x1C}


async def connected(rdp: Harness, **kwargs) -> AardwolfClient:
    client = await rdp.aardwolf(**kwargs)
    answer = await client.connected()
    assert answer.get("connected") is True, answer
    return client


async def wait_drawn_like_the_session(client: AardwolfClient, host, tmp_path, tolerance: float) -> float:
    """Poll aardwolf's desktop until it matches the session's screen; the mean difference."""
    path = tmp_path / "aardwolf.png"
    deadline = time.monotonic() + 20
    diff = 255.0
    while time.monotonic() < deadline:
        if (await client.command("screenshot", path=str(path))).get("ok"):
            drawn = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
            session = (await asyncio.to_thread(screenshot, host)).astype(np.int16)
            diff = float(np.abs(drawn - session).mean())
            if diff <= tolerance:
                return diff
        await asyncio.sleep(0.3)
    raise AssertionError(f"aardwolf's desktop differs from the session's by {diff:.2f} on average")


async def test_aardwolf_logs_in_and_shows_the_session(rdp: Harness, host, tmp_path) -> None:
    client = await connected(rdp)
    diff = await wait_drawn_like_the_session(client, host, tmp_path, tolerance=1.5)
    assert rdp.attached == [("alice", *CLIENT_SIZE)]
    (connection,) = rdp.server.connections
    assert connection.conn.bpp == 16
    print(f"aardwolf at 16 bpp: mean pixel difference {diff:.3f}")


async def test_aardwolf_wrong_password_is_rejected(rdp: Harness) -> None:
    client = await rdp.aardwolf(password="wrong")
    answer = await client.connected()
    assert "error" in answer, answer
    assert rdp.attached == []


async def test_aardwolf_types_keys_and_unicode_characters(rdp: Harness, host) -> None:
    """Scan codes for "hi", then TS_UNICODE_KEYBOARD_EVENTs for characters no key of the US
    layout has: € and ж (one code unit each) and 😀 (U+1F600, the pair D83D DE00), then Return
    as a key: the session's program reads them as typed."""
    client = await connected(rdp)
    await rdp.wait_first_frame()

    async def type_text() -> None:
        await client.command("scancodes", codes=[[KEYS[c], False] for c in "hi"])
        await client.command("unicode", text="€ж😀")
        await client.command("scancodes", codes=[[KEYS["\n"], False]])

    assert await typed_into_session(host, "typed-aardwolf.txt", type_text) == "hi€ж😀\n"


async def test_aardwolf_logs_in_through_nla_under_hybrid_ex(host, client_display, tmp_path) -> None:
    """aardwolf's own offer (HYBRID_EX, HYBRID, TLS, RDP) against a server offering NLA: HYBRID_EX
    is granted, CredSSP with NTLMv2 logs alice in, the Early User Authorization Result says
    AUTHZ_SUCCESS, and the desktop is drawn and typed into."""
    server, port = await start_server(tmp_path, host.socket_path, nla="offer")
    async with harness_for(server, port, client_display, tmp_path) as rdp:
        client = await rdp.aardwolf(security="nla")
        answer = await client.connected()
        assert answer.get("connected") is True, answer
        assert answer["protocol"] == SecurityProtocol.HYBRID_EX
        assert answer["authz_result"] == 0  # AUTHZ_SUCCESS
        await wait_drawn_like_the_session(client, host, tmp_path, tolerance=1.5)
        (connection,) = rdp.server.connections
        assert connection.conn.acceptor.selected_protocol == SecurityProtocol.HYBRID_EX
        assert connection.authenticated and connection.login.username == "alice"
        assert "nla" in connection.milestones

        async def type_text() -> None:
            await client.command("scancodes", codes=[[KEYS[c], False] for c in "hi"])
            await client.command("unicode", text="ж")
            await client.command("scancodes", codes=[[KEYS["\n"], False]])

        assert await typed_into_session(host, "typed-aardwolf-nla.txt", type_text) == "hiж\n"


async def test_aardwolf_with_a_wrong_password_is_refused_by_nla(host, client_display, tmp_path, caplog) -> None:
    server, port = await start_server(tmp_path, host.socket_path, nla="require")
    async with harness_for(server, port, client_display, tmp_path) as rdp:
        client = await rdp.aardwolf(password="wrong", security="nla")
        answer = await client.connected()
        assert "error" in answer, answer
        assert not any(c.authenticated for c in rdp.server.connections)
    assert "NLA login refused: FAILED" in caplog.text
