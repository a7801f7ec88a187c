"""The system side of desktop accounts: user names, groupadd/useradd/userdel, the home root.

Nothing here knows about Django; the services decide which account a console user gets.
Every function that changes the system needs root (``running_as_root``).

How a WRD account is kept from logging in (``create_system_account``): it has no password
(useradd leaves ``!`` in /etc/shadow, so nothing can authenticate with one) and its account
expiry date is day 1 (1970-01-02). sshd refuses expired accounts itself when it does not use
PAM, and through pam_unix's account check when it does, so a key the desktop writes into
``~/.ssh/authorized_keys`` opens no login; su, login, cron and anything else that runs the PAM
account stack refuse it the same way. WRD itself never goes through PAM for these accounts:
the launcher switches to the uid directly (setuid, or ``setpriv``/``runuser``, which do no
account check), so the expiry costs nothing. Password ageing is switched off
(``PASS_MAX_DAYS=-1``) so only the explicit expiry date applies. The shell stays a real shell
(``/bin/bash``): terminals in the desktop read it from passwd.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import hashlib
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z][-a-z0-9_]*$")
MAX_NAME_LEN = 32
# Room a sanitised name leaves for the collision suffix the service may add: "-2" … "-99",
# or "-" and six hex digits.
SUFFIX_ROOM = 7
EXPIRED = "1970-01-02"  # account expiry "day 1": see the module docstring
# Desktops get a private /tmp and /dev/shm: a home there would not be the one they see.
PRIVATE_ROOTS = (Path("/tmp"), Path("/dev/shm"))
# In /run itself, which only root may write: /run/lock is world-writable, and anyone could
# hold a lock file there forever.
LOCK_PATH = Path("/run/wrd-accounts.lock")
_TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


class AccountError(Exception):
    """A system account could not be created, found or removed; the message says why."""


def running_as_root() -> bool:
    return os.geteuid() == 0


# -- names --------------------------------------------------------------------------------


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def sanitize_name(console_username: str, prefix: str, max_len: int = MAX_NAME_LEN) -> str:
    """A valid Debian user name (``^[a-z][-a-z0-9_]*$``, at most ``max_len`` characters with
    ``prefix``) derived from any console name, the same for the same input.

    Accents fold to ASCII (NFKD), everything else that is not ``[a-z0-9_-]`` becomes a dash,
    dashes collapse, and the body is cut so that a collision suffix still fits. A name with
    nothing usable left ("..", "☃☃", "") becomes ``u`` and 8 hex digits of its sha256.
    """
    if prefix and not NAME_RE.match(prefix):
        raise ValueError(f"account prefix {prefix!r} is not a valid start of a user name")
    room = max_len - SUFFIX_ROOM - len(prefix)
    if room < 9:  # the hash fallback must fit
        raise ValueError(f"account prefix {prefix!r} leaves no room for a name within {max_len} characters")
    folded = unicodedata.normalize("NFKD", console_username).encode("ascii", "ignore").decode("ascii").lower()
    body = re.sub(r"[^a-z0-9_]+", "-", folded).strip("-_")
    if body and not prefix and not body[0].isalpha():
        body = "u" + body
    body = body[:room].rstrip("-_")
    if not body:
        body = "u" + _short_hash(console_username, 8)
    return prefix + body


def name_candidates(base: str, console_username: str, max_len: int = MAX_NAME_LEN) -> Iterator[str]:
    """``base``, then ``base-2`` … ``base-99``, then ``base-<6 hex>`` variants: the names to
    try, in order, when ``base`` is taken. Every one is valid and at most ``max_len`` long."""

    def with_suffix(suffix: str) -> str:
        return base[: max_len - len(suffix)].rstrip("-_") + suffix

    yield base
    for n in range(2, 100):
        yield with_suffix(f"-{n}")
    n = 0
    while True:
        yield with_suffix("-" + _short_hash(f"{console_username}\0{n}", 6))
        n += 1


def valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LEN and bool(NAME_RE.match(name))


def safe_comment(text: str) -> str:
    """``text`` as a GECOS comment useradd accepts (printable ASCII, no ``:`` or ``,``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9 ._@+-]+", "_", folded)[:200]


# -- the account database -----------------------------------------------------------------


def lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except (KeyError, ValueError):
        return None


def lookup_group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except (KeyError, ValueError):
        return None


