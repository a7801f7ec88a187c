"""RDP logins through `manage.py rdpserver`: console users, their desktops, reconnects, throttling
(the throttle's policy on every door is tested in tests/webconsole/core/test_login_throttle.py).

Real parts: the rdpserver process, a Celery worker that starts the desktop, and Debian's
xfreerdp on its own Xvfb whose pixels are compared with the session's screen.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User

from compositor.client import BlockingHostClient
from compositor.framebuffer import XwdFramebuffer
from tests.compositor.helpers import screenshot, session_env
from tests.conftest import ROOT, end_process, free_port, session_process_env, wait_until
from tests.rdpfront.xfreerdp import client_xvfb
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

WIDTH, HEIGHT = 1024, 768
LOGIN_FAILURE_LIMIT = 3  # the server's, so that the throttle test needs few clients


@contextmanager
def rdpserver_process(tmp_path, host: str = "127.0.0.1", name: str = "rdpserver") -> Iterator[int]:
    """``manage.py rdpserver`` on ``host`` and a free port (its output in ``tmp_path/<name>.log``)."""
    port = free_port()
    env = session_process_env(DJANGO_SETTINGS_MODULE="webconsole.config.django.test",
                              DATABASE_URL=f"sqlite:///{settings.DATABASES['default']['NAME']}",
                              WRD_TLS_DIR=str(tmp_path / f"{name}-tls"), WRD_RDP_HOST=host,
                              WRD_RDP_PORT=str(port), WRD_LOGIN_FAILURE_LIMIT=str(LOGIN_FAILURE_LIMIT))
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "manage.py", "rdpserver"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: b"listening" in log_path.read_bytes() or proc.poll() is not None, 60, 0.2,
                   "the rdp server to listen")
        assert proc.poll() is None, log_path.read_text()
        yield port
    finally:
        end_process(proc)


@pytest.fixture
def rdpserver(celery_worker, tmp_path):
    with rdpserver_process(tmp_path) as port:
        yield port


@pytest.fixture
def client_display():
    with client_xvfb(WIDTH, HEIGHT) as xvfb:
        yield xvfb


def xfreerdp(display, port: int, user: str, password: str, tmp_path, *extra: str,
             host: str = "127.0.0.1", env: dict[str, str] | None = None) -> subprocess.Popen:
    """xfreerdp on ``display``; ``env``: more of the client's environment (its PulseAudio)."""
    home = tmp_path / "client-home"
    home.mkdir(exist_ok=True)
    env = {**session_process_env(), **(env or {}), **display.env(), "HOME": str(home)}
    return subprocess.Popen(["xfreerdp", "/cert:ignore", f"/u:{user}", f"/p:{password}",
                             f"/v:{host}", f"/port:{port}", "/f", "/log-level:WARN", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def host_of(session: DesktopSession) -> SimpleNamespace:
    """What the session-host test helpers need of a desktop row."""
    runtime_dir = Path(session.runtime_dir)
    return SimpleNamespace(display=session.display, runtime_dir=runtime_dir, socket_path=session.socket_path)


def client_matches_session(display, session: DesktopSession) -> bool:
    """The FreeRDP window shows what the session's screen shows (mean difference under 2).
    A bool, not the difference: an exact match is 0.0, which a poll would take for "not yet"."""
    remote = screenshot(host_of(session)).astype(np.int16)
    fb = XwdFramebuffer(display.framebuffer_path)
    try:
        local = np.array(fb.screen()[:, :, 2::-1]).astype(np.int16)
    finally:
        fb.close()
    return local.shape == remote.shape and float(np.abs(local - remote).mean()) < 2.0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed")
@pytest.mark.django_db(transaction=True)
def test_rdp_login_starts_then_reattaches_the_users_desktop(rdpserver, client_display, tmp_path):
    User.objects.create_user("rdpuser", password="rdp-pass-123")

    wrong = xfreerdp(client_display, rdpserver, "rdpuser", "not-the-password", tmp_path)
    try:
        wrong.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("a wrong password was not rejected")
    finally:
        end_process(wrong)
    assert wrong.returncode != 0
    assert not DesktopSession.objects.filter(owner__username="rdpuser").exists()

    client = xfreerdp(client_display, rdpserver, "rdpuser", "rdp-pass-123", tmp_path)
    try:
        session = wait_until(lambda: DesktopSession.objects.filter(
            owner__username="rdpuser", state=DesktopState.RUNNING).first(), 60, 0.3, "the desktop to run")
        assert (session.width, session.height) == (WIDTH, HEIGHT)  # the client's size
        wait_until(lambda: client_matches_session(client_display, session), 30, 0.5,
                   "the FreeRDP window to show the session")
        # Leave a mark in the session to find again after reconnecting: once its window is
        # mapped, and drawn in the client (a fresh black session matches a client that has
        # drawn nothing yet, so the first match alone proves little).
        with BlockingHostClient(session.socket_path) as host:
            host.request("exec", argv=["xterm", "-name", "still-here", "-geometry", "30x5+500+400"])
        wait_until(lambda: still_here(session), 20, 0.3, "the marked xterm to be mapped")
        wait_until(lambda: client_matches_session(client_display, session), 30, 0.5,
                   "the FreeRDP window to show the marked xterm")
    finally:
        end_process(client)

    # The reconnect takes the graphics pipeline with H.264 (the product's defaults offer it).
    again = xfreerdp(client_display, rdpserver, "rdpuser", "rdp-pass-123", tmp_path, "/gfx:avc420")
    try:
        wait_until(lambda: client_matches_session(client_display, session), 40, 0.5,
                   "the reconnected FreeRDP window to show the session")
        sessions = DesktopSession.objects.filter(owner__username="rdpuser")
        assert [s.pk for s in sessions] == [session.pk]  # the same desktop, not a new one
        assert "drawing through the graphics pipeline (avc420)" in (tmp_path / "rdpserver.log").read_text()
        assert still_here(session), "the window opened before the reconnect is gone"
    finally:
        end_process(again)
        services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))


