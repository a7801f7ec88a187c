"""Start one desktop's session host contained, as the desktop's own Unix user.

``launch_host()`` (compositor/launcher.py) runs ``python -m compositor.sandbox SPEC`` as the
service: root, or in single-user mode the service's own account. This small program (standard
library only: it runs privileged) does, in order:

1. detach (fork, ``setsid``), so the desktop outlives whoever started it;
2. create the desktop's runtime directory (its ``XDG_RUNTIME_DIR``: owned by the user, 0700);
   bind its control socket ``<runtime root>/control/<name>.sock`` (root:<service group>, 0660),
   which the host receives as an open file descriptor: the host can accept on it, but no desktop
   user can reach any host's socket by path, its own included; write the control record
   ``<name>.json`` beside it, which only the service may write and which every privileged
   clean-up trusts (never a file inside the runtime directory, which the user owns);
3. create the desktop's cgroup with its limits and move itself into it, so every process of
   the desktop is counted, limited and can be ended together (``setrlimit`` where no cgroup
   hierarchy is writable);
4. claim a display number in the machine's ``/tmp``, then enter a new mount namespace with a
   private ``/tmp`` and ``/dev/shm`` (tmpfs, charged to the desktop's memory), where only
   ``/tmp/.X11-unix`` (X sockets, guarded by cookies), the runtime directory and WRD's own code
   are shared;
5. drop: empty capability bounding set, ``no_new_privs`` (setuid programs such as ``su`` or
   ``passwd`` gain nothing), the user's groups, gid and uid;
6. become the session host: only now are its modules imported, as the user, in the user's
   home, and it runs in this same process (a second interpreter would cost a fifth of a
   desktop's start). The process was started with the desktop's environment (built from an
   allow-list, ``user_environment``), so nothing of the service's environment is in it.

Until the privileges are dropped, only the standard library is loaded. Whatever fails before
the host runs is undone and reported on the ready fd, as the host itself reports.
``cleanup()`` is the privileged undo for a desktop that has ended (or must be ended).
See docs/security.md for what runs as whom.
"""

from __future__ import annotations

import grp
import hashlib
import json
import logging
import os
import pwd
import resource
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from compositor import cgroups, linux, processes
from compositor.display import LOCK_DIR, X11_UNIX_DIR, claim_display, release_claim

log = logging.getLogger("compositor.sandbox")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
# The variables a desktop's programs get from WRD; anything else of the service's
# environment (DATABASE_URL, REDIS_URL, SSH_AUTH_SOCK, WRD_*, cloud keys) never reaches them.
USER_ENV = ("HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG")
PRIVATE_MOUNTS = (Path("/tmp"), Path("/dev/shm"))
HOST_OOM_SCORE_ADJ = -500  # the host and Xvfb go after the user's own programs (which get 0)


class SandboxError(RuntimeError):
    """The desktop could not be set up; the message says what and why."""


@dataclass(frozen=True)
class SessionUser:
    """The Unix account a desktop runs as."""

    uid: int
    gid: int
    name: str
    home: str
    shell: str = "/bin/bash"
    linked: bool = False  # an existing system account: keeps its supplementary groups

    @classmethod
    def current(cls) -> SessionUser:
        """The account this process runs as (single-user mode)."""
        entry = pwd.getpwuid(os.getuid())
        return cls(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir, entry.pw_shell or "/bin/sh")


@dataclass
class SandboxSpec:
    runtime_dir: str
    host_args: list[str]
    user: SessionUser | None = None  # None: stay who we are (single-user mode)
    limits: cgroups.Limits = field(default_factory=cgroups.Limits)
    log_file: str | None = None
    service_group: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    lang: str = "C.UTF-8"
    private_tmp: bool = True
    first_display: int = 20
    ready_fd: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SandboxSpec:
        data = json.loads(text)
        user = data.pop("user", None)
        return cls(user=SessionUser(**user) if user else None, limits=cgroups.Limits(**data.pop("limits")), **data)


def can_switch_users() -> bool:
    """Desktops run as their own accounts only when WRD runs as root; otherwise (single-user
    mode) every desktop runs as WRD's own account."""
    return os.geteuid() == 0


# -- paths and records --------------------------------------------------------------------


def control_dir(runtime_root: Path) -> Path:
    return runtime_root / "control"


