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


# What an operator's environment holds and a desktop must never see (tests/test_isolation.py).
OPERATOR_SECRETS = {"AWS_SECRET_ACCESS_KEY": "operator-cloud-key", "SSH_AUTH_SOCK": "/run/operator-agent.sock"}


def session_process_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, HOME=str(SESSION_HOME), **OPERATOR_SECRETS, **extra)


_DESKTOP_USERS: dict[str, object] = {}


def desktop_user(name: str = "host"):
    """The Unix account (a ``SessionUser``) test desktops started outside the console run as,
    made once per run and removed at its end; None when the suite does not run as root (its
    desktops then run as the suite's own user, as in single-user mode)."""
    from compositor.sandbox import SessionUser, can_switch_users
    from webconsole.accounts import unix

    if not can_switch_users():
        return None
    if name not in _DESKTOP_USERS:
        low, high = (int(v) for v in os.environ["WRD_UID_RANGE"].split("-"))
        home_root = unix.prepare_home_root(Path(os.environ["WRD_HOME_ROOT"]))
        # The run's own suffix: runs on one machine at once (a developer's beside CI) never
        # share an account name.
        account = f"{os.environ['WRD_ACCOUNT_PREFIX']}{name}-{_RUN_DIR.name[-6:].replace('_', '0').lower()}"
        with unix.account_lock():
            uid = unix.lowest_free_uid(low=low, high=high, reserved=set())
            uid, gid = unix.create_system_account(name=account, uid=uid, home=home_root / account,
                                                  home_root=home_root, comment="WRD test desktop")
        _DESKTOP_USERS[name] = SessionUser(uid=uid, gid=gid, name=account, home=str(home_root / account))
    return _DESKTOP_USERS[name]


def desktop_outdir(user, name: str) -> Path:
    """A fresh folder that a desktop's programs (running as ``user``) can write into and the
    test can read: in the account's home, as the desktop's /tmp is its own."""
    import uuid

    base = Path(user.home) if user is not None else _RUN_DIR
    path = base / f"out-{name}-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


def session_home(desktop) -> Path:
    """The home of the account a console desktop (a ``DesktopSession``) runs as."""
    import pwd

    return Path(pwd.getpwnam(desktop.unix_user).pw_dir)


@pytest.fixture(autouse=True)
def _desktop_accounts_made_by_a_test_go_with_it():
    """System accounts outlive a test's database rows: remove those the test created (in the
    test range, with the test prefix), so every test finds /etc/passwd as the last one left it."""
    import pwd

    if os.geteuid() != 0:
        yield
        return
    before = {entry.pw_name for entry in pwd.getpwall()}
    yield
    from webconsole.accounts import unix

    prefix = os.environ["WRD_ACCOUNT_PREFIX"]
    low, high = (int(v) for v in os.environ["WRD_UID_RANGE"].split("-"))
    shared = {user.name for user in _DESKTOP_USERS.values()}
    busy = unix.uids_with_processes()
    # Only this run's: another run on the machine (its homes under its own root) may be making
    # accounts at the same moment.
    home_root = Path(os.environ["WRD_HOME_ROOT"])
    for entry in pwd.getpwall():
        if (entry.pw_name not in before and entry.pw_name not in shared and entry.pw_name.startswith(prefix)
                and low <= entry.pw_uid <= high and entry.pw_uid not in busy
                and Path(entry.pw_dir).is_relative_to(home_root)):
            unix.delete_system_account(name=entry.pw_name, remove_home=True,
                                       home_root=Path(os.environ["WRD_HOME_ROOT"]))


def pytest_sessionstart(session):
    from tests.accounts_util import purge_test_accounts

    purge_test_accounts()
    _FREERDP_SHM_BEFORE.update(path.name for path in _freerdp_shm_files())


def pytest_sessionfinish(session, exitstatus):
    from tests.accounts_util import purge_test_accounts

    shutil.rmtree(_RUNTIME_ROOT, ignore_errors=True)
    try:
        purge_test_accounts()
    finally:
        shutil.rmtree(_RUN_DIR, ignore_errors=True)
        _prune_empty_cgroups()
        _remove_dead_freerdp_shm()


# xfreerdp (2.11) creates a POSIX shared memory object named after its pid for its video
# redirection and never unlinks it: a suite of a few thousand clients left thousands behind.
_FREERDP_SHM = "com.freerdp.xfreerdp.tsmf_"
_FREERDP_SHM_BEFORE: set[str] = set()


def _freerdp_shm_files() -> list[Path]:
    return list(Path("/dev/shm").glob(f"{_FREERDP_SHM}*"))


def _remove_dead_freerdp_shm() -> None:
    """Those that appeared during this run and whose client has ended (another run's live
    clients keep theirs)."""
    for path in _freerdp_shm_files():
        if path.name in _FREERDP_SHM_BEFORE:
            continue
        try:
            pid = int(path.name.removeprefix(_FREERDP_SHM), 16)
        except ValueError:
            continue
        if not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)


def _prune_empty_cgroups() -> None:
    """The runtime roots' parent groups (wrd/<root>-<digest>) the run's desktops were made in:
    rmdir takes only groups with no process and no child, so nobody else's goes."""
    for group in [*Path("/sys/fs/cgroup").glob("*/wrd/*"), *Path("/sys/fs/cgroup").glob("wrd/*")]:
        if group.is_dir():
            try:
                group.rmdir()
            except OSError:
                pass


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
