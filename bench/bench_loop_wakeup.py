"""CPU per wake-up of a process that answers a small message, by how it waits (prints figures;
not a pass/fail test).

    .venv/bin/python bench/bench_loop_wakeup.py [--messages 400] [--interval 0.05]

A child process echoes 100-byte messages sent over a socket pair every ``--interval`` seconds,
the rate of a typist, so each one wakes it from sleep, as a keystroke wakes the session host and
the RDP server. Printed: the child's CPU milliseconds per message (``/proc/PID/schedstat``, the
scheduler's nanoseconds on CPU), for each way of waiting:

- ``blocking``: ``recv`` and ``send`` in a loop;
- ``epoll``: ``select.epoll`` and then ``recv``, ``send``;
- ``selectors``: ``selectors.DefaultSelector`` (what asyncio's loop uses);
- ``asyncio-reader``: an asyncio event loop with ``add_reader`` and a plain callback;
- ``asyncio-protocol``: an asyncio transport and protocol (``data_received`` writes back), as
  the RDP server reads the host's frames.
"""

from __future__ import annotations

import argparse
import os
import select
import selectors
import socket
import sys
import time

MODES = ("blocking", "epoll", "selectors", "asyncio-reader", "asyncio-protocol")


def echo(sock: socket.socket, mode: str) -> None:
    """The child's loop: answer every message until the socket closes."""
    if mode == "blocking":
        while data := sock.recv(1000):
            sock.send(data)
    elif mode == "epoll":
        ep = select.epoll()
        ep.register(sock.fileno(), select.EPOLLIN)
        while True:
            ep.poll()
            if not (data := sock.recv(1000)):
                return
            sock.send(data)
    elif mode == "selectors":
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        while True:
            sel.select()
            if not (data := sock.recv(1000)):
                return
            sock.send(data)
    else:
        import asyncio

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            if mode == "asyncio-reader":
                sock.setblocking(False)

                def readable() -> None:
                    if data := sock.recv(1000):
                        sock.send(data)
                    elif not done.done():
                        done.set_result(None)
                loop.add_reader(sock.fileno(), readable)
            else:
                class Echo(asyncio.Protocol):
                    def connection_made(self, transport: asyncio.BaseTransport) -> None:
                        self.transport = transport

                    def data_received(self, data: bytes) -> None:
                        self.transport.write(data)

                    def connection_lost(self, exc: Exception | None) -> None:
                        if not done.done():
                            done.set_result(None)
                await loop.create_connection(Echo, sock=sock)
            await done
        asyncio.run(serve())


def cpu_ms(pid: int) -> float:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e6


def measure(mode: str, messages: int, interval: float) -> float:
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        try:
            echo(theirs, mode)
        finally:
            os._exit(0)
    theirs.close()
    try:
        ours.send(b"x" * 100)  # the child is up and its loop set up
        ours.recv(1000)
        time.sleep(0.2)
        before = cpu_ms(pid)
        for _ in range(messages):
            ours.send(b"x" * 100)
            ours.recv(1000)
            time.sleep(interval)
        return (cpu_ms(pid) - before) / messages
    finally:
        ours.close()
        os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    print(f"{args.messages} messages, one every {args.interval * 1000:.0f} ms; cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}")
    for mode in MODES:
        print(f"{mode:18} {measure(mode, args.messages, args.interval):.3f} CPU ms per message")


if __name__ == "__main__":
    main()
