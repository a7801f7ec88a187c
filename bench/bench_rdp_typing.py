"""CPU per keystroke of RDP typing: the session host and the RDP server, measured apart (prints
figures; not a pass/fail test).

    .venv/bin/python bench/bench_rdp_typing.py [--keys 200] [--delay 100] [--client-args ""]
        [--profile DIR]

The typing scene of ``../shared/peerbench`` (its ``typing`` scenario against ``wrd-rdp``): a
1920x1080 session host whose desktop is an ``xterm -geometry 120x40+0+0`` running ``cat``;
``xfreerdp`` (Debian 2.11, default flags: the graphics pipeline, on its own Xvfb, full screen)
attached to ``rdpfront.server`` running in this process; ``xdotool type --delay 100`` (it waits half the delay after
each press and each release: ~18 keys/s, as the peerbench) types ``--keys`` characters into the
xterm. Printed: CPU milliseconds per keystroke
(user + system, from the kernel's per-process counters, so a busy machine changes them little)
of the session host process and of this process (the RDP server, its threads and event loop),
bytes the RDP server wrote per keystroke, graphics frames the client acknowledged, and the
acknowledgements passed on to the session host.

``--profile DIR``: also ``py-spy record --gil`` (needs py-spy in the venv) the session host and
this process while typing: collapsed stacks in ``DIR/host.txt`` and ``DIR/rdpserver.txt``, sampled
only while a thread holds the GIL (without ``--gil`` py-spy counts a thread preempted in a socket
write as busy, and those writes, which wake the other process, look costly). ``--perf DIR``:
``perf record`` of both instead (``DIR/host.data``, ``DIR/rdpserver.data``; ``perf report --sort
dso,sym``). ``--strace DIR``: ``strace -c -f`` of both (system calls while typing, in
``DIR/host.txt`` and ``DIR/rdpserver.txt``; the bench's own children, xdotool, are counted in
the latter). ``--cprofile DIR``: cProfile of this process (``DIR/rdpserver.prof``): call counts
per keystroke (its own cost inflates small calls). ``PYSPY_RATE`` in the environment: py-spy's
samples a second (500).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdp_rig import rdp_rig

STARTUP = "exec xterm -geometry 120x40+0+0 -e sh -c 'cat > /dev/null'"
TEXT = ("the quick brown fox jumps over the lazy dog while the remote desktop "
        "benchmark measures how quickly each keystroke travels to the screen ")


def cpu_ms(pid: int) -> tuple[float, float]:
    """User and system CPU milliseconds of the process (all its threads, not its children)."""
    t = psutil.Process(pid).cpu_times()
    return t.user * 1000, t.system * 1000


async def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    text = (TEXT * (args.keys // len(TEXT) + 1))[: args.keys]
    async with rdp_rig(1920, 1080, startup=STARTUP) as rig:
        xenv = dict(os.environ, DISPLAY=rig.host.display, XAUTHORITY=str(rig.host.runtime_dir / "Xauthority"))
        proc = await rig.client(*args.client_args.split())
        try:
            conn = await rig.shown()
            await asyncio.to_thread(subprocess.run, ["xdotool", "search", "--sync", "--class", "xterm",
                                                     "windowfocus", "--sync"], env=xenv, check=True, timeout=30)
            await asyncio.sleep(2.0)
            spies = []
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for name, pid in (("host", rig.host.pid), ("rdpserver", os.getpid())):
                    spies.append(subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "--gil", "-r",
                         os.environ.get("PYSPY_RATE", "500"),
                         "-f", "raw", "-p", str(pid), "-o", str(args.profile / f"{name}.txt")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                await asyncio.sleep(1.0)
            if args.perf:
                args.perf.mkdir(parents=True, exist_ok=True)
                for name, pid in (("host", rig.host.pid), ("rdpserver", os.getpid())):
                    spies.append(subprocess.Popen(
                        ["perf", "record", "-q", "-F", "999", "-p", str(pid), "-o", str(args.perf / f"{name}.data")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                await asyncio.sleep(1.0)
            if args.strace:
                args.strace.mkdir(parents=True, exist_ok=True)
                for name, pid in (("host", rig.host.pid), ("rdpserver", os.getpid())):
                    spies.append(subprocess.Popen(
                        ["strace", "-c", "-f", "-p", str(pid), "-o", str(args.strace / f"{name}.txt")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                await asyncio.sleep(1.0)
            if args.cprofile:
                import cProfile
                profiler = cProfile.Profile()
                profiler.enable()
            before = (cpu_ms(os.getpid()), cpu_ms(rig.host.pid), conn.bytes_written,
                      conn.output.gfx.frames_acked, time.monotonic(), getattr(conn.output.gfx, "acks_sent", 0))
            typer = await asyncio.create_subprocess_exec("xdotool", "type", "--delay", str(args.delay), text,
                                                         env=xenv)
            await typer.wait()
            await asyncio.sleep(0.5)  # the last keystroke's frame
            after = (cpu_ms(os.getpid()), cpu_ms(rig.host.pid), conn.bytes_written,
                     conn.output.gfx.frames_acked, time.monotonic(), getattr(conn.output.gfx, "acks_sent", 0))
            if args.cprofile:
                profiler.disable()
                args.cprofile.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(args.cprofile / "rdpserver.prof")
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
        finally:
            await rig.end_client(proc)
    n = args.keys
    d = [b - a for a, b in zip(before[2:], after[2:], strict=True)]
    server, host = ([(b - a) / n for a, b in zip(before[i], after[i], strict=True)] for i in (0, 1))
    print(f"{n} keys in {d[2]:.1f} s: host {sum(host):.2f} CPU ms/key (user {host[0]:.2f} + system {host[1]:.2f}), "
          f"RDP server {sum(server):.2f} CPU ms/key (user {server[0]:.2f} + system {server[1]:.2f}), "
          f"{d[0] / n:.0f} B/key written, {d[1]} frames acknowledged by the client, {d[3]} acknowledgements "
          f"to the host", flush=True)
    print(f"client {args.client_args or '(default flags)'}; {os.cpu_count()} cores; load average before: "
          f"{load_before:.2f}" + ("; profiling on (figures include its cost)"
                                  if args.profile or args.perf or args.cprofile or args.strace else ""))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keys", type=int, default=200)
    p.add_argument("--delay", type=int, default=100, help="xdotool type --delay (ms)")
    p.add_argument("--client-args", default="")
    p.add_argument("--profile", type=Path)
    p.add_argument("--perf", type=Path)
    p.add_argument("--strace", type=Path, help="strace -c -f of both processes while typing: system calls "
                   "counted in DIR/host.txt and DIR/rdpserver.txt")
    p.add_argument("--cprofile", type=Path, help="cProfile of this process (the RDP server) while typing: "
                   "DIR/rdpserver.prof (call counts per keystroke; its own cost inflates small calls)")
    asyncio.run(main(p.parse_args()))
