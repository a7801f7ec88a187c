"""What `make run` ends with: `manage.py serve` brings up Redis, Daphne, Celery worker + beat, RDP;
the printed admin password logs in; a desktop started from the console runs; Ctrl-C ends it all."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from compositor import processes
from tests.conftest import ROOT, end_process, free_port, session_process_env, wait_until


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.slow
def test_serve_runs_the_product_and_ctrl_c_stops_everything(tmp_path):
    var = tmp_path / "var"
    port, rdp_port = free_port(), free_port()
    env = session_process_env(
        WRD_VAR_DIR=str(var), WRD_HTTP_PORT=str(port), WRD_RDP_PORT=str(rdp_port), WRD_RDP_HOST="127.0.0.1",
        DJANGO_SETTINGS_MODULE="webconsole.config.django.base", WRD_NODE="servetest",
        WRD_RUNTIME_ROOT=str(Path(os.environ["WRD_RUNTIME_ROOT"]) / "serve"),
    )
    for key in ("DATABASE_URL", "REDIS_URL"):  # the embedded defaults, as `make run` has them
        env.pop(key)

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    assert manage("migrate", "--no-input").returncode == 0
    first = manage("bootstrap_admin").stdout
    password = re.search(r"password: (\S+)", first).group(1)
    assert "exists" in manage("bootstrap_admin").stdout  # printed once only

    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: b"WRD is running" in (tmp_path / "serve.log").read_bytes() or serve.poll() is not None,
                   60, 0.2, "serve to start")
        banner = (tmp_path / "serve.log").read_text()
        assert f"http://127.0.0.1:{port}/" in banner, banner
        assert f"RDP:          127.0.0.1:{rdp_port}" in banner, banner
        socket.create_connection(("127.0.0.1", rdp_port), timeout=5).close()  # answers once printed
        # The service's files are its own: var/ 0700, the database, TLS key and logs 0600.
        assert var.stat().st_mode & 0o777 == 0o700
        for private in (var / "db.sqlite3", var / "tls" / "rdp-key.pem", var / "log" / "daphne.log"):
            assert private.stat().st_mode & 0o077 == 0, private
        started = children_of(serve.pid)
        assert len(started) >= 5  # redis, daphne, celery worker, celery beat, rdp server

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"

        def login_page():
            try:
                return opener.open(f"{base}/accounts/login/", timeout=5).read().decode()
            except OSError:
                return None

        page = wait_until(login_page, 30, 0.3, "daphne to answer")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": "admin", "password": password,
                                       "csrfmiddlewaretoken": token}).encode()
        response = opener.open(urllib.request.Request(f"{base}/accounts/login/", data=form,
                                                      headers={"Referer": f"{base}/accounts/login/"}))
        dashboard = response.read().decode()
        assert "Your desktops" in dashboard and "admin" in dashboard

        csrf = next(c.value for c in jar if c.name == "csrftoken")
        form = urllib.parse.urlencode({"size": "800x600", "csrfmiddlewaretoken": csrf}).encode()
        opener.open(urllib.request.Request(f"{base}/desktops/start", data=form,
                                           headers={"Referer": f"{base}/desktops/"})).read()

        def running_desktop():
            html = opener.open(f"{base}/desktops/").read().decode()
            return re.search(r'data-desktop="(\d+)" data-state="running"', html)

        desktop = wait_until(running_desktop, 60, 0.5, "the desktop to run")
        shot = opener.open(f"{base}/desktops/{desktop.group(1)}/screenshot.png").read()
        assert shot.startswith(b"\x89PNG")
        host_pids = [pid for pid, opts in processes.host_processes()
                     if opts.get("runtime-dir", "").startswith(env["WRD_RUNTIME_ROOT"])]
        assert len(host_pids) == 1
    finally:
        os.killpg(serve.pid, signal.SIGINT) if serve.poll() is None else None
        try:
            serve.wait(60)
        finally:
            end_process(serve)
            log.close()
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert "WRD stopped." in (tmp_path / "serve.log").read_text()
    assert not [p for p in started if processes.pid_alive(p)]
    assert not [p for p in host_pids if processes.pid_alive(p)]  # the desktop went too
