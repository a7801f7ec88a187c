"""What `make run` ends with: `manage.py serve` brings up Redis, Daphne, Celery worker + beat, RDP;
the printed admin password logs in; a desktop started from the console runs; Ctrl-C ends it all."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
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


def serve_env(tmp_path: Path, node: str) -> dict[str, str]:
    """The environment of a `manage.py serve` of its own: var dir, free ports, runtime root,
    and desktop account names of its own (``wrdt-<node>-admin``): the suite removes the accounts
    a test made and a product outliving the test makes them again by the names it recorded,
    which another product of the suite, in another worker, must not have taken meanwhile."""
    env = session_process_env(
        WRD_VAR_DIR=str(tmp_path / "var"), WRD_HTTP_PORT=str(free_port()), WRD_RDP_PORT=str(free_port()),
        WRD_RDP_HOST="127.0.0.1", DJANGO_SETTINGS_MODULE="webconsole.config.django.base", WRD_NODE=node,
        WRD_RUNTIME_ROOT=str(Path(os.environ["WRD_RUNTIME_ROOT"]) / node),
        WRD_ACCOUNT_PREFIX=f"{os.environ['WRD_ACCOUNT_PREFIX']}{node}-",
    )
    for key in ("DATABASE_URL", "REDIS_URL"):  # the embedded defaults, as `make run` has them
        env.pop(key)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def start_serve(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen:
    """`manage.py serve`, once its banner is printed."""
    with open(log_path, "ab") as log:
        serve = subprocess.Popen([sys.executable, "manage.py", "serve", *args], cwd=ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: b"WRD is running" in log_path.read_bytes() or serve.poll() is not None,
               90, 0.2, "serve to start")
    assert serve.poll() is None, log_path.read_text()[-3000:]
    return serve


def stop_serve(serve: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    if serve.poll() is None:
        os.killpg(serve.pid, sig)
    try:
        serve.wait(60)
    finally:
        end_process(serve)


@pytest.mark.slow
def test_serve_runs_the_product_and_ctrl_c_stops_everything(tmp_path):
    env = serve_env(tmp_path, "servetest")
    var, port, rdp_port = Path(env["WRD_VAR_DIR"]), env["WRD_HTTP_PORT"], int(env["WRD_RDP_PORT"])
    assert manage(env, "migrate", "--no-input").returncode == 0
    first = manage(env, "bootstrap_admin").stdout
    password = re.search(r"password: (\S+)", first).group(1)
    assert "exists" in manage(env, "bootstrap_admin").stdout  # printed once only

    serve = start_serve(env, tmp_path / "serve.log")
    try:
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

        # /metrics sums what every part counted: the start job published by daphne and run
        # by the worker, the RDP server's accepted connection (the banner check above).
        def series() -> dict[str, float]:
            from prometheus_client.parser import text_string_to_metric_families

            text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
            return {f"{s.name}{sorted(s.labels.items())}": s.value
                    for family in text_string_to_metric_families(text) for s in family.samples}

        measured = wait_until(lambda: (m := series()).get(
            "wrd_task_run_seconds_count[('task', 'desktop_start_task')]") and m, 20, 0.5, "the start job's run time")
        assert measured["wrd_task_wait_seconds_count[('task', 'desktop_start_task')]"] >= 1
        assert measured["wrd_rdp_connections_total[]"] >= 1
        assert measured["wrd_desktops[('node', 'servetest'), ('state', 'running')]"] == 1
    finally:
        stop_serve(serve)
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert "WRD stopped." in (tmp_path / "serve.log").read_text()
    assert not [p for p in started if processes.pid_alive(p)]
    assert not [p for p in host_pids if processes.pid_alive(p)]  # the desktop went too


def process_groups() -> dict[int, int]:
    """pid -> process group of every process on the machine."""
    groups = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                groups[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
    return groups


@pytest.mark.slow
def test_serve_brings_back_each_part_killed_and_the_desktop_runs_on(tmp_path):
    """kill -9 of Daphne, the RDP server, the Celery worker, beat and Redis, one at a time:
    within 10 s a new process of that part serves again; the running desktop is untouched;
    the queue still runs jobs after it all; nothing is left behind once serve stops."""
    import redis as redis_py
    from celery import Celery

    env = serve_env(tmp_path, "faulttest")
    var, node = Path(env["WRD_VAR_DIR"]), env["WRD_NODE"]
    assert manage(env, "migrate", "--no-input").returncode == 0
    assert manage(env, "bootstrap_admin").returncode == 0
    serve = start_serve(env, tmp_path / "serve.log")
    seen: set[int] = set()  # every child pid serve reported: all must be gone at the end
    try:
        started = manage(env, "desktop", "start", "--user", "admin", "--size", "640x480", "--wait")
        assert started.returncode == 0, started.stderr
        desktop = int(started.stdout.split()[0])
        db = sqlite3.connect(var / "db.sqlite3")

        def desktop_row():
            return db.execute("SELECT state, host_pid FROM desktops_desktopsession WHERE id = ?",
                              (desktop,)).fetchone()

        state, host_pid = desktop_row()
        assert state == "running" and processes.pid_alive(host_pid)

        def children() -> dict[str, int | None]:
            try:
                return json.loads((var / "run" / "serve.json").read_text())["children"]
            except (OSError, ValueError):
                return {}

        sock = var / "run" / "redis.sock"
        # Not the current app: the product's tasks, sent later in this process by other
        # tests, must keep going to the suite's own broker.
        app = Celery(broker=f"redis+socket://{sock}", set_as_current=False)
        rdp_port = int(env["WRD_RDP_PORT"])

        def http_answers() -> bool:
            try:
                url = f"http://127.0.0.1:{env['WRD_HTTP_PORT']}/accounts/login/"
                return urllib.request.urlopen(url, timeout=2).status == 200
            except OSError:
                return False

        def rdp_accepts() -> bool:
            try:
                socket.create_connection(("127.0.0.1", rdp_port), timeout=1).close()
                return True
            except OSError:
                return False

        def worker_pongs() -> bool:
            try:
                return bool(app.control.ping(destination=[f"wrd@{node}"], timeout=0.5))
            except Exception:  # the broker itself may be coming back
                return False

        def redis_pongs() -> bool:
            try:
                return redis_py.Redis(unix_socket_path=str(sock), socket_timeout=1).ping()
            except redis_py.exceptions.RedisError:
                return False

        def beat_runs(pid: int) -> bool:
            # Up for a second, past its start-up (it would exit on a bad schedule or broker).
            time.sleep(1)
            return processes.pid_alive(pid) and children().get("celery-beat") == pid

        serves = {"daphne": lambda pid: http_answers(), "rdpserver": lambda pid: rdp_accepts(),
                  "celery-worker": lambda pid: worker_pongs(), "celery-beat": beat_runs,
                  "redis": lambda pid: redis_pongs()}
        wait_until(worker_pongs, 30, 0.2, "the worker to answer a ping")
        for name, answers in serves.items():
            if name == "redis":  # what Redis holds (the queues) outlives a kill -9: its append-only file
                redis_py.Redis(unix_socket_path=str(sock)).set("wrd-fault-test", "kept")
            old = children()[name]
            seen.update(pid for pid in children().values() if pid)
            os.kill(old, signal.SIGKILL)
            killed_at = time.monotonic()

            def back(name=name, old=old, answers=answers):
                new = children().get(name)
                return new not in (None, old) and answers(new) and new

            new = wait_until(back, 10, 0.1, f"{name} to be back after kill -9")
            took = time.monotonic() - killed_at
            assert took < 10, f"{name} took {took:.1f} s"
            seen.add(new)
            assert desktop_row() == ("running", host_pid), name
            assert processes.pid_alive(host_pid), name
        assert redis_py.Redis(unix_socket_path=str(sock)).get("wrd-fault-test") == b"kept"
        log = (tmp_path / "serve.log").read_text()
        for name in serves:
            assert re.search(rf"{name} pid=\d+ exited with signal SIGKILL after [\d.]+ s; restarting in", log), log

        # The queue still does its work after all that (the worker and Redis are new).
        stopped = manage(env, "desktop", "stop", str(desktop), "--wait")
        assert stopped.returncode == 0, stopped.stderr
        assert not processes.pid_alive(host_pid)
        db.close()
    finally:
        stop_serve(serve, signal.SIGTERM)
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert not [pid for pid in seen if processes.pid_alive(pid)]
    # Nothing left in any child's process group (Celery's pool included), no desktop host.
    assert not [pid for pid, group in process_groups().items() if group in seen and processes.pid_alive(pid)]
    assert not [pid for pid, opts in processes.host_processes()
                if opts.get("runtime-dir", "").startswith(env["WRD_RUNTIME_ROOT"])]


@pytest.mark.slow
def test_keep_desktops_leaves_them_running_and_the_next_serve_adopts_them(tmp_path):
    env = serve_env(tmp_path, "keeptest")
    var = Path(env["WRD_VAR_DIR"])
    assert manage(env, "migrate", "--no-input").returncode == 0
    assert manage(env, "bootstrap_admin").returncode == 0
    serve = start_serve(env, tmp_path / "serve.log", "--keep-desktops")
    try:
        started = manage(env, "desktop", "start", "--user", "admin", "--size", "640x480", "--wait")
        assert started.returncode == 0, started.stderr
        desktop = int(started.stdout.split()[0])
    finally:
        stop_serve(serve, signal.SIGTERM)
    assert serve.returncode == 0
    db = sqlite3.connect(var / "db.sqlite3")
    state, host_pid = db.execute("SELECT state, host_pid FROM desktops_desktopsession WHERE id = ?",
                                 (desktop,)).fetchone()
    assert state == "running" and processes.pid_alive(host_pid)  # across the serve restart

    serve = start_serve(env, tmp_path / "serve2.log")
    try:
        assert "1 live desktop(s) re-adopted" in (tmp_path / "serve2.log").read_text()
        listed = manage(env, "desktop", "list")
        assert re.search(rf"^\s*{desktop}\s.*running", listed.stdout, re.M), listed.stdout
        assert processes.pid_alive(host_pid)
    finally:
        stop_serve(serve, signal.SIGTERM)  # without --keep-desktops: its desktops go
    assert f"stopping desktop {desktop}" in (tmp_path / "serve2.log").read_text()
    assert not processes.pid_alive(host_pid)
    assert db.execute("SELECT state FROM desktops_desktopsession WHERE id = ?", (desktop,)).fetchone() == ("stopped",)
    db.close()
