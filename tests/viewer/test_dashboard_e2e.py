"""The dashboard and sharing end to end, in headless Debian Chromium.

A user logs in, starts a desktop from the dashboard (a real Celery worker starts its session
host), sees its thumbnail appear and change after typing, opens it, shares it view-only with a
second user whose viewer shows the same screen (one encoder for both) and whose input is
ignored, revokes the share (the second viewer is cut off), and stops the desktop. Screenshots
at desktop and phone width go to WRD_TEST_SCREENSHOTS, else ``var/test-artefacts/dashboard``.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User
from PIL import Image

from compositor import messages
from compositor.client import BlockingHostClient
from tests.conftest import ROOT, wait_until
from tests.webconsole.desktops.test_attach import (  # noqa: F401 (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    CONNECTED,
    canvas_matches,
    daphne,
    login_cookie,
)
from webconsole.audit.models import AuditEvent
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.sharing.models import Share

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("Xvfb") is None,
                                 reason="chromium or Xvfb is not installed")]

WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def shots() -> Path:
    folder = Path(os.environ.get("WRD_TEST_SCREENSHOTS") or ROOT / "var" / "test-artefacts" / "dashboard")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(shots() / name), full_page=full_page)


def thumbnail_rgb(page, desktop_id: int) -> np.ndarray:
    """The card's thumbnail as the page shows it (drawn to a canvas in the page)."""
    url = page.evaluate("""(id) => {
        const img = document.querySelector(`[data-desktop="${id}"] img[data-thumb]`);
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        c.getContext("2d").drawImage(img, 0, 0);
        return c.toDataURL("image/png");
    }""", desktop_id)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 40).sum())


def host_status(session: DesktopSession) -> messages.StatusReply:
    with BlockingHostClient(session.socket_path) as client:
        return client.call(messages.Status())


def log_in(browser, daphne: str, username: str, password: str, viewport: dict):  # noqa: F811
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{daphne}/accounts/login/?next=/desktops/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{daphne}/desktops/")
    return page


