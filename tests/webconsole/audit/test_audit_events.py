"""What reaches the audit log, through the real doors: the login page, the admin, the API's
Basic auth, the admin site's changes, the desktop services, the viewer's connection history,
and (end to end) the RDP server with Debian's xfreerdp."""

from __future__ import annotations

import shutil
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import end_process, wait_until
from tests.webconsole.desktops.test_rdp_login import client_display, rdpserver, xfreerdp  # noqa: F401
from webconsole.audit.models import AuditEvent
from webconsole.desktops import rdp, services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.recordings import history

pytestmark = pytest.mark.django_db(transaction=True)


def _events(action: str):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_web_admin_and_api_logins_and_failures(redis_server):
    User.objects.create_user("dora", password="pw-dora-audit-1", is_staff=True)
    web = Client(REMOTE_ADDR="192.0.2.10")
    assert web.post("/accounts/login/", {"username": "dora", "password": "wrong"}).status_code == 200
    assert web.post("/accounts/login/", {"username": "dora", "password": "pw-dora-audit-1"}).status_code == 302
    web.post("/accounts/logout/")
    Client(REMOTE_ADDR="192.0.2.11").post("/admin/login/", {"username": "nobody", "password": "x"})
    basic = APIClient(REMOTE_ADDR="192.0.2.12")
    basic.credentials(HTTP_AUTHORIZATION="Basic ZG9yYTp3cm9uZw==")  # dora:wrong
    assert basic.get("/api/v1/me/").status_code == 401

    failed = [(e.actor_name, e.address, e.details["door"]) for e in _events("login.failed")]
    assert failed == [("dora", "192.0.2.10", "web"), ("nobody", "192.0.2.11", "admin"), ("dora", "192.0.2.12", "api")]
    (success,) = _events("login.success")
    assert (success.actor.username, success.address, success.details) == ("dora", "192.0.2.10", {"door": "web"})
    assert [e.actor_name for e in _events("logout")] == ["dora"]


async def test_rdp_logins_through_the_rdp_door(redis_server):
    from asgiref.sync import sync_to_async

    await sync_to_async(User.objects.create_user)("rdp-audit", password="pw-rdp-audit-1")
    assert not await rdp.authenticate("rdp-audit", "wrong", "198.51.100.4")
    assert await rdp.authenticate("rdp-audit", "pw-rdp-audit-1", "198.51.100.4")
    got = await sync_to_async(lambda: [(e.action, e.actor_name, e.address, e.details["door"])
                                       for e in AuditEvent.objects.order_by("id")])()
    assert got == [("login.failed", "rdp-audit", "198.51.100.4", "rdp"),
                   ("login.success", "rdp-audit", "198.51.100.4", "rdp")]


def test_admin_site_changes_are_recorded(redis_server):
    from django.contrib.auth.models import Group

    admin = User.objects.create_superuser("erin", password="pw-erin-audit-1")
    client = Client()
    client.force_login(admin)
    assert client.post("/admin/auth/group/add/", {"name": "operators"}).status_code == 302
    group = Group.objects.get(name="operators")
    assert client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 302
    (added,), (deleted,) = _events("admin.add"), _events("admin.delete")
    assert (added.actor_name, added.target_type, added.target_id, added.target_label) == \
        ("erin", "group", str(group.pk), "operators")
    assert (deleted.actor_name, deleted.target_type, deleted.target_label) == ("erin", "group", "operators")
    assert added.details["via"] == "admin site"


def test_desktop_requests_say_who_asked_and_from_where(redis_server, settings):
    settings.WRD_NODE = "node-without-worker"
    alice = User.objects.create_user("alice-audit-d")
    staff = User.objects.create_user("staff-audit-d", is_staff=True)
    api = APIClient(REMOTE_ADDR="203.0.113.7")
    api.force_authenticate(alice)
    created = api.post("/api/v1/desktops/start", {"width": 800, "height": 600}, format="json").json()
    DesktopSession.objects.filter(pk=created["id"]).update(state=DesktopState.RUNNING)
    session = DesktopSession.objects.get(pk=created["id"])
    services.desktop_stop_request(session=session, user=staff, address="203.0.113.8")
    (create,) = _events("desktop.create")
    assert (create.actor_name, create.address, create.target_type, create.target_id) == \
        ("alice-audit-d", "203.0.113.7", "desktop", str(session.pk))
    assert (create.details["width"], create.details["height"], create.details["owner"]) == (800, 600, "alice-audit-d")
    (stop,) = _events("desktop.stop")
    assert (stop.actor_name, stop.address) == ("staff-audit-d", "203.0.113.8")


