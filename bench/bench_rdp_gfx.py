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
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compositor.client import BlockingHostClient  # noqa: E402
from compositor.display import start_xvfb  # noqa: E402
from compositor.launcher import launch_host  # noqa: E402
from rdpfront.server import RdpServer, ServerSettings  # noqa: E402

STARTUP = "exec xterm -fa Monospace -fs 12 -geometry 100x30+0+0 -bg white -fg black"
MODES = {"bitmaps": (False, ()), "gfx-planar": (True, ("/gfx",)), "gfx-avc420": (True, ("/gfx:avc420",))}


def cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


async def measure(server: RdpServer, host_pid: int, client_pid: int, duration: float) -> dict[str, float]:
    (conn,) = server.connections
    me = os.getpid()
    start = (time.monotonic(), conn.bytes_written, conn.bitmap_updates_sent + conn.gfx_frames_acked,
             cpu(me), cpu(host_pid), cpu(client_pid))
    await asyncio.sleep(duration)
    end = (time.monotonic(), conn.bytes_written, conn.bitmap_updates_sent + conn.gfx_frames_acked,
           cpu(me), cpu(host_pid), cpu(client_pid))
    elapsed = end[0] - start[0]
    return {"ups": (end[2] - start[2]) / elapsed, "kib_s": (end[1] - start[1]) / elapsed / 1024,
            "server": (end[3] - start[3]) / elapsed, "host": (end[4] - start[4]) / elapsed,
            "client": (end[5] - start[5]) / elapsed}


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="wrd-bench-gfx-"))
    host = launch_host(session=f"bench-{uuid.uuid4().hex[:6]}", runtime_dir=tmp / "rt", width=args.width,
                       height=args.height, max_width=args.width, max_height=args.height, wayland=False,
                       startup=STARTUP)
    xvfb = start_xvfb(width=args.width, height=args.height, workdir=tmp / "client")

    async def authenticate(username: str, password: str) -> bool:
        return True

    async def attach(username: str, width: int, height: int) -> Path:
        return host.socket_path

    settings = ServerSettings(port=0, cert_dir=tmp / "cert", max_width=args.width, max_height=args.height)
    server = RdpServer(settings, authenticate=authenticate, attach=attach)
    port = await server.start()
    env = dict(os.environ, **xvfb.env(), HOME=str(tmp))
    rows = []
    try:
        for mode in args.modes:
            settings.gfx, client_args = MODES[mode]
            proc = await asyncio.create_subprocess_exec(
                "xfreerdp", "/cert:ignore", "/u:bench", "/p:bench", f"/v:127.0.0.1:{port}", "/f",
                "/log-level:ERROR", *client_args, env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                for _ in range(400):
                    if server.connections and next(iter(server.connections)).first_frame_at:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(2)
                (conn,) = server.connections
                for scene in args.scenes:
                    pid = None
                    if scene == "animation":
                        with BlockingHostClient(host.socket_path) as c:
                            pid = c.request("exec", argv=[sys.executable, str(REPO / "bench" / "bench_viewer.py"),
                                                          "--animate", "30"],
                                            env={"PYTHONPATH": str(REPO)}).get("pid")
                        await asyncio.sleep(1.5)
                    figures = await measure(server, host.pid, proc.pid, args.duration)
                    if pid:
                        os.killpg(pid, 15)
                        await asyncio.sleep(1.0)
                    rows.append((mode, scene, conn.gfx_mode or "bitmaps", figures))
                    f = figures
                    print(f"{mode:<11} {scene:<10} {f['ups']:6.1f} updates/s {f['kib_s']:9.1f} KiB/s  server "
                          f"{f['server']:.2f} + host {f['host']:.2f} cores, client {f['client']:.2f}", flush=True)
            finally:
                proc.terminate()
                await proc.wait()
                for _ in range(100):
                    if not server.connections:
                        break
                    await asyncio.sleep(0.05)
    finally:
        await server.close()
        xvfb.stop()
        with BlockingHostClient(host.socket_path) as c:
            c.request("stop")
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{args.width}x{args.height}, {args.duration:.0f} s per scene, {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()[0]:.2f}")


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
