"""serve's supervisor: restarts with back-off, says why, ends whole process groups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from compositor import processes
from tests.conftest import ROOT, end_process, wait_until
from webconsole.core.supervisor import Backoff, Supervisor, describe_exit


def test_backoff_doubles_to_its_ceiling_and_starts_over_after_a_stable_run():
    backoff = Backoff(min_delay=0.5, max_delay=30, stable_after=10)
    assert [backoff.next_delay(1) for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.next_delay(60) == 0.5  # it ran a while: the next crash is a new story
    assert backoff.next_delay(0.1) == 1


def test_describe_exit():
    assert describe_exit(3) == "status 3"
    assert describe_exit(-9) == "signal SIGKILL"


def test_a_killed_child_is_restarted_and_stop_ends_its_whole_group(tmp_path):
    said = []
    sup = Supervisor(log_dir=tmp_path, cwd=tmp_path, say=said.append, state_file=tmp_path / "serve.json",
                     backoff=lambda: Backoff(min_delay=0.1, max_delay=1, stable_after=5))
    # A child that leaves a process of its own in its group (as Celery's pool does).
    child = sup.add("sleeper", ["sh", "-c", "sleep 300 & echo $! > tmp.$$; mv tmp.$$ gc.$$; wait"])

    def grandchild_of(pid):
        path = tmp_path / f"gc.{pid}"
        wait_until(path.exists, 5, message="the grandchild")
        return int(path.read_text())

    first = child.pid
    grandchild = grandchild_of(first)
    assert json.loads((tmp_path / "serve.json").read_text()) == {"pid": os.getpid(), "children": {"sleeper": first}}

    os.kill(first, signal.SIGKILL)

    def restarted():
        sup.poll()
        return child.pid not in (None, first)

    wait_until(restarted, 5, 0.02, "the child to be restarted")
    assert any(f"sleeper pid={first} exited with signal SIGKILL" in line and "restarting in 0.1 s" in line
               for line in said), said
    wait_until(lambda: not processes.pid_alive(grandchild), 5, message="the old group to be ended")
    assert json.loads((tmp_path / "serve.json").read_text())["children"] == {"sleeper": child.pid}

    second = child.pid
    grandchild = grandchild_of(second)
    sup.stop_all(timeout=5)
    assert not processes.pid_alive(second) and not processes.pid_alive(grandchild)
    assert not (tmp_path / "serve.json").exists()
    sup.poll()
    assert child.pid is None  # no restart after stop


def test_a_child_that_keeps_failing_waits_longer_each_time(tmp_path):
    said = []
    sup = Supervisor(log_dir=tmp_path, cwd=tmp_path, say=said.append,
                     backoff=lambda: Backoff(min_delay=0.05, max_delay=0.2, stable_after=5))
    sup.add("broken", ["sh", "-c", "echo no config >&2; exit 3"])
    wait_until(lambda: sup.poll() or sum("exited with status 3" in line for line in said) >= 4, 10, 0.01,
               "four failures")
    delays = [line.rsplit("restarting in ", 1)[1].split(" ")[0] for line in said if "restarting in" in line]
    assert delays[:4] == ["0.1", "0.1", "0.2", "0.2"]  # 0.05, 0.1, 0.2, 0.2 at one decimal
    assert b"no config" in (tmp_path / "broken.log").read_bytes()
    sup.stop_all(timeout=2)


def test_children_end_when_the_supervisor_is_killed(tmp_path):
    """kill -9 of serve itself leaves no part behind to hold a port against the next serve."""
    script = (
        "import sys, time; from pathlib import Path; from webconsole.core.supervisor import Supervisor\n"
        f"sup = Supervisor(log_dir=Path({str(tmp_path)!r}), cwd=Path('.'), say=print)\n"
        "child = sup.add('sleeper', ['sleep', '300'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()
        while line.startswith("started"):
            line = proc.stdout.readline()
        child = int(line)
        assert processes.pid_alive(child)
        proc.kill()
        proc.wait(5)
        wait_until(lambda: not processes.pid_alive(child), 5, message="the child to end with its supervisor")
    finally:
        end_process(proc)
