"""Who the RDP server lets in before anyone logs in, over real loopback sockets: connections
not logged in are bounded per address and in all (the least advanced of them making room), the
connection sequence has one deadline however its bytes trickle in, and login forms are bounded.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from rdpfront import x224
from rdpfront.cursor import encode
from rdpfront.rdp.pdus import ErrorInfo, SetErrorInfo
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import close_server, start_server

X224_REQUEST = encode(x224.ConnectionRequest(b"Cookie: mstshash=x", x224.NegotiationRequest(x224.SecurityProtocol.SSL)))


def _open(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.settimeout(5)
    return sock


def _dropped(sock: socket.socket, within: float = 3.0) -> bool:
    """The server closed or reset the socket within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the server did not get there"
        await asyncio.sleep(0.02)


async def test_one_address_gets_a_bounded_number_of_connections(tmp_path: Path) -> None:
    rdp, port = await start_server(tmp_path, tmp_path / "none.sock", max_unauthenticated_per_address=3)
    try:
        kept = [await asyncio.to_thread(_open, port, "127.0.5.1") for _ in range(3)]
        await _until(lambda: len(rdp.connections) == 3)
        extra = await asyncio.to_thread(_open, port, "127.0.5.1")
        assert await asyncio.to_thread(_dropped, extra)  # the fourth from that address
        other = await asyncio.to_thread(_open, port, "127.0.5.2")  # another address is let in
        await _until(lambda: len(rdp.connections) == 4)
        assert not await asyncio.to_thread(_dropped, kept[0], 0.3)
        for sock in (*kept, extra, other):
            sock.close()
    finally:
        await close_server(rdp)


async def test_when_full_the_least_advanced_connection_makes_room(tmp_path: Path) -> None:
    rdp, port = await start_server(tmp_path, tmp_path / "none.sock", max_unauthenticated=3)
    try:
        advanced = await asyncio.to_thread(_open, port, "127.0.6.1")
        advanced.sendall(X224_REQUEST)  # it got somewhere: the oldest, but not the first to go
        await _until(lambda: any(c.bytes_read for c in rdp.connections))
        silent = [await asyncio.to_thread(_open, port, f"127.0.6.{i}") for i in (2, 3)]
        await _until(lambda: len(rdp.connections) == 3)
        newcomer = await asyncio.to_thread(_open, port, "127.0.6.4")
        assert await asyncio.to_thread(_dropped, silent[0])  # the oldest of the silent ones
        assert not await asyncio.to_thread(_dropped, advanced, 0.3)
        assert not await asyncio.to_thread(_dropped, silent[1], 0.3)
        assert not await asyncio.to_thread(_dropped, newcomer, 0.3)
        for sock in (advanced, *silent, newcomer):
            sock.close()
    finally:
        await close_server(rdp)


async def test_the_connection_sequence_has_one_deadline(tmp_path: Path) -> None:
    """A byte every 0.4 s never lets a read wait long, yet the sequence is cut at its deadline."""
    rdp, port = await start_server(tmp_path, tmp_path / "none.sock", handshake_timeout=2.0)
    try:
        sock = await asyncio.to_thread(_open, port, "127.0.7.1")
        started = time.monotonic()
        closed = False
        for byte in X224_REQUEST * 4:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if await asyncio.to_thread(_dropped, sock, 0.4):
                closed = True
                break
        elapsed = time.monotonic() - started
        assert closed and 1.9 <= elapsed < 3.5, f"closed={closed} after {elapsed:.1f} s"
        sock.close()
    finally:
        await close_server(rdp)


async def test_login_forms_are_bounded(tmp_path: Path) -> None:
    rdp, port = await start_server(tmp_path, tmp_path / "none.sock", max_login_forms=1)
    first = await asyncio.to_thread(SocketClient, port, timeout=5)
    second = await asyncio.to_thread(SocketClient, port, timeout=5, source="127.0.8.2")
    try:
        await asyncio.to_thread(first.connect, password="")
        assert rdp.login_forms_shown() == 1
        await asyncio.to_thread(second.connect, password="", accept=False)
        refused: list = []
        try:
            while True:
                refused += await asyncio.to_thread(second.pump)
        except ConnectionError:
            pass
        assert SetErrorInfo(ErrorInfo.SERVER_DENIED_CONNECTION) in refused
        assert rdp.login_forms_shown() == 1
    finally:
        first.close()
        second.close()
        await close_server(rdp)
