"""A desktop's own parts killed with -9 under the real product (`manage.py serve`), each while
the desktop is open in Chromium's viewer and in xfreerdp, beside another user's desktop:

- the Wayland compositor: the next Wayland program gets a new one within 10 s of the kill (the
  host starts it with the first client, as always); the desktop, the viewer and xfreerdp go on;
- the Xvfb, and the session host itself: the desktop is marked failed within 10 s, none of its
  processes is left, the viewer shows the stopped state and xfreerdp is disconnected.

Each time, a file the user saved before the kill is intact and the other desktop is untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from compositor import messages, processes
from compositor.client import BlockingHostClient
from compositor.sandbox import socket_path
from tests.conftest import end_process, wait_until
from tests.rdpfront.xfreerdp import client_xvfb
from tests.test_serve import manage, serve_env, start_serve, stop_serve
from tests.viewer import harness

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None or not Path(harness.CHROMIUM).exists(),
                       reason="needs xfreerdp and Chromium"),
]


class Product:
    """The running `serve`, its database and a logged-in browser session."""

    def __init__(self, env: dict[str, str], password: str) -> None:
        self.env, self.password = env, password
        self.var = Path(env["WRD_VAR_DIR"])
        self.base = f"http://127.0.0.1:{env['WRD_HTTP_PORT']}"
        self.db = sqlite3.connect(self.var / "db.sqlite3")

    def row(self, desktop: int) -> tuple[str, int | None, str]:
        self.db.commit()  # a fresh read
        return self.db.execute("SELECT state, host_pid, runtime_dir FROM desktops_desktopsession WHERE id = ?",
                               (desktop,)).fetchone()

    def host(self, desktop: int) -> BlockingHostClient:
        return BlockingHostClient(socket_path(Path(self.row(desktop)[2])))

    def log(self, desktop: int) -> str:
        path = self.var / "log" / f"desktop-{desktop}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else f"({path} is missing)"

    def start(self, user: str) -> int:
        started = manage(self.env, "desktop", "start", "--user", user, "--size", "800x600", "--wait")
        assert started.returncode == 0, started.stderr
        return int(started.stdout.split()[0])

    def token(self, desktop: int) -> str:
        """The token every program of the desktop carries (compositor/processes.py), read from one."""
        with self.host(desktop) as client:
            program = client.call(messages.Exec(argv=("sleep", "600"))).pid
        environ = Path(f"/proc/{program}/environ").read_bytes().split(b"\0")
        prefix = f"{processes.TOKEN_ENV}=".encode()
        return next(v[len(prefix):].decode() for v in environ if v.startswith(prefix))


def _session_cookie(base: str, user: str, password: str) -> str:
    import http.cookiejar
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": user, "password": password, "csrfmiddlewaretoken": csrf}).encode()
    opener.open(urllib.request.Request(f"{base}/accounts/login/", data=form,
                                       headers={"Referer": f"{base}/accounts/login/"}), timeout=10).read()
    return next(c.value for c in jar if c.name == "sessionid")


def _compositor_pid(token: str) -> int | None:
    for pid in processes.pids_with_token(token):
        with contextlib.suppress(OSError):
            if b"compositor.wayland" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as exc:
        return str(exc)


def _commands(token: str) -> list[bytes]:
    out = []
    for pid in processes.pids_with_token(token):
        with contextlib.suppress(OSError):
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:60])
    return out


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    env = serve_env(tmp, "faults")
    env["WRD_SESSION_WAYLAND"] = "1"  # as the product has it (the suite turns it off elsewhere)
    assert manage(env, "migrate", "--no-input").returncode == 0
    password = re.search(r"password: (\S+)", manage(env, "bootstrap_admin").stdout).group(1)
    made = manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
                  "User.objects.create_user('bystander', password='pw-bystander-1')")
    assert made.returncode == 0, made.stderr
    serve = start_serve(env, tmp / "serve.log")
    try:
        yield Product(env, password)
    finally:
        stop_serve(serve, signal.SIGTERM)
        assert serve.returncode == 0, (tmp / "serve.log").read_text()[-3000:]
    assert not [pid for pid, opts in processes.host_processes()
                if opts.get("runtime-dir", "").startswith(env["WRD_RUNTIME_ROOT"])]


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("part", ["wayland", "xvfb", "host"])
def test_a_killed_desktop_part_is_brought_back_or_the_desktop_marked_failed(product, chromium, part) -> None:
    bystander = product.start("bystander")
    desktop = product.start("admin")
    with product.host(bystander) as client:
        bystander_before = client.call(messages.Screenshot()).png
    with product.host(desktop) as client:
        status = client.call(messages.Status())
        home = Path(status.home)
        client.request("exec", argv=["sh", "-c", f"echo kept-{part} > $HOME/saved-{part}.txt"])
    saved = home / f"saved-{part}.txt"
    wait_until(saved.exists, 10, 0.1, "the user's file to be saved")
    token = product.token(desktop)
    if part == "wayland":  # the compositor starts with the first Wayland client
        with product.host(desktop) as client:
            client.request("exec", argv=["weston-simple-shm"])
        wait_until(lambda: _compositor_pid(token), 15, 0.1,
                   f"the Wayland compositor to start (the desktop's processes: {_commands(token)}; "
                   f"its log: {product.log(desktop)}; runtime: {sorted(os.listdir(product.row(desktop)[2]))})")

    # The desktop open in the browser viewer and in xfreerdp.
    context = chromium.new_context()
    context.add_cookies([{"name": "sessionid", "value": _session_cookie(product.base, "admin", product.password),
                          "url": product.base}])
    page = context.new_page()
    page.goto(f"{product.base}/desktops/{desktop}/view")
    page.wait_for_function("() => document.querySelector('#wrd-viewer').dataset.state === 'connected'", timeout=30_000)
    with client_xvfb(800, 600) as xvfb:
        rdp = subprocess.Popen(
            ["xfreerdp", "/cert:ignore", "/u:admin", f"/p:{product.password}",
             f"/v:127.0.0.1:{product.env['WRD_RDP_PORT']}", "/f", "/log-level:WARN"],
            env=dict(os.environ, **xvfb.env()), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(4)  # logged in and drawing
            assert rdp.poll() is None, "xfreerdp did not stay connected"
            state, host_pid, _ = product.row(desktop)
            assert state == "running"
            victim = {"wayland": lambda: _compositor_pid(token),
                      "xvfb": lambda: status.xvfb_pid, "host": lambda: host_pid}[part]()
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            if part == "wayland":
                # The compositor starts with a desktop's first Wayland client: the next program
                # to open a window gets a new one.
                wait_until(lambda: _compositor_pid(token) is None, 5, 0.1, "the killed compositor to be reaped")
                with product.host(desktop) as client:
                    client.request("exec", argv=["weston-simple-shm"])
                new = wait_until(lambda: _compositor_pid(token), 10 - (time.monotonic() - killed), 0.1,
                                 "a new Wayland compositor")
                assert processes.pid_alive(new) and product.row(desktop)[0] == "running"
                assert page.evaluate("document.querySelector('#wrd-viewer').dataset.state") == "connected"
                assert rdp.poll() is None, "xfreerdp was disconnected"
            else:
                wait_until(lambda: product.row(desktop)[0] == "failed", 10, 0.2, f"the desktop marked failed ({part})")
                took = time.monotonic() - killed
                wait_until(lambda: not processes.pids_with_token(token), 10, 0.2, "the desktop's processes to end")
                wait_until(lambda: rdp.poll() is not None, 15, 0.2, "xfreerdp to be disconnected")
                print(f"{part}: marked failed {took:.1f} s after kill -9")
            assert saved.read_text() == f"kept-{part}\n"  # the user's work is intact
            state, bystander_pid, _ = product.row(bystander)
            assert state == "running" and processes.pid_alive(bystander_pid)
            with product.host(bystander) as client:
                assert client.call(messages.Status()).pid == bystander_pid
            assert bystander_before.startswith(b"\x89PNG")
            if part != "wayland":
                page.wait_for_function("() => document.querySelector('#wrd-viewer').dataset.state === 'stopped'",
                                       timeout=15_000)
        finally:
            end_process(rdp)
            context.close()
            for stopped in (bystander, desktop):
                manage(product.env, "desktop", "stop", str(stopped), "--wait")
