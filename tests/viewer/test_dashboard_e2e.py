"""The console end to end, in headless Debian Chromium, as an admin and two users use it.

An admin logs in, creates a group with a policy (one desktop, the full XFCE profile only,
clipboard to the desktop only, no downloads) and two users in it. One user logs in, starts a desktop
from the dashboard with the XFCE profile (a real Celery worker starts its session host), sees
its thumbnail appear and change after typing in a terminal, opens it, shares it view-only with
the second user whose viewer shows the same screen (one encoder for both) and whose input is
ignored, revokes the share (the second viewer is cut off), shares a link with control and takes
control back, and stops the desktop. The admin then finds all of it in the audit log.
Screenshots at desktop and phone width go to WRD_TEST_SCREENSHOTS, else
``var/test-artefacts/dashboard``.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User
from PIL import Image

from compositor import messages
from compositor.client import BlockingHostClient
from tests.conftest import ROOT, session_process_env, wait_until
from tests.webconsole.desktops.test_attach import (  # noqa: F401 (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    CONNECTED,
    canvas_matches,
    daphne,
    login_cookie,
)
from tests.webconsole.policies.conftest import profiles  # noqa: F401 (fixture: the seeded profiles)
from webconsole.audit.models import AuditEvent
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.sharing.models import Share

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(480),
              pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("Xvfb") is None,
                                 reason="chromium or Xvfb is not installed")]

WIDE = {"width": 1280, "height": 900}
CAROL_PW, ALICE_PW, BOB_PW = "Carol-pw-2026!", "Alice-pw-2026!", "Bob-pw-2026!"
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


def xfce_terminal_shown(session: DesktopSession) -> bool:
    env = dict(session_process_env(), DISPLAY=session.display, XAUTHORITY=f"{session.runtime_dir}/Xauthority")
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "xfce4-terminal"], env=env,
                           capture_output=True, text=True, timeout=10)
    return bool(found.stdout.strip())


def admin_creates_team(admin, daphne: str) -> None:  # noqa: F811
    """Through the console's own pages: the group, its policy, and alice and bob in it."""
    from playwright.sync_api import expect

    admin.get_by_role("link", name="Users & policies").click()
    admin.get_by_role("link", name="Groups").click()
    admin.get_by_label("Name").fill("team")
    admin.get_by_role("button", name="Create group").click()
    expect(admin.get_by_role("heading", name="Group team")).to_be_visible()
    form = admin.locator("form[data-form=policy]")
    form.get_by_label("Most desktops at once").fill("1")
    form.get_by_label("Largest width").fill("1600")
    form.get_by_label("Largest height").fill("1000")
    form.get_by_label("Memory limit").fill("2G")
    form.get_by_label("Profiles", exact=True).select_option("true")
    form.get_by_label("Desktop (XFCE)").check()
    form.get_by_label("Default profile").select_option(label="Desktop (XFCE)")
    form.get_by_label("Clipboard").select_option("to_desktop")
    form.get_by_label("File download").select_option("false")
    form.get_by_label("View-only sharing").select_option("true")
    form.get_by_label("Control sharing").select_option("true")
    form.get_by_role("button", name="Save policy").click()
    expect(admin.get_by_role("status")).to_have_text("Policy of team saved.")
    shot(admin, "00a-admin-group-policy.png")
    for name, password in (("alice", ALICE_PW), ("bob", BOB_PW)):
        admin.get_by_role("link", name="Users", exact=True).click()
        create = admin.locator("form[data-form=user-create]")
        create.get_by_label("Username").fill(name)
        create.get_by_label("Password").fill(password)
        create.get_by_label("team").check()
        create.get_by_role("button", name="Create user").click()
        expect(admin.get_by_role("heading", name=name)).to_be_visible()
    effective = admin.locator("[data-table=effective]")
    expect(effective.locator("[data-effective=max_desktops]")).to_have_text("1")
    expect(effective.locator("[data-effective=profiles]")).to_contain_text("desktop (default desktop)")
    expect(effective.locator("[data-effective=access]")).to_have_text("browser yes, RDP yes")
    expect(effective.locator("[data-effective=clipboard]")).to_have_text("to the desktop only")
    expect(effective.locator("[data-effective=files]")).to_have_text("upload yes, download no")
    expect(effective.locator("[data-effective=sharing]")).to_have_text("view-only yes, control yes")
    shot(admin, "00b-admin-user-effective-policy.png")
    admin.set_viewport_size(PHONE)
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    shot(admin, "00c-admin-user-phone.png")
    admin.set_viewport_size(WIDE)


