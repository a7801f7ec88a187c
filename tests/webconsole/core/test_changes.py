"""Account and policy change notices (webconsole/core/changes.py) on a real Redis: what the
console publishes when a user, a group membership, a policy or a browser session changes, and
how a front end's watcher wakes exactly the checks concerned."""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore

from webconsole.core import changes
from webconsole.policies.models import Policy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def notices(redis_server):
    """The notices published from now on, read from a subscription of our own."""
    client = redis.Redis.from_url(redis_server)
    pubsub = client.pubsub()
    pubsub.subscribe(changes.CHANNEL)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # in place before anything is published

    def read(seconds: float = 2.0) -> list[str]:
        got = []
        while (message := pubsub.get_message(timeout=seconds)) is not None:
            got.append(message["data"].decode())
            seconds = 0.3
        return got

    yield read
    pubsub.close()
    client.close()


def test_a_user_change_is_published_for_that_user(notices):
    user = User.objects.create_user("pub", password="pw-pub-1")
    assert notices() == [f"user:{user.pk}"]
    user.set_password("pw-pub-2")
    user.save()
    assert notices() == [f"user:{user.pk}"]
    user.is_active = False
    user.save()
    assert notices() == [f"user:{user.pk}"]


def test_group_membership_and_policies_are_published(notices):
    user = User.objects.create_user("member", password="pw-member-1")
    group = Group.objects.create(name="staff-ish")
    notices()
    user.groups.add(group)
    assert notices() == [f"user:{user.pk}"]
    group.user_set.remove(user)
    assert notices() == ["all"]  # from the group's side: anybody of it
    Policy.objects.create(user=user, rdp_access=False)
    assert notices() == [f"user:{user.pk}"]
    Policy.objects.create(group=group, rdp_access=False)
    assert notices() == ["all"]


def test_a_browser_session_ended_is_published(notices):
    store = SessionStore()
    store["x"] = 1
    store.create()
    notices()
    store.delete()
    assert notices() == ["all"]


def test_nothing_is_published_before_the_transaction_commits(notices):
    from django.db import transaction

    with transaction.atomic():
        user = User.objects.create_user("later", password="pw-later-1")
        assert notices(0.5) == []
    assert notices() == [f"user:{user.pk}"]


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.05)


async def test_the_watcher_wakes_the_checks_of_that_user_or_of_all(redis_server):
    watcher = changes.ChangeWatcher(redis_server)
    try:
        await asyncio.wait_for(watcher.wait(7), 10)  # starts the subscription; woken once it is up
        await asyncio.wait_for(watcher.connected.wait(), 10)
        seven = asyncio.create_task(watcher.wait(7))
        eight = asyncio.create_task(watcher.wait(8))
        await asyncio.sleep(0.1)
        await asyncio.to_thread(changes.publish_now, ["user:7"])
        await asyncio.wait_for(seven, 5)
        await asyncio.sleep(0.5)
        assert not eight.done(), "a notice for another user wakes nobody else"
        await asyncio.to_thread(changes.publish_now, ["all"])
        await asyncio.wait_for(eight, 5)
        idle = asyncio.create_task(watcher.wait(9))
        await asyncio.sleep(changes.FALLBACK_POLL + 0.5)
        assert not idle.done(), "with the subscription up, a check waits for a notice, with no timer"
        idle.cancel()
        notices = watcher.notices
        await asyncio.to_thread(changes.publish_now, ["user:x" * 3, "nonsense"])  # ignored, logged
        await asyncio.wait_for(_until(lambda: watcher.notices == notices + 2), 5)
        assert watcher.connected.is_set(), "a malformed notice does not drop the subscription"
    finally:
        await watcher.close()


async def test_without_redis_the_checks_fall_back_to_polling(tmp_path, monkeypatch):
    monkeypatch.setattr(changes, "FALLBACK_POLL", 0.3)
    watcher = changes.ChangeWatcher(f"unix://{tmp_path / 'no-redis.sock'}")
    try:
        await asyncio.wait_for(watcher.wait(1), 5)  # returns on its own: a check runs
        assert not watcher.connected.is_set()
    finally:
        await watcher.close()
