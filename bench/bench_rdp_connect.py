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
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdp_rig import Rig, rdp_rig

MILESTONES = ("tls", "credentials", "login", "active", "first_frame")


async def one_run(rig: Rig) -> dict[str, float]:
    proc = await rig.client()
    try:
        for _ in range(400):
            for c in list(rig.server.connections):
                if "first_frame" in c.milestones:
                    return {k: (v - c.accepted_at) * 1000 for k, v in c.milestones.items()}
            await asyncio.sleep(0.025)
        raise RuntimeError("no frame within 10 s")
    finally:
        await rig.end_client(proc)


async def main(args: argparse.Namespace) -> None:
    async with rdp_rig(args.width, args.height) as rig:
        results = [await one_run(rig) for _ in range(args.runs)]
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
