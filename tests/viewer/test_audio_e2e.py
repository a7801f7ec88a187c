"""The desktop's sound in the browser: Opus over the viewer socket, decoded by WebCodecs
AudioDecoder and played by the AudioWorklet, whose output the test captures."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.audio_tone import dominant_frequency, write_tone

pytestmark = pytest.mark.timeout(180)

CONNECTED = "() => document.getElementById('wrd-viewer').dataset.state === 'connected'"


def open_viewer(browser, stack):
    from harness import browser_context

    context = browser_context(browser, stack["console"], stack["alice"]["cookie"],
                              viewport={"width": 1100, "height": 850})
    page = context.new_page()
    page.goto(f"{stack['console'].url}/desktops/{stack['desktop']}/view")
    page.wait_for_function(CONNECTED, timeout=20000)
    return page


def play_tone(stack, freq: float, seconds: float) -> None:
    wav = write_tone(stack["outdir"] / f"tone-{freq:.0f}.wav", freq, seconds)
    wav.chmod(0o644)
    stack["host"].request("exec", argv=["paplay", "--latency-msec=20", str(wav)])


def listened(page, seconds: float) -> np.ndarray:
    """What the worklet played for ``seconds``, from the first sound on."""
    page.wait_for_function("() => wrdViewer.audio.stats.packets > 0", timeout=15000, polling=50)
    time.sleep(seconds)
    return np.asarray(page.evaluate("Array.from(wrdViewer.audio.takeCaptured())"), dtype=np.float64)


def audio_encoders(stack) -> list[tuple[str, int]]:
    return [(e["format"], e["subscribers"]) for e in stack["host"].request("status").get("encoders")
            if e["format"] in ("opus", "pcm")]


def test_sound_starts_at_the_first_gesture_and_plays_the_tone(browser, stack):
    page = open_viewer(browser, stack)
    try:
        button = page.locator("[data-action=audio-mute]")
        assert button.get_attribute("data-state") == "waiting"  # autoplay rule: no gesture yet
        assert audio_encoders(stack) == []  # and nothing asked of the host
        page.evaluate("wrdViewer.audio.startCapture()")
        page.locator("canvas").click()
        page.wait_for_function("() => wrdViewer.audio.format === 'opus'", timeout=10000)
        assert button.get_attribute("data-state") == "playing"
        page.evaluate("wrdViewer.audio.startCapture()")  # the worklet exists now
        assert audio_encoders(stack) == [("opus", 1)]
        play_tone(stack, 880, 3)
        samples = listened(page, 1.5)
        assert len(samples) > 48000 * 0.8
        assert np.abs(samples).max() > 0.2
        assert dominant_frequency(samples, 48000) == pytest.approx(880, abs=10)
        assert page.evaluate("wrdViewer.audio.stats.errors") == 0
        page.screenshot(path=str(stack["workdir"] / "audio-toolbar.png"))
        # Muting leaves the stream: the host's encoder goes with its last listener.
        button.click()
        page.wait_for_function("() => wrdViewer.audio.format === null", timeout=5000)
        deadline = time.monotonic() + 5
        while audio_encoders(stack) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert audio_encoders(stack) == []
    finally:
        page.context.close()


def test_pcm_fallback_where_audiodecoder_is_missing(browser, stack):
    from harness import browser_context

    context = browser_context(browser, stack["console"], stack["alice"]["cookie"],
                              viewport={"width": 1100, "height": 850})
    context.add_init_script("delete window.AudioDecoder; localStorage.setItem('wrd.audio.muted', '0');")
    page = context.new_page()
    try:
        page.goto(f"{stack['console'].url}/desktops/{stack['desktop']}/view")
        page.wait_for_function(CONNECTED, timeout=20000)
        page.locator("canvas").click()
        page.wait_for_function("() => wrdViewer.audio.format === 'pcm'", timeout=10000)
        page.evaluate("wrdViewer.audio.startCapture()")
        play_tone(stack, 660, 3)
        samples = listened(page, 1.5)
        assert dominant_frequency(samples, 48000) == pytest.approx(660, abs=10)
    finally:
        context.close()
