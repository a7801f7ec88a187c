"""Bytes per second of each browser stream preset on moving content.

    .venv/bin/python bench/bench_presets.py [--duration 8] [--scenarios animation,scroll]
        [--presets quality,balanced,low] [--options JSON ...]

One session host at 1920×1080 (real Xvfb, an xterm), the console under daphne, headless Debian
Chromium; the content of bench/bench_viewer.py (animation: a full-screen texture panning at 30
frames per second; scroll: a full-screen xterm printing 50 lines per second). For each preset a
fresh page with the preset stored in its localStorage (as the toolbar leaves it) watches each
scenario; printed: frames drawn per second, KiB per second received on the WebSocket, session
host cores.

``--options`` measures candidate stream options straight from the session host instead (an
``h264`` subscription with those options, every frame acknowledged at once; bytes = the frames'
payloads): how the figures behind a preset were chosen. Every process it starts is ended by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "viewer"))

import bench_viewer  # noqa: E402
import harness  # noqa: E402

WIDTH, HEIGHT = bench_viewer.WIDTH, bench_viewer.HEIGHT
CONNECTED = "() => document.getElementById('wrd-viewer').dataset.state === 'connected'"
FRAMES_JS = "wrdViewer.display.stats.drawn - (wrdViewer.display.stats.touchups || 0)"


def measure_page(page, counter: bench_viewer.ByteCounter, host_pid: int, content: bench_viewer.Content,
                 scenario: str, duration: float) -> tuple[float, float, float]:
    """(frames drawn a second, KiB a second received, host cores) over one scenario."""
    content.start(scenario)
    frames0, bytes0 = page.evaluate(FRAMES_JS), counter.total
    cpu0, t0 = bench_viewer.cpu_seconds([host_pid]), time.monotonic()
    time.sleep(duration)
    elapsed = time.monotonic() - t0
    result = ((page.evaluate(FRAMES_JS) - frames0) / elapsed, (counter.total - bytes0) / 1024 / elapsed,
              (bench_viewer.cpu_seconds([host_pid]) - cpu0) / elapsed)
    content.stop()
    return result


def bench_preset(browser, console, desktop: int, cookie: str, host: harness.Host, preset: str,
                 scenarios: list[str], duration: float) -> dict[str, tuple[float, float, float]]:
    context = harness.browser_context(browser, console, cookie, viewport={"width": WIDTH, "height": HEIGHT + 24})
    context.add_init_script(f"localStorage.setItem('wrd.preset', {json.dumps(preset)})")
    page = context.new_page()
    counter = bench_viewer.ByteCounter(page)
    try:
        page.goto(f"{console.url}/desktops/{desktop}/view")
        page.wait_for_function(CONNECTED, timeout=30000)
        active = page.evaluate("document.getElementById('wrd-viewer').dataset.activePreset")
        assert active == preset, f"the page runs {active!r}, not {preset!r}"
        time.sleep(2)
        results = {}
        for scenario in scenarios:
            results[scenario] = measure_page(page, counter, host.pid, bench_viewer.Content(host), scenario, duration)
            fps, kib, cores = results[scenario]
            print(f"  {preset:<9} {scenario:<10} {fps:6.1f} fps {kib:9.1f} KiB/s host {cores:4.2f} cores", flush=True)
        return results
    finally:
        context.close()


async def _direct(socket_path: Path, options: dict, duration: float) -> tuple[float, float, dict]:
    """(frames a second, KiB a second, KiB a second by codec) of an h264 subscription with
    ``options``, acked at once."""
    from compositor import messages
    from compositor.client import HostClient

    counts = {"frames": 0, "bytes": 0, "counting": False, "codecs": {}}
    stream = {"id": None}
    client: HostClient | None = None

    options = dict(options)
    pace = options.pop("pace", None)  # the bench's, not the host's: see bench_options
    loop = asyncio.get_running_loop()
    last_ack = [float("-inf")]

    def on_event(push) -> None:
        if isinstance(push, messages.Frame) and push.stream == stream["id"]:
            if counts["counting"]:
                counts["frames"] += 1
                header, payload = push.encode()
                counts["bytes"] += len(payload)
                codec = header.get("codec", "?")
                counts["codecs"][codec] = counts["codecs"].get(codec, 0) + len(payload)
            ack = messages.Ack(stream=push.stream, seq=push.seq)
            if pace:  # acks 1/pace s apart: the next frame can only follow the next ack
                at = max(loop.time(), last_ack[0] + 1.0 / pace)
                last_ack[0] = at
                loop.call_at(at, client.send, ack)
            else:
                client.send(ack)

    client = await HostClient(on_event=on_event).connect(socket_path)
    try:
        await client.call(messages.Subscribe(format="h264", options={"images": "web", **options},
                                             window=1 if pace else 4),
                          on_reply=lambda reply: stream.update(id=reply.stream))
        await asyncio.sleep(1.0)  # past the first keyframe
        counts["counting"] = True
        await asyncio.sleep(duration)
        by_codec = {c: round(n / 1024 / duration, 1) for c, n in counts["codecs"].items()}
        return counts["frames"] / duration, counts["bytes"] / 1024 / duration, by_codec
    finally:
        await client.close()


def bench_options(host: harness.Host, option_sets: list[dict], scenarios: list[str], duration: float) -> None:
    """Each option set on each scenario. ``"pace": N`` in a set is the bench's own: a window of
    one frame and acknowledgements at least 1/N s apart, so the host merges damage in between
    and sends at most N frames a second: what a frame-rate cap saves, on a host without one."""
    for scenario in scenarios:
        content = bench_viewer.Content(host)
        content.start(scenario)
        try:
            for options in option_sets:
                fps, kib, by_codec = asyncio.run(_direct(host.socket_path, options, duration))
                print(f"  {scenario:<10} {json.dumps(options):<36} {fps:6.1f} fps {kib:9.1f} KiB/s "
                      f"(by codec: {by_codec})", flush=True)
        finally:
            content.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--scenarios", default="animation,scroll")
    parser.add_argument("--presets", default="quality,balanced,low")
    parser.add_argument("--options", action="append", type=json.loads,
                        help="JSON h264 options measured from the host directly (repeatable)")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="wrd-bench-presets-"))
    host = console = None
    try:
        host = harness.start_host(workdir, width=WIDTH, height=HEIGHT, startup=bench_viewer.STARTUP)
        print(f"{WIDTH}x{HEIGHT}, {args.duration:.0f} s per scenario, {os.cpu_count()} cores")
        if args.options:
            bench_options(host, args.options, scenarios, args.duration)
            return
        from playwright.sync_api import sync_playwright

        console = harness.Console(workdir)
        console.setup()
        user = console.add_user("bench")
        desktop = console.add_desktop(user["id"], host)
        console.start()
        table = {}
        with sync_playwright() as p:
            browser = harness.launch_chromium(p)
            try:
                for preset in args.presets.split(","):
                    table[preset] = bench_preset(browser, console, desktop, user["cookie"], host, preset,
                                                 scenarios, args.duration)
            finally:
                browser.close()
        # KiB a frame too: the host paces a stream down when its viewer falls behind (fewer
        # frames on a busy machine), which moves KiB/s but hardly what a frame costs.
        print("\npreset    | " + " | ".join(f"{s} fps, KiB/s, KiB/frame, host cores" for s in scenarios))
        for preset, results in table.items():
            print(f"{preset:<9} | " + " | ".join(f"{fps:5.1f}, {kib:7.1f}, {kib / fps if fps else 0:5.2f}, {cores:4.2f}"
                                                 for fps, kib, cores in results.values()))
    finally:
        if console is not None:
            console.close()
        if host is not None:
            host.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
