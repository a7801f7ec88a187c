"""A shared viewer on a real session host, through the real viewer consumer: it watches the
same stream as the owner (one encoder), a view-only one's input never reaches the desktop,
control is handed over and back live, and revoking (or expiry) closes it with 4410."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from compositor import messages
from compositor.client import BlockingHostClient
from tests.conftest import desktop_user
from tests.viewer import harness
from webconsole.asgi import application
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.recordings.models import Connection
from webconsole.sharing import live, services
from webconsole.sharing.models import Share
from webconsole.viewer.protocol import CloseCode, encode_server, split

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def host(tmp_path):
    h = harness.start_host(tmp_path, width=800, height=600, user=desktop_user("share"))
    yield h
    h.close()


@pytest.fixture
def scene(host, redis_server):
    owner = User.objects.create_user("share-owner", password="pw-owner-1")
    guest = User.objects.create_user("share-guest", password="pw-guest-1")
    desktop = DesktopSession.objects.create(
        owner=owner, width=host.status["width"], height=host.status["height"], state=DesktopState.RUNNING,
        node="test", display=host.status["display"], runtime_dir=str(host.runtime_dir), host_pid=host.pid,
        started_at=timezone.now())
    return {"owner": owner, "guest": guest, "desktop": desktop, "host": host}


def _cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(user: User, desktop: DesktopSession) -> WebsocketCommunicator:
    cookie = await sync_to_async(_cookie)(user)
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"),
               (b"cookie", f"sessionid={cookie}".encode())]
    ws = WebsocketCommunicator(application, f"/ws/desktops/{desktop.pk}/", headers=headers)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    await ws.send_to(bytes_data=encode_server({"op": "subscribe", "format": "h264", "preset": "balanced"}))
    await until_op(ws, "subscribed")
    return ws


async def until_op(ws: WebsocketCommunicator, op: str, timeout: float = 10.0) -> dict:
    """The next message of ``op``, acknowledging frames meanwhile (the host's window stays open)."""
    deadline = time.monotonic() + timeout
    while True:
        output = await ws.receive_output(timeout=max(0.05, deadline - time.monotonic()))
        if output["type"] == "websocket.close":
            raise AssertionError(f"closed with {output.get('code')} waiting for {op}")
        header, _ = split(output["bytes"]) if output.get("bytes") else ({"op": "?"}, b"")
        if header["op"] == op:
            return header
        if header["op"] == "frame" and header.get("seq"):
            await ws.send_to(bytes_data=encode_server({"op": "ack", "seq": header["seq"]}))


async def until_closed(ws: WebsocketCommunicator, timeout: float) -> tuple[int, float]:
    """The close code, and how long it took to come."""
    start = time.monotonic()
    while True:
        output = await ws.receive_output(timeout=max(0.05, timeout - (time.monotonic() - start)))
        if output["type"] == "websocket.close":
            return output.get("code"), time.monotonic() - start
        if output.get("bytes"):
            header, _ = split(output["bytes"])
            if header["op"] == "frame":
                await ws.send_to(bytes_data=encode_server({"op": "ack", "seq": header["seq"]}))


def _status(host) -> messages.StatusReply:
    with BlockingHostClient(host.socket_path) as client:
        return client.call(messages.Status())


async def type_a_key(ws: WebsocketCommunicator) -> None:
    events = [{"t": "key", "code": 30, "down": True}, {"t": "key", "code": 30, "down": False}]  # evdev A
    await ws.send_to(bytes_data=encode_server({"op": "input", "events": events}))
    await ws.send_to(bytes_data=encode_server({"op": "clipboard"}, b"from the guest"))


async def test_a_view_only_guest_watches_the_owners_stream_and_cannot_type(scene):
    host, desktop = scene["host"], scene["desktop"]
    await sync_to_async(services.share_grant_user)(desktop=desktop, by=scene["owner"], user=scene["guest"])
    owner = await connect(scene["owner"], desktop)
    guest = await connect(scene["guest"], desktop)
    try:
        status = await asyncio.to_thread(_status, host)
        h264 = [e for e in status.encoders if e.format == "h264"]
        assert [e.subscribers for e in h264] == [2], status.encoders  # one encoder, two viewers
        before = status.last_input
        clipboard_before = await asyncio.to_thread(host.clipboard_text)
        await type_a_key(guest)
        await asyncio.sleep(1.0)
        status = await asyncio.to_thread(_status, host)
        assert status.last_input == before  # nothing of the guest's reached the desktop
        assert await asyncio.to_thread(host.clipboard_text) == clipboard_before
        conns = await sync_to_async(lambda: sorted(
            (c.user.username, c.view_only) for c in Connection.objects.filter(closed_at=None)))()
        assert conns == [("share-guest", True), ("share-owner", False)]
        # The owner's own input does arrive: the check above could fail.
        await type_a_key(owner)
        await asyncio.sleep(1.0)
        assert (await asyncio.to_thread(_status, host)).last_input != before
    finally:
        await guest.disconnect()
        await owner.disconnect()


async def test_control_is_handed_over_live_and_taken_back(scene):
    host, desktop = scene["host"], scene["desktop"]
    share = await sync_to_async(services.share_grant_user)(desktop=desktop, by=scene["owner"], user=scene["guest"])
    guest = await connect(scene["guest"], desktop)
    try:
        before = (await asyncio.to_thread(_status, host)).last_input
        await sync_to_async(services.share_set_control)(share=share, by=scene["owner"], control=True)
        assert (await until_op(guest, "view_only"))["view_only"] is False
        await type_a_key(guest)
        await asyncio.sleep(1.0)
        after = (await asyncio.to_thread(_status, host)).last_input
        assert after is not None and after != before
        assert await asyncio.to_thread(host.clipboard_text) == "from the guest"
        await sync_to_async(services.share_set_control)(share=share, by=scene["owner"], control=False)
        assert (await until_op(guest, "view_only"))["view_only"] is True
        await type_a_key(guest)
        await asyncio.sleep(1.0)
        assert (await asyncio.to_thread(_status, host)).last_input == after
    finally:
        await guest.disconnect()


async def test_revoking_cuts_the_guest_off_at_once(scene):
    desktop = scene["desktop"]
    share = await sync_to_async(services.share_grant_user)(desktop=desktop, by=scene["owner"], user=scene["guest"])
    owner = await connect(scene["owner"], desktop)
    guest = await connect(scene["guest"], desktop)
    try:
        await sync_to_async(services.share_revoke)(share=share, by=scene["owner"])
        code, took = await until_closed(guest, 5)
        assert code == CloseCode.REVOKED
        assert took < live.RECHECK * 0.75, f"{took:.2f} s: the layer's message, not the recheck, ended it"
        # The owner's viewer goes on.
        await owner.send_to(bytes_data=encode_server({"op": "keyframe"}))
        await until_op(owner, "frame")
        reconnect = await sync_to_async(_cookie)(scene["guest"])
        headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"),
                   (b"cookie", f"sessionid={reconnect}".encode())]
        ws = WebsocketCommunicator(application, f"/ws/desktops/{desktop.pk}/", headers=headers)
        await ws.connect(timeout=10)
        assert (await ws.receive_output(timeout=5)).get("code") == CloseCode.NOT_FOUND
        await ws.disconnect()
    finally:
        await guest.disconnect()
        await owner.disconnect()


