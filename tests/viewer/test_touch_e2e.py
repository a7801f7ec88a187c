"""Touch in the viewer end to end: headless Chromium with touch emulation (CDP
Input.dispatchTouchEvent) on the viewer page, a GTK 3 app on the desktop's Wayland compositor.

Mouse mode (the default): a tap clicks, two fingers scroll, a pinch zooms the canvas locally.
Direct touch: the tap reaches the app as touch (wl_touch). The on-screen keys send Ctrl+Alt+arrows
and F-keys. The page at 390 x 844 (a phone) fits its width.
"""

from __future__ import annotations

import shutil
import time
import types
from pathlib import Path

import harness
import pytest

from tests.conftest import desktop_user, wait_until
from tests.touch.helpers import GtkApp, Wev, focus_window, window_origin

pytestmark = pytest.mark.timeout(240)

CONNECTED = "() => document.getElementById('wrd-viewer').dataset.state === 'connected'"
SCREENSHOT = Path("/tmp/wrd-touch-390x844.png")


@pytest.fixture(scope="module")
def touch_stack(tmp_path_factory):
    if not Path(harness.CHROMIUM).exists() or shutil.which("Xvfb") is None:
        pytest.skip("chromium or Xvfb is not installed")
    workdir = tmp_path_factory.mktemp("touch-viewer")
    user = desktop_user("viewer")
    # No window manager: Ctrl+Alt+arrows are openbox's desktop switching.
    host = harness.start_host(workdir, width=1024, height=768, user=user, wayland=True,
                              startup="exec sleep infinity")
    console = harness.Console(workdir)
    session = types.SimpleNamespace(socket_path=host.socket_path, display=host.status["display"],
                                    runtime_dir=host.runtime_dir)
    app = None
    try:
        console.setup()
        alice = console.add_user("alice")
        desktop = console.add_desktop(alice["id"], host)
        console.start()
        app = GtkApp(session, user)
        yield {"host": host, "console": console, "alice": alice, "desktop": desktop, "app": app,
               "session": session, "user": user}
    finally:
        if app is not None:
            app.stop()
        console.close()
        host.close()