def uid_in_use(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def gid_in_use(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def subordinate_ranges() -> list[tuple[int, int]]:
    """The ``(start, count)`` ranges of /etc/subuid and /etc/subgid.

    A uid inside someone's subordinate range is one that user can become inside a user
    namespace, files and all, so a desktop account must never get one.
    """
    ranges = []
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                ranges.append((int(parts[1]), int(parts[2])))
    return ranges


def lowest_free_uid(*, low: int, high: int, reserved: set[int]) -> int | None:
    """The lowest uid in ``low..high`` that is not ``reserved``, not a user's uid nor a
    group's gid (the account's group gets the same number), and not subordinate to anyone."""
    taken = set(reserved)
    taken.update(entry.pw_uid for entry in pwd.getpwall())
    taken.update(entry.gr_gid for entry in grp.getgrall())
    ranges = subordinate_ranges()
    uid = low
    while uid <= high:
        if uid in taken:
            uid += 1
            continue
        inside = next((start + count for start, count in ranges if start <= uid < start + count), None)
        if inside is None:
            return uid
        uid = inside
    return None


def uids_with_processes() -> set[int]:
    """Every uid (real, effective, saved or filesystem) a live process runs as. Zombies do not
    count: they hold nothing, and userdel does not mind them (orphans wait for init to reap)."""
    uids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if "Uid" in fields:
            uids.update(int(value) for value in fields["Uid"].split())
    return uids


# -- serialising changes ------------------------------------------------------------------

_thread_lock = threading.RLock()
_lock_depth = 0
_lock_file = None


@contextmanager
def account_lock() -> Iterator[None]:
    """Hold WRD's account lock: one groupadd/useradd/userdel at a time across all WRD
    processes (the tools fail rather than wait on /etc/passwd's own lock). Re-entrant
    within a process, so a service can hold it around allocation and creation."""
    global _lock_depth, _lock_file
    with _thread_lock:
        if _lock_depth == 0:
            fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            _lock_file = fd
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
            if _lock_depth == 0:
                os.close(_lock_file)
                _lock_file = None


def _run(*command: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=_TOOL_ENV, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AccountError(f"{command[0]} could not run: {exc}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or "no message"
        raise AccountError(f"{command[0]} {command[-1]} failed (exit {result.returncode}): {detail}")
    if result.stderr.strip():
        log.debug("%s %s: %s", command[0], command[-1], result.stderr.strip())


# -- the home root ------------------------------------------------------------------------


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def prepare_home_root(home_root: Path) -> Path:
    """Make sure the home root exists (creating it root-owned 0755) and is safe to hold
    homes: not under /tmp or /dev/shm, a real directory owned by root that only root may
    change, with no ancestor others may rename it in. Returns its resolved path."""
    root = Path(home_root)
    if not root.is_absolute():
        raise AccountError(f"home root {root} must be an absolute path")
    for private in PRIVATE_ROOTS:
        if _is_under(Path(os.path.abspath(root)), private) or _is_under(root.resolve(), private.resolve()):
            raise AccountError(
                f"home root {root} is under {private}, which every desktop sees privately; "
                "choose another WRD_HOME_ROOT")
    if not root.exists():
        try:
            old_umask = os.umask(0o022)
            try:
                root.mkdir(mode=0o755, parents=True)
            finally:
                os.umask(old_umask)
        except FileExistsError:
            pass  # created meanwhile, or a dangling symlink: checked below
        except OSError as exc:
            raise AccountError(f"cannot create home root {root}: {exc.strerror or exc}") from None
    resolved = root.resolve()
    try:
        st = os.stat(resolved)
    except OSError as exc:
        raise AccountError(f"home root {root}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise AccountError(f"home root {root} is not a directory")
    if st.st_uid != 0:
        raise AccountError(f"home root {root} is not owned by root (owner uid {st.st_uid})")
    if st.st_mode & 0o022:
        raise AccountError(f"home root {root} is group- or world-writable (mode {stat.S_IMODE(st.st_mode):o})")
    for parent in resolved.parents:
        pst = os.stat(parent)
        if pst.st_uid != 0 or (pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX):
            raise AccountError(f"home root {root}: its parent {parent} can be changed by users other than root")
    return resolved


# -- create and delete --------------------------------------------------------------------


def create_system_account(
    *, name: str, uid: int, home: Path, home_root: Path, shell: str = "/bin/bash", comment: str = "",
) -> tuple[int, int]:
    """Create the group ``name`` (gid = ``uid``) and the user ``name`` with that uid, the
    home ``home`` (0700, owned by the account) under ``home_root``, no password and an
    expired account (see the module docstring). Returns ``(uid, gid)``.

    A home that already exists is kept if it is a directory the uid owns (an account being
    recreated on a machine that kept its homes) and refused otherwise. On any failure what
    this call created is removed again and ``AccountError`` names the cause.
    """
    if not valid_name(name):
        raise AccountError(f"{name!r} is not a valid user name")
    home = Path(os.path.abspath(home))
    with account_lock():
        root = prepare_home_root(home_root)
        if not _is_under(Path(os.path.realpath(home.parent)), root) or home.name in ("", ".", ".."):
            raise AccountError(f"home {home} is not inside the home root {home_root}")
        if lookup(name) is not None:
            raise AccountError(f"a system account named {name} already exists")
        if uid_in_use(uid):
            raise AccountError(f"uid {uid} already belongs to {pwd.getpwuid(uid).pw_name}")
        group = lookup_group(name)
        if group is not None and (group.gr_gid != uid or group.gr_mem):
            raise AccountError(f"a group named {name} already exists (gid {group.gr_gid})")
        if group is None and gid_in_use(uid):
            raise AccountError(f"gid {uid} already belongs to the group {grp.getgrgid(uid).gr_name}")
        home_existed = os.path.lexists(home)
        if home_existed:
            hst = os.lstat(home)
            if not stat.S_ISDIR(hst.st_mode) or hst.st_uid != uid:
                raise AccountError(f"{home} already exists and is not a directory owned by uid {uid}")
        undo: list[tuple[str, ...]] = []
        try:
            if group is None:
                _run("groupadd", "-g", str(uid), name)
                undo.append(("groupdel", name))
            _run("useradd", "-u", str(uid), "-g", str(uid), "-d", str(home), "-m", "-s", shell,
                 "-c", safe_comment(comment), "-e", EXPIRED, "-l",
                 "-K", "PASS_MAX_DAYS=-1", "-K", "HOME_MODE=0700",
                 # No subordinate ids: they would let the desktop map other uids.
                 "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name)
            undo.append(("userdel", name))
            hst = os.lstat(home)
            if not stat.S_ISDIR(hst.st_mode) or hst.st_uid != uid:
                raise AccountError(f"useradd left {home} not a directory owned by {name}")
            os.chmod(home, 0o700)
        except BaseException as exc:
            if not home_existed and os.path.lexists(home):
                _remove_home(home, root)
            for command in reversed(undo):
                try:
                    _run(*command)
                except AccountError as undo_exc:
                    log.error("undoing account %s: %s", name, undo_exc)
            if isinstance(exc, AccountError):
                raise
            if isinstance(exc, OSError):
                raise AccountError(f"creating account {name}: {exc}") from exc
            raise
    log.info("system account created name=%s uid=%d home=%s", name, uid, home)
    return uid, uid


def delete_system_account(*, name: str, remove_home: bool, home_root: Path, home: Path | None = None) -> None:
    """Remove the user ``name`` and its group; with ``remove_home``, also its home
    (``home`` if the account is already gone), but only when that lies inside
    ``home_root``: symlinks are never followed out of it."""
    with account_lock():
        entry = lookup(name)
        gid = entry.pw_gid if entry else None
        if entry is not None:
            home = Path(entry.pw_dir)
            _run("userdel", name)  # not -r: the home is removed below, only inside the home root
        group = lookup_group(name)
        if group is not None and (gid is None or group.gr_gid == gid):
            _run("groupdel", name)
        if remove_home:
            home = Path(os.path.abspath(home or Path(home_root) / name))
            root = Path(os.path.realpath(home_root))
            if _is_under(Path(os.path.realpath(home.parent)), root) and home.name not in ("", ".", ".."):
                _remove_home(home, root)
            else:
                log.warning("home of %s left in place: %s is not inside the home root %s", name, home, home_root)
    log.info("system account deleted name=%s home_removed=%s", name, remove_home)


def _remove_home(home: Path, root: Path) -> None:
    if os.path.realpath(home) == str(root):
        raise AccountError(f"refusing to remove the home root {root}")
    try:
        if os.path.islink(home) or not os.path.isdir(home):
            os.unlink(home)
        else:
            shutil.rmtree(home)  # never follows symlinks inside the tree
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise AccountError(f"cannot remove home {home}: {exc}") from exc
