"""Clients of the session host's control socket (docs/session-host-protocol.md).

``HostClient`` is asyncio (front ends: it delivers pushed messages to callbacks);
``BlockingHostClient`` is for Django views, Celery tasks and management commands.

Both speak the typed messages of ``compositor.messages``: ``call(Resize(…))`` returns a
``ResizeReply``, ``send(Ack(…))`` expects no answer, and ``HostClient(on_event=…)`` is handed
``Frame``, ``Cursor``, ``Pointer``… pushes. Replies and pushes are checked like any peer's
(a desktop's user can take over their own host): a malformed one closes the connection.
``request(op, **fields)`` (untyped: a raw ``Message`` back), ``send(dict)`` and ``on_push`` (raw
pushes) stay for scripts and tests that poke at the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from compositor import messages
from compositor.protocol import HostProtocol, LocalProtocolError, Message, RemoteProtocolError, encode_message

log = logging.getLogger(__name__)

R = TypeVar("R")


class HostError(RuntimeError):
    """The host answered with an error, sent something malformed, or could not be reached."""


class HostRefused(HostError):
    """The host answered the request with an ``error`` reply (the connection is fine)."""


def _typed_reply(request: messages.Request[R]) -> Callable[[Message], R]:
    """How to read the answer to ``request``: its reply class, an error raising ``HostError``."""
    if request.reply is None:
        raise LocalProtocolError(f"{request.op.value} has no reply: send() it")

    def decode(msg: Message) -> R:
        reply = messages.decode_reply(type(request), msg.header, msg.payload)  # RemoteProtocolError: malformed
        if isinstance(reply, messages.ErrorReply):
            raise HostRefused(reply.error)
        return reply  # type: ignore[return-value]

    return decode


def _raw_reply(msg: Message) -> Message:
    if msg.op == "error":
        raise HostError(msg.get("error", "error"))
    return msg


class HostClient:
    """Asyncio client. Replies resolve ``call()``/``request()``; pushes go to ``on_event``
    (typed) and ``on_push`` (raw), whichever are given."""

    def __init__(self, on_push: Callable[[Message], None] | None = None, *,
                 on_event: Callable[[messages.Push], None] | None = None) -> None:
        self._on_push = on_push
        self._on_event = on_event
        self._ids = itertools.count(1)
        # request id -> (future, reading of the reply, callback run inside the reading loop)
        self._waiting: dict[int, tuple[asyncio.Future, Callable[[Message], Any], Callable[[Any], None] | None]] = {}
        self._protocol = HostProtocol()
        self._writer: asyncio.StreamWriter | None = None
        self._failure: HostError | None = None
        self.closed = asyncio.Event()

    async def connect(self, path: str | Path, timeout: float = 5.0) -> HostClient:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_unix_connection(lambda: _ReadingProtocol(self), str(path)), timeout)
        except (TimeoutError, OSError) as exc:
            raise HostError(f"cannot reach session host at {path}: {exc}") from None
        self._writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return self

    def _received(self, data: bytes) -> None:
        """Bytes from the host, handled in the turn that read them (no reading task to wake:
        a frame is drawn in the same event-loop turn as its socket was read)."""
        if self.closed.is_set():
            return
        try:
            self._protocol.receive_data(data)
            for msg in self._protocol.events():
                self._dispatch(msg)
        except RemoteProtocolError as exc:
            log.warning("closing the session host connection: it sent %s", exc)
            self._finish(HostError(f"session host protocol error: {exc}"))
        except Exception as exc:  # a callback failed: the connection is no longer in a known state
            log.exception("closing the session host connection after an error handling its message")
            self._finish(HostError(str(exc)))

    def _finish(self, failure: HostError | None) -> None:
        """The connection is over (closed by either side, or ``failure``): waiting calls fail."""
        if self.closed.is_set():
            return
        for future, _, _ in self._waiting.values():
            future.done() or future.set_exception(failure or HostError("session host connection closed"))
        self._waiting.clear()
        if failure is not None and self._writer is not None:
            self._writer.close()
        self.closed.set()

    def _dispatch(self, msg: Message) -> None:
        if msg.op in ("ok", "error"):
            rid = msg.get("id")
            entry = self._waiting.pop(rid, None) if type(rid) is int else None
            if entry is not None:
                future, read, on_reply = entry
                try:
                    reply = read(msg)
                except HostError as exc:
                    future.done() or future.set_exception(exc)
                    return
                except RemoteProtocolError as exc:  # the whole connection goes (see _read_loop)
                    future.done() or future.set_exception(HostError(f"session host sent a malformed reply: {exc}"))
                    raise
                if on_reply is not None:
                    on_reply(reply)  # before any later push is handed out
                future.done() or future.set_result(reply)
                return
            if msg.op == "error":  # the answer to something sent without waiting (send())
                log.warning("session host refused a message: %s", msg.get("error"))
            if self._on_push is not None:
                self._on_push(msg)
            return
        if self._on_push is not None:
            self._on_push(msg)
        if self._on_event is not None:
            push = messages.decode_push(msg.header, msg.payload)
            if push is not None:
                self._on_event(push)

    def _write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise HostError("not connected to the session host")
        self._writer.write(data)

    def send(self, request: messages.Request[Any] | dict[str, Any]) -> None:
        """Send without waiting for a reply (input, ack, keyframe); the host's answer, if any,
        is not waited for (an error one is logged). A dict is sent as it is (untyped)."""
        self._write(encode_message(request) if isinstance(request, dict) else messages.pack(request))

    async def call(self, request: messages.Request[R], timeout: float = 10.0, *,
                   on_reply: Callable[[R], None] | None = None) -> R:
        """Send ``request`` and wait for its reply. ``on_reply`` runs on a successful reply inside
        the reading loop, before any message that came after it is pushed: a ``Subscribe``
        caller learns its stream id there, so the stream's first frame (sent right after the
        reply) is never taken for a stranger's."""
        rid = next(self._ids)
        return await self._exchange(rid, messages.pack(request, request_id=rid), _typed_reply(request), on_reply,
                                    request.op.value, timeout)

    async def request(self, op: str, timeout: float = 10.0, *, on_reply: Callable[[Message], None] | None = None,
                      **fields: Any) -> Message:
        """Untyped ``call``: ``op`` with ``fields``, the raw reply back."""
        rid = next(self._ids)
        return await self._exchange(rid, encode_message({"op": op, "id": rid, **fields}), _raw_reply, on_reply,
                                    op, timeout)

    async def _exchange(self, rid: int, data: bytes, read: Callable[[Message], Any],
                        on_reply: Callable[[Any], None] | None, what: str, timeout: float) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._write(data)
        self._waiting[rid] = (future, read, on_reply)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._waiting.pop(rid, None)
            raise HostError(f"session host did not answer {what!r} within {timeout:.0f} s") from None

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
        self._finish(None)


