"""Desktop account services with real system accounts (as root)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.test import override_settings

from tests.webconsole.accounts.conftest import make_system_account, needs_root
from webconsole.accounts import selectors, services, unix
from webconsole.accounts.models import UnixAccount
from webconsole.accounts.unix import AccountError
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = [needs_root, pytest.mark.django_db]


@pytest.fixture
def created(managed_accounts):
    """System account names the test made outside the services (removed at the end)."""
    return managed_accounts


def accounts_named(stem: str) -> set[str]:
    """System accounts and groups whose name is the test prefix and ``stem``, suffixed or not
    (other test runs on the machine may be making accounts of their own meanwhile)."""
    start = settings.WRD_ACCOUNT_PREFIX + stem
    return {e.pw_name for e in pwd.getpwall() if e.pw_name.startswith(start)} | {
        g.gr_name for g in grp.getgrall() if g.gr_name.startswith(start)}


def linkable_account(created: list[str], home_root: Path, name: str) -> pwd.struct_passwd:
    """A real system account with uid >= 1000 outside WRD's range, as an admin would have."""
    low, _high = settings.WRD_UID_RANGE
    make_system_account(created, name, home_root, low=low - 10000, high=low - 1)
    return pwd.getpwnam(name)


# -- ensure -------------------------------------------------------------------------------


def test_ensure_creates_a_real_account(created):
    user = User.objects.create_user("Zoë Ünïcode")
    account = services.unix_account_ensure(user=user)
    assert account.name == "wrdt-zoe-unicode" and account.managed
    low, high = settings.WRD_UID_RANGE
    entry = pwd.getpwnam(account.name)
    assert low <= entry.pw_uid <= high and (entry.pw_uid, entry.pw_gid) == (account.uid, account.gid)
    assert entry.pw_dir == account.home == str(Path(settings.WRD_HOME_ROOT) / account.name)
    assert entry.pw_shell == account.shell == "/bin/bash"
    home = os.lstat(account.home)
    assert stat.S_ISDIR(home.st_mode) and stat.S_IMODE(home.st_mode) == 0o700 and home.st_uid == account.uid
    shadow = next(line.split(":") for line in Path("/etc/shadow").read_text().splitlines()
                  if line.startswith(account.name + ":"))
    assert shadow[1].startswith("!") and shadow[7] == "1"  # locked, expired: no login
    assert selectors.unix_account_for(user=user) == account
    assert list(selectors.unix_account_list()) == [account]


def test_ensure_is_idempotent(created):
    user = User.objects.create_user("alice")
    first = services.unix_account_ensure(user=user)
    second = services.unix_account_ensure(user=user)
    assert (first.pk, first.name, first.uid) == (second.pk, second.name, second.uid)
    assert UnixAccount.objects.count() == 1


def test_names_that_sanitise_alike_get_distinct_accounts(created):
    accounts = [services.unix_account_ensure(user=User.objects.create_user(name)) for name in ("zoe", "Zoë", "ZOE")]
    assert [a.name for a in accounts] == ["wrdt-zoe", "wrdt-zoe-2", "wrdt-zoe-3"]
    assert len({a.uid for a in accounts}) == 3
    assert all(pwd.getpwnam(a.name).pw_uid == a.uid for a in accounts)


def test_a_name_already_in_passwd_is_skipped(created, home_root):
    make_system_account(created, "wrdt-taken", home_root)
    account = services.unix_account_ensure(user=User.objects.create_user("taken"))
    assert account.name == "wrdt-taken-2"


@override_settings(WRD_ACCOUNT_PREFIX="")
def test_without_a_prefix_a_system_account_name_is_never_reused(created):
    account = services.unix_account_ensure(user=User.objects.create_user("root"))
    created.append(account.name)
    assert account.name == "root-2" and pwd.getpwnam("root").pw_uid == 0


def test_ensure_recreates_a_missing_system_account(created, home_root):
    user = User.objects.create_user("bob")
    account = services.unix_account_ensure(user=user)
    (Path(account.home) / "notes.txt").write_text("kept")
    # A machine that kept its homes but lost its passwd entries (re-imaged).
    unix.delete_system_account(name=account.name, remove_home=False, home_root=home_root)
    again = services.unix_account_ensure(user=user)
    assert (again.pk, again.name, again.uid, again.home) == (account.pk, account.name, account.uid, account.home)
    assert pwd.getpwnam(account.name).pw_uid == account.uid
    assert (Path(account.home) / "notes.txt").read_text() == "kept"
    # A new node: no home either.
    unix.delete_system_account(name=account.name, remove_home=True, home_root=home_root)
    services.unix_account_ensure(user=user)
    assert os.lstat(account.home).st_uid == account.uid


