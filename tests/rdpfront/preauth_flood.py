"""Hostile clients that never log in, run as their own process against an RDP server on
loopback, each kind from loopback addresses of its own (all of 127/8 reaches the server):

- ``idle``: TCP connections that send nothing;
- ``slow-tls``: connections that ask for TLS and then send their ClientHello a byte at a time;
- ``form-flood``: connections that reach the login form (no password) and send keys as fast as
  the socket takes them; each reconnects a second after the server drops it.

Run: ``python -m tests.rdpfront.preauth_flood PORT SECONDS [idle slow-tls form-flood]``. Prints
one JSON line of counts when the time is up.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import threading
import time

from rdpfront import x224
from rdpfront.cursor import encode
from rdpfront.input import FastPathInput, ScancodeEvent
from tests.rdpfront.helpers import SocketClient

IDLE, SLOW_TLS, FORM_FLOOD = 500, 200, 50
counts = {"idle_open": 0, "idle_refused": 0, "slow_tls_open": 0, "slow_tls_refused": 0, "slow_tls_dropped": 0,
          "form_shown": 0, "form_dropped": 0}


def _address(block: int, i: int, per_address: int) -> str:
    return f"127.0.{block}.{1 + i // per_address}"


async def _idle(port: int, i: int, writers: list) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(_address(1, i, 10), 0))
    except OSError:
        counts["idle_refused"] += 1
        return
    writers.append(writer)
    counts["idle_open"] += 1


def _client_hello() -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


async def _slow_tls(port: int, i: int, stop: float) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(_address(2, i, 10), 0))
    except OSError:
        counts["slow_tls_refused"] += 1
        return
    counts["slow_tls_open"] += 1
    try:
        writer.write(encode(x224.ConnectionRequest(b"Cookie: mstshash=slow",
                                                   x224.NegotiationRequest(x224.SecurityProtocol.SSL))))
        if not await reader.read(1024):  # the Connection Confirm, or the server's refusal
            raise ConnectionResetError
        for byte in _client_hello():
            if time.monotonic() > stop:
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.5)
        writer.close()
    except OSError:  # the server refused or dropped it; a refusal may arrive as a reset
        counts["slow_tls_dropped"] += 1


def _form_flood(port: int, i: int, stop: float) -> None:
    keys = encode(FastPathInput(tuple(ScancodeEvent(0x1E, release=r) for r in (False, True) * 7)))
    burst = keys * 2000
    while time.monotonic() < stop:
        try:
            client = SocketClient(port, timeout=5, source=_address(3, i, 10))
            client.connect(password="")
            counts["form_shown"] += 1
            while time.monotonic() < stop:
                client.sock.sendall(burst)
        except (OSError, ConnectionError, AssertionError, ssl.SSLError):
            counts["form_dropped"] += 1
        time.sleep(1.0)


async def main(port: int, seconds: float, kinds: set[str]) -> None:
    stop = time.monotonic() + seconds
    writers: list = []
    threads = [threading.Thread(target=_form_flood, args=(port, i, stop), daemon=True)
               for i in range(FORM_FLOOD)] if "form-flood" in kinds else []
    for t in threads:
        t.start()
    tasks = [asyncio.create_task(_slow_tls(port, i, stop)) for i in range(SLOW_TLS)] if "slow-tls" in kinds else []
    if "idle" in kinds:
        await asyncio.gather(*(_idle(port, i, writers) for i in range(IDLE)))
    print(json.dumps({"started": True}), flush=True)
    await asyncio.sleep(max(0.0, stop - time.monotonic()))
    for task in tasks:
        task.cancel()
    for w in writers:
        w.close()
    for t in threads:
        t.join(timeout=6)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]),
                     set(sys.argv[3:]) or {"idle", "slow-tls", "form-flood"}))
