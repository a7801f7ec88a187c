"""RDP connection time with the real FreeRDP client (prints figures; not a pass/fail test).

    .venv/bin/python bench/bench_rdp_connect.py [--runs 5] [--width 1280 --height 800]

One session host (openbox + xterm on Xvfb) is started once; each run starts ``xfreerdp``
(Debian 2.11) on its own Xvfb against ``rdpfront.server`` and reports, from the server's
side, the time from TCP accept to: TLS done, Client Info (credentials) received, login done
(authenticate + attach + subscribe), connection active (Font Map sent), first bitmap frame
written. A second figure set is for a session that is already attached (reconnect).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compositor.client import BlockingHostClient  # noqa: E402
from compositor.display import start_xvfb  # noqa: E402
from compositor.launcher import launch_host  # noqa: E402
from rdpfront.server import RdpServer, ServerSettings  # noqa: E402

MILESTONES = ("tls", "credentials", "login", "active", "first_frame")


async def one_run(server: RdpServer, port: int, env: dict[str, str]) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        "xfreerdp", "/cert:ignore", "/u:bench", "/p:bench", f"/v:127.0.0.1:{port}", "/f", "/log-level:ERROR",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(400):
            for c in list(server.connections):
                if "first_frame" in c.milestones:
                    return {k: (v - c.accepted_at) * 1000 for k, v in c.milestones.items()}
            await asyncio.sleep(0.025)
        raise RuntimeError("no frame within 10 s")
    finally:
        proc.terminate()
        await proc.wait()
        for _ in range(100):
            if not server.connections:
                break
            await asyncio.sleep(0.02)


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="wrd-bench-rdp-"))
    host = launch_host(session=f"bench-{uuid.uuid4().hex[:6]}", runtime_dir=tmp / "rt", width=args.width,
                       height=args.height, max_width=args.width, max_height=args.height, wayland=False)
    xvfb = start_xvfb(width=args.width, height=args.height, workdir=tmp / "client")

    async def authenticate(username: str, password: str) -> bool:
        return True

    async def attach(username: str, width: int, height: int) -> Path:
        return host.socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp / "cert"), authenticate=authenticate, attach=attach)
    port = await server.start()
    env = dict(os.environ, **xvfb.env(), HOME=str(tmp))
    try:
        results = [await one_run(server, port, env) for _ in range(args.runs)]
    finally:
        await server.close()
        xvfb.stop()
        with BlockingHostClient(host.socket_path) as c:
            c.request("stop")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"xfreerdp -> rdpfront, {args.width}x{args.height}, {args.runs} runs (ms after TCP accept)")
    print(f"{'milestone':<14}{'median':>10}{'min':>10}{'max':>10}")
    for name in MILESTONES:
        values = [r[name] for r in results if name in r]
        if values:
            print(f"{name:<14}{statistics.median(values):>10.0f}{min(values):>10.0f}{max(values):>10.0f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    asyncio.run(main(p.parse_args()))
