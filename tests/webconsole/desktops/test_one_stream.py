"""One stream per desktop: a browser viewer and an RDP client on the same desktop share one
H.264 encoder, and both show the session's screen; they share one audio encoder too, and both
play the desktop's sound.

Real parts: the console (daphne) with a Celery worker, `manage.py rdpserver`, Debian's Chromium
(WebCodecs) and xfreerdp with the graphics pipeline (AVC420) on its own Xvfb.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User

from compositor import messages
from compositor.audio import FORMATS as AUDIO_FORMATS
from compositor.client import BlockingHostClient
from tests.audio_tone import dominant_frequency, write_tone
from tests.conftest import end_process, session_home, wait_until
from tests.rdpfront.test_sound_e2e import client_pulse  # noqa: F401 (fixture)
from tests.webconsole.desktops.test_attach import (  # noqa: F401 (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    canvas_matches,
    daphne,
    login_cookie,
    open_viewer,
)
from tests.webconsole.desktops.test_rdp_login import (  # noqa: F401 (fixtures)
    client_display,
    client_matches_session,
    rdpserver,
    xfreerdp,
)
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


def _video(status: messages.StatusReply) -> list[messages.EncoderStatus]:
    """The picture's encoders (the RDP client's sound has its own, docs/audio.md)."""
    return [e for e in status.encoders if e.format not in AUDIO_FORMATS]


def _only_h264(host: BlockingHostClient, subscribers: int) -> list[messages.EncoderStatus] | None:
    """The picture's encoders when they are one H.264 encoder with ``subscribers``, else None."""
    video = _video(host.call(messages.Status()))
    return video if [(e.format, e.subscribers) for e in video] == [("h264", subscribers)] else None


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("xfreerdp") is None or not Path(CHROMIUM).exists(),
                    reason="xfreerdp (freerdp2-x11) or chromium is not installed")
def test_a_browser_and_an_rdp_client_share_one_h264_encoder(daphne, rdpserver, client_display, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    user = User.objects.create_user("both", password="both-pass-123")
    client = xfreerdp(client_display, rdpserver, "both", "both-pass-123", tmp_path, "/gfx:avc420")
    session = None
    try:
        session = wait_until(lambda: DesktopSession.objects.filter(owner=user, state=DesktopState.RUNNING).first(),
                             60, 0.3, "the desktop to run")
        wait_until(lambda: client_matches_session(client_display, session), 40, 0.5,
                   "the FreeRDP window to show the session")
        cookie = login_cookie(user)  # the ORM, before Playwright's event loop runs in this thread
        with BlockingHostClient(session.socket_path) as host:
            # The client is drawn through bitmap updates until its graphics pipeline channel
            # is open, and a plain desktop can look the same either way: wait for its H.264
            # stream itself.
            (alone,) = wait_until(lambda: _only_h264(host, 1), 20, 0.2, "the RDP client's H.264 stream")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = open_viewer(browser, daphne, cookie, session)
                assert page.evaluate("wrdViewer.format") == "h264"
                wait_until(lambda: canvas_matches(page, session), 20, 0.5, "the canvas to show the session")
                with BlockingHostClient(session.socket_path) as host:
                    # Something for both to draw: text (lossless frames, in each one's codec)
                    # and a picture-like area (H.264, the same frames for both).
                    host.request("exec", argv=["xterm", "-geometry", "60x12+40+40", "-e", "sh", "-c",
                                               "ls -l /usr/bin | head -40; sleep 60"])
                    host.request("exec", argv=["xterm", "-geometry", "40x20+500+300", "-bg", "#203040",
                                               "-fg", "#e0c080", "-e", "sh", "-c", "seq 1 400; sleep 60"])
                    wait_until(lambda: canvas_matches(page, session), 20, 0.5, "the canvas to show the terminals")
                    wait_until(lambda: client_matches_session(client_display, session), 20, 0.5,
                               "the FreeRDP window to show the terminals")
                    status = host.call(messages.Status())
                encoders = [(e.format, e.subscribers) for e in _video(status)]
                assert encoders == [("h264", 2)], encoders
                # The browser joined the RDP client's running stream on a keyframe of its own:
                # none for the RDP client.
                (h264,) = _video(status)
                assert h264.catch_ups > alone.catch_ups and h264.keyframes == alone.keyframes, (alone, h264)
                codecs = page.evaluate("wrdViewer.display.stats.byCodec")
                assert "planar" not in codecs, codecs  # the browser got the web variant only
            finally:
                browser.close()
    finally:
        end_process(client)
        if session is not None:
            services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))