def test_admin_team_start_xfce_watch_type_share_revoke_stop_audit(daphne, profiles, monkeypatch):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    # The ORM from the test's thread while Playwright's own event loop runs in it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User.objects.create_user("carol", password=CAROL_PW, is_staff=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            admin = log_in(browser, daphne, "carol", CAROL_PW, WIDE)
            admin_creates_team(admin, daphne)
            alice = User.objects.get(username="alice")
            assert [g.name for g in alice.groups.all()] == ["team"]

            page = log_in(browser, daphne, "alice", ALICE_PW, WIDE)
            assert page.locator(".empty").is_visible()
            shot(page, "01-dashboard-empty.png")

            # Start a desktop of a chosen size with the full-desktop profile (the only one the
            # group's policy allows); the card goes from starting to running by itself.
            start = page.locator("form[data-start]")
            expect(start.locator("select[name=profile] option")).to_have_text(["Desktop (XFCE)"])
            start.locator("input[name=name]").fill("Work")
            start.locator("input[name=size]").fill("1024x768")
            start.locator("button[type=submit]").click()
            card = page.locator("article.dcard").first
            card.wait_for()
            desktop_id = int(card.get_attribute("data-desktop"))
            if card.get_attribute("data-state") in ("requested", "starting"):
                shot(page, "02-dashboard-starting.png")
            page.wait_for_selector(f'[data-desktop="{desktop_id}"][data-state="running"] img[data-thumb]',
                                   timeout=90000)
            session = DesktopSession.objects.get(pk=desktop_id)
            assert (session.owner, session.width, session.height, session.name) == (alice, 1024, 768, "Work")
            assert session.launch.profile_name == "desktop"
            if session.containment.startswith("cgroup"):  # the group's policy, applied by the worker
                assert session.memory_limit == 2 << 30

            # The thumbnail appears (a picture of the screen, not a placeholder).
            page.wait_for_function(f"""() => {{
                const img = document.querySelector('[data-desktop="{desktop_id}"] img[data-thumb]');
                return img && img.complete && img.naturalWidth > 0; }}""", timeout=20000)
            # (A desktop just started may still be black: the page's next refresh shows XFCE.)
            wait_until(lambda: thumbnail_rgb(page, desktop_id).std() > 5, 45, 0.5, "the thumbnail to show the desktop")
            assert thumbnail_rgb(page, desktop_id).shape[1] == 320

            # Open it (a second tab), open a terminal with XFCE's own shortcut and type in it:
            # the thumbnail on the dashboard changes by itself.
            viewer = page.context.new_page()
            viewer.goto(f"{daphne}/desktops/{desktop_id}/view")
            viewer.wait_for_function(CONNECTED, timeout=20000)
            wait_until(lambda: canvas_matches(viewer, session), 30, 0.5, "the owner's canvas to show the desktop")
            box = viewer.locator("#wrd-viewer canvas").bounding_box()
            viewer.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)

            def terminal_opened() -> bool:
                if not xfce_terminal_shown(session):
                    viewer.keyboard.press("Control+Alt+t")
                    time.sleep(2.0)
                return xfce_terminal_shown(session)
            wait_until(terminal_opened, 40, 0.5, "Ctrl+Alt+T to open XFCE's terminal")
            time.sleep(1.5)  # the terminal painted and its prompt shown
            page.bring_to_front()
            page.evaluate("wrdDashboard.refreshCards()")
            time.sleep(1.0)
            first = thumbnail_rgb(page, desktop_id)
            viewer.bring_to_front()
            viewer.keyboard.type("ls -l /usr/bin | head -40")
            viewer.keyboard.press("Enter")
            time.sleep(0.5)
            shot(viewer, "03c-owner-viewer-xfce.png", full_page=False)
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

            bob = log_in(browser, daphne, "bob", BOB_PW, WIDE)
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
            overview = admin
            overview.goto(f"{daphne}/desktops/all?owner=alice")
            assert overview.locator(f'tr[data-desktop="{desktop_id}"]').is_visible()
            assert overview.locator('[data-total="desktops"]').inner_text() == "1"
            shot(overview, "09-admin-all-desktops.png")
            overview.set_viewport_size(PHONE)
            assert overview.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(overview, "09b-admin-phone.png")
            overview.set_viewport_size(WIDE)

            # Stop it from the dashboard.
            viewer.close()
            page.goto(f"{daphne}/desktops/")
            page.click(f'[data-desktop="{desktop_id}"] [data-action="stop"]')
            page.wait_for_selector(f'[data-desktop="{desktop_id}"][data-state="stopped"]', timeout=40000)
            session.refresh_from_db()
            assert session.state == DesktopState.STOPPED
            shot(page, "10-dashboard-stopped.png")

            # The admin finds all of it in the audit log, with the console's own filters.
            admin.goto(f"{daphne}/desktops/")
            admin.get_by_role("link", name="Audit", exact=True).click()
            admin.get_by_label("Target").fill(f"desktop:{desktop_id}")
            admin.get_by_role("button", name="Filter").click()
            admin.wait_for_selector("table.audit tr[data-action]")

            def actions() -> dict[str, list[str]]:
                rows = admin.locator("table.audit tbody tr")
                seen: dict[str, list[str]] = {}
                for i in range(rows.count()):
                    row = rows.nth(i)
                    seen.setdefault(row.get_attribute("data-action"), []).append(row.inner_text())
                return seen
            on_desktop = actions()
            for action in ("desktop.create", "desktop.start", "connection.open", "connection.close", "share.grant",
                           "share.use", "share.control", "share.revoke", "desktop.stop"):
                assert action in on_desktop, (action, sorted(on_desktop))
            assert any("alice" in row for row in on_desktop["desktop.start"] + on_desktop["desktop.stop"])
            assert any("bob" in row for row in on_desktop["connection.open"]), on_desktop["connection.open"]
            assert any("bob" in row for row in on_desktop["share.grant"])
            shot(admin, "11-admin-audit-desktop.png")
            admin.get_by_label("Target").fill("")
            admin.get_by_label("Actor").fill("carol")
            admin.get_by_role("button", name="Filter").click()
            admin.wait_for_selector("table.audit tr[data-action]")
            by_admin = actions()
            for action in ("login.success", "group.create", "policy.change", "user.create"):
                assert action in by_admin, (action, sorted(by_admin))
            assert sum(1 for row in by_admin["user.create"] if "alice" in row or "bob" in row) == 2
            admin.get_by_label("Actor").fill("alice")
            admin.get_by_label("Action").fill("login")
            admin.get_by_role("button", name="Filter").click()
            admin.wait_for_selector("table.audit tr[data-action]")
            assert "login.success" in actions()
            assert "127.0.0.1" in admin.locator("table.audit tbody").inner_text()
            shot(admin, "12-admin-audit-logins.png")
        finally:
            browser.close()
            # A failure before the Stop click must not leave the desktop's processes behind.
            for left in DesktopSession.objects.filter(owner__username="alice").exclude(
                    state__in=(DesktopState.STOPPED, DesktopState.FAILED)):
                services.desktop_stop(session=left)
