"""System accounts with the real groupadd/useradd/userdel (as root), and user name sanitising."""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from tests.accounts_util import purge_test_accounts
from tests.webconsole.accounts.conftest import make_system_account, needs_root
from webconsole.accounts import unix
from webconsole.accounts.unix import AccountError
from webconsole.config.testenv import RUN_LOCK

PREFIX = "wrdt-"


# -- names --------------------------------------------------------------------------------


@given(st.text(max_size=200), st.sampled_from(["wrd-", "wrdt-", "x", "desk_top-", ""]))
def test_sanitize_any_text_gives_a_valid_name(console_name, prefix):
    name = unix.sanitize_name(console_name, prefix)
    assert unix.NAME_RE.match(name), name
    assert len(name) <= unix.MAX_NAME_LEN - unix.SUFFIX_ROOM
    assert name.startswith(prefix)
    assert unix.sanitize_name(console_name, prefix) == name


@given(st.text(max_size=100))
def test_every_collision_candidate_is_valid_and_distinct(console_name):
    base = unix.sanitize_name(console_name, PREFIX)
    candidates = []
    for candidate in unix.name_candidates(base, console_name):
        candidates.append(candidate)
        if len(candidates) == 110:
            break
    assert candidates[0] == base
    assert len(set(candidates)) == len(candidates)
    assert all(unix.valid_name(c) and c.startswith(PREFIX) for c in candidates)


@pytest.mark.parametrize(("console_name", "expected"), [
    ("alice", "wrdt-alice"),
    ("Zoë Ünïcode", "wrdt-zoe-unicode"),
    ("  Jean   Dupont  ", "wrdt-jean-dupont"),
    ("first.last@ex.org", "wrdt-first-last-ex-org"),
    ("under_score", "wrdt-under_score"),
    ("--a--b--", "wrdt-a-b"),
    ("root", "wrdt-root"),
    ("ﬁnance", "wrdt-finance"),  # NFKD folds the ligature
    ("a" * 40, "wrdt-" + "a" * 20),
])
def test_sanitize_named_cases(console_name, expected):
    assert unix.sanitize_name(console_name, PREFIX) == expected


@pytest.mark.parametrize("console_name", ["", "..", "   ", "☃☃", "---", "日本語"])
def test_names_with_nothing_usable_become_a_stable_hash(console_name):
    name = unix.sanitize_name(console_name, PREFIX)
    assert len(name) == len(PREFIX) + 9 and name.startswith(PREFIX + "u")
    assert name == unix.sanitize_name(console_name, PREFIX)
    assert name != unix.sanitize_name(console_name + "x", PREFIX)


def test_without_a_prefix_the_name_still_starts_with_a_letter():
    assert unix.sanitize_name("42", "") == "u42"
    assert unix.sanitize_name("root", "") == "root"  # the service skips names passwd has


def test_names_that_sanitise_alike_get_distinct_suffixed_candidates():
    assert unix.sanitize_name("Zoë", PREFIX) == unix.sanitize_name("zoe", PREFIX)
    candidates = unix.name_candidates(unix.sanitize_name("a" * 40, PREFIX), "a" * 40)
    assert [next(candidates) for _ in range(3)] == ["wrdt-" + "a" * 20, "wrdt-" + "a" * 20 + "-2",
                                                     "wrdt-" + "a" * 20 + "-3"]


def test_a_prefix_that_leaves_no_room_is_refused():
    with pytest.raises(ValueError, match="no room"):
        unix.sanitize_name("x", "a" * 20)
    with pytest.raises(ValueError, match="not a valid"):
        unix.sanitize_name("x", "Wrd-")


# -- create and delete (real accounts) ----------------------------------------------------


def _free_test_uid() -> int:
    low, high = settings.WRD_UID_RANGE
    uid = unix.lowest_free_uid(low=low, high=high, reserved=set())
    assert uid is not None
    return uid


def _shadow(name: str) -> list[str]:
    for line in Path("/etc/shadow").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":")
    raise AssertionError(f"{name} is not in /etc/shadow")