def test_viewer_connections_are_recorded_with_their_duration(redis_server):
    alice = User.objects.create_user("alice-audit-c")
    desktop = DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.RUNNING)
    opened = history.connection_opened(desktop_id=desktop.pk, user=alice, kind="browser", address="192.0.2.77")
    history.connection_closed(connection_id=opened)
    history.connection_closed(connection_id=opened)  # a second close is no second event
    (o,), (c,) = _events("connection.open"), _events("connection.close")
    assert (o.actor_name, o.address, o.target_id, o.details["kind"]) == ("alice-audit-c", "192.0.2.77",
                                                                         str(desktop.pk), "browser")
    assert c.details["connection"] == opened and c.details["duration_s"] >= 0 and c.address == "192.0.2.77"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed")
def test_rdp_connection_end_to_end(rdpserver, client_display, tmp_path):  # noqa: F811
    """A real xfreerdp: the wrong password, the right one, the desktop it starts, the
    connection and its end, each an event with the client's address."""
    User.objects.create_user("rdp-e2e-audit", password="rdp-e2e-pass-1")
    wrong = xfreerdp(client_display, rdpserver, "rdp-e2e-audit", "wrong-pass", tmp_path)
    try:
        wrong.wait(30)
    finally:
        end_process(wrong)
    client = xfreerdp(client_display, rdpserver, "rdp-e2e-audit", "rdp-e2e-pass-1", tmp_path)
    try:
        wait_until(lambda: AuditEvent.objects.filter(action="connection.open").exists(), 90, 0.3,
                   "the RDP connection to be recorded")
        time.sleep(1.0)  # a connection that lasts: its recorded duration is more than rounding
    finally:
        end_process(client)
    wait_until(lambda: AuditEvent.objects.filter(action="connection.close").exists(), 30, 0.3,
               "the end of the RDP connection to be recorded")
    try:
        actions = [(e.action, e.details.get("door") or e.details.get("kind") or e.details.get("via"))
                   for e in AuditEvent.objects.exclude(action__in=("desktop.start", "desktop.stopped")).order_by("id")]
        # xfreerdp offers NLA, which the server takes: both logins go through that door.
        assert actions == [("login.failed", "rdp-nla"), ("login.success", "rdp-nla"), ("desktop.create", "rdp"),
                           ("connection.open", "rdp"), ("connection.close", "rdp")]
        close = AuditEvent.objects.get(action="connection.close")
        assert close.address == "127.0.0.1" and close.actor_name == "rdp-e2e-audit" and close.details["duration_s"] > 0
    finally:
        for session in DesktopSession.objects.filter(owner__username="rdp-e2e-audit", state=DesktopState.RUNNING):
            services.desktop_stop(session=session)


async def test_a_real_viewer_socket_is_recorded_with_its_address_and_duration(redis_server):
    """The browser viewer's consumer on a running desktop: its connection and its end."""
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from webconsole.asgi import application

    def start():
        user = User.objects.create_user("viewer-audit", password="pw-viewer-audit-1")
        session = services.desktop_start(session=services.desktop_create(user=user, width=800, height=600,
                                                                          enqueue=False))
        client = Client()
        client.force_login(user)
        return session, client.cookies["sessionid"].value

    session, cookie = await sync_to_async(start)()
    try:
        assert session.state == DesktopState.RUNNING, session.failure_reason
        headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"),
                   (b"cookie", f"sessionid={cookie}".encode())]
        communicator = WebsocketCommunicator(application, f"/ws/desktops/{session.pk}/", headers=headers)
        communicator.scope["client"] = ("192.0.2.33", 50123)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        # the viewer waits for the page's first message; it is in once its connection is noted
        for _ in range(100):
            if await sync_to_async(AuditEvent.objects.filter(action="connection.open").exists)():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        await communicator.disconnect()
        events = await sync_to_async(lambda: [
            (e.action, e.actor_name, e.address, e.target_id, e.details.get("kind"), e.details.get("duration_s"))
            for e in AuditEvent.objects.filter(action__startswith="connection.").order_by("id")])()
        (opened, closed) = events
        assert opened[:5] == ("connection.open", "viewer-audit", "192.0.2.33", str(session.pk), "browser")
        assert closed[:5] == ("connection.close", "viewer-audit", "192.0.2.33", str(session.pk), "browser")
        assert closed[5] >= 0.5
    finally:
        await sync_to_async(services.desktop_stop)(session=session)