def socket_path(runtime_dir: Path) -> Path:
    """Where the front ends reach the host of the desktop whose runtime dir this is."""
    return control_dir(runtime_dir.parent) / f"{runtime_dir.name}.sock"


def record_path(runtime_dir: Path) -> Path:
    return control_dir(runtime_dir.parent) / f"{runtime_dir.name}.json"


def cgroup_relpath(runtime_dir: Path) -> str:
    # Named after the runtime root (its name and a digest of its path), so that two WRD
    # instances on a machine (a test run beside `make run`) never share a group.
    root = runtime_dir.parent
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return f"wrd/{root.name}-{digest}/{runtime_dir.name}"


def read_record(runtime_dir: Path) -> dict | None:
    """The control record of a desktop: root-owned, the one file the privileged clean-up trusts."""
    try:
        return json.loads(record_path(runtime_dir).read_text())
    except (OSError, ValueError):
        return None


def service_gid(name: str | None) -> int | None:
    """The service group's gid, created (as a system group) when WRD runs as root."""
    if not name or os.geteuid() != 0:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    result = subprocess.run(["groupadd", "--system", name], capture_output=True, text=True, timeout=30)
    if result.returncode not in (0, 9):  # 9: created meanwhile by another worker
        raise SandboxError(f"cannot create the service group {name!r}: {result.stderr.strip()}")
    return grp.getgrnam(name).gr_gid


def _check_owned_dir(path: Path, what: str) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SandboxError(f"{what} {path} is not a directory (a symlink or a file): refusing to use it")
    if st.st_uid != os.geteuid():
        raise SandboxError(f"{what} {path} belongs to uid {st.st_uid}, not to WRD (uid {os.geteuid()}): "
                           "refusing to use it; remove it or choose another WRD_RUNTIME_ROOT")
    if st.st_mode & 0o022:
        raise SandboxError(f"{what} {path} is group- or world-writable (mode {st.st_mode & 0o7777:o}): "
                           "refusing to use it; remove it or choose another WRD_RUNTIME_ROOT")