@needs_root
def test_create_makes_a_locked_expired_account_with_a_private_home(system_accounts, home_root):
    name = PREFIX + "unix-create"
    uid = make_system_account(system_accounts, name, home_root, comment="Zoë: a, b")
    entry = pwd.getpwnam(name)
    assert (entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell) == (uid, uid, str(home_root / name), "/bin/bash")
    assert grp.getgrgid(uid).gr_name == name
    home = os.lstat(home_root / name)
    assert stat.S_ISDIR(home.st_mode) and stat.S_IMODE(home.st_mode) == 0o700
    assert (home.st_uid, home.st_gid) == (uid, uid)
    root = os.stat(home_root)
    assert (root.st_uid, stat.S_IMODE(root.st_mode)) == (0, 0o755)
    shadow = _shadow(name)
    assert shadow[1].startswith("!")  # no password: nothing can authenticate with one
    assert shadow[7] == "1"  # expired on day 1: sshd and PAM's account check refuse it
    assert shadow[4] == ""  # no password ageing
    if shutil.which("su"):
        result = subprocess.run(["su", name, "-c", "true"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert result.returncode != 0 and "expired" in result.stderr
    # WRD switches to the account without PAM: that still works.
    result = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "id", "-u"],
                            capture_output=True, text=True)
    assert result.stdout.strip() == str(uid)

    unix.delete_system_account(name=name, remove_home=True, home_root=home_root)
    assert unix.lookup(name) is None and unix.lookup_group(name) is None
    assert not os.path.lexists(home_root / name)


@needs_root
def test_a_failing_useradd_leaves_nothing_behind(system_accounts, home_root):
    name = PREFIX + "unix-badshell"
    with pytest.raises(AccountError, match=r"useradd .*invalid shell"):
        make_system_account(system_accounts, name, home_root, shell="not/a/path")
    assert unix.lookup(name) is None
    assert unix.lookup_group(name) is None  # groupadd ran first and was undone
    assert not os.path.lexists(home_root / name)


@needs_root
def test_existing_names_and_ids_are_refused(system_accounts, home_root):
    with pytest.raises(AccountError, match="already exists"):
        unix.create_system_account(name="root", uid=_free_test_uid(), home=home_root / "root", home_root=home_root)
    with pytest.raises(AccountError, match="uid 0 already belongs to root"):
        unix.create_system_account(name=PREFIX + "x", uid=0, home=home_root / "x", home_root=home_root)
    with pytest.raises(AccountError, match="not a valid user name"):
        unix.create_system_account(name="Bad Name", uid=_free_test_uid(), home=home_root / "b", home_root=home_root)
    with pytest.raises(AccountError, match="not inside the home root"):
        unix.create_system_account(name=PREFIX + "x", uid=_free_test_uid(), home=Path("/var/tmp/x"),
                                   home_root=home_root)


@needs_root
@pytest.mark.parametrize("where", ["/tmp/wrd-homes", "/dev/shm/wrd-homes", "/tmp"])
def test_home_root_under_a_private_tmp_is_refused(where):
    with pytest.raises(AccountError, match="sees privately"):
        unix.prepare_home_root(Path(where))
    assert where == "/tmp" or not os.path.exists(where)


@needs_root
def test_home_root_must_be_a_root_owned_directory_only_root_can_change(home_root):
    scratch = home_root.parent / f"{home_root.name}-roots"
    scratch.mkdir(mode=0o755)
    try:
        (scratch / "file").write_text("")
        with pytest.raises(AccountError, match="not a directory"):
            unix.prepare_home_root(scratch / "file")
        with pytest.raises(AccountError, match="cannot create"):
            unix.prepare_home_root(scratch / "file" / "homes")
        (scratch / "open").mkdir(mode=0o755)
        os.chmod(scratch / "open", 0o777)
        with pytest.raises(AccountError, match="world-writable"):
            unix.prepare_home_root(scratch / "open")
        (scratch / "owned").mkdir(mode=0o755)
        os.chown(scratch / "owned", 65534, 65534)
        with pytest.raises(AccountError, match="not owned by root"):
            unix.prepare_home_root(scratch / "owned")
        with pytest.raises(AccountError, match="can be changed by users other than root"):
            unix.prepare_home_root(scratch / "owned" / "homes")
        created = unix.prepare_home_root(scratch / "new" / "homes")
        assert stat.S_IMODE(os.stat(created).st_mode) == 0o755 and os.stat(created).st_uid == 0
    finally:
        shutil.rmtree(scratch)


