"""Wayland compositor figures: CPU and commit-to-screen latency, and memory (PSS) by client count.

    .venv/bin/python bench/bench_compositor.py [--seconds 5] [--width 1920 --height 1080]

Each scenario runs in a fresh session (Xvfb + openbox + ``python -m compositor.wayland
--stats``). CPU is the compositor process's user+system time over wall time while
the clients run. Latency is from the compositor handling ``wl_surface.commit`` to the
X server having the pixels (PutImage strips flushed, then an XSync round trip), as
logged by ``--stats``. PSS is from /proc/PID/smaps_rollup.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compositor.display import start_xvfb  # noqa: E402

STATS = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*stats commits=(\d+) frames=(\d+) "
                   r"bytes=(\d+) latency_mean_ms=([\d.]+) latency_max_ms=([\d.]+) latency_n=(\d+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, width: int, height: int, extra: tuple[str, ...] = ()) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="wrd-bench-"))
        self.runtime = self.tmp / "runtime"
        self.runtime.mkdir(mode=0o700)
        self.xvfb = start_xvfb(width=width, height=height, workdir=self.tmp)
        self.env = dict(os.environ, **self.xvfb.env(), XDG_RUNTIME_DIR=str(self.runtime))
        self.client_env = dict(self.env, WAYLAND_DISPLAY="wayland-0")
        self.procs: list[subprocess.Popen] = []
        self.log = self.tmp / "compositor.log"
        self.spawn(["openbox", "--sm-disable"], env=self.env)
        with open(self.log, "ab") as log:
            self.compositor = subprocess.Popen(
                [sys.executable, "-m", "compositor.wayland", "--socket", "wayland-0", "--stats", "0.5", *extra],
                cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=log)
        self.procs.append(self.compositor)
        assert self.compositor.stdout is not None
        if self.compositor.stdout.readline() != b"ready\n":
            raise RuntimeError(self.log.read_text())
        time.sleep(0.3)

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env or self.client_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def last_stats(self) -> tuple[float, ...] | None:
        """(log time, commits, frames, bytes, latency mean, latency max, latency n) of the last stats line."""
        matches = STATS.findall(self.log.read_text())
        if not matches:
            return None
        stamp, c, f, b, mean, mx, n = matches[-1]
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        return when, int(c), int(f), int(b), float(mean), float(mx), int(n)

    def measure(self, seconds: float) -> dict[str, float]:
        time.sleep(1.5)  # let clients start and settle
        s0 = self.last_stats() or (time.time(), 0, 0, 0, 0.0, 0.0, 0)
        cpu0, t0 = cpu_seconds(self.compositor.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(self.compositor.pid), time.monotonic()
        s1 = self.last_stats() or s0
        n = s1[6] - s0[6]
        latency = (s1[4] * s1[6] - s0[4] * s0[6]) / n if n > 0 else float("nan")
        span = max(1e-3, s1[0] - s0[0])  # between the two stats lines' own timestamps
        return {"cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0), "commits_per_s": (s1[1] - s0[1]) / span,
                "frames_per_s": (s1[2] - s0[2]) / span, "mb_per_s": (s1[3] - s0[3]) / span / 1e6,
                "latency_ms": latency}

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.xvfb.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def scenario(name: str, args: argparse.Namespace, clients: list[list[str]], extra: tuple[str, ...] = ()) -> None:
    bench = Bench(args.width, args.height, extra)
    try:
        for argv in clients:
            bench.spawn(argv)
        r = bench.measure(args.seconds)
        latency = "-" if r["latency_ms"] != r["latency_ms"] else f"{r['latency_ms']:.2f} ms (mean)"
        print(f"{name:<28} cpu={r['cpu_pct']:5.1f}%  commits/s={r['commits_per_s']:5.1f}  "
              f"frames/s={r['frames_per_s']:5.1f}  upload={r['mb_per_s']:6.1f} MB/s  commit->screen={latency}")
    finally:
        bench.close()


def memory(args: argparse.Namespace) -> None:
    bench = Bench(args.width, args.height)
    try:
        time.sleep(0.5)
        figures = [(0, pss_kib(bench.compositor.pid))]
        for count in (1, 5):
            while sum(1 for p in bench.procs if p.args and p.args[0] == "foot") < count:
                bench.spawn(["foot", "--", "sh"])
            time.sleep(2.5)
            figures.append((count, pss_kib(bench.compositor.pid)))
        print("compositor PSS  " + "  ".join(f"{n} clients: {kib / 1024:.1f} MiB" for n, kib in figures)
              + "  (clients: idle foot windows)")
    finally:
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args()
    print(f"screen {args.width}x{args.height}, {args.seconds:.0f} s per scenario, {os.cpu_count()} cores")
    scenario("idle (no clients)", args, [])
    scenario("weston-simple-shm 60 fps", args, [["weston-simple-shm"]])
    scroll = "while :; do seq -f 'line %g: the quick brown fox jumps over the lazy dog' 1 200; done"
    foot = [["foot", "--fullscreen", "--", "sh", "-c", scroll]]
    scenario("foot fullscreen scrolling", args, foot)
    scenario("  same, core PutImage", args, foot, ("--no-shm",))
    memory(args)


if __name__ == "__main__":
    main()