class _ReadingProtocol(asyncio.StreamReaderProtocol):
    """The host connection's protocol: received bytes go straight to the ``HostClient``; the
    ``StreamWriter`` side (flow control, ``drain``, ``wait_closed``) is asyncio's own."""

    def __init__(self, client: HostClient) -> None:
        super().__init__(None)  # no StreamReader: received bytes are handled as they come
        self._client = client

    def data_received(self, data: bytes) -> None:
        self._client._received(data)

    def eof_received(self) -> bool:
        self._client._finish(None)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._client._finish(None)


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

    def call(self, request: messages.Request[R]) -> R:
        """Send ``request`` and wait for its reply (``HostError`` for an error reply)."""
        read = _typed_reply(request)
        rid = next(self._ids)
        msg = self._exchange(rid, messages.pack(request, request_id=rid), request.op.value)
        try:
            return read(msg)
        except RemoteProtocolError as exc:
            self.close()
            raise HostError(f"session host sent a malformed reply: {exc}") from None

    def send(self, request: messages.Request[Any]) -> None:
        """Send without waiting for a reply."""
        try:
            self._sock.sendall(messages.pack(request))
        except OSError as exc:
            raise HostError(f"cannot send {request.op.value!r} to the session host: {exc}") from None

    def request(self, op: str, **fields: Any) -> Message:
        """Untyped ``call``: ``op`` with ``fields``, the raw reply back."""
        rid = next(self._ids)
        return _raw_reply(self._exchange(rid, encode_message({"op": op, "id": rid, **fields}), op))

    def _exchange(self, rid: int, data: bytes, what: str) -> Message:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise HostError(f"cannot send {what!r} to the session host: {exc}") from None
        while True:
            for msg in self._protocol.events():
                if msg.op in ("ok", "error") and msg.get("id") == rid:
                    return msg
            try:
                data = self._sock.recv(1 << 20)
            except (TimeoutError, OSError) as exc:
                raise HostError(f"session host did not answer {what!r}: {exc}") from None
            if not data:
                raise HostError("session host closed the connection")
            try:
                self._protocol.receive_data(data)
            except RemoteProtocolError as exc:
                self.close()
                raise HostError(f"session host protocol error: {exc}") from None

    def close(self) -> None:
        self._sock.close()
