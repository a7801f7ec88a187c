"""The asyncio driver under bad and slow peers, and with several users at once, over real
sockets: a real ``RdpServer`` on 127.0.0.1, real session hosts (openbox + xterm on Xvfb), Debian's
real xfreerdp 2.11 on its own Xvfb as the well-behaved client, and raw sockets or
``helpers.SocketClient`` (rdpfront's own PDUs over TCP + TLS) as the misbehaving ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from compositor.display import Xvfb
from rdpfront import x224
from rdpfront.cursor import encode
from rdpfront.fastpath import UpdateCode
from rdpfront.input import PointerEvent, PointerFlags
from rdpfront.server import WRITE_HIGH_WATER, RdpConnection, RdpServer, ServerSettings
from tests.compositor.helpers import request, screenshot, session_env, start_host, stop_host
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import PASSWORD, Harness, client_xvfb, close_server, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

WIDTH, HEIGHT = 800, 600
HANDSHAKE_TIMEOUT = 3.0
WRITE_TIMEOUT = 4.0
USERS = ("alice", "bob")


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict]:
    """One session per user, each with its own background colour: a client's screen matching
    a session then says something (a black client display would match a session still black)."""
    launched = {}
    try:
        for user in USERS:
            launched[user] = start_host(WIDTH, HEIGHT)
        for user, colour in zip(USERS, ("#6a3d9a", "#b15928"), strict=True):
            asyncio.run(_set_background(launched[user], colour))
        yield launched
    finally:
        for host in launched.values():
            stop_host(host)


@pytest.fixture(scope="module")
def displays() -> Iterator[tuple[Xvfb, Xvfb]]:
    with client_xvfb(WIDTH, HEIGHT) as first, client_xvfb(WIDTH, HEIGHT) as second:
        yield first, second


class Rig:
    """The server and one xfreerdp harness per client display."""

    def __init__(self, server: RdpServer, port: int, clients: tuple[Harness, Harness]) -> None:
        self.server, self.port, self.clients = server, port, clients

    async def connect(self, harness: Harness, user: str, host, *args: str) -> RdpConnection:
        """Start xfreerdp as ``user``; return its server connection once the client shows the
        session (a new connection of that user that has sent a frame, and matching pixels)."""
        before = set(self.server.connections)
        await harness.client(*args, user=user)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            new = [c for c in self.server.connections - before if c.login.username == user and c.first_frame_at]
            if new:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"no frame was sent to {user}'s new client")
        await harness.wait_pixels_match(host, tolerance=1.0)
        return new[0]

    def connection(self, local_port: int) -> RdpConnection | None:
        for c in self.server.connections:
            if c.name == f"rdp[127.0.0.1:{local_port}]":
                return c
        return None


@pytest.fixture
async def rig(hosts, displays, tmp_path) -> AsyncIterator[Rig]:
    async def authenticate(username: str, password: str, address: str) -> bool:
        return username in hosts and password == PASSWORD

    async def attach(username: str, width: int, height: int) -> Path:
        return hosts[username].socket_path

    settings = ServerSettings(port=0, cert_dir=tmp_path / "cert", handshake_timeout=HANDSHAKE_TIMEOUT,
                              write_timeout=WRITE_TIMEOUT)
    server = RdpServer(settings, authenticate=authenticate, attach=attach)
    port = await server.start()
    clients = []
    for i, xvfb in enumerate(displays):
        home = tmp_path / f"home{i}"
        home.mkdir()
        clients.append(Harness(server, port, xvfb, home))
    try:
        yield Rig(server, port, (clients[0], clients[1]))
    finally:
        for harness in clients:
            await harness.stop_clients()
        await close_server(server)


async def _exec(host, *argv: str) -> int:
    return int((await asyncio.to_thread(request, host, "exec", argv=list(argv))).get("pid"))


async def _end_pid(pid: int) -> None:
    """End a program we started in a session (through the host's exec) by its pid."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)


async def _set_background(host, colour: str) -> np.ndarray:
    """Paint the session's root window and wait until the screen shows it (top left corner)."""
    await _exec(host, "xsetroot", "-solid", colour)
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shot = await asyncio.to_thread(screenshot, host)
        if shot[0, 0].tolist() == rgb:
            return shot
        await asyncio.sleep(0.1)
    raise AssertionError(f"the session's screen did not change after xsetroot -solid {colour}")


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float) -> float:
    """Seconds until the server closes this connection (EOF or reset)."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except (ConnectionError, ssl.SSLError):
        pass
    return time.monotonic() - start


def _closing_reason(caplog, local_port: int) -> str:
    prefix = f"rdp[127.0.0.1:{local_port}] closing: "
    reasons = [r.getMessage()[len(prefix):] for r in caplog.records if r.getMessage().startswith(prefix)]
    assert reasons, f"no 'closing:' log line for connection {local_port}"
    return reasons[0]


def _connection_request() -> bytes:
    return encode(x224.ConnectionRequest(b"Cookie: mstshash=mallory",
                                         x224.NegotiationRequest(x224.SecurityProtocol.SSL)))


# ---- 1. bad input at the socket level -------------------------------------------------------

async def test_bad_connections_are_closed_and_others_keep_working(rig: Rig, hosts, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rdpfront.server")
    alice = hosts["alice"]
    first, second = rig.clients
    good = await rig.connect(first, "alice", alice)

    request_bytes = _connection_request()
    # (what is sent, whether the client then half-closes, the reason the server must log)
    cases = [
        (b"GET / HTTP/1.1\r\nHost: rdp\r\n\r\n", False, "peer protocol error: frame starts with 0x47"),
        (request_bytes[: len(request_bytes) // 2], True, "peer closed the connection in the middle of a frame"),
        (request_bytes[: len(request_bytes) // 2], False,
         f"peer protocol error: connection sequence not done within {HANDSHAKE_TIMEOUT:g} s"),
        (b"\x03\x00\x00\x03", False, "peer protocol error: TPKT length 3 too short"),
        # A TPKT claiming the largest length, then that many bytes that are no Connection Request.
        (b"\x03\x00\xff\xff" + bytes(0xFFFF - 4), False, "peer protocol error: X.224 length indicator 0 but"),
        # A Connection Request whose TPKT length runs past its X.224 TPDU.
        (b"\x03\x00\xff\xff" + request_bytes[4:] + bytes(0xFFFF - len(request_bytes)), False,
         f"peer protocol error: X.224 length indicator {request_bytes[4]} but 65530 bytes follow"),
        # A fast-path frame of the largest length before any connection sequence.
        (b"\x00\xff\xff" + bytes(0x7FFF - 3), False, "peer protocol error: fast-path input in state"),
    ]
    for data, half_close, reason in cases:
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(data)
        if half_close:
            writer.write_eof()
        elapsed = await _closed_by_server(reader, HANDSHAKE_TIMEOUT + 5)
        writer.close()
        assert elapsed < HANDSHAKE_TIMEOUT + 4, f"connection {local_port} was not closed ({reason})"
        logged = _closing_reason(caplog, local_port)
        assert reason in logged
        print(f"closed after {elapsed:.2f} s: {logged}")

    # Garbage inside TLS, after a proper X.224 exchange.
    client = await asyncio.to_thread(SocketClient, rig.port)
    client.send(request_bytes)
    await asyncio.to_thread(client.pump)
    await asyncio.to_thread(client._security_upgrade)
    client.send(b"\x03\x00\x00\x10" + b"\xff" * 12)
    logged = await _socket_client_closed(client, caplog)
    assert "peer protocol error: expected an X.224 Data TPDU" in logged
    print(f"inside TLS: {logged}")

    # An active connection (full sequence over TLS, logged in) that then sends a malformed PDU:
    # an MCS Send Data Request whose PER length runs past the TPKT.
    client = await asyncio.to_thread(SocketClient, rig.port)
    await asyncio.to_thread(client.connect, username="alice", password=PASSWORD)
    connection = rig.connection(client.local_port)
    assert connection is not None and connection.conn.active
    client.send(x224.data_frame(b"\x64\x00\x07\x03\xeb\x70\x8f\xff" + b"\x00" * 8))
    logged = await _socket_client_closed(client, caplog)
    assert "peer protocol error: truncated MCS user data" in logged
    print(f"active: {logged}")

    # (b) the xfreerdp client connected all along still follows its session.
    assert good in rig.server.connections and first.procs[0].returncode is None
    await _set_background(alice, "#2a7f62")
    diff = await first.wait_pixels_match(alice, tolerance=1.0)
    # (c) and a new xfreerdp connection is served.
    await rig.connect(second, "alice", alice)
    diff2 = await second.wait_pixels_match(alice, tolerance=1.0)
    print(f"{len(cases) + 2} bad connections closed; mean pixel difference {diff:.3f} (old client), "
          f"{diff2:.3f} (new client)")


async def _socket_client_closed(client: SocketClient, caplog) -> str:
    def wait_closed() -> None:
        client.sock.settimeout(HANDSHAKE_TIMEOUT + 5)
        try:
            while client.sock.recv(65536):
                pass
        except (ConnectionError, ssl.SSLError):
            pass

    await asyncio.to_thread(wait_closed)
    client.close()
    for _ in range(50):  # the log line is written as the server's task ends
        if any(f"rdp[127.0.0.1:{client.local_port}] closing: " in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    return _closing_reason(caplog, client.local_port)


# ---- 2. a stalled client cannot exhaust memory ----------------------------------------------

def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_stalled_client_is_bounded_then_dropped(rig: Rig, hosts, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rdpfront.server")
    alice = hosts["alice"]
    first, _ = rig.clients
    good = await rig.connect(first, "alice", alice)

    # Logs in, then never reads again; its receive window is small so the stall shows at once.
    stalled_client = await asyncio.to_thread(SocketClient, rig.port, receive_buffer=4096)
    await asyncio.to_thread(stalled_client.connect, username="alice", password=PASSWORD)
    stalled = rig.connection(stalled_client.local_port)
    assert stalled is not None and stalled.conn.active

    rss_before = _rss()
    good_before = good.bytes_written
    # Random text redrawn ten times a second over most of the screen: steady, known churn.
    churn = await _exec(alice, "xterm", "-geometry", "130x45+0+0", "-e", "sh", "-c",
                        "while :; do head -c 4000 /dev/urandom | base64 -w 128; sleep 0.1; done")
    max_buffered = 0
    written_at_stall = None
    stalled_since = None
    dropped_at = None
    start = time.monotonic()
    try:
        # The screen changes continuously; sample the stalled connection's buffer until the
        # server drops it.
        while time.monotonic() - start < 30:
            if stalled not in rig.server.connections:
                dropped_at = time.monotonic()
                break
            max_buffered = max(max_buffered, stalled.write_buffer_size())
            if written_at_stall != stalled.bytes_written:
                written_at_stall, stalled_since = stalled.bytes_written, time.monotonic()
            await asyncio.sleep(0.05)
        good_during = good.bytes_written - good_before
        rss_growth = _rss() - rss_before
    finally:
        await _end_pid(churn)
        stalled_client.close()

    assert dropped_at is not None, "the stalled connection was never dropped"
    assert stalled_since is not None
    # It was dropped for not reading, WRITE_TIMEOUT after the server last could write to it.
    assert "client read nothing for" in _closing_reason(caplog, stalled_client.local_port)
    assert WRITE_TIMEOUT - 0.5 <= dropped_at - stalled_since <= WRITE_TIMEOUT + 2
    # Bounded: what waits in the server for this client is at most the high-water mark plus one
    # batch of output (a whole screen, uncompressed, at worst), never a queue of frames.
    bound = WRITE_HIGH_WATER + WIDTH * HEIGHT * 4 + 65536
    assert 0 < max_buffered <= bound
    # The other client kept receiving output all along, and still follows the session.
    assert good_during > 1 << 20
    assert good in rig.server.connections
    diff = await first.wait_pixels_match(alice, tolerance=1.0)
    print(f"stalled connection: {written_at_stall} bytes written, at most {max_buffered} buffered "
          f"(bound {bound}), dropped {dropped_at - stalled_since:.1f} s after its last write, "
          f"{dropped_at - start:.1f} s after the churn began; other client got {good_during} bytes meanwhile, "
          f"pixel difference {diff:.3f}; test process RSS grew {rss_growth / 1e6:.1f} MB")


# ---- 3. several users, several sessions at once ---------------------------------------------

async def _cat_terminal(host, name: str) -> Path:
    """An xterm running ``cat > file`` in the session, focused; returns the file."""
    out = Path(session_env(host)["XDG_RUNTIME_DIR"]) / f"{name}.txt"
    out.unlink(missing_ok=True)
    await _exec(host, "xterm", "-T", name, "-geometry", "60x5+20+20", "-e", "sh", "-c", f"cat > {out}")
    await run("xdotool", "search", "--sync", "--name", name, "windowactivate", "--sync", env=session_env(host),
              timeout=20)
    return out


async def _wait_text(path: Path, expected: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text == expected:
            break
        await asyncio.sleep(0.2)
    return text


async def test_two_users_two_sessions_at_once(rig: Rig, hosts) -> None:
    alice, bob = hosts["alice"], hosts["bob"]
    first, second = rig.clients
    alice_shot = await asyncio.to_thread(screenshot, alice)
    bob_shot = await asyncio.to_thread(screenshot, bob)
    await rig.connect(first, "alice", alice)
    await rig.connect(second, "bob", bob)
    await first.wait_pixels_match(alice, tolerance=1.0)
    assert sorted(c.login.username for c in rig.server.connections) == ["alice", "bob"]
    # Each client shows its own session, not the other one (which a tolerance of 1 would tell).
    assert np.abs(first.client_rgb().astype(np.int16) - bob_shot.astype(np.int16)).mean() > 3
    assert np.abs(second.client_rgb().astype(np.int16) - alice_shot.astype(np.int16)).mean() > 3

    alice_out = await _cat_terminal(alice, "wrd-alice-typing")
    bob_out = await _cat_terminal(bob, "wrd-bob-typing")
    await first.xdotool("mousemove", "300", "300")
    await first.xdotool("type", "--delay", "40", "typed by alice")
    await first.xdotool("key", "Return")
    assert await _wait_text(alice_out, "typed by alice\n") == "typed by alice\n"
    await second.xdotool("mousemove", "300", "300")
    await second.xdotool("type", "--delay", "40", "typed by bob")
    await second.xdotool("key", "Return")
    assert await _wait_text(bob_out, "typed by bob\n") == "typed by bob\n"
    await asyncio.sleep(0.5)
    assert alice_out.read_text() == "typed by alice\n"  # bob's typing did not reach alice's session
    await first.xdotool("key", "ctrl+d")
    await second.xdotool("key", "ctrl+d")
    # And the pixels still follow each one's own session.
    await first.wait_pixels_match(alice, tolerance=1.0)
    await second.wait_pixels_match(bob, tolerance=1.0)


# ---- 4. pointer position from the session -----------------------------------------------------

async def _client_pointer(harness: Harness) -> tuple[int, int]:
    out = await run("xdotool", "getmouselocation", "--shell", env=harness.env())
    values = dict(line.split("=") for line in out.split() if "=" in line)
    return int(values["X"]), int(values["Y"])


async def test_clients_own_pointer_moves_are_not_echoed(rig: Rig, hosts) -> None:
    """xfreerdp moves its pointer quickly; the host reports positions that lag behind, and
    none of them is sent back (it would drag the user's pointer backwards)."""
    bob = hosts["bob"]
    _, second = rig.clients
    connection = await rig.connect(second, "bob", bob)
    for x in range(100, 701, 25):
        await second.xdotool("mousemove", str(x), str(200 + x // 4))
    await asyncio.sleep(1.5)  # the host's pointer reports of those moves, and a still-screen check
    assert connection.output.pointer.positions_sent == 0
    assert await _client_pointer(second) == (700, 375)
    # A program in the session moving the pointer is told to this client.
    await run("xdotool", "mousemove", "123", "456", env=session_env(bob))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and connection.output.pointer.positions_sent == 0:
        await asyncio.sleep(0.05)
    assert connection.output.pointer.positions_sent == 1


async def test_pointer_moved_in_the_session_reaches_the_client(rig: Rig, hosts) -> None:
    """The same over TCP + TLS with rdpfront's own client, which decodes what it receives: a
    program in the session moves the pointer, and a fast-path Pointer Position update with
    that position arrives."""
    bob = hosts["bob"]
    client = await asyncio.to_thread(SocketClient, rig.port)
    try:
        await asyncio.to_thread(client.connect, username="bob", password=PASSWORD)
        client.send_input(PointerEvent(PointerFlags.MOVE, 40, 30))  # the client's own pointer
        connection = rig.connection(client.local_port)
        assert connection is not None
        await asyncio.sleep(0.5)
        await run("xdotool", "mousemove", "321", "234", env=session_env(bob))

        def positions_received(timeout: float) -> list[tuple[int, int]]:
            found: list[tuple[int, int]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not found:
                try:
                    updates = client.pump()
                except AssertionError:  # nothing more within the client's timeout
                    break
                for item in updates:
                    if isinstance(item, tuple) and item[0] == "fastpath" and item[1] == UpdateCode.PTR_POSITION:
                        found.append((int.from_bytes(item[2][:2], "little"), int.from_bytes(item[2][2:4], "little")))
            return found

        client.timeout = 2.0
        found = await asyncio.to_thread(positions_received, 8.0)
        assert found == [(321, 234)]
        assert connection.output.pointer.positions_sent == 1
    finally:
        client.close()
