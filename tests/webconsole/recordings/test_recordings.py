"""Recordings in the console: who may see and fetch them, byte ranges, start/stop rights,
retention, and the connection history's links to recordings."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.recordings import history, selectors, services
from webconsole.recordings.models import Connection, Recording, RecordingState
from webconsole.recordings.ranges import UnsatisfiableRange, parse_range

FILE = bytes(range(256)) * 40  # 10240 bytes standing in for an MP4


# -- byte ranges (no database) ---------------------------------------------------------------


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 100, None), ("bytes=0-", 100, (0, 99)), ("bytes=10-19", 100, (10, 19)), ("bytes=90-200", 100, (90, 99)),
    ("bytes=-10", 100, (90, 99)), ("bytes=-500", 100, (0, 99)), ("bytes=5-2", 100, None),
    ("bytes=0-1,5-6", 100, None), ("items=0-5", 100, None), ("bytes=-", 100, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)])
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, size)


@given(st.text(max_size=40), st.integers(0, 1 << 40))
def test_parse_range_any_header_is_whole_file_a_range_inside_or_416(header, size):
    try:
        got = parse_range(header, size)
    except UnsatisfiableRange:
        return
    if got is not None:
        first, last = got
        assert 0 <= first <= last < size


@given(st.integers(0, 1 << 40), st.integers(0, 1 << 40), st.integers(1, 1 << 40))
def test_parse_range_numbers(first, last, size):
    try:
        got = parse_range(f"bytes={first}-{last}", size)
    except UnsatisfiableRange:
        assert first >= size
        return
    assert got is None if last < first else got == (first, min(last, size - 1))


# -- console ---------------------------------------------------------------------------------


@pytest.fixture
def users(db):
    return {"admin": User.objects.create_user("admin", password="pw", is_staff=True),
            "alice": User.objects.create_user("alice", password="pw"),
            "bob": User.objects.create_user("bob", password="pw")}


@pytest.fixture
def recording(users, settings, tmp_path):
    settings.WRD_RECORDINGS_DIR = tmp_path / "recordings"
    desktop = DesktopSession.objects.create(owner=users["alice"], width=800, height=600, node="n",
                                            state=DesktopState.STOPPED)
    rec = Recording.objects.create(desktop=desktop, file="one.mp4", state=RecordingState.FINISHED,
                                   requested_by=users["admin"], ended_at=timezone.now(), duration=3.0)
    services.recordings_dir()
    rec.path.write_bytes(FILE)
    return rec


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admins_fetch_ranges_others_get_nothing(users, recording):
    url = f"/recordings/{recording.pk}/file.mp4"
    admin = client_for(users["admin"])
    whole = admin.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == FILE
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "video/mp4"
    part = admin.get(url, HTTP_RANGE="bytes=100-299")
    assert part.status_code == 206 and b"".join(part.streaming_content) == FILE[100:300]
    assert part["Content-Range"] == f"bytes 100-299/{len(FILE)}" and part["Content-Length"] == "200"
    assert admin.get(url, HTTP_RANGE=f"bytes={len(FILE)}-").status_code == 416
    assert admin.get(f"/recordings/{recording.pk}/").status_code == 200
    for name in ("alice", "bob"):  # the owner too, while the policy does not allow owners
        other = client_for(users[name])
        assert other.get(url).status_code == 404
        assert other.get(f"/recordings/{recording.pk}/").status_code == 404
        assert other.get(f"/desktops/{recording.desktop_id}/recordings").status_code == 404
    assert Client().get(url).status_code == 302


@pytest.mark.django_db
def test_owner_plays_own_recordings_when_the_policy_allows(users, recording, settings):
    settings.WRD_RECORDING_OWNER_ACCESS = True
    alice, bob = client_for(users["alice"]), client_for(users["bob"])
    assert alice.get(f"/recordings/{recording.pk}/file.mp4").status_code == 200
    assert alice.get(f"/recordings/{recording.pk}/").status_code == 200
    assert b"Record this desktop" not in alice.get(f"/desktops/{recording.desktop_id}/recordings").content
    assert bob.get(f"/recordings/{recording.pk}/file.mp4").status_code == 404
    assert APIClient().get(f"/api/recordings/{recording.pk}/file.mp4").status_code in (401, 403)


@pytest.mark.django_db
def test_only_admins_start_or_stop_and_only_running_desktops(users, recording, settings):
    api = APIClient()
    api.force_authenticate(users["alice"])
    assert api.post(f"/api/desktops/{recording.desktop_id}/recordings/start").status_code == 403
    assert api.post(f"/api/recordings/{recording.pk}/stop").status_code == 403
    api.force_authenticate(users["admin"])
    refused = api.post(f"/api/desktops/{recording.desktop_id}/recordings/start")
    assert refused.status_code == 400 and "not running" in str(refused.json())
    listing = api.get(f"/api/desktops/{recording.desktop_id}/recordings/").json()
    assert [(r["id"], r["requested_by"], r["state"]) for r in listing] == [(recording.pk, "admin", "finished")]


@pytest.mark.django_db
def test_retention_prunes_old_recordings_and_stray_files(users, recording, settings):
    settings.WRD_RECORDING_RETENTION_DAYS = 7
    old = Recording.objects.create(desktop=recording.desktop, file="old.mp4", state=RecordingState.FINISHED)
    Recording.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=8))
    live = Recording.objects.create(desktop=recording.desktop, file="live.mp4")  # still recording: kept
    Recording.objects.filter(pk=live.pk).update(started_at=timezone.now() - timedelta(days=30))
    for rec in (old, live):
        rec.path.write_bytes(b"x")
    stray = recording.path.with_name("stray.mp4")
    stray.write_bytes(b"x")
    os.utime(stray, (0, 0))
    assert services.recordings_prune() == 2
    assert not old.path.exists() and not stray.exists()
    assert recording.path.exists() and live.path.exists()
    assert set(Recording.objects.values_list("file", flat=True)) == {"one.mp4", "live.mp4"}


@pytest.mark.django_db
def test_history_rows_link_the_recordings_covering_them(users, recording):
    desktop = recording.desktop
    Recording.objects.filter(pk=recording.pk).update(started_at=timezone.now() - timedelta(hours=1),
                                                     ended_at=timezone.now() - timedelta(minutes=30))
    during = history.connection_opened(desktop_id=desktop.pk, user=users["alice"], kind="rdp", address="10.0.0.5")
    Connection.objects.filter(pk=during).update(opened_at=timezone.now() - timedelta(minutes=50))
    history.connection_closed(connection_id=during)
    Connection.objects.filter(pk=during).update(closed_at=timezone.now() - timedelta(minutes=40))
    later = history.connection_opened(desktop_id=desktop.pk, user=users["bob"], kind="browser", view_only=True)
    rows = {row.connection.pk: row for row in selectors.connection_history(desktop=desktop)}
    assert [r.pk for r in rows[during].recordings] == [recording.pk]
    assert rows[later].recordings == [] and rows[later].connection.closed_at is None
    page = client_for(users["admin"]).get(f"/desktops/{desktop.pk}/recordings").content.decode()
    assert f'data-recording-link="{recording.pk}"' in page and "10.0.0.5" in page and "(view only)" in page


@pytest.mark.django_db(transaction=True)  # the hooks' writes run in another thread
def test_rdp_hooks_write_history_rows_for_the_desktop_at_the_socket(users, tmp_path):
    import asyncio

    from webconsole.desktops import rdp

    desktop = DesktopSession.objects.create(owner=users["alice"], width=800, height=600, node="n",
                                            state=DesktopState.RUNNING, runtime_dir=str(tmp_path / "rt"))
    DesktopSession.objects.create(owner=users["alice"], width=800, height=600, node="n",
                                  state=DesktopState.RUNNING, runtime_dir=str(tmp_path / "other"))
    token = rdp._history_opened("alice", desktop.socket_path, "192.0.2.7")
    row = Connection.objects.get(pk=token)
    assert (row.desktop_id, row.user.username, row.kind, row.address, row.closed_at) == (
        desktop.pk, "alice", "rdp", "192.0.2.7", None)
    asyncio.run(rdp.history_closed(token))
    row.refresh_from_db()
    assert row.closed_at is not None
    assert rdp._history_opened("alice", tmp_path / "nowhere.sock", "192.0.2.7") is None


@pytest.mark.django_db
def test_recordings_list_and_api_file_for_admins(users, recording):
    admin, alice = client_for(users["admin"]), client_for(users["alice"])
    listing = admin.get("/recordings/")
    assert listing.status_code == 200 and f'data-recording="{recording.pk}"'.encode() in listing.content
    assert alice.get("/recordings/").status_code == 403
    api = APIClient()
    api.force_authenticate(users["admin"])
    part = api.get(f"/api/recordings/{recording.pk}/file.mp4", HTTP_RANGE="bytes=-16")
    assert part.status_code == 206 and b"".join(part.streaming_content) == FILE[-16:]
    api.force_authenticate(users["bob"])
    assert api.get(f"/api/recordings/{recording.pk}/file.mp4").status_code == 404
    assert api.get(f"/api/desktops/{recording.desktop_id}/recordings/").status_code == 404


@pytest.mark.django_db
def test_desktops_page_links_recordings_for_those_who_may_see_them(users, recording, settings):
    link = f'href="/desktops/{recording.desktop_id}/recordings"'.encode()
    alice = client_for(users["alice"])
    assert link not in alice.get("/desktops/").content
    settings.WRD_RECORDING_OWNER_ACCESS = True
    assert link in alice.get("/desktops/").content
