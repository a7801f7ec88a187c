"""Resource containment of one desktop: a cgroup per desktop (v2 or v1), else setrlimit.

A privileged launcher (root) creates the desktop's group, writes its limits and moves itself
into it before it drops to the desktop's Unix user, so Xvfb, the session host and every user
program inherit the group. The service later reads live usage from the group, and on stop
kills whatever is still in it and removes it.

API::

    Limits(memory_bytes: int = 0, cpus: float = 0.0, pids: int = 0)   # 0 = no limit
    Usage(memory_bytes, memory_limit, cpu_usage_ns, pids, oom_kills)
    CgroupError(RuntimeError)          # the kernel refused: the message says what and where

    detect(root: Path = Path("/sys/fs/cgroup")) -> str              # "v2" | "v1" | "none"
    for_session(relpath: str, *, root=Path("/sys/fs/cgroup"), kind: str | None = None) -> Cgroup
    validate_relpath(relpath: str) -> str                           # ValueError when unsafe

    class Cgroup:                      # CgroupV2 or CgroupV1, from for_session()
        kind: str                      # "v2" | "v1"
        relpath: str                   # e.g. "wrd/wrd-0/desktop-7"
        create(limits: Limits) -> None
        attach(pid: int) -> None       # 0 = the calling process
        procs() -> list[int]
        exists() -> bool
        usage() -> Usage | None        # None once the group is gone
        kill_all(timeout: float = 5.0) -> bool    # True when no process is left
        remove(timeout: float = 5.0) -> None      # kill_all, then rmdir the leaf only
        directories() -> list[Path]    # the group's directory in each hierarchy

    apply_rlimits(limits: Limits, *, nofile: int = 8192) -> list[str]   # the "none" fallback

Layouts:

- **v2**: one unified hierarchy at ``root`` (``cgroup.controllers`` lists memory, pids and cpu).
  ``create`` enables ``+memory +pids +cpu`` in the ``cgroup.subtree_control`` of every
  ancestor (the root is exempt from the no-internal-process rule, and our intermediate groups
  never hold processes), then writes ``memory.max``, ``memory.swap.max`` (0 with a memory
  limit, when the file exists: in v2 swap comes *on top of* memory.max, so no swap keeps the
  limit what v1's memsw makes it),
  ``pids.max`` and ``cpu.max``. Killing uses ``cgroup.kill`` (kernel >= 5.14), else
  freeze + SIGKILL + thaw.
- **v1**: one directory of the same relative path under each of ``cpu``, ``cpuacct``,
  ``memory``, ``pids`` and, when present, ``freezer`` (used only to make killing
  deterministic: frozen processes can neither fork nor exit, so the pid list is exact and no
  pid is reused under us). A hybrid layout whose ``unified`` mount has no controllers is v1.
- **none**: nothing writable (not root, or a container without cgroup access): the launcher
  calls ``apply_rlimits`` in the child before it drops privileges.

``relpath`` comes from session names: it must be relative, made of ``[A-Za-z0-9._-]``
segments, none of them ``.``/``..`` or starting with a dot. Directories are checked with
``lstat`` and files opened with ``O_NOFOLLOW``, and a controller root that is a symlink (the
usual ``cpu -> cpu,cpuacct``) must resolve to a directory inside ``root``, so nothing follows
a link out of the hierarchy. ``remove`` never removes the shared parents.

Only the standard library is imported: this runs in a small privileged process.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import resource
import secrets
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000
_MIN_CPU_QUOTA_US = 1_000  # the kernel refuses smaller quotas
_V2_CONTROLLERS = ("memory", "pids", "cpu")
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
# A file each v1 controller's root directory has, so a plain directory is not taken for a mount.
_V1_MARKERS = {"cpu": "cpu.cfs_quota_us", "cpuacct": "cpuacct.usage", "memory": "memory.limit_in_bytes",
               "pids": "cgroup.procs", "freezer": "cgroup.procs"}
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
# v1 reports "no memory limit" as PAGE_COUNTER_MAX pages, just under 2**63.
_V1_UNLIMITED = 1 << 62
# What reading a file of a group that is gone (or going) fails with.
_GONE = (errno.ENOENT, errno.ENODEV)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 0  # 0 = no limit
    cpus: float = 0.0  # cores (1.5 = one and a half cores); 0 = no quota
    pids: int = 0  # processes and threads; 0 = no limit

    def __post_init__(self) -> None:
        if self.memory_bytes < 0 or self.cpus < 0 or self.pids < 0:
            raise ValueError(f"negative limit in {self}")

    def cpu_quota_us(self) -> int | None:
        """CFS quota per CPU_PERIOD_US, or None for no quota."""
        if not self.cpus:
            return None
        return max(_MIN_CPU_QUOTA_US, round(self.cpus * CPU_PERIOD_US))


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    memory_limit: int | None  # None = unlimited
    cpu_usage_ns: int  # cumulative CPU time of the group
    pids: int
    oom_kills: int  # processes the kernel killed for hitting the memory limit


class CgroupError(RuntimeError):
    """The kernel refused a cgroup operation; the message says what failed and where."""

    def __init__(self, message: str, err: int | None = None) -> None:
        super().__init__(message)
        self.errno = err


# --- small file helpers: one write per value, never following a link -----------------------


def read_bytes(path: str | Path) -> bytes:
    """A small kernel file (cgroup, ``/proc``) whole, with plain system calls: no io stack,
    no link followed."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    return read_bytes(path).decode()


