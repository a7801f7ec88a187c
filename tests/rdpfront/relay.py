"""A loopback TCP relay between a real client and the RDP server, so a test can drop the
client's connection as a network would: ``cut()`` resets every relayed connection (RST, by
SO_LINGER 0) on both sides (or the client's only) while the relay keeps listening, so the client's reconnection comes
back through it. ``hold()`` keeps the connections that come next waiting, unconnected, until
``release()``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading


class TcpRelay:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.accepted = 0  # client connections taken, held ones included
        self._open = asyncio.Event()
        self._open.set()
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._stranded: list[asyncio.StreamWriter] = []  # server sides left open by cut()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._on_client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def cut(self, *, server_notices: bool = True) -> int:
        """Reset every relayed connection on both sides; how many there were. With
        ``server_notices`` False only the client's side is reset: the server's side stays open
        and silent, as a server sees a client whose network went away (half-open)."""
        pairs, self._pairs = list(self._pairs), set()
        for client_side, server_side in pairs:
            _reset(client_side)
            if server_notices:
                _reset(server_side)
            else:
                self._stranded.append(server_side)
        return len(pairs)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.cut()
        for writer in self._stranded:
            _reset(writer)
        self._open.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await self._open.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            _reset(writer)
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        pumps = [asyncio.create_task(_pump(reader, up_writer)), asyncio.create_task(_pump(up_reader, writer))]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            if pair in self._pairs:  # one side ended on its own: end the other as TCP would
                self._pairs.discard(pair)
                for w in pair:
                    w.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class RelayThread:
    """A ``TcpRelay`` on its own event loop in a thread, for tests that are not async."""

    def __init__(self, target_port: int) -> None:
        self.relay = TcpRelay(target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-relay", daemon=True)

    def __enter__(self) -> RelayThread:
        self._thread.start()
        self._call(self.relay.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self.relay.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    @property
    def port(self) -> int:
        return self.relay.port

    def cut(self) -> int:
        async def cut() -> int:
            return self.relay.cut()
        return self._call(cut())

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)
