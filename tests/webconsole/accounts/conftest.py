"""Fixtures of the desktop account tests: every system account a test makes is removed again."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from webconsole.accounts import unix

needs_root = pytest.mark.skipif(not unix.running_as_root(), reason="creating system accounts needs root")


@pytest.fixture
def home_root() -> Path:
    return Path(settings.WRD_HOME_ROOT)


@pytest.fixture
def system_accounts(home_root):
    """A list of system account names this test creates (add a name before creating it);
    each is removed with its home when the test ends, whatever happened."""
    names: list[str] = []
    yield names
    for name in dict.fromkeys(names):
        unix.delete_system_account(name=name, remove_home=True, home_root=home_root)
        assert unix.lookup(name) is None and unix.lookup_group(name) is None


@pytest.fixture
def managed_accounts(db, system_accounts):
    """Tracks the system account of every row WRD made during the test, for removal."""
    yield system_accounts
    from webconsole.accounts.models import UnixAccount

    system_accounts.extend(UnixAccount.objects.filter(managed=True).values_list("name", flat=True))


def make_system_account(names: list[str], name: str, home_root: Path, *, low: int | None = None,
                        high: int | None = None, **kwargs) -> int:
    """Create the system account ``name`` with the lowest free uid in ``low..high`` (the test
    range by default), recorded in ``names`` for removal; returns the uid. Holds the account
    lock from choosing the uid to creating the account, as other test runs may be creating
    accounts at the same time."""
    range_low, range_high = settings.WRD_UID_RANGE
    names.append(name)
    with unix.account_lock():
        uid = unix.lowest_free_uid(low=low or range_low, high=high or range_high, reserved=set())
        assert uid is not None
        unix.create_system_account(name=name, uid=uid, home=home_root / name, home_root=home_root, **kwargs)
    return uid
