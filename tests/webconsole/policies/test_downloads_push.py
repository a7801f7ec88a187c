"""The Files panel's pushed download list on the viewer's socket, with the real consumer and a
real session host watching its ~/Downloads: the list at once, a file written there pushed
within a second with its download URL, nothing for a user whose policy turns downloads off,
and the pushes stop when the policy changes on an open socket."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async

from tests.compositor.helpers import request
from tests.webconsole.policies.conftest import override
from tests.webconsole.policies.test_viewer_policy import _messages_until, _socket

pytestmark = [pytest.mark.django_db(transaction=True)]


def _downloads(host) -> Path:
    request(host, "file_list")  # the host makes the folder, as the desktop's user
    return Path(request(host, "status").get("home")) / "Downloads"


def _is_downloads(header: dict) -> bool:
    return header["op"] in ("downloads", "closed")


def _listed(message: dict) -> list[dict]:
    assert message["op"] == "downloads", message
    files = json.loads(message["payload"])
    assert message["count"] == len(files)
    return files


async def test_the_list_comes_at_once_and_a_new_file_within_a_second(alice, desktop, host):
    folder = _downloads(host)
    name = f"new report {secrets.token_hex(3)} é.txt"
    communicator = await _socket(alice, desktop)
    try:
        first = _listed(await _messages_until(communicator, _is_downloads, 10))
        assert name not in [f["name"] for f in first]
        start = time.monotonic()
        (folder / name).write_text("hello")
        pushed = _listed(await _messages_until(communicator, _is_downloads, 1.0))
        assert time.monotonic() - start < 1.0
        (entry,) = [f for f in pushed if f["name"] == name]
        assert entry["size"] == 5 and entry["url"] == f"/api/desktops/{desktop.pk}/files/{quote(name, safe='')}"
        (folder / name).unlink()
        assert name not in [f["name"] for f in _listed(await _messages_until(communicator, _is_downloads, 1.0))]
    finally:
        (folder / name).unlink(missing_ok=True)
        await communicator.disconnect()


async def test_a_user_without_downloads_is_pushed_no_list(alice, desktop, host):
    await sync_to_async(override)(alice, file_download=False)
    folder = _downloads(host)
    communicator = await _socket(alice, desktop)
    name = f"hidden-from-policy-{secrets.token_hex(3)}.txt"
    try:
        (folder / name).write_text("x")
        assert await _messages_until(communicator, _is_downloads, 2) is None
    finally:
        (folder / name).unlink(missing_ok=True)
        await communicator.disconnect()


async def test_downloads_turned_off_on_an_open_socket_stop_the_pushes(alice, desktop, host):
    folder = _downloads(host)
    communicator = await _socket(alice, desktop)
    name = f"after-policy-{secrets.token_hex(3)}.txt"
    try:
        assert (await _messages_until(communicator, _is_downloads, 10))["op"] == "downloads"
        await sync_to_async(override)(alice, file_download=False)
        assert await _messages_until(communicator, _is_downloads, 6) is None  # rechecked every 5 s
        (folder / name).write_text("x")
        assert await _messages_until(communicator, _is_downloads, 2) is None
    finally:
        (folder / name).unlink(missing_ok=True)
        await communicator.disconnect()


def test_only_the_latest_download_list_waits_in_a_sockets_queue():
    import asyncio
    from collections import deque

    from compositor.messages import FileEntry
    from webconsole.viewer.consumers import ViewerConsumer
    from webconsole.viewer.downloads import downloads_message

    consumer = ViewerConsumer()
    consumer.outbox, consumer.outbox_bytes, consumer.wakeup = deque(), 0, asyncio.Event()
    lists = [downloads_message(1, (FileEntry(f"file {i}.txt", i, 1.0),)) for i in range(100)]
    for data in lists:  # a host pushing faster than the browser reads
        consumer._queue("downloads", data)
    consumer._queue("control", b"resized")
    assert [(k, d) for k, d, _ in consumer.outbox] == [("downloads", lists[-1]), ("control", b"resized")]
    assert consumer.outbox_bytes == len(lists[-1]) + len(b"resized")
