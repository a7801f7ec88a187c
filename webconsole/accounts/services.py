"""Writes of desktop accounts: ensure, link, unlink, and deleting a console user.

A console user's desktops run as its ``UnixAccount``: one WRD creates on first need (uid
from WRD_UID_RANGE, name from WRD_ACCOUNT_PREFIX and the console name, home under
WRD_HOME_ROOT), or an existing system account an administrator links. The row and the
system account are kept in step: a failure leaves neither.
"""

from __future__ import annotations

import logging
import os
import pwd
from contextlib import nullcontext
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from webconsole.accounts import selectors, unix
from webconsole.accounts.models import UnixAccount
from webconsole.accounts.unix import AccountError

log = logging.getLogger(__name__)

MIN_LINKED_UID = 1000
OVERFLOW_UID = 65534  # nobody: shared by NFS and every unmapped uid
MAX_NAME_TRIES = 200


def _home_root() -> Path:
    return Path(settings.WRD_HOME_ROOT)


def _require_root() -> None:
    if not unix.running_as_root():
        raise AccountError(
            f"WRD is not running as root: it cannot create or change desktop accounts "
            f"(running as uid {os.geteuid()})")


def _comment(user: AbstractBaseUser) -> str:
    return f"WRD desktop of {user.get_username()}"


# -- ensure -------------------------------------------------------------------------------


def unix_account_ensure(*, user: AbstractBaseUser) -> UnixAccount:
    """The account ``user``'s desktops run as, created on first need.

    When the row exists but this machine lacks the system account (a new node, a
    re-imaged machine), the system account is recreated with the recorded name, uid and
    home. Raises ``AccountError`` when that cannot be done; nothing half-made is left.
    """
    _require_root()
    account = selectors.unix_account_for(user=user)
    if account is not None and _system_account_matches(account):
        return account
    created: tuple[str, Path] | None = None
    with unix.account_lock():
        try:
            with transaction.atomic():
                # Lock the user's row: a second ensure for the same user waits here, then
                # finds the account the first one made.
                get_user_model().objects.select_for_update().filter(pk=user.pk).first()
                account = UnixAccount.objects.filter(user=user).first()
                if account is not None:
                    _restore(account)
                    return account
                account = _new_account(user)
                created = (account.name, Path(account.home))
                account.save()
        except BaseException:
            if created is not None:  # the row did not make it: take the system account back
                name, home = created
                try:
                    unix.delete_system_account(name=name, remove_home=True, home_root=_home_root(), home=home)
                except AccountError as exc:
                    log.error("could not remove account %s after a failed save: %s", name, exc)
            raise
    log.info("unix account created user=%s name=%s uid=%d", user.pk, account.name, account.uid)
    return account


def _system_account_matches(account: UnixAccount) -> bool:
    entry = unix.lookup(account.name)
    return entry is not None and entry.pw_uid == account.uid


def _restore(account: UnixAccount) -> None:
    entry = unix.lookup(account.name)
    if entry is not None:
        if entry.pw_uid != account.uid:
            raise AccountError(
                f"system account {account.name} has uid {entry.pw_uid}, but WRD recorded uid {account.uid} "
                f"for console user {account.user_id}; resolve the clash by hand")
        return
    if not account.managed:
        raise AccountError(f"linked system account {account.name} does not exist on this machine")
    unix.create_system_account(
        name=account.name, uid=account.uid, home=Path(account.home), home_root=_home_root(),
        shell=account.shell, comment=_comment(account.user),
    )
    log.info("unix account recreated user=%s name=%s uid=%d", account.user_id, account.name, account.uid)


def _new_account(user: AbstractBaseUser) -> UnixAccount:
    """Pick a uid and a name, create the system account; the row is not saved yet."""
    home_root = _home_root()
    unix.prepare_home_root(home_root)
    low, high = settings.WRD_UID_RANGE
    reserved = set(UnixAccount.objects.filter(uid__range=(low, high)).values_list("uid", flat=True))
    uid = unix.lowest_free_uid(low=low, high=high, reserved=reserved)
    if uid is None:
        raise AccountError(f"no free uid left in WRD_UID_RANGE {low}-{high}")
    name = _free_name(user.get_username(), home_root)
    home = home_root / name
    shell = "/bin/bash"
    uid, gid = unix.create_system_account(
        name=name, uid=uid, home=home, home_root=home_root, shell=shell, comment=_comment(user),
    )
    return UnixAccount(user=user, name=name, uid=uid, gid=gid, home=str(home), shell=shell, managed=True)


def _free_name(console_username: str, home_root: Path) -> str:
    """The first candidate name nobody has: no row, no user or group, no leftover home."""
    base = unix.sanitize_name(console_username, settings.WRD_ACCOUNT_PREFIX)
    for tries, name in enumerate(unix.name_candidates(base, console_username)):
        if tries >= MAX_NAME_TRIES:
            break
        taken = (
            UnixAccount.objects.filter(name=name).exists()
            or unix.lookup(name) is not None
            or unix.lookup_group(name) is not None
            or (home_root / name).exists()
            or (home_root / name).is_symlink()
        )
        if not taken:
            return name
    raise AccountError(f"no free account name for console user {console_username!r} (tried {base} and variants)")


# -- link and unlink ----------------------------------------------------------------------


