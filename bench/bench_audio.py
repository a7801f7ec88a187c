"""Audio benchmark: how late a desktop's sound is heard, and how far it is from its picture.

    .venv/bin/python bench/bench_audio.py [--trials 7] [--clients rdp,browser] [--sound-options latency:50]
        [--sound-transport auto|static|dvc]

A program in the desktop (``FLASH_PROGRAM``, system python3 through the host's ``exec``) keeps
one ``pacat`` stream open (10 ms latency, a 4 kB pipe: at most ~21 ms of samples queued ahead),
plays silence, and at a moment T it turns the root window's background black → white (Xlib
through ctypes, XSync'd; watched left of the session's xterm) and writes a 1 kHz tone; it
records T (CLOCK_MONOTONIC, the host's clock).
Each trial is one such flash; the first one warms the path up and is not counted.

- **latency**: T until the tone is heard at the client:
  - RDP: real ``xfreerdp /sound:sys:pulse`` (full screen on its own Xvfb) playing into a
    client-side PulseAudio null sink whose monitor is recorded with ``parec`` (10 ms
    fragments); a sample's time is its read's time minus what follows it in that read.
  - browser: headless Chromium on the viewer (the first-gesture click starts sound); the
    AudioWorklet's rendered blocks, each with its context frame, mapped to the page's clock
    with ``AudioContext.getOutputTimestamp()``.
- **skew**: the tone's onset minus the picture's change at the client (positive: sound late):
  RDP from the FreeRDP window's pixels (the client Xvfb's framebuffer file, polled every ms),
  browser from the viewer canvas (polled every ~2 ms in the page).

Every time is on CLOCK_MONOTONIC (the desktop's, the host's and this process's clock); the
page's ``performance.now()`` is mapped to it at each trial by one round trip (its error is half
that round trip, about a millisecond; the wall clock is not used: it may be stepped mid-run).
Prints median and p95 per client and the targets (latency < 200 ms, |skew| < 100 ms). Not a
pass/fail test; every process it starts is ended by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "viewer"))

LATENCY_TARGET_MS = 200
SKEW_TARGET_MS = 100
TONE_HZ = 1000
LOUD = 0.05  # of full scale: the tone's onset
PROBE = (10, 300)  # a pixel of the root window left of the session's xterm

FLASH_PROGRAM = r'''
import ctypes, fcntl, json, math, struct, subprocess, sys, time
out, tone_hz = sys.argv[1], float(sys.argv[2])
x = ctypes.CDLL("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
for f in ("XDefaultRootWindow", "XBlackPixel", "XWhitePixel"):
    getattr(x, f).restype = ctypes.c_ulong
x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x.XBlackPixel.argtypes = x.XWhitePixel.argtypes = [ctypes.c_void_p, ctypes.c_int]
x.XSetWindowBackground.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
x.XClearWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
d = x.XOpenDisplay(None)
root = x.XDefaultRootWindow(d)
def paint(pixel):
    x.XSetWindowBackground(d, root, pixel)
    x.XClearWindow(d, root)
    x.XSync(d, 0)
paint(x.XBlackPixel(d, 0))
pacat = subprocess.Popen(["pacat", "--playback", "--raw", "--format=s16le", "--rate=48000", "--channels=2",
                          "--latency-msec=10", "--client-name=bench-flash"], stdin=subprocess.PIPE, bufsize=0)
fcntl.fcntl(pacat.stdin.fileno(), 1031, 4096)  # F_SETPIPE_SZ: little queued ahead of the player
chunk = 480 * 4  # 10 ms
silence = bytes(chunk)
for _ in range(120):
    pacat.stdin.write(silence)
tone = b"".join(struct.pack("<hh", v, v) for v in
                (int(16000 * math.sin(2 * math.pi * tone_hz * i / 48000)) for i in range(48000 * 4 // 10)))
t = time.monotonic()
paint(x.XWhitePixel(d, 0))
pacat.stdin.write(tone)
for _ in range(40):
    pacat.stdin.write(silence)
pacat.stdin.close()
pacat.wait()
open(out, "w").write(json.dumps({"t": t}))
'''


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float], target: float | None = None, absolute: bool = False) -> str:
    if not values:
        return f"  {name}: no measurement"
    check = [abs(v) for v in values] if absolute else values
    met = target is not None and percentile(check, 95) < target
    verdict = "" if target is None else f"  (target < {target} ms: {'met' if met else 'NOT met at p95'})"
    return (f"  {name}: median {statistics.median(values):.0f} ms, p95 {percentile(check, 95):.0f} ms"
            f"{' (|skew|)' if absolute else ''}, min {min(values):.0f}, max {max(values):.0f}, n={len(values)}"
            f"{verdict}")


class Workdir:
    """Where the desktop's program and its outputs live: under var/ (the desktop's /tmp is its own)."""

    def __init__(self) -> None:
        self.path = REPO / "var" / f"bench-audio-{uuid.uuid4().hex[:6]}"
        self.path.mkdir(parents=True)
        self.program = self.path / "flash.py"
        self.program.write_text(FLASH_PROGRAM)

    def flash_argv(self) -> tuple[list[str], Path]:
        out = self.path / f"flash-{uuid.uuid4().hex[:8]}.json"
        return ["python3", str(self.program), str(out), str(TONE_HZ)], out

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def flash_time(out: Path, timeout: float = 10.0) -> float:
    """T of a finished flash (s, CLOCK_MONOTONIC)."""
    deadline = time.monotonic() + timeout
    while not out.exists() or not out.read_text():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the desktop's flash program wrote no {out.name}")
        time.sleep(0.05)
    return json.loads(out.read_text())["t"]


# -- RDP ------------------------------------------------------------------------------------------

class ClientPulse:
    """A PulseAudio for the client: a null sink ``client_out``, its monitor recorded with times."""

    def __init__(self, root: Path) -> None:
        run = root / "pulse"
        run.mkdir(mode=0o700)
        (run / "default.pa").write_text(
            f"load-module module-native-protocol-unix socket={run}/native auth-anonymous=1 auth-cookie-enabled=0\n"
            "load-module module-null-sink sink_name=client_out rate=48000 channels=2\nset-default-sink client_out\n")
        (run / "client.conf").write_text("autospawn = no\nenable-shm = no\n")
        self.env = dict(PULSE_SERVER=f"unix:{run}/native", PULSE_RUNTIME_PATH=str(run),
                        PULSE_CLIENTCONFIG=str(run / "client.conf"), XDG_CONFIG_HOME=str(run))
        full = dict(os.environ, **self.env, HOME=str(root))
        self.daemon = subprocess.Popen(["pulseaudio", "--daemonize=no", "--system=no", "--use-pid-file=no", "-n",
                                        "-F", str(run / "default.pa"), "--exit-idle-time=-1"], env=full,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=full, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the client's PulseAudio did not start")
            time.sleep(0.1)
        self.recorder = subprocess.Popen(["parec", "--raw", "--format=s16le", "--rate=48000", "--channels=2",
                                          "--latency-msec=10", "--device=client_out.monitor"], env=full,
                                         stdout=subprocess.PIPE, bufsize=0)
        self.samples = bytearray()
        self.reads: list[tuple[int, float]] = []  # (samples so far, monotonic time of the read)
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fd = self.recorder.stdout.fileno()
        while data := os.read(fd, 1 << 14):
            now = time.monotonic()
            with self.lock:
                self.samples += data
                self.reads.append((len(self.samples) // 4, now))

    def mark(self) -> int:
        with self.lock:
            return len(self.samples) // 4

    def onset(self, since: int) -> float | None:
        """Time (monotonic) of the first loud sample recorded after sample ``since``."""
        with self.lock:
            left = np.frombuffer(bytes(self.samples), "<i2").reshape(-1, 2)[since:, 0]
            reads = list(self.reads)
        loud = np.flatnonzero(np.abs(left) > LOUD * 32768)
        if not len(loud):
            return None
        index = since + int(loud[0])
        for end, when in reads:
            if end > index:
                return when - (end - 1 - index) / 48000
        return None

    def close(self) -> None:
        for proc in (self.recorder, self.daemon):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class PixelWatch:
    """The client screen's ``PROBE`` pixel, polled every ms: when it turned white after black."""

    def __init__(self, framebuffer_path: Path) -> None:
        from compositor.framebuffer import XwdFramebuffer

        self.fb = XwdFramebuffer(framebuffer_path)
        self.white_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.white_at = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        screen = self.fb.screen()
        x, y = PROBE
        seen_black = False
        self.levels = set()
        while not self._stop.is_set():
            level = int(screen[y, x, :3].mean())
            self.levels.add(level)
            now = time.monotonic()
            if level < 40:
                seen_black = True
            elif level > 215 and seen_black:
                self.white_at = now
                return
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


