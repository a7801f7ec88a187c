"""What ties an open shared viewer to its share: revocation and control changes reach it at
once through the channel layer group of the share, and a recheck every ``RECHECK`` seconds
ends it even when the layer is down or the share simply expired.

The viewer consumer itself has no channel layer (frames come straight from the host); only a
shared viewer listens on the layer, on a channel of its own that ``ShareWatch`` reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from webconsole.audit.services import async_record
from webconsole.sharing.selectors import share_state
from webconsole.sharing.services import share_group, viewer_group

log = logging.getLogger(__name__)

RECHECK = 2.0  # seconds


class ShareWatch:
    """Watches one share for one open viewer; ``on_revoked(reason)`` and ``on_control(bool)``
    are the consumer's."""

    def __init__(self, share_id: int, *, user, connection_id: int | None, control: bool,
                 on_revoked: Callable[[str], Awaitable[None]], on_control: Callable[[bool], Awaitable[None]],
                 label: str = "") -> None:
        self.share_id = share_id
        self.user = user
        self.connection_id = connection_id
        self.groups = [share_group(share_id)] + ([viewer_group(connection_id)] if connection_id is not None else [])
        self.control = control
        self.on_revoked = on_revoked
        self.on_control = on_control
        self.label = label
        self.layer = None
        self.channel: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.ended = False

    async def start(self) -> None:
        layer = get_channel_layer()
        if layer is not None:
            try:
                self.channel = await layer.new_channel()
                for group in self.groups:
                    await asyncio.wait_for(layer.group_add(group, self.channel), 5)
                self.layer = layer
                self.tasks.append(asyncio.create_task(self._listen()))
            except Exception as exc:
                log.warning("shared viewer %s without the channel layer (recheck every %.0f s): %s", self.label,
                            RECHECK, exc)
        self.tasks.append(asyncio.create_task(self._recheck()))

    async def stop(self) -> None:
        self.ended = True
        for task in self.tasks:
            task.cancel()
        if self.layer is not None and self.channel is not None:
            try:
                for group in self.groups:
                    await asyncio.wait_for(self.layer.group_discard(group, self.channel), 5)
            except Exception:
                pass

    async def _listen(self) -> None:
        assert self.layer is not None and self.channel is not None
        while not self.ended:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("shared viewer %s lost the channel layer: %s", self.label, exc)
                return
            await self._event(event)

    async def _event(self, event: dict) -> None:
        if event.get("type") == "share.revoked":
            await self._end(str(event.get("reason") or "The owner stopped sharing this desktop."))
        elif event.get("type") == "share.control":
            await self._set_control(bool(event.get("control")))

    async def _recheck(self) -> None:
        while not self.ended:
            await asyncio.sleep(RECHECK)
            active, control, reason = await database_sync_to_async(share_state)(
                share_id=self.share_id, user=self.user, connection_id=self.connection_id)
            if not active:
                await self._end(reason)
                return
            await self._set_control(control)

    async def _set_control(self, control: bool) -> None:
        if control != self.control and not self.ended:
            self.control = control
            await self.on_control(control)

    async def _end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        log.info("shared viewer ended %s share=%s: %s", self.label, self.share_id, reason)
        await self.on_revoked(reason)


async def note_shared_viewer(*, user, share, address: str) -> None:
    """Audit a viewer socket opened through a share."""
    await async_record("share.use", actor=user, target=share.desktop, address=address, share=share.pk,
                       kind=share.kind, control=share.control)
