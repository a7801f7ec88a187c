"""The desktop services and the API enforce a user's effective policy: the number of desktops,
sizes, profiles, resizes, idle timeout and lifetime of running desktops, resource limits, file
transfer. Real database; nothing here starts a desktop (test_profiles.py does)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from tests.webconsole.policies.conftest import group_with_policy, override
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.policies.models import DesktopLaunch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_worker(settings):
    settings.WRD_NODE = "node-without-worker"  # what a test enqueues is never run


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_login(alice)
    return client


def test_limit_reached(alice, api, profiles, redis_server):
    group_with_policy("one-each", [alice], max_desktops=1)
    assert api.post("/api/desktops/start", {"width": 800, "height": 600}, format="json").status_code == 202
    response = api.post("/api/desktops/start", {"width": 800, "height": 600}, format="json")
    assert response.status_code == 400
    assert "already have 1 active desktop" in response.json()["detail"]
    assert DesktopSession.objects.filter(owner=alice).count() == 1
    override(alice, max_desktops=0)
    DesktopSession.objects.filter(owner=alice).update(state=DesktopState.STOPPED)
    response = api.post("/api/desktops/start", {}, format="json")
    assert response.status_code == 400 and "allows you no desktops" in response.json()["detail"]


def test_size_too_big(alice, api, profiles):
    group_with_policy("small", [alice], max_width=1024, max_height=768)
    response = api.post("/api/desktops/start", {"width": 1280, "height": 720}, format="json")
    assert response.status_code == 400
    assert "larger than your policy allows (1024x768)" in response.json()["fields"]["size"][0]
    response = api.post("/api/desktops/start", {"width": 100, "height": 100}, format="json")
    assert response.status_code == 400 and "outside the allowed range" in response.json()["fields"]["size"][0]
    assert not DesktopSession.objects.exists()
    # Without a size the default (1280x800) is brought down to the policy's maximum.
    response = api.post("/api/desktops/start", {}, format="json")
    assert response.status_code == 202, response.content
    assert (response.json()["width"], response.json()["height"]) == (1024, 768)


def test_resize_past_the_policy_is_refused_and_applies_to_running_desktops(alice):
    session = DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.RUNNING,
                                            node="node-without-worker")
    group_with_policy("small", [alice], max_width=1024, max_height=768)
    with pytest.raises(ValidationError) as refused:
        services.desktop_resize(session=session, user=alice, width=1280, height=800)
    assert "larger than your policy allows" in str(refused.value)


def test_profile_not_allowed(alice, api, profiles):
    group_with_policy("minimal-only", [alice], restrict_profiles=True, profiles=[profiles["minimal"]])
    response = api.post("/api/desktops/start", {"profile": "desktop"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"profile": ["your policy does not allow the 'desktop' profile"]}
    response = api.post("/api/desktops/start", {"profile": "no-such"}, format="json")
    assert response.status_code == 400
    assert "no desktop profile named 'no-such'" in response.json()["fields"]["profile"][0]
    response = api.post("/api/desktops/start", {"profile": "../etc"}, format="json")
    assert response.status_code == 400 and "profile" in response.json()["fields"]
    assert not DesktopSession.objects.exists()
    response = api.post("/api/desktops/start", {"profile": "minimal"}, format="json")
    assert response.status_code == 202
    assert DesktopLaunch.objects.get(desktop_id=response.json()["id"]).profile_name == "minimal"


def test_the_policy_default_profile_and_its_start_up(alice, profiles, settings):
    settings.WRD_SESSION_STARTUP, settings.WRD_SESSION_WAYLAND = "", True
    override(alice, default_profile=profiles["desktop"])
    session = services.desktop_create(user=alice, enqueue=False)
    launch = DesktopLaunch.objects.get(desktop=session)
    assert launch.profile_name == "desktop"
    from webconsole.policies.enforce import launch_args
    assert launch_args(session) == {"startup": "exec xfce4-session", "wayland": False}
    minimal = services.desktop_create(user=alice, profile="minimal", enqueue=False)
    assert launch_args(minimal) == {"startup": None, "wayland": True}  # the host's default: openbox + xterm
    settings.WRD_SESSION_STARTUP, settings.WRD_SESSION_WAYLAND = "exec twm", False
    assert launch_args(minimal) == {"startup": "exec twm", "wayland": False}  # the server's switches


def test_the_start_form_takes_a_profile(alice, profiles, client):
    client.force_login(alice)
    override(alice, restrict_profiles=True, profiles=[profiles["minimal"]])
    page = client.get("/desktops/").content.decode()
    assert 'value="minimal"' in page and 'value="desktop"' not in page  # only the allowed ones offered
    client.post("/desktops/start", {"profile": "desktop", "size": ""})
    assert not DesktopSession.objects.exists()
    messages = [str(m) for m in client.get("/desktops/").context["messages"]]
    assert messages == ["your policy does not allow the 'desktop' profile"]


def test_idle_timeout_and_lifetime_apply_to_running_desktops(alice, admin, redis_server):
    now = timezone.now()
    idle = DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.RUNNING,
                                         node="node-without-worker", started_at=now - timedelta(minutes=20),
                                         last_activity_at=now - timedelta(minutes=10))
    busy_admin = DesktopSession.objects.create(owner=admin, width=800, height=600, state=DesktopState.RUNNING,
                                               node="node-without-worker", started_at=now - timedelta(hours=5),
                                               last_activity_at=now)
    assert services.desktop_reap_idle(now=now) == []  # server defaults: 4 h idle, no lifetime
    group_with_policy("short", [alice], idle_timeout=300)
    override(admin, max_lifetime=3600)
    assert sorted(services.desktop_reap_idle(now=now)) == sorted([idle.pk, busy_admin.pk])
    for session in (idle, busy_admin):
        session.refresh_from_db()
        assert session.state == DesktopState.STOPPING


def test_resource_limits_per_user(alice, admin):
    group_with_policy("small", [alice], memory_bytes=512 << 20, cpus=0.5, pids=300)
    limits = services.desktop_limits(user=alice)
    assert (limits.memory_bytes, limits.cpus, limits.pids) == (512 << 20, 0.5, 300)
    other = services.desktop_limits(user=admin)
    assert other == services.desktop_limits()  # the server's defaults


def test_file_transfer_off_by_policy(alice, api, settings):
    settings.WRD_FILE_TRANSFER = ("upload", "download")
    session = DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.STOPPED)
    group_with_policy("no-files", [alice], file_upload=False, file_download=False)
    response = api.post(f"/api/desktops/{session.pk}/uploads/", {"name": "a.txt", "size": 3}, format="json")
    assert response.status_code == 403 and response.json()["detail"] == "file upload is turned off by your policy"
    response = api.get(f"/api/desktops/{session.pk}/files/")
    assert response.status_code == 403 and response.json()["detail"] == "file download is turned off by your policy"
    override(alice, file_download=True)  # a change applies to the next request
    assert api.get(f"/api/desktops/{session.pk}/files/").status_code == 409  # allowed: the desktop is stopped


def test_browser_access_off_refuses_the_viewer_page(alice, client):
    session = DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.RUNNING)
    client.force_login(alice)
    assert client.get(f"/desktops/{session.pk}/view").status_code == 200
    override(alice, browser_access=False)
    assert client.get(f"/desktops/{session.pk}/view").status_code == 403


def test_the_desktop_command_takes_a_profile(alice, profiles):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no desktop profile named 'nope'"):
        call_command("desktop", "start", "--user", "alice", "--profile", "nope")
    override(alice, restrict_profiles=True, profiles=[profiles["minimal"]])
    with pytest.raises(CommandError, match="does not allow the 'desktop' profile"):
        call_command("desktop", "start", "--user", "alice", "--profile", "desktop")
    assert not DesktopSession.objects.exists()
