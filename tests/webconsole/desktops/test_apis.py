"""The REST API and the console pages."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def unconsumed_queue(redis_server, settings):
    """Jobs these tests enqueue go to a real Redis, on a node queue no worker serves."""
    settings.WRD_NODE = "node-without-worker"


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_api_requires_authentication():
    assert APIClient().get("/api/desktops/").status_code in (401, 403)


def test_token_authentication_for_scripts(alice):
    from webconsole.api.services import token_create

    token = token_create(user=alice, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.value}")
    assert client.get("/api/desktops/").status_code == 200


def test_create_list_and_errors(api, alice):
    created = api.post("/api/desktops/start", {"width": 800, "height": 600, "name": "work"}, format="json")
    assert created.status_code == 202
    assert created.json()["state"] == "requested" and created.json()["name"] == "work"
    listing = api.get("/api/desktops/").json()
    assert [d["id"] for d in listing] == [created.json()["id"]]

    bad = api.post("/api/desktops/start", {"width": 10, "height": 10}, format="json")
    assert bad.status_code == 400 and "outside the allowed range" in str(bad.json())
    assert DesktopSession.objects.count() == 1


def test_foreign_desktops_are_invisible_and_unstoppable(api):
    bob = User.objects.create_user("bob", password="pw")
    theirs = services.desktop_create(user=bob, width=800, height=600, enqueue=False)
    assert api.get(f"/api/desktops/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/desktops/{theirs.pk}/stop").status_code == 404  # as if it did not exist
    theirs.refresh_from_db()
    assert theirs.state == DesktopState.REQUESTED


def test_running_desktop_screenshot_resize_and_stop(api, alice):
    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=800, height=600, enqueue=False))
    try:
        shot = api.get(f"/api/desktops/{session.pk}/screenshot.png")
        assert shot.status_code == 200 and shot["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(shot.content)).size == (800, 600)

        resized = api.post(f"/api/desktops/{session.pk}/resize", {"width": 1024, "height": 700}, format="json")
        assert resized.status_code == 200 and (resized.json()["width"], resized.json()["height"]) == (1024, 700)
        too_big = api.post(f"/api/desktops/{session.pk}/resize", {"width": 99999, "height": 700}, format="json")
        assert too_big.status_code == 400

        stop = api.post(f"/api/desktops/{session.pk}/stop")
        assert stop.status_code == 202 and stop.json()["state"] == "stopping"
    finally:
        services.desktop_stop(session=session)
    again = api.post(f"/api/desktops/{session.pk}/stop")
    assert again.status_code == 400 and "already stopped" in str(again.json())
    assert api.get(f"/api/desktops/{session.pk}/screenshot.png").status_code == 409


def test_console_pages(alice):
    client = Client()
    assert client.get("/desktops/").status_code == 302  # to the login page
    login = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert login.status_code == 302
    page = client.get("/desktops/")
    assert page.status_code == 200 and b"Start a desktop" in page.content

    started = client.post("/desktops/start", {"size": "800x600", "name": "from-page"}, follow=True)
    assert b"is starting" in started.content
    session = DesktopSession.objects.get(name="from-page")
    assert session.state == DesktopState.REQUESTED and (session.width, session.height) == (800, 600)

    refused = client.post("/desktops/start", {"size": "5x5"}, follow=True)
    assert b"outside the allowed range" in refused.content

    stopped = client.post(f"/desktops/{session.pk}/stop", follow=True)
    assert b"is stopping" in stopped.content
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED  # never started, so stopped at once