def _write_raw(path: Path, value: str) -> None:
    # cgroup files take one value per write(2); no O_CREAT: a missing file is an error.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _write(path: Path, value: str) -> None:
    try:
        _write_raw(path, value)
    except OSError as exc:
        raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}", exc.errno) from exc


def _keyed(text: str) -> dict[str, int]:
    """Parse 'key value' lines (cpu.stat, memory.events, memory.oom_control)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def validate_relpath(relpath: str) -> str:
    """Return ``relpath`` if it is a safe group path ('wrd/wrd-0/desktop-7'), else ValueError."""
    if not isinstance(relpath, str) or not relpath:
        raise ValueError("cgroup path is empty")
    if relpath.startswith("/"):
        raise ValueError(f"cgroup path must be relative: {relpath!r}")
    for segment in relpath.split("/"):
        if not segment:
            raise ValueError(f"cgroup path has an empty segment: {relpath!r}")
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(f"cgroup path segment {segment!r} must be [A-Za-z0-9._-], not start with a dot "
                             f"and be at most 255 characters: {relpath!r}")
    return relpath


# --- detection -------------------------------------------------------------------------------


def _controller_root(root: Path, name: str) -> Path | None:
    """The directory of a v1 controller, resolved, if it stays inside ``root``."""
    entry = root / name
    try:
        resolved = entry.resolve(strict=True)
        root_resolved = root.resolve(strict=True)
    except OSError:
        return None
    if resolved.parent != root_resolved or not resolved.is_dir():
        return None
    return resolved


def _can_create(directory: Path) -> bool:
    """Whether a child group can really be made here (a read-only or foreign mount says no)."""
    probe = directory / f"wrd-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(probe)
    except OSError as exc:
        log.debug("cgroup probe failed dir=%s reason=%s", directory, exc.strerror)
        return False
    try:
        os.rmdir(probe)
    except OSError as exc:
        log.warning("cgroup probe left behind path=%s reason=%s", probe, exc.strerror)
    return True


def _v2_usable(root: Path) -> bool:
    try:
        available = set(_read(root / "cgroup.controllers").split())
    except OSError:
        return False
    if not set(_V2_CONTROLLERS) <= available:
        return False
    needed = (root, root / "cgroup.subtree_control", root / "cgroup.procs")
    return all(os.access(p, os.W_OK) for p in needed) and _can_create(root)


def _v1_usable(root: Path, name: str) -> Path | None:
    directory = _controller_root(root, name)
    if directory is None or (directory / "cgroup.controllers").exists():
        return None
    if not (directory / _V1_MARKERS[name]).is_file():
        return None
    if not (os.access(directory, os.W_OK) and os.access(directory / "cgroup.procs", os.W_OK)):
        return None
    return directory if _can_create(directory) else None


def detect(root: Path = DEFAULT_ROOT) -> str:
    """'v2', 'v1' or 'none': which hierarchy this process can create limited groups in."""
    if _v2_usable(root):
        return "v2"
    if all(_v1_usable(root, name) is not None for name in _V1_CONTROLLERS):
        return "v1"
    return "none"


def for_session(relpath: str, *, root: Path = DEFAULT_ROOT, kind: str | None = None) -> Cgroup:
    """The group ``relpath`` in the hierarchy under ``root`` (detected unless ``kind`` is given)."""
    validate_relpath(relpath)
    kind = kind or detect(root)
    if kind == "v2":
        return CgroupV2(relpath, root)
    if kind == "v1":
        return CgroupV1(relpath, root)
    raise CgroupError(f"no writable cgroup hierarchy under {root} (kind={kind}); use apply_rlimits")


# --- the group ---------------------------------------------------------------------------------


class Cgroup:
    """One desktop's group, ``relpath`` such as 'wrd/wrd-0/desktop-7', across the controllers."""

    kind: str = ""

    def __init__(self, relpath: str, root: Path = DEFAULT_ROOT) -> None:
        self.relpath = validate_relpath(relpath)
        self.root = root

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.relpath!r}, root={str(self.root)!r})"

    # Each driver provides these.
    def directories(self) -> list[Path]:
        """The group's directory in every hierarchy it spans (required ones first)."""
        raise NotImplementedError

    def _procs_file(self) -> Path:
        raise NotImplementedError

    def _make_dirs(self, made: list[Path]) -> None:
        """mkdir the group (parents too), appending each directory made to ``made``."""
        raise NotImplementedError

    def _write_limits(self, limits: Limits) -> None:
        raise NotImplementedError

    def _kill_round(self, deadline: float) -> None:
        raise NotImplementedError

    def usage(self) -> Usage | None:
        raise NotImplementedError

    def _required_dirs(self) -> list[Path]:
        return self.directories()

    # Shared behaviour.
    def exists(self) -> bool:
        return all(_is_real_dir(d) for d in self._required_dirs())

    def procs(self) -> list[int]:
        """Pids of the processes in the group (empty when the group is gone)."""
        try:
            return [int(p) for p in _read(self._procs_file()).split()]
        except OSError as exc:
            if exc.errno in _GONE:
                return []
            raise CgroupError(f"cannot read {self._procs_file()}: {exc.strerror}", exc.errno) from exc

    def create(self, limits: Limits) -> None:
        """Make the group (parents too) and write its limits.

        An existing empty group (left by a crash) is reused with the new limits; one that still
        holds processes is refused. On failure every directory this call made is removed.
        """
        if self.exists() and self.procs():
            raise CgroupError(f"cgroup {self.relpath} already exists and holds processes {self.procs()}")
        made: list[Path] = []
        try:
            self._make_dirs(made)
            self._write_limits(limits)
        except BaseException:
            for directory in reversed(made):
                try:
                    os.rmdir(directory)
                except OSError as exc:
                    log.warning("cgroup rollback failed path=%s reason=%s", directory, exc.strerror)
            raise
        log.info("cgroup created kind=%s path=%s memory_bytes=%d cpus=%g pids=%d", self.kind, self.relpath,
                 limits.memory_bytes, limits.cpus, limits.pids)

    def attach(self, pid: int) -> None:
        """Move ``pid`` (0 = the calling process) with all its threads into the group.

        Raises CgroupError if any hierarchy refuses; the caller should then not start the desktop.
        """
        for directory in self.directories():
            _write(directory / "cgroup.procs", str(pid))
        log.debug("cgroup attached kind=%s path=%s pid=%d", self.kind, self.relpath, pid or os.getpid())

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the group until none is left; True when empty in time.

        Refuses (CgroupError) when the calling process is in the group: freezing it would
        leave nobody to thaw the group.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = self.procs()
            if not pids:
                return True
            if os.getpid() in pids:
                raise CgroupError(f"refusing to kill cgroup {self.relpath}: it holds the calling process")
            if time.monotonic() >= deadline:
                log.warning("cgroup kill timed out kind=%s path=%s left=%s", self.kind, self.relpath, pids)
                return False
            self._kill_round(deadline)
            # Killed processes need a moment to exit; poll before the next round.
            end = min(deadline, time.monotonic() + 0.2)
            pause = 0.005
            while self.procs() and time.monotonic() < end:
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left, then remove the group's own directories (never the parents)."""
        dirs = [d for d in self.directories() if _is_real_dir(d)]
        if not dirs:
            return
        if not self.kill_all(timeout):
            raise CgroupError(f"cannot remove cgroup {self.relpath}: processes {self.procs()} survived SIGKILL")
        deadline = time.monotonic() + timeout
        for directory in reversed(dirs):
            while True:
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    # EBUSY can follow the last exit briefly; ENOTEMPTY means child groups exist.
                    if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                        raise CgroupError(f"cannot remove {directory}: {exc.strerror}", exc.errno) from exc
                    time.sleep(0.02)
        log.info("cgroup removed kind=%s path=%s", self.kind, self.relpath)

    def _mkdir_chain(self, top: Path, made: list[Path], before_child=None) -> None:
        """mkdir each segment under ``top``; ``before_child(dir, is_top)`` runs on each ancestor first."""
        current = top
        segments = self.relpath.split("/")
        for index, segment in enumerate(segments):
            if before_child is not None:
                before_child(current, index == 0)
            current = current / segment
            try:
                os.mkdir(current, 0o755)
                made.append(current)
            except FileExistsError:
                pass  # a shared parent, or a group left by an earlier run
            except OSError as exc:
                raise CgroupError(f"cannot create {current}: {exc.strerror}", exc.errno) from exc
            if not _is_real_dir(current):
                raise CgroupError(f"{current} exists and is not a cgroup directory")


