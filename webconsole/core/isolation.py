"""How this node keeps desktops apart, and the service's own files private.

``secure_var_dir()`` runs when the product starts (``serve``): the database, the secret key,
the TLS key and the logs are readable by the service alone. ``isolation_summary()`` says who
desktops run as and how they are contained, for ``serve``'s start-up lines and the console.
"""

from __future__ import annotations

import functools
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from compositor import cgroups, sandbox

PRIVATE_DIR = 0o700


class UnsafeSetup(RuntimeError):
    """A path the service needs is owned or writable by someone else."""


def secure_var_dir(var_dir: Path) -> list[str]:
    """Make ``var_dir`` and what it holds private to the service (0700 / 0600); return what was
    changed. Refuses a var dir that belongs to another account."""
    changed = []
    var_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    st = os.lstat(var_dir)
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        raise UnsafeSetup(f"{var_dir} belongs to uid {st.st_uid} (or is a link), not to WRD (uid "
                          f"{os.geteuid()}): refusing to keep the database and keys there")
    for path in [var_dir, *var_dir.rglob("*")]:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            continue
        if st.st_mode & 0o077:  # keep the owner's bits, take everyone else's away
            os.chmod(path, PRIVATE_DIR if stat.S_ISDIR(st.st_mode) else st.st_mode & 0o700)
            changed.append(str(path))
    return changed


@dataclass(frozen=True)
class IsolationSummary:
    single_user: bool
    service_user: str
    uid_range: tuple[int, int]
    home_root: Path
    containment: str  # "cgroup v1", "cgroup v2" or "rlimit"
    memory_bytes: int
    cpus: float
    pids: int

    def lines(self) -> list[str]:
        memory = f"{self.memory_bytes / 2**30:g} GiB" if self.memory_bytes else "no memory limit"
        cpus = f"{self.cpus:g} CPUs" if self.cpus else "no CPU quota (fair shares)"
        pids = f"{self.pids} processes" if self.pids else "no process limit"
        if self.single_user:
            who = (f"Single-user mode: WRD runs as {self.service_user}, not root, so every desktop runs "
                   f"as {self.service_user}. Run WRD as root to give each user an account of their own.")
        else:
            low, high = self.uid_range
            who = (f"Each desktop runs as its user's own Unix account (uids {low}-{high}, homes in "
                   f"{self.home_root}).")
        if self.containment == "rlimit":
            limits = (f"No writable cgroup hierarchy: limits fall back to setrlimit ({pids} per account, "
                      "open files, no core dumps); memory and CPU are not limited.")
        else:
            limits = f"Limits per desktop ({self.containment}): {memory}, {cpus}, {pids}."
        return [who, limits]


@functools.cache
def _cgroup_kind() -> str:
    return cgroups.detect()  # it probes by making a group: once per process is enough


def isolation_summary() -> IsolationSummary:
    kind = _cgroup_kind()
    return IsolationSummary(
        single_user=not sandbox.can_switch_users(),
        service_user=pwd.getpwuid(os.geteuid()).pw_name,
        uid_range=settings.WRD_UID_RANGE,
        home_root=Path(settings.WRD_HOME_ROOT),
        containment="rlimit" if kind == "none" else f"cgroup {kind}",
        memory_bytes=settings.WRD_SESSION_MEMORY,
        cpus=settings.WRD_SESSION_CPUS,
        pids=settings.WRD_SESSION_PIDS,
    )