@needs_root
def test_delete_never_follows_a_symlinked_home_out_of_the_root(system_accounts, home_root, tmp_path):
    name = PREFIX + "unix-symlink"
    make_system_account(system_accounts, name, home_root)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep").write_text("data")
    # The account replaces its home's contents with a link to files that are not its own.
    (home_root / name / "escape").symlink_to(outside)
    unix.delete_system_account(name=name, remove_home=True, home_root=home_root)
    assert (outside / "keep").read_text() == "data"
    assert not os.path.lexists(home_root / name)

    # A home outside the home root is never removed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    unix.delete_system_account(name=name, remove_home=True, home_root=home_root, home=elsewhere)
    assert elsewhere.is_dir()


@needs_root
def test_lowest_free_uid_skips_used_and_subordinate_ids():
    low, _high = settings.WRD_UID_RANGE
    first = unix.lowest_free_uid(low=low, high=low + 50, reserved=set())
    assert unix.lowest_free_uid(low=low, high=low + 50, reserved={first}) > first
    assert unix.lowest_free_uid(low=first, high=first, reserved={first}) is None
    assert unix.lowest_free_uid(low=0, high=0, reserved=set()) is None  # root


@needs_root
def test_purge_removes_test_accounts_and_their_homes(system_accounts, home_root):
    # Only this test's accounts: a purge of the whole prefix would take those of other tests
    # running on the machine at the same time.
    prefix = PREFIX + "purge-"
    kept, busy, gone = prefix + "kept", prefix + "busy", prefix + "gone"
    system_accounts.append(kept)
    uids = {name: make_system_account(system_accounts, name, home_root) for name in (busy, gone)}
    # A group an interrupted creation left behind.
    with unix.account_lock():
        subprocess.run(["groupadd", "-g", str(_free_test_uid()), kept], check=True)
    sleeper = subprocess.Popen(["setpriv", f"--reuid={uids[busy]}", f"--regid={uids[busy]}", "--clear-groups",
                                "sleep", "60"])
    try:
        removed = purge_test_accounts(prefix=prefix)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert gone in removed and busy not in removed
    assert unix.lookup(gone) is None and not os.path.lexists(home_root / gone)
    assert unix.lookup_group(kept) is None
    assert unix.lookup(busy) is not None and (home_root / busy).is_dir()
    assert busy in purge_test_accounts(prefix=prefix)  # once its processes have ended
    assert not os.path.lexists(home_root / busy)


@needs_root
def test_purge_leaves_accounts_of_a_run_in_progress(system_accounts, home_root):
    prefix = PREFIX + "purge-"
    name = prefix + "other-run"
    other_run = Path(tempfile.mkdtemp(prefix="wrd-test-"))
    other_root = home_root.parent / f"{other_run.name}-homes"
    lock = open(other_run / RUN_LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # what a live run holds (config/testenv.py)
    try:
        make_system_account(system_accounts, name, other_root)
        assert name not in purge_test_accounts(prefix=prefix)
        assert unix.lookup(name) is not None
        lock.close()  # that run was killed: its run directory stays, unlocked
        assert name in purge_test_accounts(prefix=prefix)
        assert not other_root.exists()
    finally:
        lock.close()
        shutil.rmtree(other_run, ignore_errors=True)
        unix.delete_system_account(name=name, remove_home=True, home_root=other_root)
        if other_root.exists():
            other_root.rmdir()