async def test_an_expired_share_ends_its_viewer_without_any_message(scene):
    desktop = scene["desktop"]
    share = await sync_to_async(services.share_grant_user)(desktop=desktop, by=scene["owner"], user=scene["guest"],
                                                           expires_in=timedelta(minutes=5))
    guest = await connect(scene["guest"], desktop)
    try:
        await sync_to_async(Share.objects.filter(pk=share.pk).update)(expires_at=timezone.now())
        code, took = await until_closed(guest, live.RECHECK + 3)
        assert code == CloseCode.REVOKED and took <= live.RECHECK + 1
    finally:
        await guest.disconnect()


async def test_the_owner_hands_control_to_one_viewer_of_a_group_share(scene):
    host, desktop = scene["host"], scene["desktop"]
    team = await sync_to_async(Group.objects.create)(name="team")
    other = await sync_to_async(User.objects.create_user)("share-other", password="pw-other-1")
    for user in (scene["guest"], other):
        await sync_to_async(user.groups.add)(team)
    share = await sync_to_async(services.share_grant_group)(desktop=desktop, by=scene["owner"], group=team)
    guest = await connect(scene["guest"], desktop)
    watcher = await connect(other, desktop)
    try:
        conn = await sync_to_async(Connection.objects.get)(desktop=desktop, user=scene["guest"], closed_at=None)
        before = (await asyncio.to_thread(_status, host)).last_input
        await sync_to_async(services.share_viewer_set_control)(desktop=desktop, connection_id=conn.pk,
                                                               by=scene["owner"], control=True)
        assert (await until_op(guest, "view_only"))["view_only"] is False
        await type_a_key(watcher)  # still view-only: the change was for one viewer
        await asyncio.sleep(1.0)
        assert (await asyncio.to_thread(_status, host)).last_input == before
        await type_a_key(guest)
        await asyncio.sleep(1.0)
        after = (await asyncio.to_thread(_status, host)).last_input
        assert after != before
        assert (await sync_to_async(Connection.objects.get)(pk=conn.pk)).view_only is False
        # Past a recheck, the one viewer's control holds.
        await asyncio.sleep(live.RECHECK + 0.5)
        await type_a_key(guest)
        await asyncio.sleep(0.5)
        assert (await asyncio.to_thread(_status, host)).last_input != after
        # The share's own switch is for all its viewers again.
        await sync_to_async(services.share_set_control)(share=share, by=scene["owner"], control=False)
        assert (await until_op(guest, "view_only"))["view_only"] is True
        with pytest.raises(ValidationError):  # the owner's own viewer is not a shared one
            owner_conn = await sync_to_async(Connection.objects.create)(desktop=desktop, user=scene["owner"],
                                                                         kind="browser")
            await sync_to_async(services.share_viewer_set_control)(
                desktop=desktop, connection_id=owner_conn.pk, by=scene["owner"], control=True)
    finally:
        await watcher.disconnect()
        await guest.disconnect()