def unix_account_link_check(*, user: AbstractBaseUser, system_name: str) -> pwd.struct_passwd:
    """The passwd entry of ``system_name`` if ``user`` may be linked to it; otherwise a
    ``ValidationError`` saying why not. ``unix_account_link`` runs the same check."""
    entry = unix.lookup(system_name)
    if entry is None:
        raise ValidationError(f"there is no system account named {system_name!r}", code="missing")
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise ValidationError(f"{system_name} is root's account or in root's group: desktops never run as root",
                              code="root")
    if entry.pw_uid < MIN_LINKED_UID:
        raise ValidationError(f"{system_name} is a system account (uid {entry.pw_uid} < {MIN_LINKED_UID})",
                              code="system")
    if entry.pw_uid == OVERFLOW_UID:
        raise ValidationError(f"{system_name} has the overflow uid {OVERFLOW_UID} (nobody)", code="system")
    low, high = settings.WRD_UID_RANGE
    if low <= entry.pw_uid <= high or system_name.startswith(settings.WRD_ACCOUNT_PREFIX):
        raise ValidationError(
            f"{system_name} (uid {entry.pw_uid}) is in the range WRD manages for its own accounts; "
            "it may hold another console user's files", code="managed")
    if _in_service_group(entry):
        raise ValidationError(
            f"{system_name} is in the service group {settings.WRD_SERVICE_GROUP}, which may open every "
            "desktop's host socket", code="service_group")
    other = UnixAccount.objects.filter(uid=entry.pw_uid).exclude(user=user).select_related("user").first() or (
        UnixAccount.objects.filter(name=system_name).exclude(user=user).select_related("user").first())
    if other is not None:
        raise ValidationError(f"{system_name} is already the account of {other.user}", code="taken")
    current = selectors.unix_account_for(user=user)
    if current is not None and current.name != system_name and _has_active_desktops(user):
        raise ValidationError(f"{user} has desktops running as {current.name}; stop them first", code="busy")
    return entry


def _in_service_group(entry: pwd.struct_passwd) -> bool:
    group = unix.lookup_group(settings.WRD_SERVICE_GROUP)
    return group is not None and (entry.pw_gid == group.gr_gid or entry.pw_name in group.gr_mem)


def _has_active_desktops(user: AbstractBaseUser) -> bool:
    from webconsole.desktops import selectors as desktop_selectors

    return desktop_selectors.desktop_active_count(user=user) > 0


def unix_account_link(*, user: AbstractBaseUser, system_name: str) -> UnixAccount:
    """Make ``user``'s desktops run as the existing system account ``system_name``
    (``managed=False``: WRD never changes or deletes it). Replaces the user's previous
    account record, if any; a WRD-made account it replaces stays on the system."""
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        entry = unix_account_link_check(user=user, system_name=system_name)
        account = UnixAccount.objects.filter(user=user).first()
        if account is not None and account.name == entry.pw_name and not account.managed:
            return account
        if account is not None and account.managed:
            log.warning("unix account replaced by a link user=%s kept_on_system=%s uid=%d",
                        user.pk, account.name, account.uid)
        account = account or UnixAccount(user=user)
        account.name, account.uid, account.gid = entry.pw_name, entry.pw_uid, entry.pw_gid
        account.home, account.shell, account.managed = entry.pw_dir, entry.pw_shell, False
        account.save()
    log.info("unix account linked user=%s name=%s uid=%d", user.pk, account.name, account.uid)
    return account


def unix_account_unlink(*, user: AbstractBaseUser) -> None:
    """Forget ``user``'s linked system account (the account itself is left alone); the next
    desktop gets a WRD-managed account."""
    account = selectors.unix_account_for(user=user)
    if account is None:
        return
    if account.managed:
        raise ValidationError(f"{account.name} is an account WRD manages, not a link; delete the user instead",
                              code="managed")
    if _has_active_desktops(user):
        raise ValidationError(f"{user} has desktops running as {account.name}; stop them first", code="busy")
    account.delete()
    log.info("unix account unlinked user=%s name=%s", user.pk, account.name)


# -- deleting a console user --------------------------------------------------------------


def user_delete(*, user: AbstractBaseUser, with_home: bool) -> None:
    """Delete a console user: stop their desktops, then their account, then them.

    A WRD-managed account is removed from the system with its home when ``with_home``;
    otherwise the system account and home stay, so its uid is never handed to someone else
    who would then own the files. A linked account is never removed from the system.
    """
    from webconsole.desktops import selectors as desktop_selectors
    from webconsole.desktops import services as desktop_services

    for session in desktop_selectors.desktop_list(user=user, include_ended=False):
        desktop_services.desktop_stop(session=session)
    account = selectors.unix_account_for(user=user)
    remove_system_account = account is not None and account.managed and with_home
    if remove_system_account:
        _require_root()
    username, pk = user.get_username(), user.pk
    # The account lock before the database, as in unix_account_ensure: the other order could
    # deadlock against it.
    try:
        with unix.account_lock() if remove_system_account else nullcontext(), transaction.atomic():
            if account is not None:
                account.delete()
            user.delete()
            # Last, inside the transaction: if userdel refuses (the account still runs
            # processes), the user and the row stay as they were.
            if remove_system_account:
                unix.delete_system_account(
                    name=account.name, remove_home=True, home_root=_home_root(), home=Path(account.home))
    except BaseException:
        user.pk = pk  # delete() cleared it; the row is still there
        raise
    if account is None:
        log.info("user deleted user=%s name=%s (no unix account)", pk, username)
    elif remove_system_account:
        log.info("user deleted user=%s name=%s; unix account %s and home %s removed",
                 pk, username, account.name, account.home)
    elif account.managed:
        log.info("user deleted user=%s name=%s; unix account %s (uid %d) and home %s kept so the uid stays reserved",
                 pk, username, account.name, account.uid, account.home)
    else:
        log.info("user deleted user=%s name=%s; linked system account %s left untouched", pk, username, account.name)