class CgroupV2(Cgroup):
    kind = "v2"

    @property
    def path(self) -> Path:
        return self.root / self.relpath

    def directories(self) -> list[Path]:
        return [self.path]

    def _procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def _enable_controllers(self, directory: Path, is_root: bool) -> None:
        control = directory / "cgroup.subtree_control"
        try:
            enabled = set(_read(control).split())
        except OSError as exc:
            raise CgroupError(f"cannot read {control}: {exc.strerror}", exc.errno) from exc
        missing = [c for c in _V2_CONTROLLERS if c not in enabled]
        if not missing:
            return
        try:
            _write(control, " ".join(f"+{c}" for c in missing))
        except CgroupError as exc:
            if exc.errno == errno.EBUSY and not is_root:
                raise CgroupError(f"{exc} (the group holds processes: no-internal-process rule)", exc.errno) from exc
            raise

    def _make_dirs(self, made: list[Path]) -> None:
        self._mkdir_chain(self.root, made, self._enable_controllers)

    def _write_limits(self, limits: Limits) -> None:
        memory = str(limits.memory_bytes) if limits.memory_bytes else "max"
        _write(self.path / "memory.max", memory)
        swap = self.path / "memory.swap.max"
        if swap.exists():  # v2 counts swap on top of memory.max: none, so the limit is the limit (v1's memsw)
            _write(swap, "0" if limits.memory_bytes else "max")
        _write(self.path / "pids.max", str(limits.pids) if limits.pids else "max")
        quota = limits.cpu_quota_us()
        _write(self.path / "cpu.max", f"{quota if quota else 'max'} {CPU_PERIOD_US}")

    def usage(self) -> Usage | None:
        try:
            memory_max = _read(self.path / "memory.max").strip()
            return Usage(
                memory_bytes=int(_read(self.path / "memory.current")),
                memory_limit=None if memory_max == "max" else int(memory_max),
                cpu_usage_ns=_keyed(_read(self.path / "cpu.stat")).get("usage_usec", 0) * 1000,
                pids=int(_read(self.path / "pids.current")),
                oom_kills=_keyed(_read(self.path / "memory.events")).get("oom_kill", 0),
            )
        except OSError as exc:
            if exc.errno in _GONE:
                return None
            raise CgroupError(f"cannot read the usage of cgroup {self.relpath}: {exc}", exc.errno) from exc

    def _kill_round(self, deadline: float) -> None:
        if (self.path / "cgroup.kill").exists():
            _write(self.path / "cgroup.kill", "1")
            return
        freeze = self.path / "cgroup.freeze"
        _write(freeze, "1")
        try:
            end = min(deadline, time.monotonic() + 1.0)
            while _keyed(_read(self.path / "cgroup.events")).get("frozen") != 1 and time.monotonic() < end:
                time.sleep(0.005)
            _signal_all(self.procs(), self.relpath)
        finally:
            _write(freeze, "0")


