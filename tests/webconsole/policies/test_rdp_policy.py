"""The RDP server under a user's policy, with Debian's real xfreerdp on its own Xvfb, the real
server (rdpfront) asking the console through its door (webconsole/desktops/rdp.py: the real
login check and policy lookup against the database) and a real session host: a user without
RDP access is refused with ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES, which the client prints;
the clipboard goes only the ways the policy allows."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from rdpfront.policy import ConnectionPolicy, DriveAccess
from rdpfront.server import RdpServer, ServerSettings
from tests.compositor.helpers import clipboard_text, session_env, start_host, stop_host
from tests.rdpfront.xfreerdp import CLIENT_SIZE, client_xvfb, harness_for, run
from tests.webconsole.policies.conftest import override
from webconsole.desktops import rdp
from webconsole.policies.enforce import rdp_connection_policy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("xfreerdp") is None or shutil.which("xclip") is None,
                       reason="xfreerdp (freerdp2-x11) or xclip is not installed"),
]
PASSWORD = "pw-alice-123"  # the fixture's


@pytest.fixture(scope="module")
def host():
    launched = start_host(*CLIENT_SIZE)
    try:
        yield launched
    finally:
        stop_host(launched)


@pytest.fixture(scope="module")
def client_display():
    with client_xvfb(*CLIENT_SIZE) as xvfb:
        yield xvfb


@pytest.fixture
async def rdp_server(host, client_display, tmp_path, alice):
    attached: list[str] = []

    async def attach(username: str, width: int, height: int) -> Path:
        attached.append(username)
        return host.socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert"), authenticate=rdp.authenticate,
                       attach=attach, connection_policy=rdp.connection_policy, account_stamp=rdp.account_stamp)
    port = await server.start()
    async with harness_for(server, port, client_display, tmp_path) as harness:
        harness.attached = attached
        yield harness


async def test_rdp_access_disabled_is_refused_with_a_reason_the_client_shows(rdp_server, alice):
    await sync_to_async(override)(alice, rdp_access=False)
    proc = await rdp_server.client(user="alice", password=PASSWORD)
    await asyncio.wait_for(proc.wait(), 30)
    output = await rdp_server.finished_output(proc)
    assert proc.returncode != 0
    assert "ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES" in output, output[-2000:]
    assert rdp_server.attached == []  # no desktop was looked for


async def test_rdp_access_taken_away_ends_an_open_connection(rdp_server, alice):
    proc = await rdp_server.client(user="alice", password=PASSWORD)
    await rdp_server.wait_first_frame()
    await sync_to_async(override)(alice, rdp_access=False)
    await asyncio.wait_for(proc.wait(), 20)  # the server rechecks every 5 s
    output = await rdp_server.finished_output(proc)
    assert "ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES" in output, output[-2000:]


async def _own_clipboard(env: dict[str, str], text: str) -> asyncio.subprocess.Process:
    owner = await asyncio.create_subprocess_exec(
        "xclip", "-quiet", "-selection", "clipboard", "-i", env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    owner.stdin.write(text.encode())
    owner.stdin.close()
    return owner


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
    await proc.wait()


async def _client_clipboard(rdp_server) -> str:
    try:
        return await run("xclip", "-selection", "clipboard", "-o", env=rdp_server.env(), timeout=5)
    except TimeoutError:
        return ""


@pytest.mark.parametrize("clipboard", ["to_desktop", "from_desktop"])
async def test_clipboard_direction_off(rdp_server, host, alice, clipboard):
    """One direction allowed, the other off: the allowed one carries text (so the client and
    the session are working), the other carries nothing in a time the allowed one takes."""
    await sync_to_async(override)(alice, clipboard=clipboard)
    await rdp_server.client(user="alice", password=PASSWORD)
    await rdp_server.wait_first_frame()
    await asyncio.sleep(1.0)
    (connection,) = rdp_server.server.connections
    assert connection.policy.clipboard_to_desktop == (clipboard == "to_desktop")

    # session -> client
    from_session = f"from the session {clipboard} ✓"
    owner = await _own_clipboard(session_env(host), from_session)
    try:
        deadline = time.monotonic() + (12 if clipboard == "from_desktop" else 5)
        got = ""
        while time.monotonic() < deadline and got != from_session:
            got = await _client_clipboard(rdp_server)
            await asyncio.sleep(0.3)
    finally:
        await _end(owner)
    assert (got == from_session) == (clipboard == "from_desktop"), got
    await asyncio.sleep(1.0)

    # client -> session (copied again if FreeRDP announced before xclip served, as in
    # tests/rdpfront/test_xfreerdp.py)
    from_client = f"from the client {clipboard} ✓"
    got_text = None
    for _attempt in range(3 if clipboard == "to_desktop" else 1):
        owner = await _own_clipboard(rdp_server.env(), from_client)
        try:
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                got_text = await asyncio.to_thread(clipboard_text, host)
                if got_text == from_client:
                    break
                await asyncio.sleep(0.3)
        finally:
            await _end(owner)
        if got_text == from_client:
            break
    assert (got_text == from_client) == (clipboard == "to_desktop"), got_text


def test_the_console_door_maps_the_policy(alice, settings):
    settings.WRD_FILE_TRANSFER = ("upload", "download")
    assert rdp_connection_policy(username="alice") == ConnectionPolicy()
    override(alice, clipboard="off", file_download=False)
    assert rdp_connection_policy(username="alice") == ConnectionPolicy(
        clipboard_to_desktop=False, clipboard_from_desktop=False, drives=DriveAccess.READ)
    override(alice, file_upload=False, file_download=True, rdp_access=False)
    policy = rdp_connection_policy(username="alice")
    assert policy.drives == DriveAccess.OFF and not policy.rdp and "turned off" in policy.refusal
    assert not rdp_connection_policy(username="nobody-here").rdp


def test_the_rdpserver_command_asks_the_policy(alice, tmp_path):
    """``manage.py rdpserver`` (the product's server process, on this test database) refuses a
    user whose RDP access is off, before any desktop is looked for."""
    import subprocess

    from tests.conftest import end_process
    from tests.webconsole.desktops.test_rdp_login import rdpserver_process, xfreerdp
    from webconsole.desktops.models import DesktopSession

    override(alice, rdp_access=False)
    with client_xvfb(*CLIENT_SIZE) as display, rdpserver_process(tmp_path) as port:
        client = xfreerdp(display, port, "alice", PASSWORD, tmp_path)
        try:
            output, _ = client.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the refused login was not ended")
        finally:
            end_process(client)
    assert client.returncode != 0
    assert b"ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES" in output
    assert "refused by policy: RDP access is turned off" in (tmp_path / "rdpserver.log").read_text()
    assert not DesktopSession.objects.exists()
