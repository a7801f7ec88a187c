"""Received viewer messages reach the consumer without Channels' per-message
``close_old_connections`` thread hop (webconsole/viewer/latency.py); connect still has it."""

from __future__ import annotations

import channels.consumer
import channels.generic.websocket
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from webconsole.viewer.consumers import ViewerConsumer
from webconsole.viewer.latency import DirectReceive


class Plain(AsyncWebsocketConsumer):
    channel_layer_alias = ViewerConsumer.channel_layer_alias  # no channel layer, like the viewer

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(bytes_data=bytes_data[::-1])


class Direct(DirectReceive, Plain):
    pass


async def hops_for(consumer, monkeypatch, messages: int) -> int:
    calls = []

    async def counted():  # counted only: the real one would touch the test database's connection
        calls.append(1)

    async def not_counted():
        pass

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)  # the hop per message
    # websocket_disconnect runs its own (not the hop under test); neither may reach the database.
    monkeypatch.setattr(channels.generic.websocket, "aclose_old_connections", not_counted)
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    for i in range(messages):
        await communicator.send_to(bytes_data=bytes([i, 1, 2]))
        assert await communicator.receive_from(timeout=5) == bytes([2, 1, i])
    await communicator.disconnect()
    return len(calls)


async def test_received_messages_skip_the_thread_hop(monkeypatch):
    plain = await hops_for(Plain, monkeypatch, 5)
    direct = await hops_for(Direct, monkeypatch, 5)
    assert plain >= 6  # connect and each message (and disconnect)
    assert direct == plain - 5  # connect and disconnect only


def test_the_viewer_consumer_takes_it():
    assert issubclass(ViewerConsumer, DirectReceive)
    assert ViewerConsumer.dispatch is DirectReceive.dispatch
