"""compositor.cgroups against the real kernel (root, this machine's v1 hybrid layout), plus a
v2 layout test on a temporary directory tree.

Every group lives under one parent per run (``wrd-test-<pid>-<hex>``) and is removed by the
fixtures even when a test fails; every process a test starts is ended by its pid.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compositor.cgroups import (
    CgroupError,
    CgroupV1,
    Limits,
    apply_rlimits,
    detect,
    for_session,
    validate_relpath,
)

ROOT = Path(__file__).resolve().parents[2]
CGROUP_ROOT = Path("/sys/fs/cgroup")
MiB = 1 << 20

# Each workload says "ready", waits for "go" (sent once the test has attached it), then runs.
READY = "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kind() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root: groups under /sys/fs/cgroup can only be made by root")
    found = detect()
    if found == "none":
        pytest.skip("no writable cgroup hierarchy here (detect() == 'none')")
    return found


@pytest.fixture(scope="module")
def parent(kind):
    relpath = f"wrd-test-{os.getpid()}-{secrets.token_hex(3)}"
    yield relpath
    for_session(relpath, kind=kind).remove()
    assert not any((CGROUP_ROOT / c / relpath).exists() for c in ("cpu", "cpuacct", "memory", "pids", "freezer"))


@pytest.fixture
def spawned():
    """Processes a test started; each is ended by its pid afterwards."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


@pytest.fixture
def make_group(kind, parent, spawned):
    """make_group(name, limits) -> a created group under this run's parent, removed afterwards."""
    groups = []

    def make(name: str, limits: Limits | None = None):
        group = for_session(f"{parent}/{name}", kind=kind)
        groups.append(group)
        group.create(limits or Limits())
        return group

    yield make
    failures = []
    for group in reversed(groups):
        try:
            group.remove()
        except CgroupError as exc:
            failures.append(str(exc))
    assert not failures


