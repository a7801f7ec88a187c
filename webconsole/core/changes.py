"""Account and policy changes, pushed to the front ends that hold connections open.

An open RDP connection or browser viewer must end when its user is deactivated, signed out or
given a new password, and follow a policy change (clipboard ways, shared folders, access).
Instead of every connection asking the database every few seconds (wake-ups of the RDP server
and daphne on an idle desktop), the console publishes a short notice on one Redis pub/sub
channel when something those checks read changes, after the transaction commits:

- ``user:<pk>``: that user's row, group membership or own policy changed;
- ``all``: something any user's answer may depend on (a group's policy, a browser session
  ended, which cannot be tied to a user without decoding it).

Each front-end process keeps one subscription (``ChangeWatcher``) and wakes the checks of the
connections concerned, which then read the database as before: the notice carries no data a
check would trust. An idle subscription is a socket with nothing to read: no timer, no
keepalive. When the subscription drops, every check runs once (a change may have been missed)
and again once it is back; while Redis stays unreachable the checks fall back to polling every
``FALLBACK_POLL`` seconds, so a change still applies.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable

from django.db import transaction

from webconsole.config import env

log = logging.getLogger(__name__)

CHANNEL = "wrd:account-changes"
ALL = "all"
FALLBACK_POLL = 5.0  # seconds between checks while the subscription is down
RETRY_MAX = 30.0


def _redis_url() -> str:
    return env.redis_parts()["url"]


def user_key(pk: int) -> str:
    return f"user:{pk}"


def publish_now(keys: Iterable[str]) -> None:
    """Publish ``keys`` at once; a Redis failure is logged, never raised (the change itself
    is made; connections catch up when their watcher reconnects)."""
    import redis

    try:
        client = redis.Redis.from_url(_redis_url(), socket_timeout=2, socket_connect_timeout=2)
        try:
            for key in dict.fromkeys(keys):
                client.publish(CHANNEL, key)
        finally:
            client.close()
    except Exception as exc:
        log.warning("could not publish account change %s: %s", list(keys), exc)


def account_changed(*, user_pk: int | None) -> None:
    """Tell the front ends that ``user_pk``'s account or policy (None: anybody's) changed,
    once the current transaction commits."""
    key = ALL if user_pk is None else user_key(user_pk)
    transaction.on_commit(lambda: publish_now([key]))


class ChangeWatcher:
    """One process's subscription to ``CHANNEL``: ``wait(user_pk)`` returns when that user
    may have changed (a notice for them or for all, or the subscription dropped or came
    back), or after ``FALLBACK_POLL`` while the subscription is down."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._waiters: dict[int, set[asyncio.Event]] = {}
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()
        self.notices = 0

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait(self, user_pk: int) -> None:
        self._start()
        event = asyncio.Event()
        self._waiters.setdefault(user_pk, set()).add(event)
        try:
            if self.connected.is_set():
                await event.wait()
            else:
                try:
                    await asyncio.wait_for(event.wait(), FALLBACK_POLL)
                except TimeoutError:
                    pass
        finally:
            waiters = self._waiters.get(user_pk)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[user_pk]

    def _wake(self, key: str) -> None:
        if key == ALL:
            targets = [e for events in self._waiters.values() for e in events]
        elif key.startswith("user:") and key[5:].isdigit():
            targets = list(self._waiters.get(int(key[5:]), ()))
        else:
            log.warning("ignoring an account change notice of unknown form %r", key[:80])
            return
        for event in targets:
            event.set()

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        delay = 1.0
        while True:
            client = aioredis.Redis.from_url(self._url or _redis_url())
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.connected.set()
                self._wake(ALL)  # whatever changed while nobody listened
                delay = 1.0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.notices += 1
                        data = message.get("data")
                        self._wake(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected.is_set():
                    log.warning("account change subscription lost (%s); polling until it is back", exc)
            finally:
                self.connected.clear()
                self._wake(ALL)
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChangeWatcher] = weakref.WeakKeyDictionary()


def watcher() -> ChangeWatcher:
    """This event loop's watcher (one subscription per process and loop)."""
    loop = asyncio.get_running_loop()
    w = _watchers.get(loop)
    if w is None:
        w = _watchers[loop] = ChangeWatcher()
    return w
