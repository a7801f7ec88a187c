"""The viewer socket's messages handled without a thread hop.

Channels (4.2+) runs ``aclose_old_connections()`` before every message it dispatches to a
consumer: ``close_old_connections`` through ``sync_to_async``, i.e. a trip to asgiref's one
thread-sensitive worker thread and back to the event loop. For the viewer that is every key,
pointer move and frame acknowledgement: ~0.5 ms on an idle machine, several ms when that
thread is busy with another consumer's database work or the machine is loaded, added to the
keystroke's way to the session host (docs/performance.md, *Browser key-to-photon latency*).

``DirectReceive`` hands ``websocket.receive`` straight to ``websocket_receive``. That is safe
for a consumer whose receive path reaches the database only through
``database_sync_to_async``, which closes stale connections itself, in its own thread, before
and after each call (``channels.db.DatabaseSyncToAsync``). Connect and disconnect still go
through Channels' own ``dispatch``.
"""

from __future__ import annotations

from typing import Any


class DirectReceive:
    """Mixin for an ``AsyncWebsocketConsumer``: received messages skip Channels' per-message
    ``close_old_connections`` thread hop (see the module docstring for when that is safe)."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)  # type: ignore[misc]
