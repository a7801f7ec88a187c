"""Daphne with WebSocket compression, the viewer's message cap and a bound on request bodies:
``python -m webconsole.core.daphne_server`` takes daphne's command line.

Daphne (Twisted) buffers a whole request body before the application sees any of it, with no
limit: a client announcing or sending gigabytes would fill the console's temporary disk before
a view could refuse them. ``BoundedRequest`` answers 413 as soon as the announced length, or
the bytes received so far, pass ``WRD_HTTP_MAX_BODY`` (the largest legitimate body is an
upload's chunk, docs/files.md), and closes that connection only.

Daphne's WebSocket factory (autobahn) can negotiate permessage-deflate but Daphne never asks it
to. The viewer's small messages gain the most: a typed character's frame header and image
repeat from one keystroke to the next, and with the compression context kept across messages
(the default; the browser offers it) they shrink to a fraction. Video payloads barely shrink,
for ~1 ms of zlib per 100 KB.

A socket the consumer closes (a flood, a protocol error) may still have megabytes of the
client's messages in flight. autobahn waits only 1 s for the client's close frame, which comes
after them, and then aborts the connection: the unread data turns the end into a TCP reset and
the browser sees 1006 instead of the close code. ``CLOSE_HANDSHAKE_TIMEOUT`` gives the client
time to drain; what it still sends meanwhile is read and dropped.
"""

from __future__ import annotations

import asyncio
import logging

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server

from webconsole.config import env
from webconsole.core.daphne_checks import PING_INTERVAL_MIN, EventDrivenChecks, stop_log_clock
from webconsole.viewer.protocol import MAX_SOCKET_MESSAGE

log = logging.getLogger(__name__)

MAX_BODY = env.env_bytes("WRD_HTTP_MAX_BODY", "16M")
CLOSE_HANDSHAKE_TIMEOUT = 10.0  # seconds


def _endpoint_escape(value: str) -> str:
    """A value for a Twisted endpoint description, where ``:`` and ``=`` separate fields."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def daphne_listen() -> list[str]:
    """Daphne's arguments for where the console listens: plain HTTP on ``WRD_HTTP_HOST`` and
    ``WRD_HTTP_PORT``, or HTTPS there (Twisted's ``ssl:`` endpoint) with ``WRD_CONSOLE_TLS``,
    from console-cert.pem and console-key.pem in ``WRD_TLS_DIR`` (self-signed ones for this
    host name, localhost and the loopback addresses are made if absent)."""
    if not env.CONSOLE_TLS:
        return ["-b", env.HTTP_HOST, "-p", str(env.HTTP_PORT)]
    from rdpfront.tls import ensure_certificate

    names = ("localhost", "127.0.0.1", "::1") + (() if env.HTTP_HOST in ("0.0.0.0", "::", "") else (env.HTTP_HOST,))
    cert, key = ensure_certificate(env.TLS_DIR, prefix="console", also=names)
    parts = ["ssl", str(env.HTTP_PORT), f"privateKey={_endpoint_escape(str(key))}",
             f"certKey={_endpoint_escape(str(cert))}", f"interface={_endpoint_escape(env.HTTP_HOST)}"]
    return ["-e", ":".join(parts)]


class _Flow:
    """The connection's producer callbacks as an asyncio event: set while it takes more."""

    def __init__(self, ready: bool) -> None:
        self.ready = asyncio.Event()
        if ready:
            self.ready.set()

    def pauseProducing(self) -> None:
        self.ready.clear()

    def resumeProducing(self) -> None:
        self.ready.set()

    def stopProducing(self) -> None:  # the connection is gone: nobody waits for it
        self.ready.set()


class BoundedRequest(WebRequest):
    """A request whose body may not pass ``max_body`` bytes (announced or received), and
    whose streamed response waits for the client (``writable``)."""

    max_body = MAX_BODY
    _refused = False
    _received = 0
    _flow: _Flow | None = None

    async def writable(self) -> None:
        """Return once the connection's send buffer has room (or the connection is gone)."""
        if self._flow is None:
            if self.finished or self._disconnected:
                return
            self._flow = _Flow(ready=not getattr(self.channel, "_waitingForTransport", False))
            self.registerProducer(self._flow, True)
        await self._flow.ready.wait()

    def end_flow(self) -> None:
        if self._flow is not None:
            self._flow.ready.set()
            if self.producer is not None and self.channel is not None:
                self.unregisterProducer()
            self._flow = None

    def connectionLost(self, reason) -> None:
        if self._flow is not None:
            self._flow.ready.set()
        super().connectionLost(reason)

    def gotLength(self, length: int | None) -> None:
        if length is not None and self.max_body and length > self.max_body:
            self._refuse(f"a body of {length} bytes announced")
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self.max_body and self._received > self.max_body:
            self._refuse(f"more than {self.max_body} bytes of body sent")
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self, what: str) -> None:
        self._refused = True
        peer = self.channel.transport.getPeer() if self.channel and self.channel.transport else None
        log.warning("request refused: %s, over WRD_HTTP_MAX_BODY=%d peer=%s", what, self.max_body,
                    getattr(peer, "host", "-"))
        body = b"Request body too large\n"
        self.channel.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.channel.transport.loseConnection()


def accept_deflate(offers: list) -> PerMessageDeflateOfferAccept | None:
    """Take the client's first permessage-deflate offer as made (context takeover kept)."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def _body_part(protocol, message: dict) -> bool:
    return isinstance(protocol, BoundedRequest) and message.get("type") == "http.response.body"


class CompressingServer(EventDrivenChecks, Server):
    def __init__(self, *args, **kwargs) -> None:
        # Whole messages up to the viewer's largest (clipboard text), not daphne's 1 MiB.
        kwargs["websocket_max_message_size"] = kwargs["websocket_max_frame_size"] = MAX_SOCKET_MESSAGE
        # The only wake-up of an idle viewer socket: a ping at most once a minute.
        kwargs["ping_interval"] = max(kwargs.get("ping_interval", 20), PING_INTERVAL_MIN)
        super().__init__(*args, **kwargs)
        self._then_ready = self.ready_callable
        self.ready_callable = self._ready  # run() calls it once the factories exist

    async def handle_reply(self, protocol, message: dict) -> None:
        if _body_part(protocol, message) and not message.get("more_body", False):
            protocol.end_flow()  # before the response finishes
        await super().handle_reply(protocol, message)
        if _body_part(protocol, message) and message.get("more_body", False):
            await protocol.writable()

    def _ready(self) -> None:
        self.ws_factory.setProtocolOptions(perMessageCompressionAccept=accept_deflate,
                                           closeHandshakeTimeout=CLOSE_HANDSHAKE_TIMEOUT)
        build = self.http_factory.buildProtocol

        def build_bounded(addr):
            protocol = build(addr)
            protocol.requestFactory = BoundedRequest
            return protocol

        self.http_factory.buildProtocol = build_bounded
        stop_log_clock(self.http_factory)
        if self._then_ready is not None:
            self._then_ready()


class CompressingCommandLine(CommandLineInterface):
    server_class = CompressingServer


if __name__ == "__main__":
    CompressingCommandLine.entrypoint()
