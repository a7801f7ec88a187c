"""Existing X displays served as desktops: staff attach them through the service, the API or the
console; their owners view and type into them from the browser and over RDP; stopping leaves
the display running.

Real parts: an Xvfb of the test's own (its authority file readable by root only) with a key
recorder on it (an xterm running ``cat``), a Celery worker, daphne with headless Debian
Chromium, ``manage.py rdpserver`` with Debian's xfreerdp on an Xvfb of its own.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from compositor import messages, processes
from compositor.client import BlockingHostClient
from compositor.display import start_xvfb
from tests.conftest import ROOT, end_process, free_port, session_process_env, wait_until
from tests.webconsole.desktops.test_rdp_login import (  # noqa: F401 (fixtures)
    HEIGHT,
    WIDTH,
    client_display,
    client_matches_session,
    host_of,
    rdpserver,
    xfreerdp,
)
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CONNECTED = "() => document.getElementById('wrd-viewer').dataset.state === 'connected'"


@pytest.fixture
def admin():
    return User.objects.create_user("boss", password="pw-boss-123", is_staff=True)


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def display(tmp_path):
    """Somebody's running display: an Xvfb with a coloured root and an xterm that writes what is
    typed into it to ``typed.txt``. Its authority file is in a directory only root can enter."""
    os.chmod(tmp_path, 0o700)
    xvfb = start_xvfb(width=WIDTH, height=HEIGHT, workdir=tmp_path)
    env = dict(os.environ, **xvfb.env())
    typed = tmp_path / "typed.txt"
    recorder = None
    try:
        subprocess.run(["xsetroot", "-solid", "#2a7f62"], env=env, check=True)
        recorder = subprocess.Popen(
            ["xterm", "-T", "key-recorder", "-fa", "Monospace", "-fs", "12", "-geometry", "70x20+40+40",
             "-bg", "white", "-fg", "black", "-e", "sh", "-c", f"exec cat > {typed}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        # No window manager on it: focus the recorder once it is mapped, as a user at that
        # display would.
        wait_until(lambda: subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", "key-recorder", "windowfocus", "--sync"],
            env=env, timeout=10, capture_output=True).returncode == 0, 20, 0.2, "the key recorder's window")
        xvfb.recorder, xvfb.typed = recorder, typed
        yield xvfb
    finally:
        if recorder is not None:
            end_process(recorder)
        xvfb.stop()


def wait_state(session: DesktopSession, *states: str, timeout: float = 40.0) -> DesktopSession:
    def reached():
        session.refresh_from_db()
        return session.state in states
    wait_until(reached, timeout, 0.2, f"desktop {session.pk} to be {'/'.join(states)}")
    return session


def typed(display) -> str:
    return display.typed.read_text() if display.typed.exists() else ""


def host_status(session: DesktopSession) -> messages.StatusReply:
    with BlockingHostClient(session.socket_path) as client:
        return client.call(messages.Status())


# -- who may attach, and what is checked --------------------------------------------------


def test_ordinary_users_cannot_attach_displays(alice, display, redis_server, settings):
    settings.WRD_NODE = "node-without-worker"
    with pytest.raises(PermissionDenied):
        services.desktop_attach(user=alice, owner=alice, display=display.name, xauthority=str(display.xauthority))
    api = APIClient()
    api.force_authenticate(alice)
    response = api.post("/api/desktops/attach", {"display": display.name, "xauthority": str(display.xauthority),
                                                "owner": "alice"}, format="json")
    assert response.status_code == 403
    page = Client()
    page.force_login(alice)
    assert page.get("/desktops/attach").status_code == 403
    assert page.post("/desktops/attach", {"display": display.name, "xauthority": str(display.xauthority),
                                          "owner": "alice"}).status_code == 403
    assert not DesktopSession.objects.exists()


def test_attach_checks_name_file_cookie_and_reachability(admin, alice, display, tmp_path, redis_server, settings):
    settings.WRD_NODE = "node-without-worker"

    def refused(display_name: str, xauthority: str) -> str:
        with pytest.raises(ValidationError) as caught:
            services.desktop_attach(user=admin, owner=alice, display=display_name, xauthority=xauthority)
        return " ".join(caught.value.messages)

    cookie_file = str(display.xauthority)
    assert "not an X display name" in refused("5", cookie_file)
    assert "not an X display name" in refused(":5; rm -rf /", cookie_file)
    assert "not an absolute path" in refused(display.name, str(tmp_path / "missing"))
    assert "not an absolute path" in refused(display.name, "Xauthority")
    other = f":{display.number + 1}"
    assert f"no cookie for display {other}" in refused(other, cookie_file)
    # A cookie for a display nobody serves: the X connection itself fails.
    subprocess.run(["xauth", "-f", cookie_file, "add", ":999", "MIT-MAGIC-COOKIE-1", "00" * 16], check=True)
    assert "cannot open display :999" in refused(":999", cookie_file)
    assert not DesktopSession.objects.exists()

    session = services.desktop_attach(user=admin, owner=alice, display=f"unix:{display.number}.0",
                                      xauthority=cookie_file)
    assert (session.attach_display, session.width, session.height) == (display.name, WIDTH, HEIGHT)
    assert session.owner == alice and session.state == DesktopState.REQUESTED
    assert f"already desktop {session.pk}" in refused(display.name, cookie_file)


def test_staff_attach_through_the_api_and_the_console(admin, alice, display, redis_server, settings):
    settings.WRD_NODE = "node-without-worker"
    api = APIClient()
    api.force_authenticate(admin)
    bad = api.post("/api/desktops/attach", {"display": "nonsense", "xauthority": str(display.xauthority),
                                           "owner": "alice"}, format="json")
    assert bad.status_code == 400 and "not an X display name" in str(bad.json())
    created = api.post("/api/desktops/attach", {"display": display.name, "xauthority": str(display.xauthority),
                                               "owner": "alice", "name": "lab screen"}, format="json")
    assert created.status_code == 202, created.json()
    body = created.json()
    assert (body["owner"], body["attached"], body["name"], body["state"]) == ("alice", True, "lab screen", "requested")
    services.desktop_stop_request(session=DesktopSession.objects.get(pk=body["id"]), user=admin)

    page = Client()
    page.force_login(admin)
    assert b"Attach an existing display" in page.get("/desktops/attach").content
    response = page.post("/desktops/attach", {"display": display.name, "xauthority": str(display.xauthority),
                                              "owner": "alice"})
    assert response.status_code == 302
    session = DesktopSession.objects.filter(owner=alice, state=DesktopState.REQUESTED).get()
    assert session.attach_display == display.name


# -- the whole way: attach, view and type from both front ends, stop ----------------------


@pytest.fixture
def daphne(celery_worker, tmp_path):
    """The console (daphne) on this run's test database, on a free loopback port."""
    port = free_port()
    env = session_process_env(DJANGO_SETTINGS_MODULE="webconsole.config.django.test",
                              DATABASE_URL=f"sqlite:///{settings.DATABASES['default']['NAME']}",
                              PYTHONPATH=str(ROOT))
    log_path = tmp_path / "daphne.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "webconsole.core.daphne_server", "-b", "127.0.0.1",
                                 "-p", str(port), "webconsole.asgi:application"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def listening():
        assert proc.poll() is None, log_path.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(listening, 30, 0.1, "daphne to listen")
    yield f"http://127.0.0.1:{port}"
    end_process(proc)


