"""Processes of a session: start them tagged, end all of them (their descendants included).

Every process a session host starts carries ``WRD_HOST_TOKEN=<token>`` in its environment,
each in its own process group. Ending a session ends the process groups first, then any
process still carrying the token (a program that double-forked out of its group), so a
stopped session leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from compositor.cgroups import read_bytes

log = logging.getLogger(__name__)

TOKEN_ENV = "WRD_HOST_TOKEN"


def new_token() -> str:
    return secrets.token_hex(12)


def spawn(argv: list[str], env: dict[str, str], cwd: Path, **kwargs) -> subprocess.Popen:
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            start_new_session=True, **kwargs)


def set_oom_score_adj(pid: int, value: int) -> None:
    """Where the kernel's OOM killer puts ``pid`` (-1000 never .. 1000 first); raising it is
    always allowed, lowering it below where it started needs privileges."""
    try:
        Path(f"/proc/{pid}/oom_score_adj").write_text(str(value))
    except OSError as exc:
        log.debug("oom_score_adj of pid=%d not set: %s", pid, exc)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def end(proc: subprocess.Popen, timeout: float = 3.0) -> None:
    """SIGTERM the process's group, SIGKILL it after ``timeout``, reap it."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
    _signal_group(proc.pid, signal.SIGKILL)  # whatever of the group outlived its leader


def pids_with_token(token: str, *, uid: int | None = None) -> list[int]:
    """Processes carrying ``token``; with ``uid``, only those running as that uid (a token is
    in a user's hands: a privileged caller must not be aimed at anyone else's processes)."""
    needle = f"{TOKEN_ENV}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and (uid is None or uid_of(int(entry.name)) == uid):
            found.append(int(entry.name))
    return found


def uid_of(pid: int) -> int | None:
    """The real uid ``pid`` runs as (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _alive(pid: int) -> bool:
    try:
        return read_bytes(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def end_all(children: Iterable[subprocess.Popen], token: str, timeout: float = 3.0, *,
            uid: int | None = None) -> None:
    """End our children's process groups, then every straggler carrying ``token`` (running
    as ``uid``, when given)."""
    children = list(children)
    for proc in children:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in children:
        try:
            proc.wait(max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in children:
        _signal_group(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        stragglers = [pid for pid in pids_with_token(token, uid=uid) if _alive(pid)]
        if not stragglers:
            return
        log.info("ending session stragglers pids=%s signal=%s", stragglers, sig.name)
        for pid in stragglers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.3)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    return _alive(pid)


def host_processes() -> list[tuple[int, dict[str, str]]]:
    """Running session hosts on this machine: (pid, {option: value}) from their command lines,
    ``python -m compositor.host --opt value …`` or, started through the sandbox (which becomes
    the host), ``python -m compositor.sandbox SPEC`` with the host's options in the spec."""
    hosts = []
    for name in os.listdir("/proc"):  # every process on the machine, every reconcile round
        if not name.isdigit():
            continue
        try:
            argv = read_bytes(f"/proc/{name}/cmdline").decode(errors="replace").split("\0")
        except OSError:
            continue
        if "compositor.sandbox" in argv:
            try:
                spec = json.loads(argv[argv.index("compositor.sandbox") + 1])
                argv = [*spec["host_args"], "--runtime-dir", spec["runtime_dir"]]
            except (IndexError, ValueError, KeyError, TypeError):
                continue
        elif "compositor.host" not in argv:
            continue
        if not _alive(int(name)):
            continue
        options = {}
        for i, arg in enumerate(argv):
            if arg.startswith("--") and i + 1 < len(argv):
                options[arg[2:]] = argv[i + 1]
        hosts.append((int(name), options))
    return hosts
