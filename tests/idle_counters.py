"""Kernel counters of a process's work, for tests that a quiet desktop costs nothing: context
switches (every wake-up of a thread that slept is one) and CPU ticks, summed over the process's
threads. Counts, not timings: they hold on a loaded machine."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Counters:
    switches: int  # voluntary + involuntary context switches of all threads
    ticks: int  # utime + stime of all threads, in clock ticks

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.switches - other.switches, self.ticks - other.ticks)


def _thread(task: Path) -> tuple[int, int]:
    status = (task / "status").read_text()
    switches = sum(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
    stat = (task / "stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return switches, int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def counters(pid: int) -> Counters:
    """The process's counters now, over the threads it has now."""
    switches = ticks = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            s, t = _thread(task)
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
        switches += s
        ticks += t
    return Counters(switches, ticks)


def threads(pid: int) -> dict[int, str]:
    return {int(t.name): (t / "comm").read_text().strip() for t in Path(f"/proc/{pid}/task").iterdir()}


def work_over(pids: dict[str, int], seconds: float) -> dict[str, Counters]:
    """What each of ``pids`` did during ``seconds`` of wall time."""
    before = {name: counters(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    return {name: counters(pid) - before[name] for name, pid in pids.items()}


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def wait_quiet(pids: dict[str, int], window: float, deadline: float) -> None:
    """Until a ``window``-second stretch in which none of ``pids`` woke up (what a connection
    does as it starts is over), or fail at the monotonic ``deadline`` with what they did."""
    while True:
        work = work_over(pids, window)
        if all(w.switches == 0 for w in work.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"never quiet: {work}")