async def bench_rdp(trials: int, work: Workdir, options: list[str], transport: str = "auto") -> dict[str, list[float]]:
    from rdp_rig import rdp_rig

    from compositor.client import BlockingHostClient

    results: dict[str, list[float]] = {"latency": [], "skew": [], "video": []}
    from rdpfront.channels.sound import playing_channel

    async with rdp_rig(800, 600, sound_transport=transport) as rig:
        root = Path(rig.env["HOME"])
        pulse = ClientPulse(root)
        rig.env.update(pulse.env)
        client = await rig.client("/sound:sys:pulse" + "".join("," + o for o in options if o))
        try:
            deadline = time.monotonic() + 20
            while not any(playing_channel(conn.bridge.conn.channel) for conn in rig.server.connections):
                if time.monotonic() > deadline:
                    raise RuntimeError("xfreerdp's sound channel never became ready")
                await asyncio.sleep(0.1)
            sound = next(playing_channel(conn.bridge.conn.channel) for conn in rig.server.connections)
            print(f"rdp: xfreerdp ready, {sound.name} format {sound.client_formats[sound.format_no]}", flush=True)
            watch = PixelWatch(next(root.glob("client/**/Xvfb_screen0")))
            for n in range(trials + 1):
                mark = pulse.mark()
                watch.start()
                argv, out = work.flash_argv()
                with BlockingHostClient(rig.host.socket_path) as host:
                    await asyncio.to_thread(host.request, "exec", argv=argv)
                t = await asyncio.to_thread(flash_time, out)
                await asyncio.sleep(0.6)
                watch.stop()
                heard = pulse.onset(mark)
                if n == 0:
                    continue  # warm-up
                if heard is None or watch.white_at is None:
                    print(f"  trial {n}: heard={heard} picture={watch.white_at} "
                          f"levels={sorted(watch.levels)}: not measured", flush=True)
                    continue
                results["latency"].append((heard - t) * 1000)
                results["video"].append((watch.white_at - t) * 1000)
                results["skew"].append((heard - watch.white_at) * 1000)
                print(f"  trial {n}: sound {results['latency'][-1]:.0f} ms, picture {results['video'][-1]:.0f} ms",
                      flush=True)
        finally:
            await rig.end_client(client)
            pulse.close()
    return results