def prepare_runtime_root(root: Path, group: str | None = None) -> None:
    """Create the runtime root (0711: users reach their own directory, list nobody's) and its
    control directory (0750 root:<service group>, or 0700 in single-user mode), refusing ones
    that somebody else owns or could write to."""
    old_umask = os.umask(0o022)
    try:
        root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.mkdir(root, 0o711)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SandboxError(f"cannot create the runtime root {root}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    _check_owned_dir(root, "runtime root")
    os.chmod(root, 0o711)
    control = control_dir(root)
    gid = service_gid(group)
    try:
        os.mkdir(control, 0o700)
    except FileExistsError:
        pass
    _check_owned_dir(control, "control directory")
    if gid is not None:
        os.chown(control, os.geteuid(), gid)
        os.chmod(control, 0o750)
    else:
        os.chmod(control, 0o700)


def user_environment(user: SessionUser, extra: dict[str, str], lang: str) -> dict[str, str]:
    """The environment a desktop starts from: the allow-list, then the configured extras."""
    env = {"HOME": user.home, "USER": user.name, "LOGNAME": user.name, "SHELL": user.shell,
           "PATH": DEFAULT_PATH, "LANG": lang}
    env.update(extra)
    return env


# -- the privileged start -----------------------------------------------------------------


class _Undo:
    """What has been set up so far, to be taken down if a later step fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, object]] = []

    def add(self, what: str, fn) -> None:
        self.steps.append((what, fn))

    def run(self) -> None:
        for what, fn in reversed(self.steps):
            try:
                fn()
            except Exception as exc:  # keep undoing the rest
                log.warning("undo failed step=%s error=%s", what, exc)


def _report(fd: int | None, payload: dict) -> None:
    if fd is None:
        return
    try:
        os.write(fd, (json.dumps(payload) + "\n").encode())
    except OSError:
        pass


def _bind_control_socket(path: Path, gid: int | None) -> socket.socket:
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    if gid is not None:
        os.chown(path, os.geteuid(), gid)
        os.chmod(path, 0o660)
    else:
        os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def _make_runtime_dir(runtime_dir: Path, user: SessionUser | None) -> None:
    if read_record(runtime_dir) is not None:
        raise SandboxError(f"runtime directory {runtime_dir} belongs to a desktop that was not cleaned up")
    if runtime_dir.is_symlink() or runtime_dir.is_file():
        runtime_dir.unlink()
    elif runtime_dir.exists():  # left by a host that died before its clean-up (no record: ours)
        shutil.rmtree(runtime_dir)
    os.mkdir(runtime_dir, 0o700)
    if user is not None and os.geteuid() == 0:
        os.chown(runtime_dir, user.uid, user.gid)


def _under(path: Path, mount: Path) -> bool:
    return path == mount or mount in path.parents


class _NoNamespace(OSError):
    """The kernel refused a new mount namespace: the desktop goes on without a private /tmp."""


def _enter_private_mounts(runtime_dir: Path, limits: cgroups.Limits) -> None:
    """A new mount namespace with tmpfs on /tmp and /dev/shm; what must stay shared is bound back.
    Raises ``_NoNamespace`` if no namespace could be made (nothing changed then)."""
    if not X11_UNIX_DIR.is_dir():
        X11_UNIX_DIR.mkdir()
        os.chmod(X11_UNIX_DIR, 0o1777)
    keep = [X11_UNIX_DIR, runtime_dir, PROJECT_ROOT, Path(sys.prefix), Path(sys.base_prefix),
            Path(os.path.realpath(sys.executable)).parent]
    keep = [p for p in dict.fromkeys(keep) if p.is_dir() and any(_under(p, m) for m in PRIVATE_MOUNTS)]
    userns = os.geteuid() != 0
    uid, gid = os.getuid(), os.getgid()
    try:
        # Without root, a user namespace of our own uid gives the right to mount in it.
        linux.unshare(linux.CLONE_NEWNS | (linux.CLONE_NEWUSER if userns else 0))
    except OSError as exc:
        raise _NoNamespace(exc.errno, exc.strerror) from None
    if userns:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    # Opened in the new namespace (a bind's source must be in the caller's), before the
    # tmpfs hides them.
    fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in keep}
    try:
        size = f",size={limits.memory_bytes}" if limits.memory_bytes else ""
        for mount in PRIVATE_MOUNTS:
            if mount.is_dir():
                linux.mount("tmpfs", str(mount), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"mode=1777{size}")
        for path, fd in fds.items():
            path.mkdir(parents=True, exist_ok=True)
            linux.mount(f"/proc/self/fd/{fd}", str(path), None, linux.MS_BIND | linux.MS_REC)
    finally:
        for fd in fds.values():
            os.close(fd)


DRIVES_FOLDER = "Drives"


def _mount_drives(user: SessionUser) -> int | None:
    """Mount the drives file system on the user's ``~/Drives``, in the desktop's own mount
    namespace (entered just before), and return the open ``/dev/fuse`` the host serves it on.

    The folder is made in the home (or found there) and opened without following a link, and
    must be a directory of the user's own; the mount goes on exactly that directory (through
    its descriptor), so a link or a swap inside the user's home cannot move it elsewhere. The
    mount is the user's (``user_id``, no ``allow_other``) and only this namespace sees it: it
    goes when the desktop's last process does. None, with a log line, when it cannot be done
    (no /dev/fuse, a home root cannot enter, a desktop running as root)."""
    if user.uid == 0:
        log.info("no drives folder for a desktop running as root")
        return None
    home_fd = folder_fd = fuse_fd = -1
    try:
        home_fd = os.open(user.home, os.O_PATH | os.O_DIRECTORY)
        try:
            os.mkdir(DRIVES_FOLDER, 0o700, dir_fd=home_fd)
            os.chown(DRIVES_FOLDER, user.uid, user.gid, dir_fd=home_fd, follow_symlinks=False)
        except FileExistsError:
            pass
        folder_fd = os.open(DRIVES_FOLDER, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=home_fd)
        info = os.fstat(folder_fd)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != user.uid:
            log.warning("no drives folder: %s/%s is not a directory of %s", user.home, DRIVES_FOLDER, user.name)
            return None
        fuse_fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        linux.mount("wrd-drives", f"/proc/self/fd/{folder_fd}", "fuse.wrd-drives", linux.MS_NOSUID | linux.MS_NODEV,
                    f"fd={fuse_fd},rootmode=40000,user_id={user.uid},group_id={user.gid},default_permissions")
        fd, fuse_fd = fuse_fd, -1
        return fd
    except OSError as exc:
        log.warning("no drives folder for %s: %s", user.name, exc)
        return None
    finally:
        for fd in (home_fd, folder_fd, fuse_fd):
            if fd >= 0:
                os.close(fd)


def _drop_privileges(user: SessionUser | None, service_group_gid: int | None) -> None:
    """Become ``user`` for good (None: stay who we are); either way nothing exec'd from here
    on can gain privileges."""
    if user is not None and os.geteuid() == 0:
        groups = [user.gid]
        if user.linked:  # a real account keeps its groups, but never the service's
            groups = [g for g in os.getgrouplist(user.name, user.gid) if g != service_group_gid]
        linux.drop_bounding_set()
        os.setgroups(groups)
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SandboxError("still root after dropping privileges")
    linux.set_no_new_privs()


def _check_reachable() -> None:
    """The desktop's account must be able to run WRD's Python and read its code."""
    for path, mode in ((Path(sys.executable), os.X_OK), (PROJECT_ROOT / "compositor" / "host.py", os.R_OK)):
        if not os.access(path, mode):
            blocked = next((p for p in reversed(path.resolve().parents) if not os.access(p, os.X_OK)), path)
            raise SandboxError(f"the desktop's account cannot reach {path.resolve()} ({blocked} is closed to it): "
                               "install WRD where other users can read it, with a venv made from "
                               "/usr/bin/python3 (as `make` does)")


def start(spec: SandboxSpec) -> list[str]:
    """Set the desktop up and drop to its user; return the session host's arguments.

    The modes of what it creates are its own (the service may run with umask 077).

    Until the control record is written, a failure undoes what was made here. From then on
    the record describes everything, and the caller's ``cleanup()`` takes it all down (this
    process may be inside the desktop's cgroup and namespace by then, where it cannot)."""
    runtime_dir = Path(spec.runtime_dir)
    root = runtime_dir.parent
    user = spec.user or SessionUser.current()
    if user.uid == 0 and spec.user is not None:
        raise SandboxError("desktops never run as root")
    undo = _Undo()
    os.umask(0o022)
    try:
        prepare_runtime_root(root, spec.service_group)
        gid = service_gid(spec.service_group)
        _make_runtime_dir(runtime_dir, spec.user)
        undo.add("runtime dir", lambda: shutil.rmtree(runtime_dir, ignore_errors=True))
        sock = _bind_control_socket(socket_path(runtime_dir), gid)
        undo.add("control socket", lambda: socket_path(runtime_dir).unlink(missing_ok=True))
        display = claim_display(spec.first_display) if spec.private_tmp else None
        if display is not None:
            undo.add("display claim", lambda: release_claim(display))
        record = {"pid": os.getpid(), "uid": user.uid, "user": user.name, "token": os.urandom(12).hex(),
                  "display": display, "cgroup": None, "containment": "rlimit",
                  "private_tmp": spec.private_tmp, "started_at": time.time()}
        group = None
        kind = cgroups.detect()
        if kind != "none":
            group = cgroups.for_session(cgroup_relpath(runtime_dir), kind=kind)
            try:
                group.create(spec.limits)
                undo.add("cgroup", group.remove)
                record.update(cgroup=group.relpath, containment=f"cgroup {kind}")
            except cgroups.CgroupError as exc:
                log.warning("no cgroup for the desktop, falling back to setrlimit: %s", exc)
                group = None
        _write_record(runtime_dir, record, gid)
    except (OSError, SandboxError, cgroups.CgroupError) as exc:
        undo.run()
        raise SandboxError(str(exc)) from None

    try:
        if group is not None:
            group.attach(0)
        else:
            for line in cgroups.apply_rlimits(spec.limits):
                log.info("limit %s", line)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fuse_fd = None
        if display is not None:
            try:
                _enter_private_mounts(runtime_dir, spec.limits)
                fuse_fd = _mount_drives(user)
            except _NoNamespace as exc:
                # A container without CAP_SYS_ADMIN or user namespaces: /tmp stays shared, and
                # the host claims its display there itself.
                log.warning("no private /tmp for the desktop: %s", exc)
                release_claim(display)
                display = None
                record.update(display=None, private_tmp=False)
                _write_record(runtime_dir, record, gid)
        if os.geteuid() == 0:
            processes.set_oom_score_adj(os.getpid(), HOST_OOM_SCORE_ADJ)
        _drop_privileges(spec.user, gid)
        _check_reachable()
        try:
            os.chdir(user.home)
        except OSError as exc:
            raise SandboxError(f"cannot enter the home directory {user.home}: {exc.strerror}") from None
    except (OSError, cgroups.CgroupError) as exc:
        raise SandboxError(str(exc)) from None

    argv = [*spec.host_args, "--listen-fd", str(sock.fileno()), "--token", record["token"], "--home", user.home]
    for key, value in spec.extra_env.items():
        argv += ["--env", f"{key}={value}"]
    if display is not None:
        argv += ["--display-number", str(display)]
    if fuse_fd is not None:
        argv += ["--fuse-fd", str(fuse_fd)]
    if spec.ready_fd is not None:
        argv += ["--ready-fd", str(spec.ready_fd)]
    sock.detach()  # the host serves on it by its number
    return argv