@functools.lru_cache(maxsize=8)
def _v1_tops(root: Path) -> dict[str, Path]:
    """The v1 controllers' directories under ``root``, resolved once per process: reconcile
    opens every desktop's group every few seconds, and resolving five mounts' symlinks each
    time was most of its work with a hundred desktops. Shared: callers copy it."""
    tops: dict[str, Path] = {}
    for name in (*_V1_CONTROLLERS, "freezer"):
        top = _controller_root(root, name)
        if name == "freezer" and (top is None or not os.access(top, os.W_OK)):
            continue  # optional: only makes killing deterministic
        if top is None:
            raise CgroupError(f"cgroup v1 controller {name} is not mounted inside {root}")
        tops[name] = top
    return tops


class CgroupV1(Cgroup):
    kind = "v1"

    def __init__(self, relpath: str, root: Path = DEFAULT_ROOT) -> None:
        super().__init__(relpath, root)
        self._tops = dict(_v1_tops(root))
        self._dirs = {name: top / relpath for name, top in self._tops.items()}

    def controller_dir(self, name: str) -> Path | None:
        """The group's directory in controller ``name`` ('memory', 'freezer', ...), if mounted."""
        return self._dirs.get(name)

    def directories(self) -> list[Path]:
        # cpu and cpuacct share one directory when they are co-mounted.
        return list(dict.fromkeys(self._dirs.values()))

    def _required_dirs(self) -> list[Path]:
        return list(dict.fromkeys(self._dirs[name] for name in _V1_CONTROLLERS))

    def _procs_file(self) -> Path:
        # The pids controller sees every process of the group, threads' leaders included.
        return self._dirs["pids"] / "cgroup.procs"

    def _make_dirs(self, made: list[Path]) -> None:
        for top in dict.fromkeys(self._tops.values()):
            self._mkdir_chain(top, made)

    def _write_limits(self, limits: Limits) -> None:
        memory = self._dirs["memory"]
        memsw = memory / "memory.memsw.limit_in_bytes"
        has_memsw = memsw.exists()
        # memsw must stay >= the memory limit: lift it, set the limit, then lower it to match.
        if has_memsw:
            self._write_optional(memsw, "-1")
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes) if limits.memory_bytes else "-1")
        if has_memsw and limits.memory_bytes:
            self._write_optional(memsw, str(limits.memory_bytes))
        _write(self._dirs["pids"] / "pids.max", str(limits.pids) if limits.pids else "max")
        cpu = self._dirs["cpu"]
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        quota = limits.cpu_quota_us()
        _write(cpu / "cpu.cfs_quota_us", str(quota) if quota else "-1")

    @staticmethod
    def _write_optional(path: Path, value: str) -> None:
        try:
            _write_raw(path, value)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}", exc.errno) from exc
            log.info("cgroup optional limit refused path=%s value=%s reason=%s", path, value, exc.strerror)

    def usage(self) -> Usage | None:
        memory = self._dirs["memory"]
        try:
            limit = int(_read(memory / "memory.limit_in_bytes"))
            return Usage(
                memory_bytes=int(_read(memory / "memory.usage_in_bytes")),
                memory_limit=None if limit >= _V1_UNLIMITED else limit,
                cpu_usage_ns=int(_read(self._dirs["cpuacct"] / "cpuacct.usage")),
                pids=int(_read(self._dirs["pids"] / "pids.current")),
                oom_kills=_keyed(_read(memory / "memory.oom_control")).get("oom_kill", 0),
            )
        except OSError as exc:
            if exc.errno in _GONE:
                return None
            raise CgroupError(f"cannot read the usage of cgroup {self.relpath}: {exc}", exc.errno) from exc

    def _kill_round(self, deadline: float) -> None:
        freezer = self._dirs.get("freezer")
        state = freezer / "freezer.state" if freezer is not None else None
        if state is None or not state.exists():
            _signal_all(self.procs(), self.relpath)
            return
        _write(state, "FROZEN")
        try:
            # FREEZING can last while a task sits in uninterruptible sleep: wait a bounded time.
            end = min(deadline, time.monotonic() + 1.0)
            while _read(state).strip() != "FROZEN" and time.monotonic() < end:
                time.sleep(0.005)
            _signal_all(self.procs(), self.relpath)
        finally:
            _write(state, "THAWED")