def read_line(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    # stdout is unbuffered (bufsize=0): readline never reads past the line select() saw.
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        pytest.fail(f"no output from pid {proc.pid} within {timeout} s")
    return proc.stdout.readline().decode().strip()


def send(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line.encode() + b"\n")


def start(spawned: list, code: str, group=None) -> subprocess.Popen:
    """Run ``READY + code``; attach it to ``group`` before letting it go."""
    proc = subprocess.Popen([sys.executable, "-c", READY + code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=0, cwd=ROOT)
    spawned.append(proc)
    assert read_line(proc) == "ready"
    if group is not None:
        group.attach(proc.pid)
    send(proc, "go")
    return proc


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return value


def v1_file(group, controller: str, name: str) -> str:
    assert isinstance(group, CgroupV1)
    return (group.controller_dir(controller) / name).read_text().strip()


# --- real kernel ---------------------------------------------------------------------------------


def test_detect_says_v1_on_this_hybrid_layout(kind):
    if (CGROUP_ROOT / "cgroup.controllers").exists() or not (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists():
        pytest.skip("this machine is not the v1 hybrid layout")
    # The v2 mount of the hybrid layout holds none of the controllers we need.
    unified = set((CGROUP_ROOT / "unified" / "cgroup.controllers").read_text().split())
    assert not unified & {"memory", "pids", "cpu"}
    assert detect() == "v1"
    assert not list(CGROUP_ROOT.glob("*/wrd-probe-*")), "detect() left a probe group behind"


def test_create_writes_limits_and_remove_leaves_nothing(kind, parent):
    if kind != "v1":
        pytest.skip("checks the v1 controller files")
    group = for_session(f"{parent}/limits", kind=kind)
    try:
        group.create(Limits(memory_bytes=64 * MiB, cpus=0.25, pids=30))
        assert group.exists()
        assert v1_file(group, "memory", "memory.limit_in_bytes") == str(64 * MiB)
        memsw = group.controller_dir("memory") / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            assert memsw.read_text().strip() == str(64 * MiB)
        assert v1_file(group, "pids", "pids.max") == "30"
        assert v1_file(group, "cpu", "cpu.cfs_period_us") == "100000"
        assert v1_file(group, "cpu", "cpu.cfs_quota_us") == "25000"
        if group.controller_dir("freezer") is not None:
            assert v1_file(group, "freezer", "freezer.state") == "THAWED"
        assert group.procs() == []
        usage = group.usage()
        assert usage is not None and usage.memory_limit == 64 * MiB and usage.pids == 0 and usage.oom_kills == 0

        # Re-creating an empty group reuses it with the new limits.
        group.create(Limits())
        assert v1_file(group, "pids", "pids.max") == "max"
        assert v1_file(group, "cpu", "cpu.cfs_quota_us") == "-1"
        assert group.usage().memory_limit is None
    finally:
        group.remove()
    assert not group.exists()
    assert not any(d.exists() for d in group.directories())
    assert len(group.directories()) >= 4
    assert group.usage() is None and group.procs() == []
    group.remove()  # idempotent
    assert (CGROUP_ROOT / "pids" / parent).is_dir(), "remove() must leave the shared parent"


def test_failed_create_removes_what_it_made(kind, parent):
    # A quota beyond the kernel's maximum is refused after the directories were made.
    group = for_session(f"{parent}/rollback/leaf", kind=kind)
    with pytest.raises(CgroupError, match="cpu"):
        group.create(Limits(cpus=1e9))
    assert not any(d.exists() for d in group.directories())
    assert not any(d.parent.exists() for d in group.directories())


def test_pids_limit_caps_forks_in_the_group_only(make_group, spawned):
    group = make_group("pids", Limits(pids=30))
    proc = start(spawned, """
import json, os, time
forked = eagain = other = 0
for _ in range(200):
    try:
        pid = os.fork()
    except BlockingIOError:
        eagain += 1
        continue
    except OSError:
        other += 1
        continue
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    forked += 1
print(json.dumps({"forked": forked, "eagain": eagain, "other": other}), flush=True)
sys.stdin.readline()
""", group)
    counts = json.loads(read_line(proc))
    assert counts["other"] == 0
    assert 20 <= counts["forked"] <= 29, counts  # the program itself is the 30th
    assert counts["eagain"] == 200 - counts["forked"]
    assert group.usage().pids <= 30
    assert len(group.procs()) == counts["forked"] + 1
    assert os.getpid() not in group.procs()

    # This process is in no such group: it still forks freely.
    for _ in range(5):
        assert subprocess.run(["true"]).returncode == 0

    assert group.kill_all()
    assert group.procs() == []
    assert proc.wait(5) == -signal.SIGKILL


def test_memory_limit_oom_kills_inside_the_group_only(make_group, spawned):
    hog_group = make_group("memory-hog", Limits(memory_bytes=64 * MiB))
    calm_group = make_group("memory-calm", Limits(memory_bytes=64 * MiB))
    calm = start(spawned, """
ballast = [b"x" * (1 << 20) for _ in range(8)]
while sys.stdin.readline():
    print("pong", flush=True)
""", calm_group)
    hog = start(spawned, """
chunks = [b"\\x01" * (1 << 20) for _ in range(300)]
print("survived", flush=True)
""", hog_group)

    assert hog.wait(20) == -signal.SIGKILL
    usage = hog_group.usage()
    assert usage.oom_kills >= 1
    assert usage.memory_limit == 64 * MiB

    assert calm.poll() is None
    send(calm, "ping")
    assert read_line(calm) == "pong"
    assert calm_group.usage().oom_kills == 0


def test_cpu_quota_throttles_a_busy_loop(make_group, spawned):
    group = make_group("cpu", Limits(cpus=0.25))
    proc = start(spawned, """
import time
start, cpu = time.monotonic(), time.process_time()
while time.monotonic() - start < 1.5:
    pass
print(time.process_time() - cpu, flush=True)
""", group)
    cpu_seconds = float(read_line(proc))
    assert proc.wait(5) == 0
    # 0.25 of a core for 1.5 s is about 0.375 s; unthrottled it would be about 1.5 s.
    assert 0.1 < cpu_seconds < 0.6, cpu_seconds
    used = group.usage().cpu_usage_ns / 1e9
    assert 0.9 * cpu_seconds <= used <= cpu_seconds + 0.25, (used, cpu_seconds)


def test_kill_all_ends_a_fork_bomb(kind, make_group, spawned):
    group = make_group("bomb", Limits(pids=40, cpus=1.0))
    leader = start(spawned, """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.001)
""", group)
    wait_for(lambda: len(group.procs()) >= 30, 10, "the bomb to fill its group")

    assert group.kill_all(timeout=5.0)
    assert group.procs() == []
    assert leader.wait(5) == -signal.SIGKILL
    if kind == "v1" and group.controller_dir("freezer") is not None:
        assert v1_file(group, "freezer", "freezer.state") == "THAWED"


def test_attach_self_then_exec_takes_descendants_along(kind, make_group, spawned):
    group = make_group("attach-self")
    workload = """
import os, sys, time
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(os.getpid(), child, flush=True)
sys.stdin.readline()
"""
    # The way the launcher does it: the child moves itself in (pid 0), then execs.
    launcher = ("import os, sys\nfrom compositor.cgroups import for_session\n"
                "for_session(sys.argv[1]).attach(0)\n"
                "os.execv(sys.executable, [sys.executable, '-c', sys.argv[2]])\n")
    proc = subprocess.Popen([sys.executable, "-c", launcher, group.relpath, workload], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, bufsize=0, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    spawned.append(proc)
    pid, child = (int(p) for p in read_line(proc).split())
    assert pid == proc.pid
    assert sorted(group.procs()) == sorted([pid, child])

    expected = ("cpu", "cpuacct", "memory", "pids", "freezer") if kind == "v1" else ("",)
    for member in (pid, child):
        lines = Path(f"/proc/{member}/cgroup").read_text().splitlines()
        placed = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(","):
                placed[name] = path
        for name in expected:
            if name == "freezer" and group.controller_dir("freezer") is None:
                continue
            assert placed.get(name) == f"/{group.relpath}", (member, name, lines)

    assert group.kill_all()
    assert proc.wait(5) == -signal.SIGKILL


def test_unprivileged_user_gets_none(kind):
    # Forked rather than exec'd: the interpreter may live where nobody cannot reach it.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, detect().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        answer = reader.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    assert answer == "none"


# --- no kernel needed ------------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", ["../x", "/abs", "a//b", "a b", "", ".", "a/..", "a/./b", "x/", ".hidden",
                                     "a\nb", "a/b\x00", "ü", "a" * 256])
def test_relpath_validation_rejects(relpath):
    with pytest.raises(ValueError):
        validate_relpath(relpath)
    with pytest.raises(ValueError):
        for_session(relpath, kind="v2")


@pytest.mark.parametrize("relpath", ["wrd/wrd-0/desktop-7", "a.b_c-D9", "x"])
def test_relpath_validation_accepts(relpath):
    assert validate_relpath(relpath) == relpath


def test_apply_rlimits_in_a_child():
    code = """
import json, resource
from compositor.cgroups import Limits, apply_rlimits
lines = apply_rlimits(Limits(pids=500), nofile=1024)
print(json.dumps({"lines": lines, "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
                  "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                  "core": resource.getrlimit(resource.RLIMIT_CORE)}))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["nproc"] == [500, 500] and out["nofile"] == [1024, 1024] and out["core"] == [0, 0]
    assert out["lines"][0].startswith("RLIMIT_NPROC=500 (per real uid")
    assert apply_rlimits.__module__ == "compositor.cgroups"


def test_module_imports_only_the_standard_library():
    code = ("import sys\nbefore = set(sys.modules)\nimport compositor.cgroups\n"
            "print(' '.join(sorted(m for m in set(sys.modules) - before if not m.startswith('compositor'))))")
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + code],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    stdlib = sys.stdlib_module_names
    assert [m for m in result.stdout.split() if m.split(".")[0] not in stdlib] == []


# --- v2 layout test: the v2 driver's file writing and reading on a fake tree ---------------------------


def _v2_group_files(directory: Path) -> None:
    # What the kernel creates in every non-root v2 group (the ones the driver touches).
    directory.mkdir()
    files = {"cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "", "cgroup.procs": "",
             "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0\n", "cgroup.kill": "",
             "memory.max": "max\n", "memory.swap.max": "max\n", "memory.current": "1234\n",
             "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n",
             "pids.max": "max\n", "pids.current": "3\n", "cpu.max": "max 100000\n",
             "cpu.stat": "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n"}
    for name, text in files.items():
        (directory / name).write_text(text)


@pytest.fixture
def v2_tree(tmp_path) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    _v2_group_files(root / "wrd")
    _v2_group_files(root / "wrd" / "desktop-1")
    return root


def test_v2_layout_detect_create_usage(v2_tree):
    assert detect(v2_tree) == "v2"
    group = for_session("wrd/desktop-1", root=v2_tree)
    assert group.kind == "v2" and group.exists()
    leaf = v2_tree / "wrd" / "desktop-1"

    group.create(Limits(memory_bytes=64 * MiB, cpus=1.5, pids=30))
    assert (v2_tree / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (v2_tree / "wrd" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (leaf / "cgroup.subtree_control").read_text() == "", "the leaf holds processes: no controllers below it"
    assert (leaf / "memory.max").read_text() == str(64 * MiB)
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "pids.max").read_text() == "30"
    assert (leaf / "cpu.max").read_text() == "150000 100000"

    usage = group.usage()
    assert (usage.memory_bytes, usage.memory_limit, usage.cpu_usage_ns, usage.pids, usage.oom_kills) == (
        1234, 64 * MiB, 5_000_000, 3, 2)

    group.create(Limits())
    assert [(leaf / n).read_text() for n in ("memory.max", "pids.max", "cpu.max")] == ["max", "max", "max 100000"]
    assert group.usage().memory_limit is None


def test_v2_layout_kill_paths(v2_tree, spawned):
    group = for_session("wrd/desktop-1", root=v2_tree, kind="v2")
    leaf = v2_tree / "wrd" / "desktop-1"
    assert group.kill_all() is True  # empty: nothing to do

    # cgroup.kill present: one write kills the whole group (the fake never empties).
    (leaf / "cgroup.procs").write_text("4194000\n")
    assert group.kill_all(timeout=0.2) is False
    assert (leaf / "cgroup.kill").read_text() == "1"

    # Without cgroup.kill: freeze, SIGKILL each listed pid, thaw.
    (leaf / "cgroup.kill").unlink()
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    sleeper = subprocess.Popen(["sleep", "30"])
    spawned.append(sleeper)
    (leaf / "cgroup.procs").write_text(f"{sleeper.pid}\n")
    assert group.kill_all(timeout=0.3) is False
    assert sleeper.wait(5) == -signal.SIGKILL
    assert (leaf / "cgroup.freeze").read_text() == "0"


def test_v2_layout_refuses_symlinks_out_of_the_hierarchy(v2_tree, tmp_path):
    outside = tmp_path / "outside"
    _v2_group_files(outside)
    (v2_tree / "evil").symlink_to(outside)
    with pytest.raises(CgroupError, match="not a cgroup directory"):
        for_session("evil/x", root=v2_tree, kind="v2").create(Limits(pids=5))
    assert not (outside / "x").exists()
    assert (outside / "pids.max").read_text() == "max\n"

    leaf = v2_tree / "wrd" / "desktop-1"
    (leaf / "pids.max").unlink()
    (leaf / "pids.max").symlink_to(outside / "pids.max")
    with pytest.raises(CgroupError, match=r"pids\.max"):
        for_session("wrd/desktop-1", root=v2_tree, kind="v2").create(Limits(pids=5))
    assert (outside / "pids.max").read_text() == "max\n"
