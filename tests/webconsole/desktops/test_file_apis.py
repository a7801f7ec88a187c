"""File transfer API checks that come before any desktop is asked: the policy
(WRD_FILE_TRANSFER), the upload limit, names, tokens and who may use them. (The transfers
themselves, with a real host and Chromium, are in tests/viewer/test_files_e2e.py.)"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from webconsole.desktops import files
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def desktop(alice, tmp_path):
    # A running row whose host is nowhere: every request here must be decided without it.
    return DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.RUNNING,
                                         node="test", runtime_dir=str(tmp_path / "no-host"),
                                         started_at=timezone.now())


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_turned_off_refuses_both_ways(api, desktop, settings, caplog):
    settings.WRD_FILE_TRANSFER = ()
    response = api.post(f"/api/desktops/{desktop.pk}/uploads/", {"name": "a.txt", "size": 1}, format="json")
    assert response.status_code == 403 and "upload is turned off" in response.json()["detail"]
    assert api.get(f"/api/desktops/{desktop.pk}/files/").status_code == 403
    assert api.get(f"/api/desktops/{desktop.pk}/files/a.txt").status_code == 403
    assert "file transfer refused: file upload is turned off" in caplog.text


def test_one_way_only(api, desktop, settings):
    settings.WRD_FILE_TRANSFER = ("download",)
    assert api.post(f"/api/desktops/{desktop.pk}/uploads/", {"name": "a", "size": 1}, format="json").status_code == 403
    # downloads are allowed: the request reaches for the (absent) host and says so
    assert api.get(f"/api/desktops/{desktop.pk}/files/").status_code == 502


def test_the_viewer_page_tells_the_panel_what_is_allowed(alice, desktop, settings, client):
    settings.WRD_FILE_TRANSFER = ("upload",)
    settings.WRD_UPLOAD_MAX_BYTES = 12345
    client.force_login(alice)
    config = client.get(f"/desktops/{desktop.pk}/view").context["viewer_config"]
    assert config["files"]["upload"] and not config["files"]["download"]
    assert config["files"]["max_bytes"] == 12345 and config["csrf_token"]


def test_upload_limit_and_names(api, desktop, settings):
    settings.WRD_UPLOAD_MAX_BYTES = 1000
    url = f"/api/desktops/{desktop.pk}/uploads/"
    assert api.post(url, {"name": "a", "size": 1001}, format="json").status_code == 413
    for name in ["..", "a/b", "/abs", "bell\x07", "rtl\u202efdp.exe"]:
        assert api.post(url, {"name": name, "size": 1}, format="json").status_code == 400, name
    assert api.post(url, {"name": "a", "size": -5}, format="json").status_code == 400


def test_tokens_are_bound_to_their_desktop_and_user(api, alice, desktop):
    bob = User.objects.create_user("bob", password="pw-bob-12345")
    mine = files.Upload(desktop.pk, alice.pk, "0" * 32, "a.txt", 10).token
    bobs = files.Upload(desktop.pk, bob.pk, "0" * 32, "a.txt", 10).token
    other_desktop = files.Upload(desktop.pk + 1, alice.pk, "0" * 32, "a.txt", 10).token
    headers = {"HTTP_UPLOAD_OFFSET": "0"}
    for token in (bobs, other_desktop, mine[:-2] + "xx", "garbage"):
        response = api.generic("PATCH", f"/api/desktops/{desktop.pk}/uploads/{token}", b"x",
                               content_type="application/offset+octet-stream", **headers)
        assert response.status_code == 404, token
    # Bob cannot reach Alice's desktop at all.
    client = APIClient()
    client.force_authenticate(bob)
    assert client.generic("PATCH", f"/api/desktops/{desktop.pk}/uploads/{mine}", b"x",
                          content_type="application/offset+octet-stream", **headers).status_code == 404


def test_chunks_are_checked_before_the_host_is_asked(api, alice, desktop, settings):
    token = files.Upload(desktop.pk, alice.pk, "0" * 32, "a.txt", 10).token
    url = f"/api/desktops/{desktop.pk}/uploads/{token}"
    kinds = "application/offset+octet-stream"
    assert api.generic("PATCH", url, b"x", content_type="text/plain", HTTP_UPLOAD_OFFSET="0").status_code == 415
    assert api.generic("PATCH", url, b"x", content_type=kinds).status_code == 400  # no offset
    assert api.generic("PATCH", url, b"x" * 11, content_type=kinds, HTTP_UPLOAD_OFFSET="0").status_code == 413
    assert api.generic("PATCH", url, b"x" * 5, content_type=kinds, HTTP_UPLOAD_OFFSET="6").status_code == 413
    settings.WRD_UPLOAD_CHUNK_BYTES = 4
    assert api.generic("PATCH", url, b"x" * 5, content_type=kinds, HTTP_UPLOAD_OFFSET="0").status_code == 413


def test_a_stopped_desktop_takes_no_files(api, desktop):
    desktop.state = DesktopState.STOPPED
    desktop.save()
    response = api.post(f"/api/desktops/{desktop.pk}/uploads/", {"name": "a", "size": 1}, format="json")
    assert response.status_code == 409
