"""Recording overhead: the session host's CPU with and without a recorder, and the recorder's.

One desktop (1280x800, xterm), one scripted workload per run: typing into the terminal (a line
of text every 0.5 s, character by character through XTEST) while an X window (xlogo) is moved
across the screen with xdotool every 0.25 s. Runs, each on the same workload:

- ``viewer``: a browser-like subscriber of the shared H.264 stream (``images=web``), acking
  every frame: what a desktop costs while somebody watches;
- ``viewer+recorder``: the same, and a recorder (``python -m webconsole.recordings.recorder``,
  a process of its own, as in the product): the shared stream goes pure H.264 for everyone;
- ``recorder``: a recorder alone (nobody watching);
- ``none``: nobody subscribed (the workload's cost in Xvfb and the programs only).

Printed per run: host process CPU (% of one core), the recorder process's CPU and resident
memory, frames and bytes the viewer received, the file's size. ``--seconds`` per run (default 20).

    .venv/bin/python bench/bench_recording.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "viewer"))

import harness  # noqa: E402

from compositor import messages  # noqa: E402
from compositor.client import BlockingHostClient, HostClient  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Viewer:
    """A subscriber of the shared stream that takes every frame at once."""

    def __init__(self) -> None:
        self.frames = self.bytes = 0
        self.client: HostClient | None = None
        self.stream = 0

    def on_event(self, push: messages.Push) -> None:
        if isinstance(push, messages.Frame) and push.stream == self.stream:
            self.frames += 1
            self.bytes += len(push.payload)
            self.client.send(messages.Ack(stream=push.stream, seq=push.seq))

    async def start(self, socket_path: Path) -> None:
        self.client = await HostClient(on_event=self.on_event).connect(socket_path)

        def subscribed(reply):
            self.stream = reply.stream

        await self.client.call(messages.Subscribe(format="h264", options={"images": "web"}, window=4),
                               on_reply=subscribed)

    async def stop(self) -> None:
        await self.client.close()


def workload(host: harness.Host, seconds: float) -> None:
    """Type and move a window for ``seconds``."""
    positions = [(x, y) for y in (40, 300, 520) for x in (40, 300, 560, 820)]
    text = "the quick brown fox jumps over the lazy dog "
    with BlockingHostClient(host.socket_path) as client:
        client.request("input", events=[{"t": "move", "x": 200, "y": 150}])
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            x, y = positions[i % len(positions)]
            client.request("exec", argv=["xdotool", "search", "--class", "xlogo", "windowmove", str(x), str(y)])
            client.request("input", events=[{"t": "text", "text": "\n" if i % 40 == 39 else text[i % len(text)]}])
            i += 1
            time.sleep(0.25)


async def run(host: harness.Host, name: str, seconds: float, workdir: Path) -> dict:
    viewer = Viewer() if "viewer" in name else None
    recorder = None
    out = workdir / f"{name.replace('+', '-')}.mp4"
    if viewer is not None:
        await viewer.start(host.socket_path)
    if "recorder" in name:
        recorder = subprocess.Popen([sys.executable, "-m", "webconsole.recordings.recorder", str(host.socket_path),
                                     str(out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
    await asyncio.sleep(2.0)  # subscriptions settle, first keyframes out of the way
    host_before = cpu_seconds(host.pid)
    rec_before = cpu_seconds(recorder.pid) if recorder else 0.0
    frames_before = viewer.frames if viewer else 0
    bytes_before = viewer.bytes if viewer else 0
    started = time.monotonic()
    await asyncio.to_thread(workload, host, seconds)
    elapsed = time.monotonic() - started
    result = {
        "name": name,
        "host": 100 * (cpu_seconds(host.pid) - host_before) / elapsed,
        "recorder": 100 * (cpu_seconds(recorder.pid) - rec_before) / elapsed if recorder else None,
        "frames": (viewer.frames - frames_before) if viewer else None,
        "kbytes": (viewer.bytes - bytes_before) / 1024 if viewer else None,
    }
    if recorder is not None:
        result["rss"] = rss_mib(recorder.pid)
        os.kill(recorder.pid, signal.SIGTERM)
        recorder.wait(15)
        result["file"] = out.stat().st_size / 1024 if out.exists() else 0
    if viewer is not None:
        await viewer.stop()
    await asyncio.sleep(1.0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the four runs, interleaved")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    host = harness.start_host(workdir, width=width, height=height,
                              startup="exec xterm -fa Monospace -fs 12 -geometry 100x30+0+0")
    try:
        BlockingHostClient(host.socket_path).request(
            "exec", argv=["xlogo", "-geometry", "240x180+40+40", "-bg", "red", "-fg", "blue"])
        time.sleep(1.0)
        results = [asyncio.run(run(host, name, args.seconds, workdir)) for _ in range(args.repeat)
                   for name in ("none", "viewer", "viewer+recorder", "recorder")]
    finally:
        host.close()
    print(f"recording overhead: {args.size}, typing + a window moved every 0.25 s, {args.seconds:.0f} s per run")
    print(f"{'run':<18}{'host CPU':>10}{'recorder CPU':>14}{'recorder RSS':>14}{'viewer frames':>15}"
          f"{'viewer KiB':>12}{'file KiB':>10}")
    for r in results:
        def show(v, fmt):
            return "—" if v is None else format(v, fmt)
        print(f"{r['name']:<18}{r['host']:>9.1f}%{show(r['recorder'], '.1f'):>13}%{show(r.get('rss'), '.0f'):>10} MiB"
              f"{show(r['frames'], 'd'):>15}{show(r['kbytes'], '.0f'):>12}{show(r.get('file'), '.0f'):>10}")


if __name__ == "__main__":
    main()
