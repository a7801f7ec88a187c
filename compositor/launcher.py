"""Start a session host detached from the calling process (a Celery worker, a test), as the
desktop's user and contained (compositor/sandbox.py); end it and clean up after it.

The host is not our child: a worker restart does not end desktops. It reports on a pipe once
it is ready (or why it failed), which is what the caller waits for.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from compositor import cgroups, processes, sandbox
from compositor.sandbox import SandboxSpec, SessionUser

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class LaunchError(RuntimeError):
    pass


@dataclass
class LaunchedHost:
    pid: int
    display: str
    runtime_dir: Path
    socket_path: Path
    width: int
    height: int
    wayland_display: str | None
    uid: int
    user: str
    home: str
    containment: str  # "cgroup v1", "cgroup v2" or "rlimit"
    private_tmp: bool


def launch_host(
    *,
    session: str,
    runtime_dir: Path,
    width: int,
    height: int,
    max_width: int,
    max_height: int,
    user: SessionUser | None = None,
    limits: cgroups.Limits | None = None,
    service_group: str | None = None,
    extra_env: dict[str, str] | None = None,
    private_tmp: bool = True,
    startup: str | None = None,
    wayland: bool = True,
    attach: str | None = None,
    attach_xauthority: str | None = None,
    attach_cookie: bytes | None = None,
    log_file: Path | None = None,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> LaunchedHost:
    """Start the host of one desktop as ``user`` (None: as ourselves) within ``limits``.

    ``env`` is where the caller's settings are read from (``LANG``, ``WRD_XVFB``); the desktop's
    environment is built from an allow-list (sandbox.user_environment) plus ``extra_env``.

    ``attach`` serves that existing display instead of starting Xvfb. Its cookie is either a
    file the desktop's account can read (``attach_xauthority``) or, when only we can read the
    authority file, its entries for the display (``attach_cookie``, see ``read_display_cookie``):
    those reach the host on a pipe, never through a file the account could read beforehand."""
    host_args = ["--session", session, "--runtime-dir", str(runtime_dir), "--width", str(width),
                 "--height", str(height), "--max-width", str(max_width), "--max-height", str(max_height)]
    if startup:
        host_args += ["--startup", startup]
    if not wayland:
        host_args.append("--no-wayland")
    cookie_fd = None
    if attach:
        host_args += ["--attach", attach]
        if attach_cookie is not None:
            cookie_fd = _cookie_pipe(attach_cookie)
            host_args += ["--attach-xauthority-fd", str(cookie_fd)]
        elif attach_xauthority:
            host_args += ["--attach-xauthority", attach_xauthority]
    launcher_env = dict(os.environ if env is None else env)
    if xvfb := launcher_env.get("WRD_XVFB"):
        host_args += ["--xvfb", xvfb]
    if log_file:
        log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    spec = SandboxSpec(
        runtime_dir=str(runtime_dir), host_args=host_args, user=user, limits=limits or cgroups.Limits(),
        log_file=str(log_file) if log_file else None, service_group=service_group,
        extra_env=dict(extra_env or {}), lang=launcher_env.get("LANG") or "C.UTF-8",
        private_tmp=private_tmp and not attach, ready_fd=write_fd,
    )
    try:
        first = subprocess.Popen([sys.executable, "-m", "compositor.sandbox", spec.to_json()],
                                 pass_fds=[fd for fd in (write_fd, cookie_fd) if fd is not None],
                                 env=sandbox.launch_environment(user, spec.extra_env, spec.lang),
                                 cwd=PROJECT_ROOT,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise LaunchError(f"cannot start the session host: {exc}") from None
    finally:
        if cookie_fd is not None:
            os.close(cookie_fd)  # the host holds its own copy now
    os.close(write_fd)
    try:
        first.wait(timeout)  # the intermediate process exits right after forking the host
        line = _read_line(read_fd, timeout)
        if not line:
            raise LaunchError("session host exited without reporting (see its log)")
        report = json.loads(line)
        if not report.get("ok"):
            raise LaunchError(report.get("error") or "session host failed to start")
    except (LaunchError, ValueError, subprocess.TimeoutExpired) as exc:
        sandbox.cleanup(runtime_dir)
        if isinstance(exc, LaunchError):
            raise
        raise LaunchError(f"session host did not start: {exc}") from None
    finally:
        os.close(read_fd)
    record = sandbox.read_record(runtime_dir) or {}
    return LaunchedHost(
        pid=report["pid"], display=report["display"], runtime_dir=runtime_dir,
        socket_path=sandbox.socket_path(runtime_dir),
        width=report["width"], height=report["height"], wayland_display=report.get("wayland_display"),
        uid=report["uid"], user=record.get("user", ""), home=report["home"],
        containment=record.get("containment", "none"), private_tmp=bool(record.get("private_tmp")),
    )


def _cookie_pipe(entries: bytes) -> int:
    """A pipe holding ``entries``, closed for writing: its read end, to hand to the host."""
    if len(entries) > 65536:  # more than a pipe holds with no reader yet
        raise LaunchError("the display's authority entries are too large")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, entries)
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return read_fd


def read_display_cookie(xauthority: Path, display: str) -> bytes:
    """The entries of ``xauthority`` for ``display``, in the file's own format (``xauth
    extract``): what a client of that display needs, and none of the file's other entries.
    Raises ``LaunchError`` when there are none."""
    xauth = shutil.which("xauth")
    if xauth is None:
        raise LaunchError("xauth is not installed (Debian package xauth)")
    result = subprocess.run([xauth, "-q", "-i", "-f", str(xauthority), "extract", "-", display],
                            capture_output=True, timeout=10)
    if result.returncode != 0 or not result.stdout:
        raise LaunchError(f"{xauthority} holds no cookie for display {display}")
    return result.stdout


def stop_host(runtime_dir: Path, pid: int | None, timeout: float = 10.0) -> None:
    """Ask the host to stop, end it if it will not, then take down what the sandbox set up
    (every process left in the desktop, its cgroup, display claim, sockets, runtime dir)."""
    from compositor.client import BlockingHostClient, HostError

    path = sandbox.socket_path(runtime_dir)
    if path.exists():
        try:
            with BlockingHostClient(path, timeout=5) as client:
                client.request("stop")
        except HostError:
            pass  # it may be hung or gone: ended below either way
    deadline = time.monotonic() + timeout
    while pid and processes.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid and processes.pid_alive(pid):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            time.sleep(1)
    sandbox.cleanup(runtime_dir)


def _read_line(fd: int, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LaunchError(f"session host did not become ready within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]
