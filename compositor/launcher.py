"""Start a session host detached from the calling process (a Celery worker, a test).

The host double-forks, so it is not our child: a worker restart does not end desktops. It
reports on a pipe once it is ready (or why it failed), which is what the caller waits for.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


def launch_host(
    *,
    session: str,
    runtime_dir: Path,
    width: int,
    height: int,
    max_width: int,
    max_height: int,
    startup: str | None = None,
    wayland: bool = True,
    attach: str | None = None,
    attach_xauthority: str | None = None,
    log_file: Path | None = None,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> LaunchedHost:
    argv = [sys.executable, "-m", "compositor.host", "--daemonize", "--session", session,
            "--runtime-dir", str(runtime_dir), "--width", str(width), "--height", str(height),
            "--max-width", str(max_width), "--max-height", str(max_height)]
    if startup:
        argv += ["--startup", startup]
    if not wayland:
        argv.append("--no-wayland")
    if attach:
        argv += ["--attach", attach]
        if attach_xauthority:
            argv += ["--attach-xauthority", attach_xauthority]
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--log-file", str(log_file)]
    read_fd, write_fd = os.pipe()
    argv += ["--ready-fd", str(write_fd)]
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), child_env.get("PYTHONPATH")]))
    try:
        first = subprocess.Popen(argv, pass_fds=[write_fd], env=child_env, cwd=PROJECT_ROOT,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise LaunchError(f"cannot start the session host: {exc}") from None
    os.close(write_fd)
    try:
        first.wait(timeout)  # the intermediate process exits right after forking the host
        line = _read_line(read_fd, timeout)
    finally:
        os.close(read_fd)
    if not line:
        raise LaunchError("session host exited without reporting (see its log)")
    report = json.loads(line)
    if not report.get("ok"):
        raise LaunchError(report.get("error") or "session host failed to start")
    return LaunchedHost(
        pid=report["pid"], display=report["display"], runtime_dir=Path(report["runtime_dir"]),
        socket_path=Path(report["runtime_dir"]) / "host.sock", width=report["width"],
        height=report["height"], wayland_display=report.get("wayland_display"),
    )


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
