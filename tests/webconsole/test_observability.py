"""/api/v1/health/ and /metrics against real parts: the test database, Redis, a Celery
worker, the RDP server, the console under daphne and a browser viewer."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, wait_until
from tests.webconsole.desktops.test_attach import (  # noqa: F401 (fixture)
    CHROMIUM,
    CHROMIUM_ARGS,
    daphne,
    login_cookie,
    open_viewer,
)
from tests.webconsole.desktops.test_rdp_login import rdpserver  # noqa: F401 (fixture)
from webconsole.config import env
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, by (name, sorted labels); parsing fails on a malformed one."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_health_names_each_part_and_its_latency(client, celery_worker, rdpserver, monkeypatch):  # noqa: F811
    monkeypatch.setattr(env, "RDP_HOST", "127.0.0.1")
    monkeypatch.setattr(env, "RDP_PORT", rdpserver)
    response = client.get("/api/v1/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and set(body["checks"]) == {"database", "redis", "celery", "rdp"}
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0
    # One part down: 503, and which one.
    monkeypatch.setattr(env, "RDP_PORT", free_port())
    body = client.get("/api/v1/health/").json()
    assert body["status"] == "degraded" and body["checks"]["rdp"]["status"] == "down"
    assert "Connection refused" in body["checks"]["rdp"]["detail"]
    assert all(body["checks"][name]["status"] == "ok" for name in ("database", "redis", "celery"))
    assert client.get("/api/v1/health/").status_code == 503


def test_metrics_parse_and_count_desktops_and_failed_logins(client):
    alice = User.objects.create_user("alice-m", password="right-pw-1")
    for state in (DesktopState.STOPPED, DesktopState.STOPPED, DesktopState.FAILED):
        DesktopSession.objects.create(owner=alice, width=800, height=600, state=state, node=env.NODE)
    before = samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode())
    assert before[("wrd_desktops", (("node", env.NODE), ("state", "stopped")))] == 2
    assert before[("wrd_desktops", (("node", env.NODE), ("state", "failed")))] == 1
    assert before[("wrd_desktops", (("node", env.NODE), ("state", "running")))] == 0
    page = client.post("/accounts/login/", {"username": "alice-m", "password": "wrong"}, REMOTE_ADDR="127.0.0.9")
    assert page.status_code == 200  # the form again, with its error
    after = samples(client.get("/metrics", REMOTE_ADDR="::1").content.decode())
    assert after[("wrd_login_failures_total", ())] == before[("wrd_login_failures_total", ())] + 1


def test_metrics_are_for_allowed_addresses_and_staff(client):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    client.force_login(User.objects.create_user("someone", password="pw-someone-1"))
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    client.force_login(User.objects.create_user("boss-m", password="pw-boss-1", is_staff=True))
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("Xvfb") is None, reason="chromium or Xvfb missing")
def test_metrics_follow_a_viewer(daphne):  # noqa: F811 (fixture)
    from playwright.sync_api import sync_playwright

    user = User.objects.create_user("viewer-m", password="pw-viewer-1")
    session = services.desktop_start(session=services.desktop_create(user=user, width=800, height=600,
                                                                      enqueue=False))
    cookie = login_cookie(user)

    def scrape() -> dict:
        with urllib.request.urlopen(f"{daphne}/metrics", timeout=10) as response:
            return samples(response.read().decode())

    try:
        idle = scrape()
        assert idle[("wrd_viewer_sockets", ())] == 0
        assert idle[("wrd_desktop_subscribers", (("desktop", str(session.pk)),))] == 0
        assert idle[("wrd_desktops", (("node", env.NODE), ("state", "running")))] == 1
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                open_viewer(browser, daphne, cookie, session)
                # Connected first, the first frame a moment later.
                watched = wait_until(lambda: (m := scrape()).get(("wrd_viewer_frames_total", (("format", "h264"),)))
                                     and m, 15, 0.2, "the viewer's first frame to be counted")
                assert watched[("wrd_viewer_sockets", ())] == 1
                assert watched[("wrd_desktop_subscribers", (("desktop", str(session.pk)),))] == 1
                assert watched[("wrd_viewer_frames_total", (("format", "h264"),))] >= 1
                assert watched[("wrd_viewer_bytes_total", (("format", "h264"),))] > 1000
                # The host's encode times, as a histogram per desktop and format.
                encoded = (("desktop", str(session.pk)), ("format", "h264"))
                assert watched[("wrd_encode_seconds_count", encoded)] >= 1
                assert watched[("wrd_encode_seconds_bucket", (*encoded, ("le", "+Inf")))] == \
                    watched[("wrd_encode_seconds_count", encoded)]
                assert 0 < watched[("wrd_encode_seconds_sum", encoded)] < watched[("wrd_encode_seconds_count", encoded)]
            finally:
                browser.close()
        for _ in range(50):
            if scrape()[("wrd_viewer_sockets", ())] == 0:
                break
        assert scrape()[("wrd_viewer_sockets", ())] == 0
    finally:
        services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))