def login_cookie(user: User) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def open_viewer(browser, daphne: str, cookie: str, session: DesktopSession):
    """A page of ``browser`` logged in with ``cookie``, its viewer connected to ``session``."""
    context = browser.new_context(viewport={"width": 1100, "height": 850})
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": daphne}])
    page = context.new_page()
    page.goto(f"{daphne}/desktops/{session.pk}/view")
    page.wait_for_function(CONNECTED, timeout=20000)
    return page


def canvas_rgb(page) -> np.ndarray:
    url = page.evaluate("document.querySelector('#wrd-viewer canvas').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def canvas_matches(page, session: DesktopSession) -> bool:
    """The viewer's canvas shows what the session's screen shows (mean difference at most 1).
    A bool, not the difference: an exact match is 0.0, which a poll would take for "not yet"."""
    from tests.compositor.helpers import screenshot

    shown, real = canvas_rgb(page), screenshot(host_of(session))
    return shown.shape == real.shape and float(np.abs(shown.astype(np.int16) - real.astype(np.int16)).mean()) <= 1.0


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("xfreerdp") is None or not Path(CHROMIUM).exists(),
                    reason="xfreerdp (freerdp2-x11) or chromium is not installed")
def test_an_attached_display_is_viewed_and_typed_into_from_both_front_ends_and_left_running(
        admin, alice, display, daphne, rdpserver, client_display, tmp_path):  # noqa: F811 (fixtures)
    from playwright.sync_api import sync_playwright

    api = APIClient()
    api.force_authenticate(admin)
    created = api.post("/api/desktops/attach", {"display": display.name, "xauthority": str(display.xauthority),
                                               "owner": "alice"}, format="json")
    assert created.status_code == 202, created.json()
    session = wait_state(DesktopSession.objects.get(pk=created.json()["id"]), DesktopState.RUNNING,
                         DesktopState.FAILED)
    assert session.state == DesktopState.RUNNING, session.failure_reason
    try:
        # It runs as alice's own account, reads the screen through MIT-SHM, and started nothing.
        status = host_status(session)
        assert status.attached and status.capture == "mit-shm"
        assert status.uid == session.uid != 0 and session.unix_user.startswith(os.environ["WRD_ACCOUNT_PREFIX"])
        assert status.xvfb_pid is None and status.wayland_display is None
        token = json.loads((Path(session.runtime_dir) / "host.json").read_text())["token"]
        assert [p for p in processes.pids_with_token(token) if p != session.host_pid] == []
        mine = APIClient()
        mine.force_authenticate(alice)
        assert [d["id"] for d in mine.get("/api/desktops/").json()] == [session.pk]

        # The browser viewer, as alice (Playwright's loop runs in this thread: no ORM inside).
        cookie = login_cookie(alice)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = open_viewer(browser, daphne, cookie, session)
                wait_until(lambda: canvas_matches(page, session), 20, 0.5, "the canvas to show the display")
                page.keyboard.type("typed-in-browser")
                page.keyboard.press("Enter")
                wait_until(lambda: "typed-in-browser\n" in typed(display), 15, 0.2,
                           "the browser's keys to reach the program on the display")
                wait_until(lambda: canvas_matches(page, session), 20, 0.5, "the canvas to show the typed line")
            finally:
                browser.close()

        # An RDP client, as alice: her running desktop is the attached display.
        client = xfreerdp(client_display, rdpserver, "alice", "pw-alice-123", tmp_path)
        try:
            wait_until(lambda: client_matches_session(client_display, session), 40, 0.5,
                       "the FreeRDP window to show the display")
            client_env = dict(os.environ, **client_display.env())
            subprocess.run(["xdotool", "mousemove", "300", "300"], env=client_env, check=True, timeout=10)
            subprocess.run(["xdotool", "type", "--delay", "40", "typed-over-rdp"], env=client_env, check=True,
                           timeout=30)
            subprocess.run(["xdotool", "key", "Return"], env=client_env, check=True, timeout=10)
            wait_until(lambda: "typed-over-rdp\n" in typed(display), 15, 0.2,
                       "the RDP client's keys to reach the program on the display")
            wait_until(lambda: client_matches_session(client_display, session), 20, 0.5,
                       "the FreeRDP window to show the typed line")
        finally:
            end_process(client)
        assert DesktopSession.objects.filter(owner=alice).count() == 1  # RDP reused it
    finally:
        services.desktop_stop_request(session=session, user=alice)
        wait_state(session, DesktopState.STOPPED, timeout=30)

    # The host is gone; the display and its program are not.
    assert not processes.pid_alive(session.host_pid)
    assert display.alive() and display.recorder.poll() is None
    info = subprocess.run(["xdpyinfo"], env=dict(os.environ, **display.env()), capture_output=True, text=True,
                          timeout=10)
    assert info.returncode == 0 and f"{WIDTH}x{HEIGHT} pixels" in info.stdout
    assert typed(display) == "typed-in-browser\ntyped-over-rdp\n"
