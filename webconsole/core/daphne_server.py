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
"""

from __future__ import annotations

import logging

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server

from webconsole.config import env
from webconsole.viewer.protocol import MAX_SOCKET_MESSAGE

log = logging.getLogger(__name__)

MAX_BODY = env.env_bytes("WRD_HTTP_MAX_BODY", "16M")


class BoundedRequest(WebRequest):
    """A request whose body may not pass ``max_body`` bytes (announced or received)."""

    max_body = MAX_BODY
    _refused = False
    _received = 0

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


class CompressingServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        # Whole messages up to the viewer's largest (clipboard text), not daphne's 1 MiB.
        kwargs["websocket_max_message_size"] = kwargs["websocket_max_frame_size"] = MAX_SOCKET_MESSAGE
        super().__init__(*args, **kwargs)
        self._then_ready = self.ready_callable
        self.ready_callable = self._ready  # run() calls it once the factories exist

    def _ready(self) -> None:
        self.ws_factory.setProtocolOptions(perMessageCompressionAccept=accept_deflate)
        build = self.http_factory.buildProtocol

        def build_bounded(addr):
            protocol = build(addr)
            protocol.requestFactory = BoundedRequest
            return protocol

        self.http_factory.buildProtocol = build_bounded
        if self._then_ready is not None:
            self._then_ready()


class CompressingCommandLine(CommandLineInterface):
    server_class = CompressingServer


if __name__ == "__main__":
    CompressingCommandLine.entrypoint()
