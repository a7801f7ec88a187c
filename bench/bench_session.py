"""Session host figures: start time, idle memory and CPU, damage-to-frame latency, the host's
memory once that subscriber left, capture cost.

    .venv/bin/python bench/bench_session.py [--idle-seconds 30] [--samples 60] [--as-self]

Desktops start as the product starts them: through the sandbox, as a Unix account of their own
(a temporary one, removed at the end) with the default limits, when run as root; ``--as-self``
keeps them as the caller. Prints figures; asserts nothing (speed is measured here, never in a
timed test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from Xlib import X
from Xlib import display as xdisplay

from compositor import cgroups, processes, sandbox
from compositor.client import HostClient
from compositor.display import start_xvfb
from compositor.framebuffer import XGetImageFramebuffer, XwdFramebuffer
from compositor.launcher import launch_host, stop_host
from compositor.sandbox import SessionUser

PRODUCT_LIMITS = cgroups.Limits(memory_bytes=4 << 30, pids=2048)  # WRD_SESSION_MEMORY, _PIDS defaults
BENCH_UIDS = (280000, 289999)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, USS) in KiB: the proportional share, and what only this process holds."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name] = int(rest.split()[0])
    except OSError:
        pass
    return fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def session_pids(runtime_dir: Path, host_pid: int) -> dict[str, list[int]]:
    state = json.loads((runtime_dir / "host.json").read_text())
    others = [p for p in processes.pids_with_token(state["token"]) if processes.pid_alive(p)]
    return {"host": [host_pid], "Xvfb": [state["xvfb_pid"]], "desktop programs": others}


def bench_account(home_root: Path) -> SessionUser:
    """A throw-away desktop account, as WRD makes them (webconsole/accounts/unix.py)."""
    from webconsole.accounts import unix

    name = f"wrd-bench-{os.getpid()}"
    with unix.account_lock():
        uid = unix.lowest_free_uid(low=BENCH_UIDS[0], high=BENCH_UIDS[1], reserved=set())
        uid, gid = unix.create_system_account(name=name, uid=uid, home=home_root / name, home_root=home_root)
    return SessionUser(uid=uid, gid=gid, name=name, home=str(home_root / name))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def first_frame_time(socket_path: Path) -> float:
    client = await HostClient().connect(socket_path)
    got = asyncio.get_running_loop().create_future()
    client._on_push = lambda m: m.op == "frame" and not got.done() and got.set_result(time.perf_counter())
    await client.request("subscribe", format="raw")
    t = await asyncio.wait_for(got, 10)
    await client.close()
    return t


async def damage_to_frame(socket_path: Path, display: str, xauthority: str, samples: int) -> list[float]:
    """Draw a rectangle as an X client; time until the subscriber holds a frame with it."""
    os.environ["XAUTHORITY"] = xauthority
    d = xdisplay.Display(display)
    screen = d.screen()
    win = screen.root.create_window(100, 100, 64, 64, 0, screen.root_depth, X.InputOutput,
                                    X.CopyFromParent, override_redirect=True,
                                    background_pixel=screen.black_pixel)
    win.map()
    d.sync()
    gc = win.create_gc(foreground=screen.white_pixel)
    frames: asyncio.Queue = asyncio.Queue()
    client = await HostClient(on_push=lambda m: m.op == "frame" and frames.put_nowait(
        (time.perf_counter(), m))).connect(socket_path)
    reply = await client.request("subscribe", format="raw", window=64)
    stream = reply.get("stream")
    await frames.get()
    await asyncio.sleep(0.3)
    while not frames.empty():
        frames.get_nowait()
    latencies = []
    for i in range(samples):
        gc.change(foreground=screen.white_pixel if i % 2 else screen.black_pixel)
        win.fill_rectangle(gc, 0, 0, 64, 64)
        d.flush()
        t0 = time.perf_counter()
        t1, msg = await asyncio.wait_for(frames.get(), 5)
        client.send({"op": "ack", "stream": stream, "seq": msg.get("seq")})
        latencies.append((t1 - t0) * 1000)
        await asyncio.sleep(0.03)
    await client.close()
    win.destroy()
    d.close()
    return latencies


def capture_costs(width: int, height: int) -> tuple[float, float]:
    """ms for one full-screen copy: mmap of the -fbdir file vs XGetImage (the attach-mode fallback;
    bench_attach_capture.py measures MIT-SHM)."""
    with tempfile.TemporaryDirectory() as tmp:
        xvfb = start_xvfb(width=width, height=height, workdir=Path(tmp))
        try:
            os.environ["XAUTHORITY"] = str(xvfb.xauthority)
            fb = XwdFramebuffer(xvfb.framebuffer_path)
            d = xdisplay.Display(xvfb.name)
            grab = XGetImageFramebuffer(d, width, height)
            mmap_ms, xget_ms = [], []
            for _ in range(20):
                t = time.perf_counter()
                np.array(fb.screen(), copy=True)
                mmap_ms.append((time.perf_counter() - t) * 1000)
            for _ in range(10):
                t = time.perf_counter()
                grab.refresh([(0, 0, width, height)])
                xget_ms.append((time.perf_counter() - t) * 1000)
            d.close()
            fb.close()
            return statistics.median(mmap_ms), statistics.median(xget_ms)
        finally:
            xvfb.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--as-self", action="store_true", help="do not run desktops as an account of their own")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wrd-bench-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    env = dict(os.environ)
    user, home_root = None, None
    if sandbox.can_switch_users() and not args.as_self:
        home_root = Path(tempfile.mkdtemp(prefix="wrd-bench-homes-", dir="/var/tmp"))
        os.chmod(home_root, 0o755)
        user = bench_account(home_root)
    launch = {"user": user, "limits": PRODUCT_LIMITS, "service_group": "wrd" if user else None, "env": env}
    try:
        run(args, root, launch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if user is not None:
            from webconsole.accounts import unix

            unix.delete_system_account(name=user.name, remove_home=True, home_root=home_root)
            shutil.rmtree(home_root, ignore_errors=True)


def run(args, root: Path, launch: dict) -> None:
    who = launch["user"].name if launch["user"] else "the caller"
    print(f"desktops run as {who}; containment: {cgroups.detect()}")

    print("== session start: launch request -> first frame in a subscriber (1920x1080) ==")
    starts = []
    for i in range(args.starts):
        t0 = time.perf_counter()
        host = launch_host(session=f"bench{i}", runtime_dir=root / f"s{i}", width=1920, height=1080,
                           max_width=1920, max_height=1080, wayland=False, **launch)
        t_ready = time.perf_counter()
        t_frame = asyncio.run(first_frame_time(host.socket_path))
        starts.append(((t_ready - t0) * 1000, (t_frame - t0) * 1000))
        stop_host(host.runtime_dir, host.pid)
    ready_ms = [s[0] for s in starts]
    frame_ms = [s[1] for s in starts]
    print(f"  host ready:   median {statistics.median(ready_ms):7.1f} ms   max {max(ready_ms):7.1f} ms")
    print(f"  first frame:  median {statistics.median(frame_ms):7.1f} ms   max {max(frame_ms):7.1f} ms"
          f"   (n={args.starts})")

    host = launch_host(session="bench-idle", runtime_dir=root / "idle", width=1920, height=1080,
                       max_width=1920, max_height=1080, wayland=False, **launch)
    try:
        time.sleep(3)  # let the desktop settle (openbox, xterm, shell)
        groups = session_pids(host.runtime_dir, host.pid)
        print("\n== idle session memory, 1920x1080, openbox + xterm ==")
        print("  (PSS shares libraries among every process mapping them, so it falls as sessions are")
        print("   added; USS is what each extra session costs at least)")
        total_pss = total_uss = 0
        for name, pids in groups.items():
            pss = sum(memory_kib(p)[0] for p in pids)
            uss = sum(memory_kib(p)[1] for p in pids)
            total_pss += pss
            total_uss += uss
            print(f"  {name:<17} PSS {pss / 1024:6.1f} MiB  USS {uss / 1024:6.1f} MiB"
                  f"  ({len(pids)} process{'es' if len(pids) != 1 else ''})")
        print(f"  {'total':<17} PSS {total_pss / 1024:6.1f} MiB  USS {total_uss / 1024:6.1f} MiB")

        print(f"\n== idle session CPU over {args.idle_seconds:.0f} s (no viewer) ==")
        all_pids = [p for pids in groups.values() for p in pids]
        before = {p: cpu_seconds(p) for p in all_pids}
        time.sleep(args.idle_seconds)
        for name, pids in groups.items():
            used = sum(cpu_seconds(p) - before.get(p, 0) for p in pids)
            print(f"  {name:<17} {used * 1000:7.1f} ms CPU  = {100 * used / args.idle_seconds:5.2f} % of a core")

        print(f"\n== XDAMAGE -> frame in the subscriber (raw, 64x64 fill), n={args.samples} ==")
        state = json.loads((host.runtime_dir / "host.json").read_text())
        lat = asyncio.run(damage_to_frame(host.socket_path, state["display"],
                                          str(host.runtime_dir / "Xauthority"), args.samples))
        print(f"  median {statistics.median(lat):6.2f} ms   p95 {pct(lat, 95):6.2f} ms   max {max(lat):6.2f} ms")

        time.sleep(3)  # past the host's HEAP_TRIM_DELAY after its last subscriber left
        pss, uss = memory_kib(host.pid)
        print(f"\n== the host 3 s after that subscriber left ==\n  host              PSS {pss / 1024:6.1f} MiB"
              f"  USS {uss / 1024:6.1f} MiB")
    finally:
        stop_host(host.runtime_dir, host.pid)

    print("\n== full-screen capture cost, 1920x1080 ==")
    mmap_ms, xget_ms = capture_costs(1920, 1080)
    print(f"  -fbdir mmap copy (Xvfb sessions):      {mmap_ms:6.2f} ms")
    print(f"  XGetImage via python-xlib (attach-mode fallback): {xget_ms:6.2f} ms")


if __name__ == "__main__":
    main()