def test_start_watch_type_share_view_only_revoke_stop(daphne, monkeypatch):  # noqa: F811
    from playwright.sync_api import sync_playwright

    # The ORM from the test's thread while Playwright's own event loop runs in it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    alice = User.objects.create_user("alice", password="pw-alice-123")
    User.objects.create_user("bob", password="pw-bob-123")
    staff = User.objects.create_user("carol", password="pw-carol-123", is_staff=True)
    staff_cookie = login_cookie(staff)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = log_in(browser, daphne, "alice", "pw-alice-123", WIDE)
            assert page.locator(".empty").is_visible()
            shot(page, "01-dashboard-empty.png")

            # Start a desktop of a chosen size; the card goes from starting to running by itself.
            page.fill("form[data-start] input[name=name]", "Work")
            page.fill("form[data-start] input[name=size]", "1024x768")
            page.click("form[data-start] button[type=submit]")
            card = page.locator("article.dcard").first
            card.wait_for()
            desktop_id = int(card.get_attribute("data-desktop"))
            if card.get_attribute("data-state") in ("requested", "starting"):
                shot(page, "02-dashboard-starting.png")
            page.wait_for_selector(f'[data-desktop="{desktop_id}"][data-state="running"] img[data-thumb]',
                                   timeout=60000)
            session = DesktopSession.objects.get(pk=desktop_id)
            assert (session.owner, session.width, session.height, session.name) == (alice, 1024, 768, "Work")

            # The thumbnail appears (a picture of the screen, not a placeholder).
            page.wait_for_function(f"""() => {{
                const img = document.querySelector('[data-desktop="{desktop_id}"] img[data-thumb]');
                return img && img.complete && img.naturalWidth > 0; }}""", timeout=20000)
            # (A desktop just started may still be black: the page's next refresh shows its terminal.)
            wait_until(lambda: thumbnail_rgb(page, desktop_id).std() > 5, 20, 0.5, "the thumbnail to show the desktop")
            first = thumbnail_rgb(page, desktop_id)
            assert first.shape[1] == 320

            # Open it (a second tab) and type: the thumbnail on the dashboard changes by itself.
            viewer = page.context.new_page()
            viewer.goto(f"{daphne}/desktops/{desktop_id}/view")
            viewer.wait_for_function(CONNECTED, timeout=20000)
            wait_until(lambda: canvas_matches(viewer, session), 20, 0.5, "the owner's canvas to show the desktop")
            box = viewer.locator("#wrd-viewer canvas").bounding_box()
            viewer.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            viewer.keyboard.type("ls -l /usr/bin | head -40")
            viewer.keyboard.press("Enter")
            page.bring_to_front()
            wait_until(lambda: changed_pixels(first, thumbnail_rgb(page, desktop_id)) > 500, 20, 0.5,
                       "the thumbnail to show the typing")
            page.evaluate("wrdDashboard.refreshCards()")
            page.wait_for_selector(f'[data-desktop="{desktop_id}"] [data-fact="viewers"]:has-text("1 browser")',
                                   timeout=15000)
            shot(page, "03-dashboard-running.png")
            more = page.locator(f'[data-desktop="{desktop_id}"] details.more')
            more.locator("summary").click()
            copy = more.locator('[data-action="copy-xfreerdp"]')
            assert "/u:alice /size:1024x768" in copy.get_attribute("data-copy")
            copy.click()
            page.wait_for_function(
                "() => document.querySelector('[data-action=copy-xfreerdp]').textContent === 'Copied'")
            shot(page, "03b-dashboard-more-menu.png")
            more.locator("summary").click()

            # Share it with bob, view-only.
            page.click(f'[data-desktop="{desktop_id}"] [data-action="share"]')
            page.select_option("select[name=kind]", "user")
            page.fill("input[name=grantee]", "bob")
            page.select_option("select[name=access]", "view")
            page.click("form[data-share-form] button[type=submit]")
            page.wait_for_selector('[data-shares] [data-kind="user"]')
            share = Share.objects.get(desktop_id=desktop_id, user__username="bob")
            assert not share.control

            bob = log_in(browser, daphne, "bob", "pw-bob-123", WIDE)
            assert "alice's desktop · view only" in bob.locator(f'[data-desktop="{desktop_id}"]').inner_text()
            bob.wait_for_function(f"""() => {{
                const img = document.querySelector('[data-desktop="{desktop_id}"] img[data-thumb]');
                return img && img.complete && img.naturalWidth > 0; }}""", timeout=20000)
            shot(bob, "05a-guest-dashboard.png")
            bob.click(f'[data-desktop="{desktop_id}"] [data-action="open"]')
            bob.wait_for_function(CONNECTED, timeout=20000)
            assert bob.evaluate("document.getElementById('wrd-viewer').dataset.viewOnly") == "1"
            wait_until(lambda: canvas_matches(bob, session), 20, 0.5, "bob's canvas to show the same screen")
            # One stream: both browsers are subscribers of the desktop's one H.264 encoder.
            status = host_status(session)
            assert [e.subscribers for e in status.encoders if e.format == "h264"] == [2], status.encoders
            # Bob's typing and clicks never reach the desktop.
            before = host_status(session).last_input
            box = bob.locator("#wrd-viewer canvas").bounding_box()
            bob.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            bob.keyboard.type("echo bob-was-here")
            bob.keyboard.press("Enter")
            time.sleep(1.5)
            assert host_status(session).last_input == before
            assert canvas_matches(bob, session)
            shot(bob, "05-guest-view-only.png", full_page=False)

            # The owner sees who is watching.
            page.reload()
            page.wait_for_selector('[data-watchers] [data-watcher="bob"]')
            assert "view only" in page.locator('[data-watcher="bob"]').inner_text()
            shot(page, "04-share-panel.png")
            page.set_viewport_size(PHONE)
            shot(page, "08-share-panel-phone.png")
            page.set_viewport_size(WIDE)

            # Revoke: bob's viewer is cut off at once, with a clear message.
            started = time.monotonic()
            page.click(f'[data-share="{share.pk}"] [data-action="revoke"]')
            bob.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'revoked'",
                                  timeout=5000)
            cut_off = time.monotonic() - started
            assert "The owner stopped sharing this desktop." in bob.locator(".wrd-overlay").inner_text()
            shot(bob, "06-guest-revoked.png", full_page=False)
            print(f"revoke to viewer closed: {cut_off:.2f} s")
            assert cut_off < 2.0
            assert AuditEvent.objects.filter(action="share.revoke", target_id=str(desktop_id)).exists()

            # A link with control: bob's input reaches the desktop, until the owner takes control
            # back (live, on the open page); after revocation the link gives a plain refusal.
            page.goto(f"{daphne}/desktops/{desktop_id}/sharing")
            page.select_option("select[name=kind]", "link")
            page.select_option("select[name=access]", "control")
            page.click("form[data-share-form] button[type=submit]")
            link = page.locator("[data-link-url]").input_value()
            shot(page, "04b-share-link-created.png")
            link_share = Share.objects.get(desktop_id=desktop_id, kind="link")
            assert link_share.control and link_share.expires_at is not None
            bob.goto(link)
            bob.wait_for_function(CONNECTED, timeout=20000)
            assert bob.evaluate("document.getElementById('wrd-viewer').dataset.viewOnly") == "0"
            # The owner's open panel shows bob arrive, with control, by itself.
            page.wait_for_selector('[data-watchers] [data-watcher="bob"]:has-text("control")', timeout=15000)
            before = host_status(session).last_input
            box = bob.locator("#wrd-viewer canvas").bounding_box()
            bob.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            bob.keyboard.type("echo from-bob")
            wait_until(lambda: host_status(session).last_input != before, 10, 0.2, "bob's keys to reach the desktop")
            page.click(f'[data-share="{link_share.pk}"] [data-action="control"]')  # take control back
            bob.wait_for_function("() => document.getElementById('wrd-viewer').dataset.viewOnly === '1'", timeout=5000)
            time.sleep(0.5)
            before = host_status(session).last_input
            bob.keyboard.type("ignored")
            time.sleep(1.0)
            assert host_status(session).last_input == before
            page.click(f'[data-share="{link_share.pk}"] [data-action="revoke"]')
            bob.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'revoked'",
                                  timeout=5000)
            refused = bob.goto(link)
            assert refused.status == 410
            assert "revoked by the desktop's owner" in bob.locator("[data-share-refused]").inner_text()
            shot(bob, "06b-link-refused.png")

            # The phone-width dashboard and the admins' view, while it runs.
            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            phone.add_cookies([{"name": "sessionid", "value": login_cookie(alice), "url": daphne}])
            small = phone.new_page()
            small.goto(f"{daphne}/desktops/")
            small.wait_for_function(f"""() => {{
                const img = document.querySelector('[data-desktop="{desktop_id}"] img[data-thumb]');
                return img && img.complete && img.naturalWidth > 0; }}""", timeout=20000)
            assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(small, "07-dashboard-phone.png")
            phone.close()
            admin = browser.new_context(viewport=WIDE)
            admin.add_cookies([{"name": "sessionid", "value": staff_cookie, "url": daphne}])
            overview = admin.new_page()
            overview.goto(f"{daphne}/desktops/all?owner=alice")
            assert overview.locator(f'tr[data-desktop="{desktop_id}"]').is_visible()
            assert overview.locator('[data-total="desktops"]').inner_text() == "1"
            shot(overview, "09-admin-all-desktops.png")
            overview.set_viewport_size(PHONE)
            assert overview.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(overview, "09b-admin-phone.png")
            admin.close()

            # Stop it from the dashboard.
            viewer.close()
            page.goto(f"{daphne}/desktops/")
            page.click(f'[data-desktop="{desktop_id}"] [data-action="stop"]')
            page.wait_for_selector(f'[data-desktop="{desktop_id}"][data-state="stopped"]', timeout=40000)
            session.refresh_from_db()
            assert session.state == DesktopState.STOPPED
            shot(page, "10-dashboard-stopped.png")
        finally:
            browser.close()
            # A failure before the Stop click must not leave the desktop's processes behind.
            for left in DesktopSession.objects.filter(owner=alice).exclude(
                    state__in=(DesktopState.STOPPED, DesktopState.FAILED)):
                services.desktop_stop(session=left)