def launch_environment(user: SessionUser | None, extra: dict[str, str], lang: str) -> dict[str, str]:
    """The environment the launcher process starts with: the desktop's own (it becomes the
    session host, and /proc/<pid>/environ keeps what a process started with), plus where
    WRD's code is."""
    env = user_environment(user or SessionUser.current(), extra, lang)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    if level := os.environ.get("WRD_LOG_LEVEL"):
        env["WRD_LOG_LEVEL"] = level
    return env


def _write_record(runtime_dir: Path, record: dict, gid: int | None) -> None:
    path = record_path(runtime_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    if gid is not None:
        os.chown(tmp, os.geteuid(), gid)
    tmp.replace(path)


# -- the privileged end -------------------------------------------------------------------


def end_processes(runtime_dir: Path, timeout: float = 5.0) -> None:
    """End every process of a desktop: its cgroup's, or else those carrying its token (and
    only if they run as the desktop's uid, so a forged token cannot aim us at anyone else)."""
    record = read_record(runtime_dir)
    if record is None:
        return
    if record.get("cgroup"):
        group = _group(record)
        if group.exists():
            group.kill_all(timeout)
    elif record.get("token"):
        processes.end_all([], record["token"], timeout, uid=record.get("uid"))


def cleanup(runtime_dir: Path) -> None:
    """Take down what ``start`` set up for a desktop whose host has ended (its processes are
    ended first): cgroup, display claim and X socket, control socket and record, runtime dir."""
    record = read_record(runtime_dir)
    if record is not None:
        end_processes(runtime_dir)
        if record.get("cgroup"):
            try:
                _group(record).remove()
            except cgroups.CgroupError as exc:
                log.warning("cgroup not removed runtime_dir=%s: %s", runtime_dir, exc)
        display = record.get("display")
        if isinstance(display, int):
            lock = LOCK_DIR / f".X{display}-lock"
            try:
                owner = int(lock.read_text().strip())
            except (OSError, ValueError):
                owner = None
            if owner == record.get("pid"):
                release_claim(display)
                sock = X11_UNIX_DIR / f"X{display}"
                if sock.is_socket():
                    sock.unlink(missing_ok=True)
    socket_path(runtime_dir).unlink(missing_ok=True)
    record_path(runtime_dir).unlink(missing_ok=True)
    shutil.rmtree(runtime_dir, ignore_errors=True)
    if runtime_dir.is_symlink():
        runtime_dir.unlink()


def usage(runtime_dir: Path) -> cgroups.Usage | None:
    """Live resource use of a desktop, from its cgroup (None without one)."""
    record = read_record(runtime_dir)
    if not record or not record.get("cgroup"):
        return None
    return _group(record).usage()


def _group(record: dict) -> cgroups.Cgroup:
    """The desktop's cgroup, in the hierarchy ``start`` made it in (detecting the hierarchy
    probes by making a group: reconcile asks for every desktop's usage every few seconds)."""
    kind = {"cgroup v1": "v1", "cgroup v2": "v2"}.get(record.get("containment"))
    return cgroups.for_session(record["cgroup"], kind=kind)


# -- entry point --------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    spec = SandboxSpec.from_json(argv[0])
    if spec.log_file:
        fd = os.open(spec.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
    logging.basicConfig(level=os.environ.get("WRD_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Detach: the caller waits for this process to exit, then for the ready line.
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        host_argv = start(spec)
    except SandboxError as exc:
        log.error("desktop not started runtime_dir=%s: %s", spec.runtime_dir, exc)
        _report(spec.ready_fd, {"ok": False, "error": str(exc)})
        return 1
    if spec.user is not None:
        linux.set_dumpable()  # the user's own process now, like any other of theirs
    from compositor import host

    return host.main(host_argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