def test_ensure_refuses_when_the_name_has_another_uid(created, home_root):
    user = User.objects.create_user("carol")
    account = services.unix_account_ensure(user=user)
    unix.delete_system_account(name=account.name, remove_home=True, home_root=home_root)
    other = make_system_account(created, account.name, home_root, low=account.uid + 1)
    with pytest.raises(AccountError, match=f"has uid {other}, but WRD recorded uid {account.uid}"):
        services.unix_account_ensure(user=user)
    assert pwd.getpwnam(account.name).pw_uid == other


def test_exhausted_range_leaves_nothing(created, home_root):
    first = services.unix_account_ensure(user=User.objects.create_user("first"))
    user = User.objects.create_user("second")
    with override_settings(WRD_UID_RANGE=(first.uid, first.uid)), \
            pytest.raises(AccountError, match=f"no free uid left in WRD_UID_RANGE {first.uid}-{first.uid}"):
        services.unix_account_ensure(user=user)
    assert selectors.unix_account_for(user=user) is None
    assert accounts_named("second") == set()
    assert not os.path.lexists(home_root / "wrdt-second")


@pytest.mark.parametrize(("make_root", "message"), [
    (lambda base: base.parent / f"{base.name}-file", "is not a directory"),
    (lambda base: Path("/tmp") / "wrd-homes", "sees privately"),
])
def test_unusable_home_root_leaves_nothing(created, home_root, make_root, message):
    bad_root = make_root(home_root)
    if bad_root.parent != Path("/tmp"):
        bad_root.write_text("not a directory")
    user = User.objects.create_user("dave")
    try:
        with override_settings(WRD_HOME_ROOT=bad_root), pytest.raises(AccountError, match=message):
            services.unix_account_ensure(user=user)
    finally:
        if bad_root.is_file():
            bad_root.unlink()
    assert selectors.unix_account_for(user=user) is None
    assert accounts_named("dave") == set()
    assert not os.path.lexists(home_root / "wrdt-dave")


@pytest.mark.django_db(transaction=True)
def test_a_failed_save_takes_the_system_account_back(created, home_root):
    # The user row goes away before the account's row is committed (another admin deleted
    # it): the commit fails, and the system account just made must not stay behind.
    user = User.objects.create_user("erin")
    ghost = User(pk=user.pk + 1000, username="ghost")
    with pytest.raises(IntegrityError):
        services.unix_account_ensure(user=ghost)
    assert not UnixAccount.objects.exists()
    assert accounts_named("ghost") == set()
    assert not os.path.lexists(home_root / "wrdt-ghost")


@pytest.mark.django_db(transaction=True)
def test_concurrent_ensures_make_one_account(created):
    user = User.objects.create_user("frank")
    results, errors = [], []

    def ensure():
        try:
            results.append(services.unix_account_ensure(user=user))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({(a.pk, a.name, a.uid) for a in results}) == 1
    assert UnixAccount.objects.count() == 1
    assert accounts_named("frank") == {"wrdt-frank"}


def test_ensure_outside_root_says_so():
    # A real non-root process (nobody), with a run directory of its own it may write to.
    run_dir = Path(tempfile.mkdtemp(prefix="wrd-test-nonroot-"))
    os.chown(run_dir, 65534, 65534)
    env = dict(os.environ, HOME=str(run_dir), WRD_TEST_RUN_DIR=str(run_dir), WRD_VAR_DIR=str(run_dir / "var"),
               WRD_TEST_DB=str(run_dir / "test.sqlite3"), DATABASE_URL=f"sqlite:///{run_dir / 'db.sqlite3'}")
    code = ("import django; django.setup(); from django.contrib.auth.models import User; "
            "from webconsole.accounts import services; "
            "services.unix_account_ensure(user=User(pk=1, username='x'))")
    try:
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
            capture_output=True, text=True, cwd=settings.BASE_DIR, env=env, timeout=60)
    finally:
        shutil.rmtree(run_dir)
    assert "AccountError: WRD is not running as root" in result.stderr, result.stderr[-2000:]


# -- link and unlink ----------------------------------------------------------------------


def test_link_refuses_root_system_and_wrd_accounts(created):
    user = User.objects.create_user("gina")
    other = services.unix_account_ensure(user=User.objects.create_user("hank"))
    for system_name, code in [("root", "root"), ("daemon", "system"), ("nobody", "system"),
                              (other.name, "managed"), ("no-such-account", "missing")]:
        with pytest.raises(ValidationError) as info:
            services.unix_account_link(user=user, system_name=system_name)
        assert info.value.code == code, system_name
    assert selectors.unix_account_for(user=user) is None


