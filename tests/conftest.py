"""Shared fixtures: an isolated var/runtime directory per run, a real Redis, a real Celery worker.

The environment comes from webconsole/config/testenv.py (the test settings call it before
anything reads it), so the whole run uses its own database, Redis socket and session runtime
root and never touches a `make run` instance on the same machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webconsole.config.testenv import ensure_test_environment

ROOT = Path(__file__).resolve().parent.parent
_RUN_DIR = ensure_test_environment()
_RUNTIME_ROOT = Path(os.environ["WRD_RUNTIME_ROOT"])
# Sessions started by tests get a fresh home, like a new user's: the machine's own shell
# start-up files (pyenv hooks and the like) must not slow or change the test desktops.
SESSION_HOME = _RUN_DIR / "home"


def session_process_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, HOME=str(SESSION_HOME), **extra)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_RUN_DIR, ignore_errors=True)
    shutil.rmtree(_RUNTIME_ROOT, ignore_errors=True)


def free_port() -> int:
    """A free TCP port on loopback (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def end_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a process we started (its whole group if it leads one)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout)


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return _RUN_DIR


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a Unix socket of this run."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make test` installs it")
    sock = _RUN_DIR / "redis.sock"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(_RUN_DIR)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )

    def ready():
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(ready, 15, message="redis-server")
    yield f"unix://{sock}"
    end_process(proc)


@pytest.fixture(scope="session")
def celery_worker(redis_server, django_db_setup, django_db_blocker):
    """A real Celery worker process on this run's Redis and test database."""
    from django.conf import settings

    log_path = _RUN_DIR / "celery-worker.log"
    env = session_process_env(
               DJANGO_SETTINGS_MODULE="webconsole.config.django.test",
               DATABASE_URL=f"sqlite:///{settings.DATABASES['default']['NAME']}",
               PYTHONPATH=str(ROOT))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webconsole", "worker", "-Q", "wrd,wrd.node.testnode",
             "-n", f"test-{os.getpid()}@testnode", "--concurrency", "2", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    wait_until(lambda: b"ready." in log_path.read_bytes() or proc.poll() is not None, 60,
               message="celery worker to be ready")
    if proc.poll() is not None:
        pytest.fail(f"celery worker exited: {log_path.read_text()[-2000:]}")
    yield proc
    end_process(proc, 20)


@pytest.fixture
def xvfb(tmp_path):
    """A bare Xvfb on a free display (for tests that need an X server of their own)."""
    from compositor.display import start_xvfb

    server = start_xvfb(width=800, height=600, workdir=tmp_path)
    yield server
    server.stop()
