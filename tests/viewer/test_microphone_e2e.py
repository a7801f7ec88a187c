"""The browser's microphone end to end: headless Debian Chromium whose fake capture device
plays a generated sine (``--use-file-for-fake-audio-capture``, the permission prompt answered
by ``--use-fake-ui-for-media-stream``), the toolbar's toggle, the viewer socket, the session
host and the desktop's sound server; ``parec`` in the desktop records the default source."""

from __future__ import annotations

import time

import pytest

from tests.conftest import desktop_user
from tests.microphone_util import Recorder, tone, write_wav

pytestmark = pytest.mark.timeout(180)

FREQ = 1200.0
STATE = "document.getElementById('wrd-viewer').dataset.microphone"


@pytest.fixture(scope="module")
def mic_browser(stack):
    """Chromium whose microphone is a file: a sine of FREQ Hz, looped."""
    import harness
    from playwright.sync_api import sync_playwright

    wav = write_wav(stack["workdir"] / "sine.wav", FREQ, 2.0)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=[
            *harness.CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"])
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, stack, query: str = ""):
    from harness import browser_context

    console = stack["console"]
    context = browser_context(browser, console, stack["alice"]["cookie"], viewport={"width": 1000, "height": 700})
    page = context.new_page()
    page.goto(f"{console.url}/desktops/{stack['desktop']}/view{query}")
    page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'connected'", timeout=20000)
    return page


def recorded_tone(recorder: Recorder, seconds: float, timeout: float = 20.0) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    found = (0.0, 0.0)
    while time.monotonic() < deadline:
        found = tone(recorder.samples())
        if found[1] >= seconds:
            break
        time.sleep(0.3)
    return found


def test_the_browser_microphone_is_recorded_in_the_desktop(mic_browser, stack, tmp_path) -> None:
    recorder = Recorder(stack["host"], "browser-mic", desktop_user("viewer"))
    page = open_page(mic_browser, stack)
    try:
        # Off until the user turns it on: nothing captured, nothing sent.
        time.sleep(1.0)
        assert page.evaluate(STATE) == "off"
        assert page.evaluate("wrdViewer.microphone.stats.chunks") == 0
        assert tone(recorder.samples())[1] == 0.0
        page.click("[data-action=microphone]")
        page.wait_for_function(f"() => {STATE} === 'on'", timeout=10000)
        assert page.get_attribute("[data-action=microphone]", "aria-pressed") == "true"
        page.screenshot(path=str(tmp_path / "viewer-microphone-on.png"))
        freq, seconds = recorded_tone(recorder, 2.0)
        chunks = page.evaluate("wrdViewer.microphone.stats.chunks")
        # Turned off: the tone stops reaching the desktop.
        page.click("[data-action=microphone]")
        page.wait_for_function(f"() => {STATE} === 'off'", timeout=5000)
        time.sleep(0.8)  # what was on the way
        before = tone(recorder.samples())[1]
        time.sleep(1.5)
        after = tone(recorder.samples())[1]
        print(f"browser microphone: {chunks} chunks sent; recorded {seconds:.2f} s of tone at {freq:.2f} Hz")
    finally:
        page.context.close()
        recorder.stop()
    assert abs(freq - FREQ) < 2, freq
    assert seconds >= 2.0
    assert after - before < 0.05, (before, after)


def test_a_view_only_page_has_no_microphone_and_its_audio_is_ignored(mic_browser, stack) -> None:
    recorder = Recorder(stack["host"], "view-only-mic", desktop_user("viewer"))
    page = open_page(mic_browser, stack, "?view_only=1")
    try:
        assert not page.is_visible("[data-action=microphone]")
        # Audio sent on a view-only socket anyway (a hand-made page) never reaches the desktop.
        page.evaluate("""() => {
          const pcm = new Int16Array(9600);
          for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(16000 * Math.sin(2 * Math.PI * 1200 * i / 48000));
          for (let i = 0; i < 10; i++) wrdViewer.sendOp({op: 'microphone'}, new Uint8Array(pcm.buffer));
        }""")
        time.sleep(1.5)
        assert page.evaluate("document.getElementById('wrd-viewer').dataset.state") == "connected"
    finally:
        page.context.close()
        samples = recorder.stop()
    assert tone(samples)[1] == 0.0


def test_a_microphone_flood_closes_that_socket_only(mic_browser, stack) -> None:
    page = open_page(mic_browser, stack)
    try:
        code = page.evaluate("""async (path) => {
          const ws = new WebSocket(`ws://${location.host}${path}`);
          const head = new TextEncoder().encode(JSON.stringify({op: 'microphone'}));
          const msg = new Uint8Array(2 + head.length + 19200);
          msg[1] = head.length; msg.set(head, 2);
          return await new Promise((resolve) => {
            ws.onopen = () => { for (let i = 0; i < 100; i++) ws.send(msg); };  // 20 s of audio at once
            ws.onclose = (e) => resolve(e.code);
            setTimeout(() => resolve(-1), 8000);
          });
        }""", f"/ws/desktops/{stack['desktop']}/")
        assert code == 4429
        time.sleep(0.5)
        assert page.evaluate("document.getElementById('wrd-viewer').dataset.state") == "connected"
    finally:
        page.context.close()