def test_link_accepts_a_real_account_once(created, home_root):
    entry = linkable_account(created, home_root, "wrdtlink-ivy")
    ivy, jack = User.objects.create_user("ivy"), User.objects.create_user("jack")
    account = services.unix_account_link(user=ivy, system_name=entry.pw_name)
    assert (account.name, account.uid, account.gid, account.home, account.managed) == (
        entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, False)
    assert services.unix_account_link(user=ivy, system_name=entry.pw_name).pk == account.pk
    assert services.unix_account_ensure(user=ivy).pk == account.pk  # ensure uses the link
    with pytest.raises(ValidationError, match="already the account of ivy"):
        services.unix_account_link(user=jack, system_name=entry.pw_name)


def test_link_refuses_the_service_group(created, home_root):
    entry = linkable_account(created, home_root, "wrdtlink-svc")
    with override_settings(WRD_SERVICE_GROUP=entry.pw_name), pytest.raises(ValidationError, match="service group"):
        services.unix_account_link(user=User.objects.create_user("kim"), system_name=entry.pw_name)


def test_link_refuses_a_user_with_active_desktops(created, home_root):
    entry = linkable_account(created, home_root, "wrdtlink-lee")
    user = User.objects.create_user("lee")
    services.unix_account_ensure(user=user)
    DesktopSession.objects.create(owner=user, width=800, height=600, node="testnode", state=DesktopState.RUNNING)
    with pytest.raises(ValidationError, match="stop them first"):
        services.unix_account_link(user=user, system_name=entry.pw_name)
    DesktopSession.objects.filter(owner=user).update(state=DesktopState.STOPPED)
    # Without desktops the link replaces the WRD account, which stays on the system.
    old = selectors.unix_account_for(user=user).name
    assert services.unix_account_link(user=user, system_name=entry.pw_name).managed is False
    assert unix.lookup(old) is not None
    created.append(old)


def test_unlink_forgets_only_links(created, home_root):
    entry = linkable_account(created, home_root, "wrdtlink-max")
    user = User.objects.create_user("max")
    services.unix_account_link(user=user, system_name=entry.pw_name)
    services.unix_account_unlink(user=user)
    assert selectors.unix_account_for(user=user) is None
    assert unix.lookup(entry.pw_name) is not None  # the system account is untouched
    services.unix_account_ensure(user=user)
    with pytest.raises(ValidationError, match="WRD manages"):
        services.unix_account_unlink(user=user)


# -- deleting users -----------------------------------------------------------------------


def test_user_delete_with_home_removes_everything(created):
    user = User.objects.create_user("nina")
    account = services.unix_account_ensure(user=user)
    session = DesktopSession.objects.create(owner=user, width=800, height=600, node="testnode",
                                            state=DesktopState.RUNNING)
    services.user_delete(user=user, with_home=True)
    assert not User.objects.filter(username="nina").exists()
    assert not UnixAccount.objects.exists() and not DesktopSession.objects.filter(pk=session.pk).exists()
    assert unix.lookup(account.name) is None and unix.lookup_group(account.name) is None
    assert not os.path.lexists(account.home)


def test_user_delete_without_home_keeps_the_account_reserved(created):
    user = User.objects.create_user("oscar")
    account = services.unix_account_ensure(user=user)
    created.append(account.name)
    services.user_delete(user=user, with_home=False)
    assert not User.objects.filter(username="oscar").exists() and not UnixAccount.objects.exists()
    assert pwd.getpwnam(account.name).pw_uid == account.uid and os.path.isdir(account.home)
    # A later user with the same name gets neither the uid nor the files.
    again = services.unix_account_ensure(user=User.objects.create_user("oscar"))
    assert again.name == "wrdt-oscar-2" and again.uid != account.uid


def test_user_delete_leaves_linked_accounts_alone(created, home_root):
    entry = linkable_account(created, home_root, "wrdtlink-pat")
    user = User.objects.create_user("pat")
    services.unix_account_link(user=user, system_name=entry.pw_name)
    services.user_delete(user=user, with_home=True)
    assert not User.objects.filter(username="pat").exists()
    assert unix.lookup(entry.pw_name) is not None and os.path.isdir(entry.pw_dir)


def test_user_delete_stops_desktops_and_changes_nothing_when_userdel_refuses(created):
    user = User.objects.create_user("quinn")
    account = services.unix_account_ensure(user=user)
    session = DesktopSession.objects.create(owner=user, width=800, height=600, node="testnode",
                                            state=DesktopState.RUNNING)
    sleeper = subprocess.Popen(["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", "--clear-groups",
                                "sleep", "60"])
    try:
        with pytest.raises(AccountError, match=r"userdel .*currently used by process"):
            services.user_delete(user=user, with_home=True)
    finally:
        sleeper.kill()
        sleeper.wait()
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED
    assert user.pk is not None and User.objects.filter(pk=user.pk).exists()
    assert selectors.unix_account_for(user=user) is not None
    assert unix.lookup(account.name) is not None and os.path.isdir(account.home)
