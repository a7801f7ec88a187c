"""Daphne with WebSocket compression and the viewer's message cap: ``python -m
webconsole.core.daphne_server`` takes daphne's command line.

Daphne's WebSocket factory (autobahn) can negotiate permessage-deflate but Daphne never asks it
to. The viewer's small messages gain the most: a typed character's frame header and image
repeat from one keystroke to the next, and with the compression context kept across messages
(the default; the browser offers it) they shrink to a fraction. Video payloads barely shrink,
for ~1 ms of zlib per 100 KB.
"""

from __future__ import annotations

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface
from daphne.server import Server

from webconsole.viewer.protocol import MAX_SOCKET_MESSAGE


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
        if self._then_ready is not None:
            self._then_ready()


class CompressingCommandLine(CommandLineInterface):
    server_class = CompressingServer


if __name__ == "__main__":
    CompressingCommandLine.entrypoint()
