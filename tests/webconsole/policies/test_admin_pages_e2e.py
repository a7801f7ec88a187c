"""The admin pages in headless Chromium against the console under daphne: an admin creates a
group with a policy and a user in it; that user starts a desktop with the full-desktop (XFCE)
profile from the start form and opens it in the browser. Screenshots are kept in the test's
work folder (printed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "viewer"))

import harness

from tests.conftest import session_process_env, wait_until

pytestmark = pytest.mark.skipif(
    not Path(harness.CHROMIUM).exists() or shutil.which("xfce4-session") is None,
    reason="chromium or XFCE is not installed")

PASSWORD = "Erin-pw-2026!"


@pytest.fixture
def console(tmp_path, redis_server):
    console = harness.Console(tmp_path)
    # A start is queued for a node no worker serves: the test runs the job itself (below).
    console.env.update(HOME=session_process_env()["HOME"], WRD_SESSION_STARTUP="", REDIS_URL=redis_server,
                       WRD_NODE="policies-e2e-node")
    try:
        console.setup()  # the migrations seed the "minimal" and "desktop" profiles
        console.admin = console.add_user("root-admin", staff=True)
        console.start()
        yield console
    finally:
        console.django("""
from webconsole.desktops.models import DesktopSession
from webconsole.desktops import services
for d in DesktopSession.objects.exclude(state__in=("stopped", "failed")):
    services.desktop_stop(session=d)
""")
        console.close()


def test_admin_creates_a_group_with_a_policy_and_a_user_who_starts_xfce(console, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            admin = harness.browser_context(browser, console, console.admin["cookie"],
                                            viewport={"width": 1200, "height": 900}).new_page()
            admin.goto(f"{console.url}/desktops/")
            admin.get_by_role("link", name="Users & policies").click()
            admin.get_by_role("link", name="Groups").click()
            admin.get_by_label("Name").fill("xfce-users")
            admin.get_by_role("button", name="Create group").click()
            expect(admin.get_by_role("heading", name="Group xfce-users")).to_be_visible()
            form = admin.locator("form[data-form=policy]")
            form.get_by_label("Most desktops at once").fill("1")
            form.get_by_label("Largest width").fill("1600")
            form.get_by_label("Largest height").fill("1000")
            form.get_by_label("Memory limit").fill("2G")
            form.get_by_label("Profiles", exact=True).select_option("true")
            form.get_by_label("Desktop (XFCE)").check()
            form.get_by_label("Default profile").select_option(label="Desktop (XFCE)")
            form.get_by_label("Clipboard").select_option("to_desktop")
            form.get_by_label("RDP access").select_option("false")
            form.get_by_role("button", name="Save policy").click()
            expect(admin.get_by_role("status")).to_have_text("Policy of xfce-users saved.")
            admin.screenshot(path=str(shots / "group-policy.png"), full_page=True)

            admin.get_by_role("link", name="Users", exact=True).click()
            create = admin.locator("form[data-form=user-create]")
            create.get_by_label("Username").fill("erin")
            create.get_by_label("Password").fill(PASSWORD)
            create.get_by_label("xfce-users").check()
            create.get_by_role("button", name="Create user").click()
            expect(admin.get_by_role("heading", name="erin")).to_be_visible()
            effective = admin.locator("[data-table=effective]")
            expect(effective.locator("[data-effective=max_desktops]")).to_have_text("1")
            expect(effective.locator("[data-effective=profiles]")).to_contain_text("desktop (default desktop)")
            expect(effective.locator("[data-effective=access]")).to_have_text("browser yes, RDP no")
            expect(effective.locator("[data-effective=clipboard]")).to_have_text("to the desktop only")
            admin.screenshot(path=str(shots / "user-effective-policy.png"), full_page=True)
            # a mobile-sized window: the pages still fit
            admin.set_viewport_size({"width": 390, "height": 844})
            admin.screenshot(path=str(shots / "user-phone.png"), full_page=True)
            assert admin.evaluate("document.documentElement.scrollWidth") <= 390 + 1

            erin = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
            erin.goto(f"{console.url}/desktops/")
            erin.get_by_label("Username").fill("erin")
            erin.get_by_label("Password").fill(PASSWORD)
            erin.get_by_role("button", name="Log in").click()
            profile = erin.get_by_label("Profile")
            expect(profile.locator("option")).to_have_text(["Desktop (XFCE)"])  # only what the policy allows
            erin.get_by_label("Size").fill("1280x800")
            erin.get_by_role("button", name="Start a desktop").click()
            expect(erin.get_by_role("status")).to_contain_text("is starting")
            # The start job, as the node's worker runs it (no Celery worker in this stack).
            started = console.django("""
from webconsole.desktops.models import DesktopSession
from webconsole.desktops import services
d = services.desktop_start(session=DesktopSession.objects.get(owner__username="erin"))
out = {"state": d.state, "reason": d.failure_reason, "display": d.display, "runtime_dir": d.runtime_dir,
       "memory_limit": d.memory_limit, "containment": d.containment, "profile": d.launch.profile_name}
""")
            assert started["state"] == "running", started["reason"]
            assert started["profile"] == "desktop"
            if started["containment"].startswith("cgroup"):
                assert started["memory_limit"] == 2 << 30
            env = dict(session_process_env(), DISPLAY=started["display"],
                       XAUTHORITY=f"{started['runtime_dir']}/Xauthority")

            def panel() -> str:
                return subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "xfce4-panel"], env=env,
                                      capture_output=True, text=True, timeout=10).stdout.strip()
            wait_until(panel, 45, 0.5, "the XFCE panel")
            erin.reload()
            erin.get_by_role("link", name="Open", exact=True).click()
            canvas = erin.locator("canvas")
            wait_until(lambda: canvas.evaluate("c => c.width") == 1280, 20, 0.2, "the viewer to draw the desktop")
            time.sleep(2.0)  # the panel and desktop icons painted
            erin.screenshot(path=str(shots / "erin-xfce-in-browser.png"))
            # the picture is a desktop, not a blank screen: many colours on the canvas
            colours = canvas.evaluate("""c => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
                for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
                return seen.size; }""")
            assert colours > 50, colours
        finally:
            browser.close()
    print(f"screenshots in {shots}")
