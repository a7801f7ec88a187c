"""RDP connection time with the real FreeRDP client (prints figures; not a pass/fail test).

    .venv/bin/python bench/bench_rdp_connect.py [--runs 5] [--width 1280 --height 800]

One session host (openbox + xterm on Xvfb) is started once; each run starts ``xfreerdp``
(Debian 2.11) on its own Xvfb against ``rdpfront.server`` and reports, from the server's
side, the time from TCP accept to: TLS done, NLA done (CredSSP: NTLM checked against the
user's NT hash, the TLS key binding, the delegated credentials), Client Info (credentials)
received, login done (authenticate + attach + subscribe), connection active (Font Map sent),
first frame written. The runs alternate ``/sec:tls`` and ``/sec:nla`` on one server that
offers NLA, and the two are printed side by side; the session is already attached after the
first run (a reconnect), as for every run but the first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdp_rig import Rig, rdp_rig

MILESTONES = ("tls", "nla", "credentials", "login", "active", "first_frame")
MODES = {"tls": "/sec:tls", "nla": "/sec:nla"}


async def one_run(rig: Rig, security: str) -> dict[str, float]:
    proc = await rig.client(security)
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
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    async with rdp_rig(args.width, args.height, nla="offer") as rig:
        await one_run(rig, MODES["tls"])  # the first attach starts the session's encoder: not counted
        for _ in range(args.runs):
            for mode, flag in MODES.items():
                results[mode].append(await one_run(rig, flag))
    print(f"xfreerdp -> rdpfront, {args.width}x{args.height}, {args.runs} runs each, session attached "
          f"(ms after TCP accept; median [min-max])")
    print(f"{'milestone':<14}" + "".join(f"{mode.upper():>22}" for mode in MODES))
    for name in MILESTONES:
        cells = []
        for mode in MODES:
            values = [r[name] for r in results[mode] if name in r]
            cells.append(f"{statistics.median(values):>8.0f} [{min(values):.0f}-{max(values):.0f}]" if values else "—")
        print(f"{name:<14}" + "".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    asyncio.run(main(p.parse_args()))