def _audio(session: DesktopSession) -> list[tuple[str, int]]:
    with BlockingHostClient(session.socket_path) as host:
        return sorted((e.format, e.subscribers) for e in host.call(messages.Status()).encoders
                      if e.format in AUDIO_FORMATS)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("xfreerdp") is None or not Path(CHROMIUM).exists(),
                    reason="xfreerdp (freerdp2-x11) or chromium is not installed")
def test_a_browser_and_an_rdp_client_hear_the_tone_from_one_audio_encode(
        daphne, rdpserver, client_display, client_pulse, tmp_path):  # noqa: F811
    """xfreerdp with /sound (AAC, as Debian's FreeRDP 2 decodes no Opus) and a Chromium viewer
    (WebCodecs decodes Opus and AAC) on one desktop: the host runs one AAC encoder for both,
    and a tone played in the desktop is heard in the client's PulseAudio and in the page."""
    from playwright.sync_api import sync_playwright

    user = User.objects.create_user("listen", password="listen-pass-123")
    client = xfreerdp(client_display, rdpserver, "listen", "listen-pass-123", tmp_path, "/gfx:avc420",
                      "/sound:sys:pulse", env=client_pulse)
    session = recorder = None
    try:
        session = wait_until(lambda: DesktopSession.objects.filter(owner=user, state=DesktopState.RUNNING).first(),
                             60, 0.3, "the desktop to run")
        wait_until(lambda: _audio(session) == [("aac", 1)], 30, 0.3, "the RDP client's AAC stream")
        tone = session_home(session) / "tone-both.wav"
        write_tone(tone, 1000, 4).chmod(0o644)
        cookie = login_cookie(user)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = open_viewer(browser, daphne, cookie, session)
                page.locator("canvas").click()  # the gesture that lets the page play sound
                page.wait_for_function("() => wrdViewer.audio.format !== null", timeout=10000)
                page.evaluate("wrdViewer.audio.startCapture()")
                wait_until(lambda: _audio(session) == [("aac", 2)], 10, 0.2, "the page to join the AAC encode")
                heard = tmp_path / "client-heard.raw"
                recorder = subprocess.Popen(["parec", "--raw", "--format=s16le", "--rate=48000", "--channels=2",
                                             "--device=client_out.monitor", str(heard)], env=client_pulse)
                with BlockingHostClient(session.socket_path) as host:
                    host.call(messages.Exec(argv=["paplay", "--latency-msec=20", str(tone)]))
                page.wait_for_function("() => wrdViewer.audio.stats.packets > 0", timeout=15000, polling=50)
                time.sleep(2.5)
                in_page = np.asarray(page.evaluate("Array.from(wrdViewer.audio.takeCaptured())"), dtype=np.float64)
                assert page.evaluate("wrdViewer.audio.format") == "aac"
                assert page.evaluate("wrdViewer.audio.stats.errors") == 0
                assert _audio(session) == [("aac", 2)]  # one encode, both front ends
            finally:
                browser.close()
        end_process(recorder)
        assert len(in_page) > 48000 and np.abs(in_page).max() > 0.2
        assert dominant_frequency(in_page, 48000) == pytest.approx(1000, abs=10)
        at_client = np.frombuffer(heard.read_bytes(), "<i2").reshape(-1, 2)[:, 0].astype(np.float64)
        assert int((np.abs(at_client) > 1000).sum()) > 48000, "the RDP client heard too little"
        assert dominant_frequency(at_client, 48000) == pytest.approx(1000, abs=10)
    finally:
        if recorder is not None:
            end_process(recorder)
        end_process(client)
        if session is not None:
            services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))
