"""Real pieces for the viewer's end-to-end tests and the viewer benchmark.

A session host (``python -m compositor.host``, real Xvfb), the web console under daphne with
its own SQLite file, users and a ``DesktopSession`` row pointing at the host, and headless
Debian Chromium through Playwright (never a downloaded browser). Everything started here is
ended by pid in ``close()``; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TEST_STARTUP = "exec xterm -fa Monospace -fs 12 -geometry 100x30+0+0 -bg white -fg black"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


@dataclass
class Host:
    pid: int
    runtime_dir: Path
    socket_path: Path
    status: dict

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.status["display"],
                "XAUTHORITY": str(self.runtime_dir / "Xauthority")}

    def request(self, op: str, **fields):
        from compositor.client import BlockingHostClient

        with BlockingHostClient(self.socket_path) as client:
            return client.request(op, **fields)

    def clipboard_text(self, selection: str = "CLIPBOARD") -> str | None:
        from compositor import messages
        from compositor.client import BlockingHostClient

        with BlockingHostClient(self.socket_path) as client:
            return client.call(messages.ClipboardGet(messages.Selection(selection))).text

    def screenshot(self):
        """The screen as an RGB numpy array (from the host's own PNG)."""
        import io

        import numpy as np
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(self.request("screenshot").payload)).convert("RGB"))

    def close(self) -> None:
        from compositor.launcher import stop_host

        stop_host(self.runtime_dir, self.pid)


def start_host(workdir: Path, *, width: int = 1024, height: int = 768,
               startup: str = TEST_STARTUP, user=None, wayland: bool = False) -> Host:
    """A session host through the product's launcher (sandbox, cgroup, private /tmp), as
    ``user`` (a ``SessionUser``; None: as ourselves), in its own runtime root under ``workdir``."""
    from compositor.client import BlockingHostClient
    from compositor.launcher import launch_host

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYENV")}
    launched = launch_host(
        session="viewer-test", runtime_dir=workdir / "runtime" / "desktop", width=width, height=height,
        max_width=max(width, 1920), max_height=max(height, 1200), wayland=wayland, startup=startup,
        user=user, service_group="wrd", log_file=workdir / "host.log", env=env,
    )
    with BlockingHostClient(launched.socket_path) as client:
        status = client.request("status").header
    return Host(launched.pid, launched.runtime_dir, launched.socket_path, status)


@dataclass
class Console:
    """The web console (daphne) on a private SQLite file and var directory."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"

    def __post_init__(self) -> None:
        var = self.workdir / "var"
        var.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webconsole.config.django.base",
            "WRD_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
            "WRD_SECRET_KEY": "viewer-tests-only",
            "WRD_DEBUG": "0",
            "WRD_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONPATH": str(REPO),
        }

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=self.env, input=stdin,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-3000:]}")
        return result.stdout

    def setup(self) -> None:
        self.manage("migrate", "--no-input", "-v", "0")

    def django(self, code: str) -> dict:
        """Run ``code`` in the console's Django; it sets ``out`` (a JSON-able dict)."""
        script = "import json\nout = {}\n" + code + "\nprint('@@' + json.dumps(out))\n"
        text = self.manage("shell", "-c", script)
        line = next(x for x in text.splitlines() if x.startswith("@@"))
        return json.loads(line[2:])

    def add_user(self, username: str, *, staff: bool = False) -> dict:
        """A user and a logged-in Django session for it: ``{"id", "cookie"}``."""
        return self.django(f"""
from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
User = get_user_model()
u, _ = User.objects.get_or_create(username={username!r}, defaults={{"is_staff": {staff!r}}})
u.set_password("pw-" + {username!r}); u.save()
s = SessionStore()
s[SESSION_KEY] = str(u.pk)
s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
s[HASH_SESSION_KEY] = u.get_session_auth_hash()
s.create()
out = {{"id": u.pk, "cookie": s.session_key}}
""")

    def add_desktop(self, owner_id: int, host: Host, *, state: str = "running") -> int:
        return self.django(f"""
from django.utils import timezone
from webconsole.desktops.models import DesktopSession
d = DesktopSession.objects.create(owner_id={owner_id}, width={host.status['width']},
    height={host.status['height']}, state={state!r}, node="test", display={host.status['display']!r},
    runtime_dir={str(host.runtime_dir)!r}, host_pid={host.pid}, started_at=timezone.now())
out = {{"id": d.pk}}
""")["id"]

    def set_state(self, desktop_id: int, state: str) -> None:
        self.django(f"""
from webconsole.desktops.models import DesktopSession
DesktopSession.objects.filter(pk={desktop_id}).update(state={state!r})
""")

    def start(self, *, tls: bool = False) -> None:
        """Daphne on a free loopback port; with ``tls``, HTTPS as ``manage.py serve`` runs it
        with ``WRD_CONSOLE_TLS`` (its certificate made in ``workdir/tls``)."""
        self.port = free_port()
        listen = ["-b", "127.0.0.1", "-p", str(self.port)]
        if tls:
            self.scheme = "https"
            self.env.update({"WRD_CONSOLE_TLS": "1", "WRD_TLS_DIR": str(self.workdir / "tls"),
                             "WRD_HTTP_HOST": "127.0.0.1", "WRD_HTTP_PORT": str(self.port)})
            listen = json.loads(subprocess.run(
                [PYTHON, "-c", "import json; from webconsole.core.daphne_server import daphne_listen; "
                 "print(json.dumps(daphne_listen()))"],
                cwd=REPO, env=self.env, capture_output=True, text=True, check=True, timeout=60).stdout)
        log_file = open(self.workdir / "daphne.log", "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "webconsole.core.daphne_server", *listen, "webconsole.asgi:application"],
            cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True,
        )
        log_file.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {(self.workdir / 'daphne.log').read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("daphne did not start listening")

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def close(self) -> None:
        stop_process(self.proc)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def browser_context(browser, console: Console, cookie: str | None, **kwargs):
    context = browser.new_context(**kwargs)
    if cookie:
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": console.url}])
    return context