# -- browser --------------------------------------------------------------------------------------

WATCH_JS = """async ([timeoutMs, loud, probe]) => {
  const canvas = document.querySelector('#wrd-viewer canvas') || document.querySelector('canvas');
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const audio = wrdViewer.audio;
  const level = () => {
    const d = g.getImageData(probe[0], probe[1], 1, 1).data;
    return (d[0] + d[1] + d[2]) / 3;
  };
  const wall = () => performance.now();
  const turn = () => new Promise((r) => setTimeout(r, 2));
  const start = performance.now();
  let seenBlack = false, whiteAt = null, heardAt = null, scanned = 0;
  while (performance.now() - start < timeoutMs && (whiteAt === null || heardAt === null)) {
    if (whiteAt === null) {
      const v = level();
      if (v < 40) seenBlack = true;
      else if (v > 215 && seenBlack) whiteAt = wall();
    }
    if (heardAt === null) {
      const blocks = audio.captured || [];
      for (; scanned < blocks.length && heardAt === null; scanned++) {
        const b = blocks[scanned];
        for (let i = 0; i < b.left.length; i++) {
          if (Math.abs(b.left[i]) > loud) {
            const ts = audio.context.getOutputTimestamp();
            const at = (b.frame + i) / audio.context.sampleRate;
            heardAt = ts.performanceTime + (at - ts.contextTime) * 1000;
            break;
          }
        }
      }
    }
    await turn();
  }
  return { whiteAt, heardAt, seenBlack, outputLatency: audio.context.outputLatency,
           baseLatency: audio.context.baseLatency };
}"""


