"""RDP scrolling, frame by frame: where the frames go between the session host, the RDP server
and the client, and what each costs (prints figures; not a pass/fail test).

    .venv/bin/python bench/bench_rdp_scroll.py [--seconds 15] [--rate 200] [--client-args ""]
        [--profile DIR] [--anim ../shared/peerbench/pb/content.py]

The scroll scene of ``../shared/peerbench`` (its ``scroll`` scenario): a 1920x1080 session host
whose desktop is an ``xterm -geometry 120x40+0+0`` printing ``--rate`` lines a second;
``xfreerdp`` (Debian 2.11; default flags: the graphics pipeline, ``/bpp:32``: bitmap updates)
full screen on its own Xvfb, attached to ``rdpfront.server`` running in this process.
Printed, over ``--seconds``:

- host frames per second as the RDP server received them, and their intervals (p50/p95/max);
- the client's screen updates per second and their intervals: the xterm area of the client's
  framebuffer (Xvfb ``-fbdir``, memory-mapped) hashed every millisecond;
- peerbench's own count: changes of a hash of that area sampled every 10 ms, and the samples
  taken (its figure cannot be more than the samples it takes a second);
- CPU milliseconds per host frame (user + system, from the kernel's per-process counters) of
  the session host, the RDP server (this process: also the sampler's thread, about 0.1 ms a
  sample), xfreerdp and the client's Xvfb.

``--anim CONTENT_PY``: peerbench's ``anim`` scene instead (a full-screen picture moving 8 px
sideways 30 times a second; the screen-change counts then count every changed frame).

``--profile DIR``: ``py-spy record`` the session host and this process meanwhile (collapsed
stacks, ``DIR/host.txt`` and ``DIR/rdpserver.txt``).
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import multiprocessing
import os
import shlex
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdp_rig import rdp_rig

SCROLLER = """
import sys, time
line = "the quick brown fox jumps over the lazy dog 0123456789 " * 2
rate = float(sys.argv[1]); t0 = time.monotonic(); i = 0
while True:
    sys.stdout.write(f"{i:08d} {line[i % 50:][:100]}\\n"); sys.stdout.flush(); i += 1
    nxt = t0 + i / rate; now = time.monotonic()
    if nxt > now: time.sleep(nxt - now)
