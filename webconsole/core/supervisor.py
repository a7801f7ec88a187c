"""Keep a handful of long-running child processes up: what `manage.py serve` runs its parts with.

Each child runs in a session (process group) of its own, logs to ``<log_dir>/<name>.log`` and
is restarted when it exits, after a back-off that doubles from ``min_delay`` to ``max_delay``
and starts over once the child has stayed up for ``stable_after`` seconds. Children are only
ever signalled by their own process group (never by name), so nothing else on the machine —
desktops included, which run in sessions of their own — is touched. See docs/operations.md.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def describe_exit(returncode: int) -> str:
    """``status 1`` or ``signal SIGKILL``: how a child ended, for the log."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"status {returncode}"


@dataclass
class Backoff:
    """Delay before the next restart: ``min_delay`` doubling to ``max_delay``; a child that ran
    for ``stable_after`` seconds is restarted after ``min_delay`` again."""

    min_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 10.0
    current: float = 0.0

    def next_delay(self, uptime: float) -> float:
        if uptime >= self.stable_after or not self.current:
            self.current = self.min_delay
        else:
            self.current = min(self.max_delay, self.current * 2)
        return self.current


@dataclass
class Child:
    name: str
    argv: list[str]
    before_start: Callable[[], None] | None = None  # e.g. remove a stale socket
    backoff: Backoff = field(default_factory=Backoff)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


class Supervisor:
    def __init__(self, *, log_dir: Path, cwd: Path, say: Callable[[str], None], state_file: Path | None = None,
                 backoff: Callable[[], Backoff] = Backoff, clock: Callable[[], float] = time.monotonic,
                 on_exit: Callable[[int], None] | None = None) -> None:
        self.log_dir, self.cwd, self.say, self.state_file = log_dir, cwd, say, state_file
        self.make_backoff, self.clock, self.on_exit = backoff, clock, on_exit
        self.children: list[Child] = []

    # -- starting and restarting --------------------------------------------------------

    def add(self, name: str, argv: list[str], before_start: Callable[[], None] | None = None) -> Child:
        """Start ``argv`` as child ``name`` and keep it running from now on."""
        child = Child(name, argv, before_start, self.make_backoff())
        self.children.append(child)
        self._start(child)
        return child

    def _start(self, child: Child) -> None:
        if child.before_start is not None:
            child.before_start()
        with open(self.log_dir / f"{child.name}.log", "ab") as log:
            child.proc = subprocess.Popen(child.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          cwd=self.cwd, start_new_session=True, preexec_fn=_end_with_parent)
        child.started_at, child.restart_at = self.clock(), None
        again = f" (restart {child.restarts})" if child.restarts else ""
        self.say(f"started {child.name} pid={child.proc.pid}{again}")
        self._write_state()

    def poll(self) -> None:
        """Notice children that exited (scheduling their restart) and restart those due."""
        now = self.clock()
        for child in self.children:
            proc = child.proc
            if child.restart_at is None and proc is not None and proc.poll() is not None:
                # What the child left in its group (e.g. Celery's pool) goes with it.
                _signal_group(proc.pid, signal.SIGKILL)
                uptime = now - child.started_at
                delay = child.backoff.next_delay(uptime)
                child.restart_at = now + delay
                self.say(f"{child.name} pid={proc.pid} exited with {describe_exit(proc.returncode)} after "
                         f"{uptime:.1f} s; restarting in {delay:.1f} s (see {self.log_dir / child.name}.log)")
                self._write_state()
                if self.on_exit is not None:
                    self.on_exit(proc.pid)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                try:
                    self._start(child)
                except OSError as exc:
                    delay = child.backoff.next_delay(0)
                    child.restart_at = now + delay
                    self.say(f"{child.name} could not be started: {exc}; trying again in {delay:.1f} s")

    def pids(self) -> dict[str, int | None]:
        return {child.name: child.pid for child in self.children}

    def _write_state(self) -> None:
        """``{"pid": serve's pid, "children": {name: pid or null}}``: how operators and tests
        learn which process is which part."""
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "children": self.pids()}))
        tmp.replace(self.state_file)

    # -- stopping -----------------------------------------------------------------------

    def stop_all(self, timeout: float = 10.0) -> None:
        """End every child, the last started first: SIGTERM to its group, SIGKILL to what is
        left after ``timeout``. No restarts from here on."""
        for child in reversed(self.children):
            child.restart_at = None
            if child.proc is not None and child.proc.poll() is None:
                _signal_group(child.proc.pid, signal.SIGTERM)
        deadline = self.clock() + timeout
        for child in reversed(self.children):
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop; killing it")
                _signal_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
            _signal_group(child.proc.pid, signal.SIGKILL)  # anything it left in its group
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)


def _end_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (even by SIGKILL), so a part
    never outlives it to hold a port against the next serve (Linux's PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the supervisor died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
