"""The dashboard: cards, thumbnails (one host screenshot per desktop per period, however many
dashboards ask), connection files, restart, the admins' view of every desktop."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from tests.conftest import ROOT, desktop_user
from tests.viewer import harness
from webconsole.audit.models import AuditEvent
from webconsole.dashboard import selectors, services, thumbnails
from webconsole.desktops import services as desktop_services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.desktops.tasks import desktop_restart_task, desktop_start_task
from webconsole.recordings.models import Connection
from webconsole.sharing import services as sharing

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice-1")


@pytest.fixture
def boss():
    return User.objects.create_user("boss", password="pw-boss-1", is_staff=True)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _desktop(owner, *, state=DesktopState.RUNNING, node="node-a", idle_minutes=0, **fields) -> DesktopSession:
    now = timezone.now()
    return DesktopSession.objects.create(owner=owner, width=1280, height=800, state=state, node=node,
                                         started_at=now - timedelta(hours=1),
                                         last_activity_at=now - timedelta(minutes=idle_minutes), **fields)


@pytest.fixture
def host(tmp_path):
    h = harness.start_host(tmp_path, width=1024, height=768, user=desktop_user("dash"))
    yield h
    h.close()


@pytest.fixture
def live_desktop(host, alice):
    return DesktopSession.objects.create(
        owner=alice, width=1024, height=768, state=DesktopState.RUNNING, node="test", display=host.status["display"],
        runtime_dir=str(host.runtime_dir), host_pid=host.pid, started_at=timezone.now())


def test_thumbnails_cost_one_host_screenshot_per_period(live_desktop, alice, monkeypatch, settings, redis_server):
    settings.WRD_THUMBNAIL_SECONDS = 2
    cache.clear()
    taken = []
    take = thumbnails._take

    def counting(session):
        started = time.perf_counter()
        data = take(session)
        taken.append(time.perf_counter() - started)
        return data

    monkeypatch.setattr(thumbnails, "_take", counting)
    clients = [_client(alice) for _ in range(10)]  # ten dashboards open
    url = reverse("dashboard:thumbnail", args=[live_desktop.pk])
    # Start just after a bucket begins, so all ten fall in one.
    time.sleep(settings.WRD_THUMBNAIL_SECONDS - time.time() % settings.WRD_THUMBNAIL_SECONDS + 0.05)
    started = time.perf_counter()
    bodies = [c.get(url) for c in clients]
    served = time.perf_counter() - started
    assert [r.status_code for r in bodies] == [200] * 10
    assert len(taken) == 1
    assert bodies[0]["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(bodies[0].content))
    assert image.format == "JPEG" and image.size == (320, 240)
    assert len({r.content for r in bodies}) == 1
    time.sleep(settings.WRD_THUMBNAIL_SECONDS)
    assert clients[0].get(url).status_code == 200
    assert len(taken) == 2  # the next period asks the host again
    print(f"thumbnail: host screenshot + scale {taken[0] * 1000:.0f} ms, {len(bodies[0].content)} bytes; "
          f"ten requests {served * 1000:.0f} ms in all")


# Another console process (daphne runs several): the same settings and Redis, its own memory.
OTHER_PROCESS = """
import hashlib, json, sys
import django
django.setup()
from webconsole.dashboard import thumbnails
from webconsole.desktops.models import DesktopSession
taken = []
take = thumbnails._take
thumbnails._take = lambda session: taken.append(1) or take(session)
data = thumbnails.thumbnail(DesktopSession(**json.loads(sys.argv[1])))
print(json.dumps({"taken": len(taken), "sha256": data and hashlib.sha256(data).hexdigest()}))
"""


def _thumbnail_in_another_process(session: DesktopSession) -> dict:
    fields = {"id": session.pk, "owner_id": session.owner_id, "width": session.width, "height": session.height,
              "state": session.state, "runtime_dir": session.runtime_dir, "host_pid": session.host_pid,
              "display": session.display, "node": session.node}
    run = subprocess.run([sys.executable, "-c", OTHER_PROCESS, json.dumps(fields)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT,
                         env=os.environ | {"DJANGO_SETTINGS_MODULE": "webconsole.config.django.test"})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_console_processes_share_one_thumbnail_per_period(live_desktop, alice, monkeypatch, settings,
                                                           redis_server):
    """The cache is Redis, not each process's memory: a second process asking within the
    period gets the same JPEG without asking the host; a resized desktop is a new key."""
    settings.WRD_THUMBNAIL_SECONDS = 30
    monkeypatch.setenv("WRD_THUMBNAIL_SECONDS", "30")
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache.clear()
    taken = []
    take = thumbnails._take
    monkeypatch.setattr(thumbnails, "_take", lambda session: taken.append(1) or take(session))
    # Start early in a period, so that both processes ask within the same one.
    time.sleep(30 - time.time() % 30 + 0.05 if time.time() % 30 > 20 else 0)
    here = _client(alice).get(reverse("dashboard:thumbnail", args=[live_desktop.pk]))
    assert here.status_code == 200 and len(taken) == 1
    there = _thumbnail_in_another_process(live_desktop)
    assert there == {"taken": 0, "sha256": hashlib.sha256(here.content).hexdigest()}
    assert len(taken) == 1  # one host screenshot for both processes
    live_desktop.width, live_desktop.height = 800, 600  # as after a resize: another key
    assert _thumbnail_in_another_process(live_desktop)["taken"] == 1


def test_a_thumbnail_shows_even_when_redis_does_not_answer(live_desktop, alice, tmp_path, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"unix://{tmp_path / 'no-redis.sock'}?db=1"}}
    response = _client(alice).get(reverse("dashboard:thumbnail", args=[live_desktop.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "cache unreachable, asking the host directly" in caplog.text


@pytest.mark.parametrize(("redis_url", "cache_url"), [
    ("unix:///run/wrd/redis.sock", "unix:///run/wrd/redis.sock?db=1"),
    ("unix:///run/wrd/redis.sock?db=0", "unix:///run/wrd/redis.sock?db=1"),
    ("redis://redis:6379/0", "redis://redis:6379/1"),
    ("redis://:secret@redis:6379", "redis://:secret@redis:6379/1"),
])
def test_the_cache_has_a_database_of_its_own(redis_url, cache_url):
    from webconsole.config.settings.cache import cache_url as make

    assert make(redis_url, 1) == cache_url


def test_a_thumbnail_is_for_the_owner_staff_and_those_it_is_shared_with(live_desktop, alice, boss, redis_server):
    guest = User.objects.create_user("guest", password="pw-guest-1")
    url = reverse("dashboard:thumbnail", args=[live_desktop.pk])
    assert _client(guest).get(url).status_code == 404
    assert _client(boss).get(url).status_code == 200
    sharing.share_grant_user(desktop=live_desktop, by=alice, user=guest)
    assert _client(guest).get(url).status_code == 200


def test_dashboard_cards_say_what_runs_and_who_watches(alice):
    running = _desktop(alice, name="Work", idle_minutes=3)
    _desktop(alice, state=DesktopState.STOPPED, name="Old", stopped_at=timezone.now())
    Connection.objects.create(desktop=running, user=alice, kind="browser")
    Connection.objects.create(desktop=running, user=alice, kind="rdp")
    Connection.objects.create(desktop=running, user=alice, kind="browser", closed_at=timezone.now())
    page = _client(alice).get(reverse("desktops:list"))
    cards = {c.desktop.name: c for c in page.context["cards"]}
    assert (cards["Work"].viewers, cards["Work"].rdp_clients) == (1, 1)
    assert cards["Work"].idle >= timedelta(minutes=3)
    html = page.content.decode()
    assert f'data-desktop="{running.pk}" data-state="running"' in html
    assert "1 browser · 1 RDP" in html
    assert "xfreerdp /v:testserver:3389 /u:alice /size:1280x800" in html
    fragment = _client(alice).get(reverse("desktops:list") + "?fragment=cards").content.decode()
    assert "<html" not in fragment and f'data-desktop="{running.pk}"' in fragment


def test_start_takes_the_size_and_refuses_an_unknown_profile(alice, settings, redis_server):
    settings.WRD_NODE = "node-without-worker"
    client = _client(alice)
    client.post(reverse("desktops:start"), {"size": "1366x768", "name": "Big"})
    desktop = DesktopSession.objects.get(owner=alice)
    assert (desktop.width, desktop.height, desktop.name, desktop.state) == (1366, 768, "Big", "requested")
    response = client.post(reverse("desktops:start"), {"size": "1366x768", "profile": "nonesuch"}, follow=True)
    assert "no desktop profile" in response.content.decode()
    assert DesktopSession.objects.filter(owner=alice).count() == 1


@override_settings(WRD_RDP_PUBLIC_HOST="rdp.example.org", WRD_RDP_PUBLIC_PORT=13389)
def test_the_rdp_file_names_this_server_user_and_size(alice):
    desktop = _desktop(alice)
    response = _client(alice).get(reverse("dashboard:rdp-file", args=[desktop.pk]))
    assert response["Content-Type"] == "application/x-rdp"
    assert f'filename="wrd-desktop-{desktop.pk}.rdp"' in response["Content-Disposition"]
    lines = response.content.decode().split("\r\n")
    for line in ("full address:s:rdp.example.org:13389", "username:s:alice", "desktopwidth:i:1280",
                 "desktopheight:i:800", "screen mode id:i:1", "redirectclipboard:i:1"):
        assert line in lines
    assert services.xfreerdp_command(session=desktop, username="a b", host="h", port=1) \
        == "xfreerdp /v:h:1 '/u:a b' /size:1280x800 /dynamic-resolution /gfx:AVC420 +clipboard /sound /cert:tofu"


def test_without_rdp_access_the_dashboard_offers_no_rdp_connection(alice, boss):
    from tests.webconsole.policies.conftest import group_with_policy

    desktop = _desktop(alice)
    page = _client(alice).get(reverse("desktops:list")).content.decode()
    assert 'data-action="copy-xfreerdp"' in page and 'data-action="rdp-file"' in page
    assert 'data-rdp="off"' not in page
    group_with_policy("browser-only", [alice], rdp_access=False)
    page = _client(alice).get(reverse("desktops:list")).content.decode()
    assert 'data-action="copy-xfreerdp"' not in page and 'data-action="rdp-file"' not in page
    assert 'data-rdp="off"' in page and 'data-nla="no-hash"' not in page
    for user in (alice, boss):  # the file would name alice, whose policy refuses RDP
        assert _client(user).get(reverse("dashboard:rdp-file", args=[desktop.pk])).status_code == 403


def test_restart_keeps_the_desktop_and_its_shares(alice, settings, redis_server):
    settings.WRD_NODE = "node-without-worker"  # the test runs the worker's half itself
    guest = User.objects.create_user("guest", password="pw-guest-1")
    session = desktop_services.desktop_create(user=alice, width=800, height=600, enqueue=False)
    try:
        desktop_start_task(session.pk)
        session.refresh_from_db()
        assert session.state == DesktopState.RUNNING
        share = sharing.share_grant_user(desktop=session, by=alice, user=guest)
        first_pid = session.host_pid
        response = _client(alice).post(reverse("dashboard:restart", args=[session.pk]))
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.state == DesktopState.STOPPING
        desktop_restart_task(session.pk)
        session.refresh_from_db()
        assert session.state == DesktopState.RUNNING, session.failure_reason
        assert session.host_pid != first_pid and (session.width, session.height) == (800, 600)
        share.refresh_from_db()
        assert share.is_active()
        assert AuditEvent.objects.filter(action="desktop.restart", actor=alice, target_id=str(session.pk),
                                         address="127.0.0.1").exists()
        other = _client(guest).post(reverse("dashboard:restart", args=[session.pk]))
        assert other.status_code == 404  # a share gives a viewer, not the desktop's controls
    finally:
        desktop_services.desktop_stop(session=session)


def test_restarting_a_stopped_desktop_keeps_to_the_owners_policy(alice, settings, redis_server):
    """The dashboard restarts through the API's service: a stopped desktop is queued to start
    again, within the owner's policy's count of desktops."""
    from webconsole.policies.models import Policy

    settings.WRD_NODE = "node-without-worker"
    stopped = _desktop(alice, state=DesktopState.STOPPED, node="node-without-worker", stopped_at=timezone.now())
    _desktop(alice, node="node-without-worker")  # one running already
    Policy.objects.create(user=alice, max_desktops=1)
    url = reverse("dashboard:restart", args=[stopped.pk])
    page = _client(alice).post(url, follow=True)
    assert [str(m) for m in page.context["messages"]] == ["you already have 1 active desktop(s); stop one first"]
    stopped.refresh_from_db()
    assert stopped.state == DesktopState.STOPPED
    Policy.objects.filter(user=alice).update(max_desktops=2)
    _client(alice).post(url)
    stopped.refresh_from_db()
    assert stopped.state == DesktopState.REQUESTED
    assert AuditEvent.objects.filter(action="desktop.restart", target_id=str(stopped.pk)).count() == 1


def test_admins_filter_sort_and_total_every_desktop(alice, boss):
    bob = User.objects.create_user("bob", password="pw-bob-1")
    a1 = _desktop(alice, node="node-a", idle_minutes=5, memory_bytes=0)
    a2 = _desktop(alice, node="node-b", idle_minutes=90)
    b1 = _desktop(bob, node="node-a", idle_minutes=30)
    _desktop(bob, state=DesktopState.STOPPED, node="node-a")
    Connection.objects.create(desktop=a1, user=alice, kind="browser")
    Connection.objects.create(desktop=b1, user=bob, kind="rdp")

    def shown(**query) -> list[int]:
        page = _client(boss).get(reverse("dashboard:admin"), query)
        return [c.desktop.pk for c in page.context["cards"]]

    assert sorted(shown()) == sorted([a1.pk, a2.pk, b1.pk])  # active ones by default
    assert len(shown(state="all")) == 4
    assert sorted(shown(owner="ali")) == sorted([a1.pk, a2.pk])
    assert sorted(shown(node="node-a")) == sorted([a1.pk, b1.pk])
    assert sorted(shown(idle="20")) == sorted([a2.pk, b1.pk])
    assert shown(idle="9" * 30) == [] and shown(idle="x") != []  # past any timedelta; not a number: no filter
    assert shown(sort="-idle") == [a2.pk, b1.pk, a1.pk]
    assert shown(sort="idle") == [a1.pk, b1.pk, a2.pk]
    assert shown(sort="owner")[:2] == sorted([a1.pk, a2.pk])
    cards, totals = selectors.admin_cards(filters=selectors.AdminFilters())
    assert (totals.desktops, totals.running, totals.viewers, totals.rdp_clients) == (3, 3, 1, 1)
    assert _client(alice).get(reverse("dashboard:admin")).status_code == 403


@pytest.mark.parametrize("shown_to_owner", [True, False])
def test_an_admin_opening_a_desktop_is_audited_and_shown_to_its_owner(alice, boss, settings, shown_to_owner):
    settings.WRD_ADMIN_OPEN_SHOWN_TO_OWNER = shown_to_owner
    desktop = _desktop(alice)
    assert _client(boss).get(reverse("viewer:view", args=[desktop.pk])).status_code == 200
    event = AuditEvent.objects.get(action="desktop.open_other")
    assert (event.actor, event.target_id, event.details["owner"]) == (boss, str(desktop.pk), "alice")
    _client(alice).get(reverse("viewer:view", args=[desktop.pk]))  # the owner's own opening is not
    assert AuditEvent.objects.filter(action="desktop.open_other").count() == 1
    html = _client(alice).get(reverse("desktops:list")).content.decode()
    assert ("Opened by admin <strong>boss</strong>" in html) == shown_to_owner


def test_a_desktop_shared_with_you_is_on_your_dashboard(alice):
    guest = User.objects.create_user("guest", password="pw-guest-1")
    desktop = _desktop(alice, name="Demo")
    assert _client(guest).get(reverse("desktops:list")).context["shared"] == []
    sharing.share_grant_user(desktop=desktop, by=alice, user=guest, control=True)
    page = _client(guest).get(reverse("desktops:list"))
    (card,) = page.context["shared"]
    assert card.desktop == desktop and card.share.control
    assert "alice's desktop · you may control it" in page.content.decode().replace("&#x27;", "'")