def page_minus_mono(page) -> float:
    """The page's performance.now() minus CLOCK_MONOTONIC (ms), from the tightest of a few round trips."""
    best = None
    for _ in range(5):
        before = time.monotonic()
        now = page.evaluate("performance.now()")
        after = time.monotonic()
        if best is None or after - before < best[0]:
            best = (after - before, now - (before + after) / 2 * 1000)
    return best[1]


def bench_browser(trials: int, work: Workdir) -> dict[str, list[float]]:
    import harness
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {"latency": [], "skew": [], "video": []}
    tmp = Path(tempfile.mkdtemp(prefix="wrd-bench-audio-"))
    host = harness.start_host(tmp, width=1024, height=768, startup="")
    console = harness.Console(tmp)
    try:
        console.setup()
        alice = console.add_user("alice")
        desktop = console.add_desktop(alice["id"], host)
        console.start()
        with sync_playwright() as p:
            browser = harness.launch_chromium(p)
            try:
                context = harness.browser_context(browser, console, alice["cookie"],
                                                  viewport={"width": 1100, "height": 850})
                page = context.new_page()
                page.goto(f"{console.url}/desktops/{desktop}/view")
                page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'connected'",
                                       timeout=20000)
                page.locator("canvas").click()
                page.wait_for_function("() => wrdViewer.audio.format === 'opus'", timeout=10000)
                page.evaluate("wrdViewer.audio.startCapture()")
                print("browser: viewer playing opus", flush=True)
                for n in range(trials + 1):
                    page.evaluate("wrdViewer.audio.takeCaptured()")
                    argv, out = work.flash_argv()
                    host.request("exec", argv=argv)
                    seen = page.evaluate(WATCH_JS, [6000, LOUD, PROBE])
                    t = flash_time(out) * 1000 + page_minus_mono(page)  # on the page's clock (ms)
                    if n == 0:
                        info = seen
                        continue
                    if seen["heardAt"] is None or seen["whiteAt"] is None:
                        print(f"  trial {n}: {seen}: not measured", flush=True)
                        continue
                    results["latency"].append(seen["heardAt"] - t)
                    results["video"].append(seen["whiteAt"] - t)
                    results["skew"].append(seen["heardAt"] - seen["whiteAt"])
                    print(f"  trial {n}: sound {results['latency'][-1]:.0f} ms, picture {results['video'][-1]:.0f} ms",
                          flush=True)
                    time.sleep(0.3)
                print(f"  (AudioContext outputLatency {info['outputLatency']}, baseLatency {info['baseLatency']})")
                context.close()
            finally:
                browser.close()
    finally:
        console.close()
        host.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(name: str, results: dict[str, list[float]]) -> None:
    print(f"{name}:")
    print(summary("latency, tone started → heard", results["latency"], LATENCY_TARGET_MS))
    print(summary("picture, flip → client pixels", results["video"]))
    print(summary("skew, sound onset − picture (positive: sound later)", results["skew"]))
    print(summary("|skew|", results["skew"], SKEW_TARGET_MS, absolute=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--clients", default="rdp,browser")
    parser.add_argument("--sound-options", default="", help="appended to xfreerdp's /sound:sys:pulse")
    parser.add_argument("--sound-transport", default="auto", choices=("auto", "static", "dvc"),
                        help="the server's sound channel (ServerSettings.sound_transport)")
    args = parser.parse_args()
    clients = args.clients.split(",")
    work = Workdir()
    try:
        if "rdp" in clients:
            if shutil.which("xfreerdp") is None:
                print("rdp: xfreerdp is not installed: not measured")
            else:
                options = args.sound_options.split(",")
                report(f"RDP (xfreerdp 2 /sound:sys:pulse{''.join(',' + o for o in options if o)}, "
                       f"sound transport {args.sound_transport})",
                       asyncio.run(bench_rdp(args.trials, work, options, args.sound_transport)))
        if "browser" in clients:
            report("browser (headless Chromium, Opus, AudioWorklet)", bench_browser(args.trials, work))
    finally:
        work.close()


if __name__ == "__main__":
    main()
