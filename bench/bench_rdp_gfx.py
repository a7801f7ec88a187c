"""RDP output with the real FreeRDP client: bitmap updates vs the graphics pipeline (prints
figures; not a pass/fail test).

    .venv/bin/python bench/bench_rdp_gfx.py [--duration 8] [--width 1920 --height 1080]
        [--modes bitmaps,gfx-planar,gfx-avc420] [--scenes animation,idle]

One session host (Xvfb, an xterm) at the given size; for each mode ``xfreerdp`` (Debian 2.11,
on its own Xvfb, full screen) connects to ``rdpfront.server`` running in this process:
``bitmaps`` (server graphics pipeline off: planar bitmap updates at 32 bpp), ``gfx-planar``
(``/gfx``), ``gfx-avc420`` (``/gfx:avc420``: the session host's H.264). Scenes: ``animation``
(bench_viewer's full-screen pan, 30 frames per second) and ``idle``. Printed per mode and scene:
updates per second (bitmap update rounds written, or graphics frames the client acknowledged:
decoded), bytes per second written, CPU cores of the server side (this process: the RDP server
and its encoding threads; plus the session host) and of the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdp_rig import REPO, rdp_rig

from compositor.client import BlockingHostClient
from rdpfront.server import RdpConnection

STARTUP = "exec xterm -fa Monospace -fs 12 -geometry 100x30+0+0 -bg white -fg black"
MODES = {"bitmaps": (False, ()), "gfx-planar": (True, ("/gfx",)), "gfx-avc420": (True, ("/gfx:avc420",))}


def cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


def sample(conn: RdpConnection, host_pid: int, client_pid: int) -> tuple[float, ...]:
    return (time.monotonic(), conn.bytes_written, conn.output.bitmaps.updates_sent + conn.output.gfx.frames_acked,
            cpu(os.getpid()), cpu(host_pid), cpu(client_pid))


async def measure(conn: RdpConnection, host_pid: int, client_pid: int, duration: float) -> dict[str, float]:
    start = sample(conn, host_pid, client_pid)
    await asyncio.sleep(duration)
    end = sample(conn, host_pid, client_pid)
    elapsed = end[0] - start[0]
    per_s = [(b - a) / elapsed for a, b in zip(start, end, strict=True)]
    return {"ups": per_s[2], "kib_s": per_s[1] / 1024, "server": per_s[3], "host": per_s[4], "client": per_s[5]}


async def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    async with rdp_rig(args.width, args.height, startup=STARTUP) as rig:
        for mode in args.modes:
            rig.settings.gfx, client_args = MODES[mode]
            proc = await rig.client(*client_args)
            try:
                conn = await rig.shown()
                await asyncio.sleep(2)
                for scene in args.scenes:
                    pid = None
                    if scene == "animation":
                        with BlockingHostClient(rig.host.socket_path) as c:
                            pid = c.request("exec", argv=[sys.executable, str(REPO / "bench" / "bench_viewer.py"),
                                                          "--animate", "30"],
                                            env={"PYTHONPATH": str(REPO)}).get("pid")
                        await asyncio.sleep(1.5)
                    f = await measure(conn, rig.host.pid, proc.pid, args.duration)
                    if pid:
                        os.killpg(pid, 15)
                        await asyncio.sleep(1.0)
                    print(f"{mode:<11} {scene:<10} {f['ups']:6.1f} updates/s {f['kib_s']:9.1f} KiB/s  server "
                          f"{f['server']:.2f} + host {f['host']:.2f} cores, client {f['client']:.2f}", flush=True)
            finally:
                await rig.end_client(proc)
    print()
    print(f"{args.width}x{args.height}, {args.duration:.0f} s per scene, {os.cpu_count()} cores; "
          f"load average before: {load_before:.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--modes", default="bitmaps,gfx-planar,gfx-avc420")
    p.add_argument("--scenes", default="animation,idle")
    a = p.parse_args()
    a.modes = [m for m in a.modes.split(",") if m]
    a.scenes = [s for s in a.scenes.split(",") if s]
    asyncio.run(main(a))