"""
REGION = (0, 0, 960, 720)  # peerbench's HASH_REGION: where the xterm text is


def cpu_ms(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return (t.user + t.system) * 1000


def framebuffer(path: Path) -> np.ndarray:
    """The (h, w, 4) BGRX pixels of an Xvfb ``-fbdir`` XWD file, memory-mapped."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    hdr = struct.unpack(">25I", mm[:100])
    return np.ndarray((hdr[5], hdr[12] // 4, 4), np.uint8, mm, hdr[0] + hdr[19] * 12)


def sample(paths: list[Path], seconds: float, out) -> None:
    """In a process of its own (its CPU is no part of the figures): the change times of the
    xterm area of each framebuffer in ``paths`` hashed every millisecond, and peerbench's count
    on the last one (a hash at stride 2 every 10 ms, in a thread)."""
    fbs = [framebuffer(p) for p in paths]
    x, y, w, h = REGION
    coarse = {"changes": 0, "samples": 0}

    def peerbench_like() -> None:
        last = None
        while not done.is_set():
            v = zlib.crc32(np.ascontiguousarray(fbs[-1][y:y + h:2, x:x + w:2, :3]))
            coarse["samples"] += 1
            coarse["changes"] += v != last
            last = v
            time.sleep(0.010)

    done = threading.Event()
    thread = threading.Thread(target=peerbench_like, daemon=True)
    thread.start()
    changes: list[list[float]] = [[] for _ in fbs]
    last = [None] * len(fbs)
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        for i, fb in enumerate(fbs):
            v = zlib.crc32(np.ascontiguousarray(fb[y:y + h:2, x:x + w:8, :3]))
            if v != last[i]:
                changes[i].append(now)
                last[i] = v
        time.sleep(0.001)
    done.set()
    thread.join()
    out.put((changes, coarse))


def intervals(times: list[float]) -> str:
    if len(times) < 3:
        return "-"
    d = np.diff(times) * 1000
    return f"p50 {np.percentile(d, 50):.1f} p95 {np.percentile(d, 95):.1f} max {d.max():.1f} ms"


async def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    # the session's /tmp is its own: the program goes on the command line
    startup = (f"exec xterm -geometry 120x40+0+0 -e {shlex.quote(sys.executable)} -c "
               f"{shlex.quote(SCROLLER)} {args.rate}")
    if args.anim:
        startup = f"exec {shlex.quote(sys.executable)} {shlex.quote(str(args.anim))} anim"
    async with rdp_rig(1920, 1080, startup=startup) as rig:
        proc = await rig.client(*args.client_args.split())
        try:
            conn = await rig.shown()
            await asyncio.sleep(3.0)
            received: list[tuple[float, int]] = []
            host_frame = conn.output.host_frame

            def counted(frame):
                received.append((time.monotonic(), len(frame.payload), frame.codec))
                return host_frame(frame)

            conn.output.host_frame = counted
            gfx = conn.output.gfx
            gfx_sent: dict[int, float] = {}
            gfx_rtt: list[float] = []
            next_gfx, acknowledged = gfx.next_frame, gfx.acknowledged

            def timed_next(allowed):
                known = set(gfx.unacked)
                data = next_gfx(allowed)
                for frame_id in set(gfx.unacked) - known:
                    gfx_sent[frame_id] = time.monotonic()
                return data

            def timed_ack(event):
                if (sent := gfx_sent.pop(event.frame_id, None)) is not None:
                    gfx_rtt.append(time.monotonic() - sent)
                return acknowledged(event)

            gfx.next_frame, gfx.acknowledged = timed_next, timed_ack
            client_x = [p.pid for p in psutil.process_iter(["cmdline"])
                        if p.info["cmdline"] and p.info["cmdline"][0].endswith("Xvfb")
                        and rig.env["DISPLAY"] in p.info["cmdline"]]
            pids = {"host": rig.host.pid, "rdpserver": os.getpid(), "xfreerdp": proc.pid, "client X": client_x[0]}
            spies = []
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for name in ("host", "rdpserver"):
                    spies.append(subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r", "250",
                         "-f", "raw", "-p", str(pids[name]), "-o", str(args.profile / f"{name}.txt")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                await asyncio.sleep(1.0)
            results = multiprocessing.get_context("fork").Queue()
            sampler = multiprocessing.get_context("fork").Process(
                target=sample, args=([rig.host.runtime_dir / "fb" / "Xvfb_screen0", rig.client_fb],
                                     args.seconds, results))
            received.clear()
            before = ({k: cpu_ms(p) for k, p in pids.items()}, conn.bytes_written, time.monotonic())
            sampler.start()
            await asyncio.sleep(args.seconds)
            after = ({k: cpu_ms(p) for k, p in pids.items()}, conn.bytes_written, time.monotonic())
            (source_changes, client_changes), coarse = await asyncio.to_thread(results.get, timeout=30)
            sampler.join()
            conn.output.host_frame = host_frame
            gfx.next_frame, gfx.acknowledged = next_gfx, acknowledged
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
        finally:
            await rig.end_client(proc)
    dt = after[2] - before[2]
    n = max(1, len(received))
    print(f"{args.seconds:.0f} s, client {args.client_args or '(default flags)'}, {args.rate} lines/s")
    print(f"host frames: {len(received) / dt:.1f}/s, {sum(s for _, s, _ in received) / n / 1024:.1f} KiB each "
          f"(payload), intervals {intervals([t for t, _, _ in received])}")
    for codec in sorted({c for _, _, c in received}):
        mine = [(t, s) for t, s, c in received if c == codec]
        print(f"  {codec}: {len(mine) / dt:.1f}/s, {sum(s for _, s in mine) / len(mine) / 1024:.1f} KiB each, "
              f"intervals {intervals([t for t, _ in mine])}")
    if gfx_rtt:
        r = np.array(gfx_rtt) * 1000
        print(f"graphics frames: {len(r) / dt:.1f}/s acknowledged, sent to acknowledged p50 "
              f"{np.percentile(r, 50):.1f} p95 {np.percentile(r, 95):.1f} ms")
    print(f"written: {(after[1] - before[1]) / dt / 1024:.0f} KiB/s")
    print(f"source screen changes (1 ms sampling): {len(source_changes) / args.seconds:.1f}/s, "
          f"intervals {intervals(source_changes)}")
    print(f"client screen changes (1 ms sampling): {len(client_changes) / args.seconds:.1f}/s, "
          f"intervals {intervals(client_changes)}")
    print(f"peerbench-like (10 ms sampling of the client): {coarse['changes'] / args.seconds:.1f} changes/s of "
          f"{coarse['samples'] / args.seconds:.1f} samples/s")
    cpu = {k: (after[0][k] - before[0][k]) for k in pids}
    print("CPU ms per host frame: " + ", ".join(f"{k} {v / n:.2f}" for k, v in cpu.items())
          + " | % of a core: " + ", ".join(f"{k} {v / dt / 10:.1f}" for k, v in cpu.items()))
    print(f"{os.cpu_count()} cores; load average before: {load_before:.2f}"
          + ("; profiling on (figures include its cost)" if args.profile else ""))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--rate", type=int, default=200, help="lines printed a second")
    p.add_argument("--client-args", default="")
    p.add_argument("--profile", type=Path)
    p.add_argument("--anim", type=Path, metavar="CONTENT_PY",
                   help="run peerbench's full-screen animation instead (the path of its pb/content.py)")
    asyncio.run(main(p.parse_args()))