def still_here(session: DesktopSession) -> bool:
    """Whether the session shows a window of class name ``still-here``."""
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--classname", "still-here"],
                           env=session_env(host_of(session)), capture_output=True, text=True).stdout
    return bool(found.strip())


def run_client(display, port: int, user: str, password: str, tmp_path) -> int:
    """An xfreerdp login that is expected to be refused: its exit code."""
    client = xfreerdp(display, port, user, password, tmp_path)
    try:
        return client.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("a refused login was not ended")
    finally:
        end_process(client)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed")
@pytest.mark.django_db(transaction=True)
def test_rdp_guessing_locks_out_the_address_not_the_user(rdpserver, client_display, tmp_path):
    """Wrong passwords from 127.0.0.1 past the limit: the right one is then refused from there
    too, and the log says why; the same user from ::1 (a second server process on the same
    database, as one server listens on one address) still gets their desktop."""
    User.objects.create_user("rdpguess", password="rdp-pass-123")
    for n in range(LOGIN_FAILURE_LIMIT):
        assert run_client(client_display, rdpserver, "rdpguess", f"guess-{n}", tmp_path) != 0
    assert run_client(client_display, rdpserver, "rdpguess", "rdp-pass-123", tmp_path) != 0
    log = (tmp_path / "rdpserver.log").read_text()
    assert "rdp login throttled user='rdpguess' address=127.0.0.1" in log
    assert not DesktopSession.objects.filter(owner__username="rdpguess").exists()

    with rdpserver_process(tmp_path, host="::1", name="rdpserver-v6") as port_v6:
        client = xfreerdp(client_display, port_v6, "rdpguess", "rdp-pass-123", tmp_path, host="[::1]")
        try:
            session = wait_until(lambda: DesktopSession.objects.filter(
                owner__username="rdpguess", state=DesktopState.RUNNING).first(), 60, 0.3, "the desktop to run")
            wait_until(lambda: client_matches_session(client_display, session), 30, 0.5,
                       "the FreeRDP window to show the session")
        finally:
            end_process(client)
            for session in DesktopSession.objects.filter(owner__username="rdpguess"):
                services.desktop_stop(session=session)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["new password", "deactivated"])
def test_an_account_change_ends_the_users_rdp_connection(rdpserver, client_display, tmp_path, change):
    """Within the server's recheck (5 s), xfreerdp logged in as a user whose password changed
    or who was deactivated is disconnected; the desktop itself runs on."""
    user = User.objects.create_user("leaver", password="leaver-pass-1")
    client = xfreerdp(client_display, rdpserver, "leaver", "leaver-pass-1", tmp_path)
    session = None
    try:
        session = wait_until(lambda: DesktopSession.objects.filter(
            owner=user, state=DesktopState.RUNNING).first(), 60, 0.3, "the desktop to run")
        wait_until(lambda: client_matches_session(client_display, session), 30, 0.5,
                   "the FreeRDP window to show the session")
        assert client.poll() is None
        if change == "new password":
            user.set_password("another-pass-2")
        else:
            user.is_active = False
        user.save()
        try:
            client.wait(20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the RDP connection outlived the account change ({change})")
        log = (tmp_path / "rdpserver.log").read_text()
        assert "user leaver was deactivated or given a new password" in log
        assert DesktopSession.objects.get(pk=session.pk).state == DesktopState.RUNNING
    finally:
        end_process(client)
        if session is not None:
            services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))
