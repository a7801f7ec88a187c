"""The viewer end to end: real session host + Xvfb, daphne, headless Debian Chromium."""

from __future__ import annotations

import base64
import io
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.timeout(180)

CONNECTED = "() => document.getElementById('wrd-viewer').dataset.state === 'connected'"


def open_viewer(browser, stack, *, user="alice", query="", init_script=None, **context_args):
    from harness import browser_context

    console = stack["console"]
    context = browser_context(browser, console, stack[user]["cookie"],
                              viewport={"width": 1100, "height": 850}, **context_args)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{console.url}/desktops/{stack['desktop']}/view{query}")
    page.wait_for_function(CONNECTED, timeout=20000)
    return page


def canvas_rgb(page) -> np.ndarray:
    url = page.evaluate("document.querySelector('#wrd-viewer canvas').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def settle(page, quiet_ms: int = 700, timeout: float = 15.0) -> None:
    """Wait until nothing was drawn for ``quiet_ms`` (lossless touch-up included)."""
    page.wait_for_function(
        "() => wrdViewer.display.stats.drawn > 0 && "
        f"performance.now() - wrdViewer.display.stats.lastDrawAt > {quiet_ms}",
        timeout=timeout * 1000, polling=100)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def wait_for_match(page, host, limit: float, timeout: float = 15.0) -> float:
    deadline = time.monotonic() + timeout
    diff = 999.0
    while time.monotonic() < deadline:
        settle(page)
        diff = mean_abs_diff(canvas_rgb(page), host.screenshot())
        if diff <= limit:
            return diff
        time.sleep(0.3)
    return diff


def close_page(page) -> None:
    page.context.close()


def test_canvas_shows_the_session_h264(browser, stack):
    page = open_viewer(browser, stack)
    try:
        assert page.evaluate("wrdViewer.format") == "h264"
        diff = wait_for_match(page, stack["host"], 1.0)
        assert diff <= 1.0, f"mean abs diff {diff:.2f}"
        # After the lossless touch-up (which a loaded machine may delay) the canvas is pixel-exact.
        deadline = time.monotonic() + 10
        while True:
            exact = (canvas_rgb(page) == stack["host"].screenshot()).all(axis=2).mean()
            if exact > 0.999 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert exact > 0.999, f"{exact:.4f} of the pixels exact"
    finally:
        close_page(page)


def test_jpeg_fallback_without_webcodecs(browser, stack):
    page = open_viewer(browser, stack, init_script="delete window.VideoDecoder; delete window.EncodedVideoChunk;")
    try:
        assert page.evaluate("wrdViewer.format") == "jpeg"
        diff = wait_for_match(page, stack["host"], 1.0)
        assert diff <= 1.0, f"mean abs diff {diff:.2f}"
        assert page.evaluate("wrdViewer.display.stats.frames") > 0
    finally:
        close_page(page)


def test_typing_reaches_the_terminal(browser, stack):
    host = stack["host"]
    page = open_viewer(browser, stack)
    try:
        settle(page)
        before = host.screenshot()
        page.keyboard.type("echo viewer-ok")
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = host.screenshot()
            # The xterm is at the top left; the echoed line lands below the prompt.
            if (np.abs(after[:120, :700].astype(int) - before[:120, :700]).sum(axis=2) > 0).sum() > 200:
                break
            time.sleep(0.2)
        changed = (np.abs(after[:120, :700].astype(int) - before[:120, :700]).sum(axis=2) > 0).sum()
        assert changed > 200
        # and the browser shows it too
        diff = wait_for_match(page, host, 1.0)
        assert diff <= 1.0
    finally:
        close_page(page)


def test_text_the_layout_lacks_arrives_as_text(browser, stack):
    """Characters with no key on the session's layout (and IME/picker text) are typed as text."""
    out = stack["outdir"] / "typed.txt"
    page = open_viewer(browser, stack)
    try:
        settle(page)
        page.keyboard.type(f"cat > {out}")
        page.keyboard.press("Enter")
        time.sleep(0.5)
        page.keyboard.type("ab")
        page.keyboard.insert_text("äß€")      # what an IME or character picker commits
        page.keyboard.type("ö")               # not on the US layout: sent as text
        page.keyboard.press("Enter")
        page.keyboard.press("Control+d")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (out.exists() and out.read_text(errors="replace").endswith("\n")):
            time.sleep(0.1)
        if not out.exists():
            from PIL import Image

            Image.fromarray(stack["host"].screenshot()).save(stack["outdir"] / "typed-fail.png")
        assert out.read_text() == "abäß€ö\n"
    finally:
        close_page(page)


def test_click_and_wheel_reach_an_x_app(browser, stack):
    host, workdir = stack["host"], stack["outdir"]
    out = workdir / "xev.txt"
    host.request("exec", argv=["sh", "-c", f"exec xev -geometry 300x300+600+350 -name wrd-xev > {out}"])
    page = open_viewer(browser, stack)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "MapNotify" not in (out.read_text() if out.exists() else ""):
            time.sleep(0.1)
        time.sleep(0.3)
        box = page.evaluate("(() => { const r = document.querySelector('#wrd-viewer canvas')"
                            ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()")
        sx, sy = box[2] / 1024, box[3] / 768
        x, y = box[0] + 750 * sx, box[1] + 500 * sy
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.mouse.click(x, y, button="right")
        page.mouse.wheel(0, 240)   # two notches down
        page.mouse.wheel(120, 0)   # one notch right
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            text = out.read_text()
            if all(f"button {b}," in text for b in (1, 3, 5, 7)):
                break
            time.sleep(0.1)
        for b in (1, 3, 5, 7):
            assert f"button {b}," in text, f"button {b} missing from xev output"
        assert "ButtonRelease" in text and "MotionNotify" in text
    finally:
        close_page(page)


def test_clipboard_browser_to_desktop(browser, stack):
    host = stack["host"]
    page = open_viewer(browser, stack, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.click("[data-action=clipboard]")
        page.fill(".wrd-clipboard textarea", "from-the-browser ✓")
        page.click("[data-action=clipboard-send]")
        deadline = time.monotonic() + 10
        text = None
        while time.monotonic() < deadline:
            text = host.clipboard_text()
            if text == "from-the-browser ✓":
                break
            time.sleep(0.1)
        assert text == "from-the-browser ✓"
        # A program in the session reads it too.
        out = stack["outdir"] / "xclip.txt"
        host.request("exec", argv=["sh", "-c", f"xclip -o -selection clipboard > {out}"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (out.exists() and out.read_text()):
            time.sleep(0.1)
        assert out.read_text() == "from-the-browser ✓"
    finally:
        close_page(page)


def test_clipboard_desktop_to_browser(browser, stack):
    host = stack["host"]
    page = open_viewer(browser, stack, permissions=["clipboard-read", "clipboard-write"])
    try:
        # A program in the session copies; the host announces it, the viewer shows and copies it.
        host.request("exec", argv=["sh", "-c", "printf 'from-the-desktop ✓' | xclip -selection clipboard"])
        page.wait_for_function(
            "() => document.querySelector('.wrd-clipboard textarea').value === 'from-the-desktop ✓'", timeout=10000)
        assert page.evaluate("navigator.clipboard.readText()") == "from-the-desktop ✓"
    finally:
        close_page(page)


def test_clipboard_carries_a_megabyte_both_ways_and_says_when_text_is_over_the_limit(browser, stack):
    from tests.conftest import wait_until

    host = stack["host"]
    big = "".join(f"line {i:06d}: ünïcödé ✓ 日本\n" for i in range(28000))  # 1.0 MB of UTF-8
    page = open_viewer(browser, stack, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.click("[data-action=clipboard]")
        # A program in the session copies a megabyte.
        out = stack["outdir"] / "big.txt"
        out.write_text(big)
        host.request("exec", argv=["sh", "-c", f"xclip -selection clipboard < {out}"])
        page.wait_for_function("(n) => document.querySelector('.wrd-clipboard textarea').value.length === n",
                               arg=len(big), timeout=20000)
        assert page.evaluate("document.querySelector('.wrd-clipboard textarea').value") == big
        back = big.upper()
        page.evaluate("(t) => wrdViewer.sendClipboard(t)", back)
        wait_until(lambda: host.clipboard_text() == back, 20, 0.2, "the browser's megabyte in the session")
        # Over the limit: not sent, and the panel says why.
        page.evaluate("wrdViewer.sendClipboard('x'.repeat(17 * 1024 * 1024))")
        note = page.locator(".wrd-clipboard-note")
        assert note.is_visible() and "over the 16 MB clipboard limit" in note.inner_text()
        assert host.clipboard_text() == back
        assert page.evaluate("document.getElementById('wrd-viewer').dataset.state") == "connected"
    finally:
        close_page(page)


def test_two_viewers_see_the_same(browser, stack):
    host = stack["host"]
    first = open_viewer(browser, stack)
    second = open_viewer(browser, stack)
    try:
        host.request("exec", argv=["xterm", "-geometry", "40x10+500+100", "-bg", "navy", "-e", "sleep 30"])
        time.sleep(1.0)
        for page in (first, second):
            diff = wait_for_match(page, host, 1.0)
            assert diff <= 1.0
        assert mean_abs_diff(canvas_rgb(first), canvas_rgb(second)) <= 1.0
    finally:
        close_page(first)
        close_page(second)


def test_view_only_input_is_ignored_server_side(browser, stack):
    host = stack["host"]
    page = open_viewer(browser, stack, query="?view_only=1")
    try:
        assert page.evaluate("wrdViewer.viewOnly") is True
        settle(page)
        before = host.screenshot()
        # The page does not send input in view-only mode; send it anyway, as a hostile page would.
        page.evaluate("""wrdViewer.sendOp({op: 'input', events: [
            {t: 'text', text: 'view-only-must-not-type'}, {t: 'key', code: 28, down: true},
            {t: 'key', code: 28, down: false}]});
            wrdViewer.sendOp({op: 'clipboard', text: 'view-only-clip'});""")
        time.sleep(1.0)
        assert np.array_equal(host.screenshot(), before)
        assert host.clipboard_text() != "view-only-clip"
    finally:
        close_page(page)


WS_PROBE = """async ([path, send]) => {
  const ws = new WebSocket(`ws://${location.host}${path}`);
  ws.binaryType = 'arraybuffer';
  let messages = 0;
  return await new Promise((resolve) => {
    ws.onopen = () => { if (send) send.forEach((m) => ws.send(m === null ? new Uint8Array(0) :
        typeof m === 'string' ? m : new Uint8Array(m))); };
    ws.onmessage = () => { messages++; };
    ws.onclose = (e) => resolve({code: e.code, reason: e.reason, messages});
    setTimeout(() => resolve({code: -1, messages}), 8000);
  });
}"""


def test_another_users_page_and_socket_are_refused(browser, stack):
    from harness import browser_context

    console = stack["console"]
    context = browser_context(browser, console, stack["bob"]["cookie"])
    try:
        page = context.new_page()
        response = page.goto(f"{console.url}/desktops/{stack['desktop']}/view")
        assert response.status == 404  # as if it did not exist
        result = page.evaluate(WS_PROBE, [f"/ws/desktops/{stack['desktop']}/", None])
        assert result["code"] == 4404 and result["messages"] == 0
    finally:
        context.close()


def test_anonymous_socket_is_refused(browser, stack):
    console = stack["console"]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{console.url}/static/viewer/viewer.css")
        result = page.evaluate(WS_PROBE, [f"/ws/desktops/{stack['desktop']}/", None])
        assert result["code"] == 4401 and result["messages"] == 0
    finally:
        context.close()


def _frame(header: dict) -> list[int]:
    import json

    head = json.dumps(header).encode()
    return list(len(head).to_bytes(2, "big") + head)


@pytest.mark.parametrize(("messages", "code"), [
    (["text, not binary"], 4400),
    ([[0, 200, 1, 2]], 4400),                                         # header runs past the end
    ([_frame({"op": "teleport"})], 4400),                             # unknown op
    ([_frame({"op": "input", "events": [{"t": "key", "code": "x"}]})], 4400),
    ([_frame({"op": "subscribe", "format": "bmp"})], 4400),
    ([_frame({"op": "subscribe", "format": "h264", "preset": "ultra"})], 4400),  # unknown preset
    ([_frame({"op": "subscribe", "format": "h264", "preset": {"qp": 0}})], 4400),  # options: not the page's
])
def test_bad_messages_close_that_socket_only(browser, stack, messages, code):
    host = stack["host"]
    watcher = open_viewer(browser, stack)
    try:
        result = watcher.evaluate(WS_PROBE, [f"/ws/desktops/{stack['desktop']}/", messages])
        assert result["code"] == code, result
        # The other viewer and the session carry on.
        host.request("exec", argv=["xterm", "-geometry", "20x5+300+600", "-e", "sleep 5"])
        time.sleep(0.5)
        assert wait_for_match(watcher, host, 1.0) <= 1.0
        assert watcher.evaluate("document.getElementById('wrd-viewer').dataset.state") == "connected"
    finally:
        close_page(watcher)


def test_oversized_and_flood_are_closed(browser, stack):
    page = open_viewer(browser, stack)
    try:
        big = page.evaluate("""async (path) => {
          const ws = new WebSocket(`ws://${location.host}${path}`);
          return await new Promise((resolve) => {
            ws.onopen = () => ws.send(new Uint8Array(600 * 1024));
            ws.onclose = (e) => resolve(e.code);
          });
        }""", f"/ws/desktops/{stack['desktop']}/")
        assert big == 4413
        flood = page.evaluate("""async (path) => {
          const ws = new WebSocket(`ws://${location.host}${path}`);
          const enc = new TextEncoder();
          const head = enc.encode(JSON.stringify({op: 'input', events:
              Array.from({length: 256}, (_, i) => ({t: 'move', x: i, y: i}))}));
          const msg = new Uint8Array(2 + head.length);
          msg[0] = head.length >> 8; msg[1] = head.length & 255; msg.set(head, 2);
          return await new Promise((resolve) => {
            ws.onopen = () => { for (let i = 0; i < 200; i++) ws.send(msg); };
            ws.onclose = (e) => resolve(e.code);
          });
        }""", f"/ws/desktops/{stack['desktop']}/")
        assert flood == 4429
    finally:
        close_page(page)


def test_reconnects_after_the_socket_drops_and_shows_stopped(browser, stack):
    page = open_viewer(browser, stack)
    try:
        page.evaluate("wrdViewer.ws.close(4000, 'test drop')")
        page.wait_for_function("() => wrdViewer.stats.opened >= 2", timeout=15000)
        page.wait_for_function(CONNECTED, timeout=15000)
        stack["console"].set_state(stack["desktop"], "stopped")
        page.evaluate("wrdViewer.ws.close(4000, 'test drop')")
        page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'stopped'",
                               timeout=15000)
        assert page.is_visible(".wrd-overlay")
        assert "stopped" in page.inner_text(".wrd-overlay h2").lower()
    finally:
        stack["console"].set_state(stack["desktop"], "running")
        close_page(page)


def test_resize_from_the_browser(browser, stack):
    host = stack["host"]
    page = open_viewer(browser, stack)
    try:
        page.evaluate("wrdViewer.sendOp({op: 'resize', width: 800, height: 600})")
        page.wait_for_function("() => wrdViewer.canvas.width === 800 && wrdViewer.canvas.height === 600", timeout=15000)
        assert host.request("status").get("width") == 800
        assert wait_for_match(page, host, 1.0) <= 1.0
    finally:
        page.evaluate("wrdViewer.sendOp({op: 'resize', width: 1024, height: 768})")
        page.wait_for_function("() => wrdViewer.canvas.width === 1024", timeout=15000)
        close_page(page)


def test_a_viewer_that_never_acks_does_not_hold_up_the_others(browser, stack):
    host = stack["host"]
    page = open_viewer(browser, stack)
    try:
        # A second socket subscribes and then never acknowledges (a stuck or hostile tab).
        page.evaluate("""(path) => {
          const ws = new WebSocket(`ws://${location.host}${path}`);
          ws.binaryType = 'arraybuffer';
          window.stuck = {ws, frames: 0};
          const head = new TextEncoder().encode(JSON.stringify({op: 'subscribe', format: 'h264'}));
          const msg = new Uint8Array(2 + head.length);
          msg[0] = head.length >> 8; msg[1] = head.length & 255; msg.set(head, 2);
          ws.onopen = () => ws.send(msg);
          ws.onmessage = (e) => {
            const b = new Uint8Array(e.data), n = (b[0] << 8) | b[1];
            if (JSON.parse(new TextDecoder().decode(b.subarray(2, 2 + n))).op === 'frame') window.stuck.frames++;
          };
        }""", f"/ws/desktops/{stack['desktop']}/")
        time.sleep(1.0)
        for i in range(3):
            host.request("exec", argv=["xterm", "-geometry", f"30x5+{200 + 150 * i}+{300 + 60 * i}",
                                       "-bg", "darkred", "-e", "sleep 8"])
            time.sleep(0.7)
        assert wait_for_match(page, host, 1.0) <= 1.0
        stuck = page.evaluate("window.stuck.frames")
        assert stuck <= 4, f"an unacknowledging viewer got {stuck} frames past its window"
        assert page.evaluate("window.stuck.ws.readyState") == 1  # left behind, not closed
    finally:
        page.evaluate("window.stuck && window.stuck.ws.close()")
        close_page(page)


# --- IME, dead keys, shortcuts and stuck modifiers, driven through Chromium's own input
# pipeline (CDP Input.*), so the page sees the same event sequence a real IME or keyboard
# produces: composition events, "Dead" keydowns, isComposing keydowns.

RECORD_OPS = """() => {
  window.sentOps = [];
  const send = wrdViewer.sendOp.bind(wrdViewer);
  wrdViewer.sendOp = (header, payload) => { window.sentOps.push(header); return send(header, payload); };
}"""


def wait_for_file(path, predicate, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if predicate(text):
            return text
        time.sleep(0.1)
    return text


def typed_into_cat(page, stack, name: str, typing) -> str:
    """Run ``cat > file`` in the session's xterm, call ``typing()``, end the line and the
    input (Enter, Ctrl+D) and return what cat wrote."""
    out = stack["outdir"] / name
    page.keyboard.type(f"cat > {out}")
    page.keyboard.press("Enter")
    wait_for_file(out, lambda text: out.exists(), timeout=5)
    time.sleep(0.3)
    typing()
    page.keyboard.press("Enter")
    page.keyboard.press("Control+d")
    text = wait_for_file(out, lambda text: text.endswith("\n"))
    time.sleep(0.3)  # cat has exited and the prompt is back before the next test types
    return text


def cdp_key(cdp, type_: str, *, key: str, code: str, text: str = "", vk: int = 0, modifiers: int = 0):
    params = {"type": type_, "key": key, "code": code, "modifiers": modifiers,
              "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
    if text:
        params.update(text=text, unmodifiedText=text)
    cdp.send("Input.dispatchKeyEvent", params)


def test_ime_composition_arrives_as_text(browser, stack):
    """An IME composing 日本語 (with intermediate kana updates, keys swallowed by the IME) and
    committing it: only the committed text reaches the session, exactly once."""
    page = open_viewer(browser, stack)
    try:
        settle(page)
        page.evaluate(RECORD_OPS)
        cdp = page.context.new_cdp_session(page)

        def typing():
            for step in ("に", "にほ", "にほん", "にほんご", "日本語"):
                # The IME eats the key (keyCode 229 / "Process") and updates the composition.
                cdp_key(cdp, "rawKeyDown", key="Process", code="KeyN", vk=229)
                cdp.send("Input.imeSetComposition",
                         {"text": step, "selectionStart": len(step), "selectionEnd": len(step)})
                cdp_key(cdp, "keyUp", key="Process", code="KeyN", vk=229)
            cdp.send("Input.insertText", {"text": "日本語"})  # commit
            page.keyboard.type("!")

        text = typed_into_cat(page, stack, "ime.txt", typing)
        assert text == "日本語!\n"
        sent = [e for op in page.evaluate("window.sentOps") if op["op"] == "input" for e in op["events"]]
        texts = [e["text"] for e in sent if e["t"] == "text" and not e["text"].isascii()]
        assert texts == ["日本語"], texts  # no partial kana, no duplicate from the input event
        assert page.evaluate("wrdViewer.sink.value") == ""
    finally:
        close_page(page)


def test_dead_key_composes_a_character(browser, stack):
    """US-international style dead keys: a "Dead" keydown sends nothing, the composed
    character that follows arrives as text; also the GTK-style sequence where the dead key
    opens a composition (¨) that the next key commits (ä)."""
    page = open_viewer(browser, stack)
    try:
        settle(page)
        cdp = page.context.new_cdp_session(page)

        def typing():
            # Windows/macOS/Chromium style: keydown key=Dead, then the composed key.
            cdp_key(cdp, "rawKeyDown", key="Dead", code="Quote", vk=222)
            cdp_key(cdp, "keyUp", key="Dead", code="Quote", vk=222)
            cdp_key(cdp, "keyDown", key="ä", code="KeyA", text="ä", vk=65)
            cdp_key(cdp, "keyUp", key="ä", code="KeyA", vk=65)
            # Shifted: Ä on the A key.
            cdp_key(cdp, "rawKeyDown", key="Shift", code="ShiftLeft", vk=16, modifiers=8)
            cdp_key(cdp, "rawKeyDown", key="Dead", code="Quote", vk=222, modifiers=8)
            cdp_key(cdp, "keyUp", key="Dead", code="Quote", vk=222, modifiers=8)
            cdp_key(cdp, "keyDown", key="Ä", code="KeyA", text="Ä", vk=65, modifiers=8)
            cdp_key(cdp, "keyUp", key="Ä", code="KeyA", vk=65, modifiers=8)
            cdp_key(cdp, "keyUp", key="Shift", code="ShiftLeft", vk=16)
            # Linux/GTK style: the dead key starts a composition showing ¨, the next key commits.
            cdp_key(cdp, "rawKeyDown", key="Dead", code="BracketRight", vk=221)
            cdp.send("Input.imeSetComposition", {"text": "¨", "selectionStart": 1, "selectionEnd": 1})
            cdp_key(cdp, "keyUp", key="Dead", code="BracketRight", vk=221)
            cdp_key(cdp, "rawKeyDown", key="Process", code="KeyO", vk=229)
            cdp.send("Input.insertText", {"text": "ö"})
            cdp_key(cdp, "keyUp", key="o", code="KeyO", vk=79)
            page.keyboard.type("a")  # an ordinary key after the dead keys is itself again

        assert typed_into_cat(page, stack, "dead.txt", typing) == "äÄöa\n"
    finally:
        close_page(page)


def foreground_process(argv: list[str], timeout: float = 15.0) -> int | None:
    """The pid of a process running exactly ``argv`` once it is its terminal's foreground job
    (its process group owns the tty), or None after ``timeout``."""
    wanted = "\0".join(argv).encode() + b"\0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                if not entry.name.isdigit() or (entry / "cmdline").read_bytes() != wanted:
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[2] == fields[5]:  # pgrp == tpgid
                return int(entry.name)
        time.sleep(0.05)
    return None


def test_ctrl_c_interrupts_a_program(browser, stack):
    """Ctrl+letter reaches the desktop as the key combination: Ctrl+C interrupts a running
    ``sleep`` and the command typed after it runs at once."""
    marker = stack["outdir"] / "after-ctrl-c"
    argv = ["sleep", str(random.randint(4000, 4999))]
    page = open_viewer(browser, stack)
    try:
        settle(page)
        page.keyboard.type(" ".join(argv))
        page.keyboard.press("Enter")
        # Ctrl+C before the shell hands the terminal to the job interrupts the shell, not it.
        pid = foreground_process(argv)
        assert pid, f"{argv} never ran in the foreground: the typed command did not reach the shell"
        page.keyboard.press("Control+c")
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), "Ctrl+C did not interrupt the running sleep"
        page.keyboard.type(f"touch {marker}")
        page.keyboard.press("Enter")
        wait_for_file(marker, lambda text: marker.exists(), timeout=15)
        assert marker.exists(), "the command typed after Ctrl+C did not run"
    finally:
        close_page(page)


def test_blur_releases_held_modifiers(browser, stack):
    """Shift held when the page loses focus (e.g. Alt+Tab away): the page sends release_all and
    the desktop does not keep Shift down, so a later "a" types "a"."""
    page = open_viewer(browser, stack)
    try:
        settle(page)
        page.evaluate(RECORD_OPS)

        def typing():
            page.keyboard.down("Shift")
            page.keyboard.press("KeyB")  # B: Shift really reached the desktop
            page.evaluate("window.sentOps.length = 0")
            # The window loses focus while Shift is down; its keyup goes elsewhere. Headless
            # Chromium keeps every page focused, so the blur a real Alt+Tab gives is dispatched.
            page.evaluate("window.dispatchEvent(new FocusEvent('blur'))")
            page.wait_for_function(
                "() => window.sentOps.some((op) => op.op === 'input' && op.events.some((e) => e.t === 'release_all'))",
                timeout=5000)
            page.keyboard.up("Shift")  # the page never saw this keyup's keydown as held any more
            page.evaluate("wrdViewer.input.focus()")
            page.keyboard.press("KeyA")

        assert typed_into_cat(page, stack, "blur.txt", typing) == "Ba\n"
        held = page.evaluate("wrdViewer.input.down.size")
        assert held == 0
    finally:
        close_page(page)


def test_ctrl_v_pastes_the_browser_clipboard(browser, stack):
    """Ctrl+V in the viewer: the browser's clipboard text reaches the session's CLIPBOARD first,
    then Ctrl+V itself, so a program that pastes on Ctrl+V pastes what the user copied locally.
    The program is an xterm bound to paste CLIPBOARD on Ctrl+V, running ``cat > file``."""
    host, workdir = stack["host"], stack["outdir"]
    out = workdir / "ctrl-v.txt"
    host.request("exec", argv=[
        "xterm", "-geometry", "40x5+500+400", "-xrm", "*VT100.translations: #override Ctrl<Key>v: "
        "insert-selection(CLIPBOARD)", "-e", "sh", "-c", f"cat > {out}"])
    wait_for_file(out, lambda text: out.exists(), timeout=10)
    page = open_viewer(browser, stack, permissions=["clipboard-read", "clipboard-write"])
    box = None
    try:
        settle(page)
        # No window manager: the keyboard focus follows the pointer into that xterm.
        box = page.evaluate("(() => { const r = document.querySelector('#wrd-viewer canvas')"
                            ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()")
        page.mouse.move(box[0] + 600 * box[2] / 1024, box[1] + 430 * box[3] / 768)
        page.evaluate("navigator.clipboard.writeText('pasted-with-ctrl-v 42')")
        time.sleep(0.5)
        page.evaluate("wrdViewer.input.focus()")
        page.keyboard.press("Control+v")
        # xterm fetches the selection asynchronously; keys typed at once may overtake it (on a
        # loaded machine they did, the host answering the selection request late), so the
        # line is ended after a pause, as a person would.
        time.sleep(1.0)
        page.keyboard.press("Enter")
        page.keyboard.press("Control+d")  # cat ends, and that xterm with it
        text = wait_for_file(out, lambda text: text.endswith("\n"))
        assert text == "pasted-with-ctrl-v 42\n"
        assert host.clipboard_text() == "pasted-with-ctrl-v 42"
    finally:
        if box:  # the pointer (and so the focus) back over the session's own terminal
            page.mouse.move(box[0] + 200 * box[2] / 1024, box[1] + 100 * box[3] / 768)
        time.sleep(0.3)
        close_page(page)


def test_fullscreen_locks_the_keyboard_and_ctrl_w_reaches_the_desktop(browser, stack):
    """Full screen asks for the Keyboard Lock API (so Ctrl+W/Ctrl+T go to the desktop, not the
    browser); Ctrl+W then erases a word in the session's terminal, and leaving full screen
    unlocks."""
    page = open_viewer(browser, stack)
    try:
        settle(page)
        page.click("[data-action=fullscreen]")
        page.wait_for_function("() => document.fullscreenElement === document.getElementById('wrd-viewer')",
                               timeout=5000)
        page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.keyboardLock === 'on'",
                               timeout=5000)
        page.evaluate("wrdViewer.input.focus()")

        def typing():
            page.keyboard.type("keep gone")
            page.keyboard.press("Control+w")  # the tty's word erase: "gone" goes

        assert typed_into_cat(page, stack, "ctrl-w.txt", typing) == "keep \n"
        page.evaluate("document.exitFullscreen()")
        page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.keyboardLock === 'off'",
                               timeout=5000)
    finally:
        close_page(page)


SCROLLER = ("for i in $(seq 1 300); do echo \"line $i of a scrolling terminal: $(seq -s ' ' $i $((i + 12)))\";"
            " sleep 0.004; done; sleep 30")


def test_scrolling_terminal_is_copied_and_ends_pixel_exact(browser, stack):
    """A terminal printing lines: the viewer moves what it already shows (copy frames) and
    draws only the new rows; once it stops the canvas equals the session's screen exactly."""
    host = stack["host"]
    page = open_viewer(browser, stack)
    proc = subprocess.Popen(["xterm", "-geometry", "80x24+300+200", "-e", "sh", "-c", SCROLLER],
                            env=host.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page.wait_for_function("() => wrdViewer.display.stats.copies >= 10", timeout=20000, polling=100)
        time.sleep(2.5)  # the loop ends; the last rows settle
        settle(page)
        # On a loaded machine the touch-up of the last lossy rows can come after a quiet spell:
        # exact within a few seconds, never "close enough".
        deadline = time.monotonic() + 10
        while True:
            session, shown = host.screenshot(), canvas_rgb(page)
            differing = int(np.count_nonzero((session != shown).any(axis=2)))
            if not differing or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert differing == 0, f"{differing} pixels differ"
        codecs = page.evaluate("wrdViewer.display.stats.byCodec")
        copies = page.evaluate("wrdViewer.display.stats.copies")
        assert copies >= 10 and codecs.get("h264", 0) <= copies, (copies, codecs)
        # The page's socket is compressed, so the new rows of text came as ``indexed`` images,
        # carrying their copies (no ``copy`` frames of their own).
        assert page.evaluate("wrdViewer.ws.extensions").startswith("permessage-deflate")
        assert codecs.get("indexed", 0) >= 1 and codecs.get("copy", 0) == 0, codecs
    finally:
        proc.kill()
        proc.wait()
        close_page(page)


# --- stream presets ---------------------------------------------------------------------------

ACTIVE_PRESET = "document.getElementById('wrd-viewer').dataset.activePreset"


def h264_encoders(host, expected: list[int], timeout: float = 10.0) -> list[int]:
    """Subscribers of each of the host's H.264 encoders (sorted), once they are ``expected``
    (a closed page's subscription goes when its socket does, a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = sorted(e["subscribers"] for e in host.request("status").get("encoders") if e["format"] == "h264")
        if counts == expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def choose_preset_by_keyboard(page, preset: str) -> None:
    """Tab-free keyboard use of the toolbar's control: focus it, arrow to ``preset``."""
    order = ["quality", "balanced", "low"]
    page.focus("[data-action=preset]")
    current = page.eval_on_selector("[data-action=preset]", "s => s.value")
    key = "ArrowDown" if order.index(preset) > order.index(current) else "ArrowUp"
    for _ in range(abs(order.index(preset) - order.index(current))):
        page.keyboard.press(key)
    page.wait_for_function(f"() => {ACTIVE_PRESET} === '{preset}'", timeout=15000)


def test_presets_switch_streams_and_are_remembered(browser, stack):
    host = stack["host"]
    first = open_viewer(browser, stack)   # the desktop's shared stream, as any other viewer
    second = open_viewer(browser, stack)
    try:
        for page in (first, second):
            assert page.evaluate(ACTIVE_PRESET) == "balanced"
            assert page.eval_on_selector("[data-action=preset]", "s => s.value") == "balanced"
        assert h264_encoders(host, [2]) == [2]  # balanced viewers share one encoder

        choose_preset_by_keyboard(second, "quality")
        assert second.evaluate("document.activeElement.dataset.action") == "preset"  # focus stays
        assert h264_encoders(host, [1, 1]) == [1, 1]  # its own stream; the old one left
        host.request("exec", argv=["xterm", "-geometry", "30x6+420+380", "-bg", "darkgreen", "-e", "sleep 6"])
        time.sleep(0.5)
        for page in (first, second):
            assert wait_for_match(page, host, 1.0) <= 1.0
        assert "Quality" in second.inner_text(".wrd-stats")

        # Remembered in this browser: a reload subscribes with it again.
        second.reload()
        second.wait_for_function(CONNECTED, timeout=20000)
        assert second.evaluate(ACTIVE_PRESET) == "quality"
        assert second.eval_on_selector("[data-action=preset]", "s => s.value") == "quality"
        assert h264_encoders(host, [1, 1]) == [1, 1]

        choose_preset_by_keyboard(second, "low")
        assert h264_encoders(host, [1, 1]) == [1, 1]
        host.request("exec", argv=["xterm", "-geometry", "30x6+100+420", "-bg", "purple", "-e", "sleep 6"])
        time.sleep(0.5)
        assert wait_for_match(second, host, 1.0) <= 1.0  # lossy while moving, exact once settled
        assert second.evaluate("wrdViewer.display.stats.decodeErrors") == 0

        choose_preset_by_keyboard(second, "balanced")
        assert h264_encoders(host, [2]) == [2]  # back on the shared stream
        assert wait_for_match(second, host, 1.0) <= 1.0
    finally:
        close_page(first)
        close_page(second)


def test_a_stored_preset_the_page_does_not_know_falls_back_to_balanced(browser, stack):
    page = open_viewer(browser, stack, init_script="localStorage.setItem('wrd.preset', 'toString')")
    try:
        assert page.evaluate(ACTIVE_PRESET) == "balanced"
    finally:
        close_page(page)


def test_a_new_password_or_deactivation_ends_the_users_open_viewers(browser, stack):
    """Within the consumer's recheck interval (5 s) an open viewer of a user whose password
    changed, or who was deactivated, closes with 4401 and says so; another user's goes on."""
    from harness import browser_context

    console, host = stack["console"], stack["host"]
    carol = console.add_user("carol")
    desktop = console.add_desktop(carol["id"], host)
    watcher = open_viewer(browser, stack)  # alice's, on the same session host

    def carols_viewer():
        context = browser_context(browser, console, carol["cookie"], viewport={"width": 1100, "height": 850})
        page = context.new_page()
        page.goto(f"{console.url}/desktops/{desktop}/view")
        page.wait_for_function(CONNECTED, timeout=20000)
        return page

    def as_carol(code: str) -> None:
        console.django(f"from django.contrib.auth.models import User\nu = User.objects.get(pk={carol['id']})\n{code}")

    try:
        for change in ("u.set_password('another-pw'); u.save()", "u.is_active = False; u.save()"):
            as_carol("u.is_active = True; u.save()")
            carol = console.add_user("carol")  # a fresh browser session
            page = carols_viewer()
            try:
                as_carol(change)
                page.wait_for_function(
                    "() => document.getElementById('wrd-viewer').dataset.state === 'unauthenticated'", timeout=15000)
                assert "Not signed in" in page.inner_text("#wrd-viewer")
            finally:
                close_page(page)
        assert watcher.evaluate("document.getElementById('wrd-viewer').dataset.state") == "connected"
    finally:
        close_page(watcher)