def _signal_all(pids: list[int], relpath: str) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log.info("cgroup killed path=%s count=%d pids=%s", relpath, len(pids), pids[:20])


# --- the fallback ----------------------------------------------------------------------------


def apply_rlimits(limits: Limits, *, nofile: int = 8192) -> list[str]:
    """Set rlimits on the calling process (inherited by what it execs); return what was set, for the log.

    The fallback for kind 'none', called in the child before it drops privileges (the hard
    limits it lowers then stay lowered):

    - RLIMIT_NPROC = ``limits.pids`` (when set). It counts the processes of the *real uid*:
      every process of that user on the machine, not just this desktop's, and it is not
      enforced while the uid is root.
    - RLIMIT_NOFILE = ``nofile`` (capped at the current hard limit when not root).
    - RLIMIT_CORE = 0.

    Memory and CPU quotas have no rlimit equivalent: RLIMIT_AS caps address space, which
    browsers and JITs reserve far beyond what they use, and RLIMIT_CPU kills after a total CPU
    time, so neither is set. Raises OSError naming the limit that could not be set.
    """
    wanted: list[tuple[int, str, int, str]] = []
    if limits.pids:
        wanted.append((resource.RLIMIT_NPROC, "RLIMIT_NPROC", limits.pids,
                       " (per real uid: counts every process of that user)"))
    _, nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() != 0 and nofile_hard != resource.RLIM_INFINITY and nofile > nofile_hard:
        wanted.append((resource.RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile_hard,
                       f" (capped at the hard limit, not {nofile})"))
    else:
        wanted.append((resource.RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile, ""))
    wanted.append((resource.RLIMIT_CORE, "RLIMIT_CORE", 0, ""))
    lines = []
    for which, name, value, note in wanted:
        try:
            resource.setrlimit(which, (value, value))
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot set {name}={value}: {exc}") from exc
        lines.append(f"{name}={value}{note}")
    log.info("rlimits applied %s", " ".join(f"{name}={value}" for _, name, value, _ in wanted))
    return lines
