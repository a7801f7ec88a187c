"""An isolated environment for a test run: its own var dir, database, Redis socket, runtime root.

Called by the test settings before anything reads the environment (pytest-django imports
settings before the tests' conftest), and by the conftest; the first call decides.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

# Desktop accounts of test runs get uids in this range; each pytest-xdist worker a slice of
# its own (gw0 the first, ...), the whole range a run without workers.
UID_RANGE = (290000, 299999)
WORKER_UIDS = 1000


def uid_range(worker: str) -> str:
    """``WRD_UID_RANGE`` of a run (``worker``: pytest-xdist's name for it, or "").

    A system account a test removes (the suite removes those a test made) leaves its uid
    recorded in the console's database that made it, and that console gives the account the
    same uid when it needs it again; a run on another worker must not have taken it meanwhile.
    """
    low, high = UID_RANGE
    if worker.startswith("gw") and worker[2:].isdigit():
        low += int(worker[2:]) * WORKER_UIDS
        if low + WORKER_UIDS - 1 > high:
            raise RuntimeError(f"no uid range for pytest-xdist worker {worker}: at most "
                               f"{(high - UID_RANGE[0] + 1) // WORKER_UIDS} workers")
        high = low + WORKER_UIDS - 1
    return f"{low}-{high}"


# Held (flock) for as long as the run lives: tests/accounts_util.py tells a run in progress from
# one that was killed and left its run directory behind.
RUN_LOCK = "alive.lock"
_run_lock = None


def ensure_test_environment() -> Path:
    global _run_lock
    # pytest-xdist's workers inherit the environment of the process that started them: each
    # worker makes a run of its own (its database, Redis, runtime root, accounts), and what a
    # test starts in a worker (a Celery worker, a session host) shares that worker's.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if (run := os.environ.get("WRD_TEST_RUN_DIR")) and os.environ.get("WRD_TEST_RUN_WORKER", "") == worker:
        return Path(run)
    run_dir = Path(tempfile.mkdtemp(prefix="wrd-test-"))
    _run_lock = open(run_dir / RUN_LOCK, "w")  # open until the process ends
    fcntl.flock(_run_lock, fcntl.LOCK_EX)
    shm = Path("/dev/shm")
    runtime_root = (shm if os.access(shm, os.W_OK) else Path(tempfile.gettempdir())) / run_dir.name
    (run_dir / "home").mkdir()
    os.environ.update(
        WRD_TEST_RUN_DIR=str(run_dir),
        WRD_TEST_RUN_WORKER=worker,
        WRD_VAR_DIR=str(run_dir / "var"),
        WRD_TEST_DB=str(run_dir / "var" / "test.sqlite3"),
        DATABASE_URL=f"sqlite:///{run_dir / 'var' / 'db.sqlite3'}",
        REDIS_URL=f"unix://{run_dir / 'redis.sock'}",
        WRD_RUNTIME_ROOT=str(runtime_root),
        WRD_NODE="testnode",
        WRD_SESSION_WAYLAND=os.environ.get("WRD_SESSION_WAYLAND", "0"),
        WRD_HOST_START_TIMEOUT="40",
        # Tests guess at few names many times: each later login there waits at most 1 s.
        WRD_LOGIN_ACCOUNT_DELAY_MAX=os.environ.get("WRD_LOGIN_ACCOUNT_DELAY_MAX", "1"),
        WRD_SECRET_KEY="test-only-secret-key",
        # Desktop accounts of a test run: their own uid range and name prefix, removed at the
        # end of the run; homes outside /tmp and /dev/shm, which each desktop sees privately.
        WRD_UID_RANGE=uid_range(worker),
        WRD_ACCOUNT_PREFIX="wrdt-",
        WRD_HOME_ROOT=str(Path("/var/tmp") / f"{run_dir.name}-homes"),
    )
    os.environ.pop("WAYLAND_DISPLAY", None)
    return run_dir
