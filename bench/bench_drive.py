"""Drive redirection throughput through the real stack (prints figures; not a pass/fail test).

    .venv/bin/python bench/bench_drive.py [--mb 64] [--runs 3]      (as root)

A desktop runs as a temporary Unix account (made here, removed at the end); ``xfreerdp``
shares a folder with ``/drive:share,DIR``; inside the desktop, ``dd`` reads a file of ``--mb``
MB the client wrote, and writes one of the same size, through ``~/Drives/share`` (FUSE in the
session host ⇄ host socket ⇄ rdpfront ⇄ rdpdr ⇄ FreeRDP). The time is taken inside the
desktop around ``dd``; the written file is checked on the client's side (size and SHA-256).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdp_rig import rdp_rig

from compositor import messages
from compositor.client import HostClient
from compositor.sandbox import SessionUser
from webconsole.accounts import unix

HOME_ROOT = Path("/var/tmp/wrd-bench-homes")


def make_account() -> SessionUser:
    name = f"wrdbench-{uuid.uuid4().hex[:6]}"
    root = unix.prepare_home_root(HOME_ROOT)
    with unix.account_lock():
        uid = unix.lowest_free_uid(low=291000, high=291999, reserved=set())
        uid, gid = unix.create_system_account(name=name, uid=uid, home=root / name, home_root=root,
                                              comment="WRD drive bench")
    return SessionUser(uid=uid, gid=gid, name=name, home=str(root / name))


async def desktop_sh(host, user: SessionUser, script: str, timeout: float = 600) -> str:
    """``sh -c script`` in the desktop, as its user; what it printed."""
    out = Path(user.home) / f"bench-{uuid.uuid4().hex[:6]}"
    client = await HostClient().connect(host.socket_path)
    try:
        await client.call(messages.Exec(("sh", "-c", f"( {script} ) > {out}.tmp 2>&1; mv {out}.tmp {out}")))
    finally:
        await client.close()
    deadline = time.monotonic() + timeout
    while not out.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the desktop did not finish: {script}")
        await asyncio.sleep(0.05)
    text = out.read_text()
    out.unlink()
    return text


async def main(args: argparse.Namespace) -> None:
    user = make_account()
    share = Path(tempfile.mkdtemp(prefix="wrd-bench-share-"))
    size = args.mb * 1024 * 1024
    try:
        data = os.urandom(size)
        (share / "from-client.bin").write_bytes(data)
        reads, writes = [], []
        async with rdp_rig(1024, 768, user=user) as rig:
            proc = await rig.client(f"/drive:share,{share}")
            try:
                await desktop_sh(rig.host, user, 'until test -d "$HOME/Drives/share"; do sleep 0.1; done', 30)
                for run in range(args.runs):
                    # Read: each run from a fresh name, so the page cache does not answer.
                    name = f"r{run}.bin"
                    os.link(share / "from-client.bin", share / name)
                    out = await desktop_sh(rig.host, user, f's=$(date +%s.%N); sha256sum "$HOME/Drives/share/{name}"'
                                                           '; e=$(date +%s.%N); echo "$s $e"')
                    digest, _, times = out.strip().partition("\n")
                    assert digest.split()[0] == hashlib.sha256(data).hexdigest(), out
                    start, end = (float(v) for v in times.split())
                    reads.append(args.mb / (end - start))
                    out = await desktop_sh(rig.host, user, f's=$(date +%s.%N); dd if=/dev/urandom '
                                                           f'of="$HOME/Drives/share/w{run}.bin" bs=1M count={args.mb}'
                                                           ' status=none; e=$(date +%s.%N); echo "$s $e"')
                    start, end = (float(v) for v in out.split()[-2:])
                    assert (share / f"w{run}.bin").stat().st_size == size, out
                    writes.append(args.mb / (end - start))
            finally:
                await rig.end_client(proc)
        print(f"drive redirection, xfreerdp 2.11 /drive -> rdpfront -> session host FUSE, {args.mb} MB file, "
              f"{args.runs} runs")
        print(f"{'':<22}{'median':>10}{'min':>10}{'max':>10}")
        for label, values in (("read (sha256sum) MB/s", reads), ("write (dd 1M) MB/s", writes)):
            print(f"{label:<22}{statistics.median(values):>10.1f}{min(values):>10.1f}{max(values):>10.1f}")
    finally:
        shutil.rmtree(share, ignore_errors=True)
        unix.delete_system_account(name=user.name, remove_home=True, home_root=HOME_ROOT)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    asyncio.run(main(p.parse_args()))
