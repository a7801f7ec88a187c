"""Clients of the session host's control socket (docs/session-host-protocol.md).

``HostClient`` is asyncio (front ends: it delivers pushed messages to a queue or callback);
``BlockingHostClient`` is for Django views, Celery tasks and management commands.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compositor.protocol import HostProtocol, Message, encode_message


class HostError(RuntimeError):
    """The host answered with an error, or could not be reached."""


class HostClient:
    """Asyncio client. Replies resolve ``request()``; pushed messages go to ``on_push``."""

    def __init__(self, on_push: Callable[[Message], None] | None = None) -> None:
        self._on_push = on_push
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._on_reply: dict[int, Callable[[Message], None]] = {}
        self._protocol = HostProtocol()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def connect(self, path: str | Path, timeout: float = 5.0) -> HostClient:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path), limit=1 << 20), timeout)
        except (TimeoutError, OSError) as exc:
            raise HostError(f"cannot reach session host at {path}: {exc}") from None
        self._task = asyncio.create_task(self._read_loop())
        return self

    async def _read_loop(self) -> None:
        try:
            while data := await self._reader.read(1 << 20):
                self._protocol.receive_data(data)
                for msg in self._protocol.events():
                    rid = msg.get("id")
                    future = self._waiting.pop(rid, None) if msg.op in ("ok", "error") else None
                    if future is not None:
                        on_reply = self._on_reply.pop(rid, None)
                        if on_reply is not None and msg.op == "ok":
                            on_reply(msg)  # before any later push is handed out
                        future.done() or future.set_result(msg)
                    elif self._on_push is not None:
                        self._on_push(msg)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception as exc:  # a protocol error from the host: fail every waiter
            for future in self._waiting.values():
                future.done() or future.set_exception(HostError(str(exc)))
        finally:
            for future in self._waiting.values():
                future.done() or future.set_exception(HostError("session host connection closed"))
            self._waiting.clear()
            self._on_reply.clear()
            self.closed.set()

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Send without waiting for a reply (input, ack, keyframe)."""
        if self._writer is None or self._writer.is_closing():
            raise HostError("not connected to the session host")
        self._writer.write(encode_message(header, payload))

    async def request(self, op: str, timeout: float = 10.0, *, on_reply: Callable[[Message], None] | None = None,
                      **fields: Any) -> Message:
        """Send ``op`` and wait for its reply. ``on_reply`` runs on a successful reply inside the
        reading loop, before any message that came after it is pushed: a ``subscribe`` caller
        learns its stream id there, so the stream's first frame (sent right after the reply)
        is never taken for a stranger's."""
        rid = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        if on_reply is not None:
            self._on_reply[rid] = on_reply
        self.send({"op": op, "id": rid, **fields})
        try:
            msg = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._waiting.pop(rid, None)
            self._on_reply.pop(rid, None)
            raise HostError(f"session host did not answer {op!r} within {timeout:.0f} s") from None
        if msg.op == "error":
            raise HostError(msg.get("error", "error"))
        return msg

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer.drain()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._task is not None:
            await self._task


class BlockingHostClient:
    """One request at a time over a plain socket; pushed messages are ignored."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except OSError as exc:
            self._sock.close()
            raise HostError(f"cannot reach session host at {path}: {exc}") from None
        self._protocol = HostProtocol()
        self._ids = itertools.count(1)

    def __enter__(self) -> BlockingHostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, op: str, **fields: Any) -> Message:
        rid = next(self._ids)
        self._sock.sendall(encode_message({"op": op, "id": rid, **fields}))
        while True:
            for msg in self._protocol.events():
                if msg.op in ("ok", "error") and msg.get("id") == rid:
                    if msg.op == "error":
                        raise HostError(msg.get("error", "error"))
                    return msg
            try:
                data = self._sock.recv(1 << 20)
            except (TimeoutError, OSError) as exc:
                raise HostError(f"session host did not answer {op!r}: {exc}") from None
            if not data:
                raise HostError("session host closed the connection")
            self._protocol.receive_data(data)

    def close(self) -> None:
        self._sock.close()