@pytest.fixture(scope="module")
def browser(touch_stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = harness.launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


def open_touch_viewer(browser, stack, *, width=1100, height=850, mobile=False):
    context = harness.browser_context(browser, stack["console"], stack["alice"]["cookie"],
                                      viewport={"width": width, "height": height}, has_touch=True,
                                      is_mobile=mobile)
    context.add_init_script("localStorage.clear()")
    page = context.new_page()
    page.goto(f"{stack['console'].url}/desktops/{stack['desktop']}/view")
    page.wait_for_function(CONNECTED, timeout=20000)
    return page


class Fingers:
    """Touch points on the page through CDP, placed by desktop coordinates."""

    def __init__(self, page) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def to_page(self, x: float, y: float) -> tuple[float, float]:
        r = self.page.evaluate("""() => { const c = document.querySelector('#wrd-viewer canvas');
            const r = c.getBoundingClientRect(); return [r.left, r.top, r.width, r.height, c.width, c.height]; }""")
        left, top, w, h, cw, ch = r
        return left + (x + 0.5) * w / cw, top + (y + 0.5) * h / ch

    def send(self, kind: str, points: list[tuple[float, float]]) -> None:
        self.cdp.send("Input.dispatchTouchEvent", {
            "type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})

    def tap(self, x: int, y: int) -> None:
        px, py = self.to_page(x, y)
        self.send("touchStart", [(px, py)])
        self.send("touchEnd", [])

    def drag(self, starts: list[tuple[float, float]], dx: float, dy: float, steps: int = 10,
             spread: float = 0.0) -> None:
        """Page-pixel fingers moved together by (dx, dy), moving apart by ``spread`` each."""
        self.send("touchStart", starts)
        for i in range(1, steps + 1):
            f = i / steps
            points = []
            for n, (x, y) in enumerate(starts):
                side = -1 if n == 0 else 1
                points.append((x + dx * f + side * spread * f, y + dy * f))
            self.send("touchMove", points)
            self.page.wait_for_timeout(16)
        self.send("touchEnd", [])


def test_a_tap_in_mouse_mode_clicks_the_gtk_button(browser, touch_stack):
    app = touch_stack["app"]
    page = open_touch_viewer(browser, touch_stack)
    try:
        assert page.evaluate("wrdViewer.touch.mode") == "mouse"
        before = len(app.log.events("clicked"))
        touches = len(app.log.events("touch"))
        Fingers(page).tap(*app.button_point())
        wait_until(lambda: len(app.log.events("clicked")) > before, 10, message="the button to be clicked")
        assert len(app.log.events("touch")) == touches  # a click, not touch
    finally:
        page.context.close()


def test_a_long_press_right_clicks_and_a_drag_holds_button_1(browser, touch_stack):
    app = touch_stack["app"]
    page = open_touch_viewer(browser, touch_stack)
    try:
        fingers = Fingers(page)
        before = len(app.log.events("button"))
        px, py = fingers.to_page(*app.button_point())
        fingers.send("touchStart", [(px, py)])
        page.wait_for_timeout(900)
        fingers.send("touchEnd", [])
        wait_until(lambda: len(app.log.events("button")) > before, 10, message="a button press")
        assert [e["button"] for e in app.log.events("button")[before:]] == [3]
        before = len(app.log.events("button"))
        x, y = app.list_point()
        fingers.drag([fingers.to_page(x, y)], 0, 40)
        wait_until(lambda: len(app.log.events("button")) > before, 10, message="a button press")
        assert [e["button"] for e in app.log.events("button")[before:]] == [1]
    finally:
        page.context.close()


def test_direct_touch_reaches_the_gtk_app_as_touch(browser, touch_stack):
    app = touch_stack["app"]
    page = open_touch_viewer(browser, touch_stack)
    try:
        page.click("[data-action=touch-mode]")
        assert page.evaluate("wrdViewer.touch.mode") == "direct"
        assert page.get_attribute("[data-action=touch-mode]", "aria-pressed") == "true"
        before = len(app.log.events("clicked"))
        touches = len(app.log.events("touch"))
        fingers = Fingers(page)
        x, y = fingers.to_page(*app.button_point())
        fingers.send("touchStart", [(x, y)])
        lifted = time.monotonic()
        fingers.send("touchEnd", [])
        wait_until(lambda: len(app.log.events("clicked")) > before, 10, message="the button to be touched")
        latency = (app.log.events("clicked")[-1]["t"] - lifted) * 1000
        print(f"finger lifted in Chromium to GTK's clicked: {latency:.1f} ms")
        kinds = [e["type"] for e in app.log.events("touch")[touches:]]
        assert kinds[0] == "touch-begin" and kinds[-1] == "touch-end", kinds
        # Remembered in this browser.
        assert page.evaluate("localStorage.getItem('wrd.touch')") == "direct"
    finally:
        page.context.close()


def test_direct_touch_from_chromium_is_wl_touch_in_wev(browser, touch_stack):
    wev = Wev(touch_stack["session"], touch_stack["user"])
    page = open_touch_viewer(browser, touch_stack)
    try:
        page.click("[data-action=touch-mode]")
        x, y = wev.centre()
        fingers = Fingers(page)
        px, py = fingers.to_page(x, y)
        fingers.send("touchStart", [(px, py), (px + 40, py)])
        fingers.send("touchMove", [(px + 10, py), (px + 50, py)])
        fingers.send("touchEnd", [])
        wev.wait(lambda k: k.count("up") >= 2 and k[-1] == "frame")
        kinds = wev.kinds()
        assert kinds.count("down") == 2 and "motion" in kinds, kinds
        ids = sorted(rest.split("id: ")[1].split(";")[0] for e, rest in wev.events() if e == "down")
        assert ids == ["0", "1"]
    finally:
        page.context.close()
        wev.stop()
        wait_until(lambda: window_origin(touch_stack["session"], "wev") is None, 10, message="wev to close")
        focus_window(touch_stack["session"], "wrd-touch")


def test_two_fingers_scroll_the_gtk_list(browser, touch_stack):
    app = touch_stack["app"]
    page = open_touch_viewer(browser, touch_stack)
    try:
        fingers = Fingers(page)
        x, y = app.list_point()
        a, b = fingers.to_page(x - 60, y + 80), fingers.to_page(x + 60, y + 80)
        scrolled = len(app.log.events("scrolled"))
        fingers.drag([a, b], 0, -200)  # both fingers up: the list scrolls down
        wait_until(lambda: len(app.log.events("scrolled")) > scrolled, 10, message="the list to scroll")
        assert app.log.events("scrolled")[-1]["value"] > 0
        assert page.evaluate("document.querySelector('#wrd-viewer canvas').style.transform") == ""
    finally:
        page.context.close()


def test_a_pinch_zooms_the_canvas_locally_and_fit_resets_it(browser, touch_stack):
    page = open_touch_viewer(browser, touch_stack)
    try:
        fingers = Fingers(page)
        width = page.evaluate("document.querySelector('#wrd-viewer canvas').getBoundingClientRect().width")
        centre = fingers.to_page(512, 384)
        fingers.drag([(centre[0] - 40, centre[1]), (centre[0] + 40, centre[1])], 0, 0, spread=120)
        zoom = float(page.evaluate("document.querySelector('#wrd-viewer canvas').dataset.zoom"))
        assert zoom > 2.0, zoom
        zoomed = page.evaluate("document.querySelector('#wrd-viewer canvas').getBoundingClientRect().width")
        assert zoomed > width * 2
        # The desktop stayed its size: zooming is the page's alone.
        assert page.evaluate("[wrdViewer.width, wrdViewer.height]") == [1024, 768]
        page.click("[data-action=fit]")
        assert page.evaluate("document.querySelector('#wrd-viewer canvas').style.transform") == ""
    finally:
        page.context.close()


def test_on_screen_keys_send_ctrl_alt_arrows_and_f_keys(browser, touch_stack):
    app = touch_stack["app"]
    page = open_touch_viewer(browser, touch_stack)
    try:
        page.click("[data-action=keys]")
        assert page.is_visible(".wrd-osk")
        before = len(app.log.events("key"))
        for label in ("Ctrl", "Alt"):
            page.click(f".wrd-osk button[aria-label='{label}']")
        assert page.get_attribute(".wrd-osk button[aria-label='Ctrl']", "aria-pressed") == "true"
        page.click(".wrd-osk button[aria-label='Right']")
        assert page.get_attribute(".wrd-osk button[aria-label='Ctrl']", "aria-pressed") == "false"
        page.click(".wrd-osk button[aria-label='F5']")
        page.click(".wrd-osk button[aria-label='Shift']")
        page.click(".wrd-osk button[aria-label='Tab']")

        def keys():
            return [e for e in app.log.events("key")[before:] if e["name"] in ("Right", "F5", "ISO_Left_Tab", "Tab")]

        wait_until(lambda: len(keys()) >= 3, 10, message="the keys in the GTK app")
        right, f5, tab = keys()[:3]
        control, mod1, shift = 1 << 2, 1 << 3, 1 << 0
        assert right["name"] == "Right" and right["state"] & control and right["state"] & mod1, right
        assert f5["name"] == "F5" and not f5["state"] & (control | mod1), f5
        assert tab["state"] & shift, tab
        # The phone's own keyboard (the hidden textarea, focused by "Type"): with Ctrl latched a
        # letter is the shortcut, without it text.
        page.click(".wrd-osk .wrd-osk-type")
        assert page.evaluate("document.activeElement.classList.contains('wrd-keys')")
        page.click(".wrd-osk button[aria-label='Ctrl']")
        page.keyboard.insert_text("x")
        page.keyboard.insert_text("y")
        wait_until(lambda: [e["name"] for e in app.log.events("key")[before:]][-2:] == ["x", "y"], 10,
                   message="x and y in the GTK app")
        x_key, y_key = app.log.events("key")[-2:]
        assert x_key["state"] & control and not y_key["state"] & control, (x_key, y_key)
    finally:
        page.context.close()


def test_the_page_fits_a_390_px_phone(browser, touch_stack):
    page = open_touch_viewer(browser, touch_stack, width=390, height=844, mobile=True)
    try:
        page.click("[data-action=keys]")
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for action in ("fit", "touch-mode", "keys", "clipboard", "fullscreen"):
            box = page.locator(f"[data-action={action}]").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (action, box)
        canvas = page.locator("#wrd-viewer canvas").bounding_box()
        osk = page.locator(".wrd-osk").bounding_box()
        assert canvas["width"] <= 390 and canvas["y"] + canvas["height"] <= osk["y"] + 1
        assert osk["y"] + osk["height"] <= 844
        for key in page.locator(".wrd-osk button").all():  # every key on screen, none scrolled away
            box = key.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844, box
        page.screenshot(path=str(SCREENSHOT))
    finally:
        page.context.close()
