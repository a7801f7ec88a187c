"""Removing the system accounts a test run leaves behind (the suite calls this at its start
and end): every account named with the test prefix whose uid is in the test range."""

from __future__ import annotations

import fcntl
import grp
import logging
import os
import pwd
import re
import shutil
import tempfile
from pathlib import Path

from webconsole.accounts import unix
from webconsole.config.testenv import RUN_LOCK

log = logging.getLogger(__name__)

# Homes of earlier test runs live in sibling roots named like this one (see config/testenv.py).
_RUN_HOME_ROOT = re.compile(r"^wrd-test-.+-homes$")


def purge_test_accounts(
    *, prefix: str | None = None, uid_range: tuple[int, int] | None = None, home_root: Path | None = None,
) -> list[str]:
    """Remove every system account whose name starts with the test prefix and whose uid is
    in the test range, with its home when that lies under a test home root; skip accounts
    that still run processes, and those whose home is under the home root of another test
    run still in progress on this machine. Also drops the groups and homes an interrupted
    creation left. Returns the names removed. Does nothing unless running as root in a test
    environment."""
    if "WRD_TEST_RUN_DIR" not in os.environ:
        raise RuntimeError("purge_test_accounts only runs in a test environment (config/testenv.py)")
    if not unix.running_as_root():
        return []
    from django.conf import settings

    prefix = prefix if prefix is not None else settings.WRD_ACCOUNT_PREFIX
    low, high = uid_range or settings.WRD_UID_RANGE
    home_root = Path(home_root or settings.WRD_HOME_ROOT)
    if not prefix:
        raise RuntimeError("refusing to purge accounts without a test name prefix")

    # Under the account lock: a creation in another process is never seen half-done.
    with unix.account_lock():
        removed = _purge(prefix, low, high, home_root)
    return removed


def _home_roots(home_root: Path) -> list[Path]:
    roots = [home_root]
    if _RUN_HOME_ROOT.match(home_root.name) and home_root.parent.is_dir():
        roots += [p for p in home_root.parent.iterdir()
                  if p != home_root and _RUN_HOME_ROOT.match(p.name) and p.is_dir() and not p.is_symlink()]
    return roots


def _purge(prefix: str, low: int, high: int, home_root: Path) -> list[str]:
    def ours(name: str, number: int) -> bool:
        return name.startswith(prefix) and low <= number <= high

    roots = _home_roots(home_root)
    busy = unix.uids_with_processes()
    removed = []
    for entry in pwd.getpwall():
        if not ours(entry.pw_name, entry.pw_uid):
            continue
        home = Path(entry.pw_dir)
        root = next((r for r in roots if _inside(home, r)), None)
        if root is not None and root != home_root and _run_in_progress(root):
            continue  # another test run on this machine is using it
        if entry.pw_uid in busy:
            log.warning("test account %s (uid %d) still runs processes: left in place", entry.pw_name, entry.pw_uid)
            continue
        try:
            unix.delete_system_account(name=entry.pw_name, remove_home=root is not None, home_root=root or home_root)
        except unix.AccountError as exc:
            log.warning("could not remove test account %s: %s", entry.pw_name, exc)
            continue
        removed.append(entry.pw_name)
    for group in grp.getgrall():
        if ours(group.gr_name, group.gr_gid) and unix.lookup(group.gr_name) is None:
            try:
                unix.delete_system_account(name=group.gr_name, remove_home=False, home_root=home_root)
            except unix.AccountError as exc:
                log.warning("could not remove test group %s: %s", group.gr_name, exc)
    for root in roots:
        if root == home_root or not _run_in_progress(root):
            _purge_root(root, ours, busy)
    return removed


def _run_in_progress(root: Path) -> bool:
    """Whether the test run that owns the home root ``root`` is still running: its process
    holds the lock in its run directory (a run removes the directory when it ends; one that
    was killed leaves it, unlocked, until /tmp is cleaned)."""
    run_dir = Path(tempfile.gettempdir()) / root.name.removesuffix("-homes")
    try:
        with open(run_dir / RUN_LOCK, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except FileNotFoundError:
        # No run directory, or one of a run from before the lock that may still be going
        return run_dir.is_dir()
    return False


def _inside(path: Path, root: Path) -> bool:
    return os.path.realpath(path.parent) == os.path.realpath(root)


def _purge_root(root: Path, ours, busy: set[int]) -> None:
    """Homes no account owns any more (a run that died mid-creation), then the root itself
    once empty."""
    if not root.is_dir():
        return
    for home in root.iterdir():
        try:
            owner = home.lstat().st_uid
        except OSError:
            continue
        if ours(home.name, owner) and owner not in busy and unix.lookup(home.name) is None:
            if home.is_symlink() or not home.is_dir():
                home.unlink(missing_ok=True)
            else:
                shutil.rmtree(home, ignore_errors=True)
    try:
        root.rmdir()
    except OSError:
        pass  # not empty: homes of accounts still in use
