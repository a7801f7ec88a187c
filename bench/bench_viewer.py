"""Browser viewer benchmark: WRD's viewer versus x11vnc + noVNC on the same screen and content.

    .venv/bin/python bench/bench_viewer.py [--duration 8] [--keys 30] [--no-peer]
        [--scenarios typing,idle,scroll,animation] [--load N]

One session host at 1920×1080 (real Xvfb, an xterm), the console under daphne, headless Debian
Chromium. For each scenario it prints frames per second drawn in the browser, bytes per second
received on the WebSocket, server CPU (ms per frame, and cores), and for typing the
input-to-photon latency: a key event dispatched to the viewer's own key handler in the page,
until a pixel of the canvas changes (polled every ~4 ms), median and p95.

The peer is x11vnc (XDAMAGE, tight/JPEG as noVNC negotiates) on a fresh session of the same size
and content (its own Xvfb, started the same way), with websockify and noVNC 1.3 (Debian
packages), measured the same way; server CPU for the peer is
x11vnc + websockify, for WRD the session host + daphne. Scenarios run one viewer at a time.
Content: idle (nothing changes); typing (keys into the xterm, one every 0.5 s); scroll (a
full-screen xterm printing 50 lines per second); animation (a full-screen window panning a
smooth texture at 30 frames per second, one CopyArea per frame).
``--load N`` runs N busy-looping processes alongside (contention on purpose: the figures under a
saturated machine). Not a pass/fail test; every process it starts is ended by pid.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "viewer"))

import harness  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
STARTUP = "exec xterm -fa Monospace -fs 12 -geometry 100x30+0+0 -bg white -fg black"
TYPING_REGION = (0, 0, 1000, 80)  # the xterm's first lines, where the typed text appears
KEYS = "abcdefghijklmnopqrstuvwxyz"

# Polls the canvas every ~4 ms (nested setTimeout; a tighter loop starves the page's own
# WebSocket and decoder tasks and inflates what it measures) until the region changes;
# returns milliseconds. The same code measures both viewers.
LATENCY_JS = """async ([selector, region, key, code]) => {
  const canvas = eval(selector);
  const ctx = canvas.getContext('2d');
  const [x, y, w, h] = region;
  const before = new Uint32Array(ctx.getImageData(x, y, w, h).data.buffer);
  const turn = () => new Promise((r) => setTimeout(r, 1));
  const target = window.wrdBenchKeyTarget();
  const t0 = performance.now();
  target.dispatchEvent(new KeyboardEvent('keydown', {key, code, bubbles: true, cancelable: true}));
  target.dispatchEvent(new KeyboardEvent('keyup', {key, code, bubbles: true, cancelable: true}));
  while (performance.now() - t0 < 3000) {
    await turn();
    const now = new Uint32Array(ctx.getImageData(x, y, w, h).data.buffer);
    for (let i = 0; i < now.length; i++) if (now[i] !== before[i]) return performance.now() - t0;
  }
  return null;
}"""

# Where a video frame's time goes in the page (WRD only): frames received, and from a frame's
# message arriving to the decoder's output (decode latency, the decoder's queue included: it
# grows when the browser cannot keep up). Reset at the start of each scenario.
DIAG_JS = """() => {
  const d = wrdViewer.display;
  if (!window.wrdBenchDiag) {
    const frame = d.frame.bind(d), output = d.videoOutput.bind(d);
    d.frame = (header, payload) => { const g = window.wrdBenchDiag; g.received++;
      g.arrived.set(header.seq, performance.now()); return frame(header, payload); };
    d.videoOutput = (f) => { const g = window.wrdBenchDiag, t = g.arrived.get(f.timestamp);
      if (t !== undefined) { g.decode.push(performance.now() - t); g.arrived.delete(f.timestamp); }
      return output(f); };
  }
  window.wrdBenchDiag = {arrived: new Map(), decode: [], received: 0};
}"""
DIAG_REPORT_JS = """() => {
  const g = window.wrdBenchDiag, s = [...g.decode].sort((x, y) => x - y);
  const pick = (q) => s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 10) / 10 : null;
  return {received: g.received, decode_ms_p50: pick(0.5), decode_ms_p95: pick(0.95)};
}"""

NOVNC_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>noVNC bench</title>
<style>html,body{margin:0;background:#111}#screen{width:100vw;height:100vh}</style></head>
<body><div id="screen"></div><script type="module">
import RFB from './core/rfb.js';
window.wrdBench = {flips: 0, connected: false};
const rfb = new RFB(document.getElementById('screen'), `ws://${location.host}/websockify`);
rfb.scaleViewport = true;
window.rfb = rfb;
rfb.addEventListener('connect', () => {
  const d = rfb._display, flip = d.flip.bind(d);
  d.flip = (...a) => { window.wrdBench.flips++; return flip(...a); };
  window.wrdBench.connected = true;
});
window.wrdBenchKeyTarget = () => rfb._canvas;
</script></body></html>"""


@dataclass
class Result:
    fps: float = 0.0
    bytes_per_s: float = 0.0
    cpu_s: float = 0.0
    duration: float = 0.0
    frames: int = 0
    extra: dict = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000 * self.cpu_s / self.frames if self.frames else float("nan")

    @property
    def cores(self) -> float:
        return self.cpu_s / self.duration if self.duration else 0.0


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, everyone's): contention check."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- content ----------------------------------------------------------------------------------


def animate(fps: int) -> None:
    """A full-screen override-redirect window panning a smooth texture (run inside the session).

    The texture is uploaded once into a pixmap twice the screen's width; each frame is one
    server-side CopyArea, so the animation costs the X server a memcpy and this client nothing.
    """
    import numpy as np
    from Xlib import X, display

    d = display.Display()
    screen = d.screen()
    w, h = screen.width_in_pixels, screen.height_in_pixels
    win = screen.root.create_window(0, 0, w, h, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                                    override_redirect=True, background_pixel=0)
    win.map()
    gc = win.create_gc()
    pixmap = win.create_pixmap(2 * w, h, screen.root_depth)
    yy, xx = np.mgrid[0:h, 0:2 * w].astype(np.float32)
    period_x = 2 * w / (2 * np.pi)  # seamless horizontally over one screen width... twice
    texture = np.zeros((h, 2 * w, 4), np.uint8)
    texture[:, :, 0] = (127 + 127 * np.sin(xx / period_x * 6 + yy / 181.0)).astype(np.uint8)
    texture[:, :, 1] = (127 + 127 * np.sin(xx / period_x * 10 - yy / 71.0)).astype(np.uint8)
    texture[:, :, 2] = (127 + 127 * np.sin((xx / period_x * 4) + yy / 131.0)).astype(np.uint8)
    rows = max(1, 262000 // (2 * w * 4))  # each PutImage under the core request size limit
    for top in range(0, h, rows):
        strip = np.ascontiguousarray(texture[top:top + rows])
        pixmap.put_image(gc, 0, top, 2 * w, strip.shape[0], X.ZPixmap, 24, 0, strip.tobytes())
        d.flush()
    period, frame = 1.0 / fps, 0
    start = time.monotonic()
    while True:
        win.copy_area(gc, pixmap, (frame * 8) % w, 0, w, h, 0, 0)
        d.flush()
        frame += 1
        delay = start + frame * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _alive(pid: int) -> bool:
    """Running and not a zombie (the host reaps its children only every few seconds)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def focus_terminal() -> None:
    """Give the keyboard focus back to the typing terminal (run inside the session).

    There is no window manager, so focus follows the pointer (PointerRoot); a window that took
    the focus and went away (the scroll xterm, the animation) can leave it elsewhere. Put the
    pointer over the typing xterm (top left) and the focus back to PointerRoot.
    """
    from Xlib import X, display

    d = display.Display()
    d.screen().root.warp_pointer(200, 100)
    d.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
    d.sync()


class Content:
    """Starts and stops the programs of a scenario inside the session (by pid)."""

    def __init__(self, host: harness.Host) -> None:
        self.host = host
        self.pids: list[int] = []

    def start(self, scenario: str) -> None:
        if scenario == "scroll":
            loop = ("i=0; while :; do i=$((i+1)); echo \"line $i the quick brown fox jumps over the lazy "
                    "dog 0123456789 $(date +%N)\"; sleep 0.02; done")
            argv = ["xterm", "-fa", "Monospace", "-fs", "11", "-geometry", "240x70+0+0", "-e", "sh", "-c", loop]
        elif scenario == "animation":
            argv = [sys.executable, str(Path(__file__).resolve()), "--animate", "30"]
        else:
            return
        self.pids.append(self.host.request("exec", argv=argv, env={"PYTHONPATH": str(REPO)}).get("pid"))
        time.sleep(1.5)

    def stop(self) -> None:
        # Each program leads its own process group (the host starts it in a new session):
        # end the group, so the scroll loop's shell goes too, then make sure.
        for pid in self.pids:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.05)
                if not _alive(pid):
                    break
        self.pids.clear()
        time.sleep(0.5)

    def clear_line(self) -> None:
        """Focus the xterm and Ctrl+U there, so the next typing run starts on a short line."""
        pid = self.host.request("exec", argv=[sys.executable, str(Path(__file__).resolve()), "--focus"],
                                env={"PYTHONPATH": str(REPO)}).get("pid")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            try:
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.05)
        self.host.request("input", events=[
            {"t": "key", "code": 29, "down": True}, {"t": "key", "code": 22, "down": True},
            {"t": "key", "code": 22, "down": False}, {"t": "key", "code": 29, "down": False}])
        time.sleep(0.3)


# -- one viewer, all scenarios ----------------------------------------------------------------


class ByteCounter:
    def __init__(self, page) -> None:
        self.total = 0
        page.on("websocket", self._on_socket)

    def _on_socket(self, ws) -> None:
        ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        self.total += len(payload)


def run_scenarios(page, counter: ByteCounter, *, frames_js: str, canvas_js: str, server_pids: list[int],
                  content: Content, scenarios: list[str], duration: float, keys: int,
                  diag_js: str | None = None) -> dict[str, Result]:
    results: dict[str, Result] = {}
    for scenario in scenarios:
        content.start(scenario)
        time.sleep(0.5)
        if diag_js:
            page.evaluate(diag_js)  # resets the page's counters
        frames0, bytes0, cpu0, t0 = page.evaluate(frames_js), counter.total, cpu_seconds(server_pids), time.monotonic()
        result = Result()
        per_pid0 = [cpu_seconds([pid]) for pid in server_pids]
        busy0 = machine_busy_seconds()
        if scenario == "typing":
            content.clear_line()
            frames0, bytes0 = page.evaluate(frames_js), counter.total
            cpu0, t0 = cpu_seconds(server_pids), time.monotonic()
            per_pid0 = [cpu_seconds([pid]) for pid in server_pids]
            for i in range(keys):
                key = KEYS[i % len(KEYS)]
                ms = page.evaluate(LATENCY_JS, [canvas_js, list(TYPING_REGION), key, f"Key{key.upper()}"])
                if ms is not None:
                    result.latencies.append(ms)
                time.sleep(0.5)  # past the touch-up settle time, so the next change is this key's
        else:
            time.sleep(duration)
        result.duration = time.monotonic() - t0
        result.frames = page.evaluate(frames_js) - frames0
        result.fps = result.frames / result.duration
        result.bytes_per_s = (counter.total - bytes0) / result.duration
        result.cpu_s = cpu_seconds(server_pids) - cpu0
        result.extra["per_process_cores"] = [
            round((cpu_seconds([pid]) - start) / result.duration, 2)
            for pid, start in zip(server_pids, per_pid0, strict=True)]
        if diag_js:
            result.extra["diag"] = page.evaluate(diag_js)
        result.extra["machine_busy_cores"] = round((machine_busy_seconds() - busy0) / result.duration, 2)
        results[scenario] = result
        content.stop()
        if scenario == "typing":
            content.clear_line()
        print(f"    {scenario:<10} {result.fps:6.1f} fps {result.bytes_per_s / 1024:9.1f} KiB/s "
              f"cpu {result.cores:5.2f} cores {result.extra['per_process_cores']} "
              f"{result.cpu_ms_per_frame:7.2f} ms/frame"
              + (f"  latency p50 {statistics.median(result.latencies):6.1f} ms p95 "
                 f"{percentile(result.latencies, 0.95):6.1f} ms ({len(result.latencies)}/{keys})"
                 if result.latencies else ""), flush=True)
        print(f"               machine busy {result.extra['machine_busy_cores']} of {os.cpu_count()} cores"
              " (everything running, the browser and other users' work included)"
              + (f"; browser: {result.extra['diag']}" if result.extra.get("diag") else ""), flush=True)
    return results


def bench_wrd(browser, host, console, desktop: int, cookie: str, args, content: Content) -> dict[str, Result]:
    context = harness.browser_context(browser, console, cookie, viewport={"width": WIDTH, "height": HEIGHT + 24})
    page = context.new_page()
    counter = ByteCounter(page)  # attached before the socket opens
    page.goto(f"{console.url}/desktops/{desktop}/view")
    page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'connected'", timeout=30000)
    page.evaluate("window.wrdBenchKeyTarget = () => document.querySelector('#wrd-viewer .wrd-keys')")
    page.evaluate(DIAG_JS)
    time.sleep(2)
    daphne_pid = console.proc.pid if console.proc else None
    pids = [host.pid] + ([daphne_pid] if daphne_pid else [])
    print(f"  WRD viewer ({page.evaluate('wrdViewer.format')}), server = session host + daphne")
    # Frames drawn: video/JPEG frames and small lossless updates (not touch-ups of quiet areas).
    frames_js = "wrdViewer.display.stats.drawn - (wrdViewer.display.stats.touchups || 0)"
    results = run_scenarios(
        page, counter, frames_js=frames_js,
        canvas_js="document.querySelector('#wrd-viewer canvas')", server_pids=pids, content=content,
        scenarios=args.scenarios, duration=args.duration, keys=args.keys, diag_js=DIAG_REPORT_JS)
    context.close()
    return results


def bench_novnc(browser, host, workdir: Path, args, content: Content) -> dict[str, Result]:
    vnc_port, ws_port = harness.free_port(), harness.free_port()
    web = workdir / "novnc-web"
    web.mkdir()
    for name in ("core", "vendor"):
        (web / name).symlink_to(Path("/usr/share/novnc") / name)
    (web / "bench.html").write_text(NOVNC_PAGE)
    env = host.env
    x11vnc = subprocess.Popen(
        ["x11vnc", "-display", env["DISPLAY"], "-auth", env["XAUTHORITY"], "-rfbport", str(vnc_port),
         "-localhost", "-shared", "-forever", "-nopw", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=open(workdir / "x11vnc.log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    websockify = subprocess.Popen(
        ["websockify", "--web", str(web), f"127.0.0.1:{ws_port}", f"127.0.0.1:{vnc_port}"],
        stdin=subprocess.DEVNULL, stdout=open(workdir / "websockify.log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        for port in (vnc_port, ws_port):
            while time.monotonic() < deadline:
                try:
                    harness.socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = context.new_page()
        counter = ByteCounter(page)
        page.goto(f"http://127.0.0.1:{ws_port}/bench.html")
        page.wait_for_function("() => window.wrdBench && window.wrdBench.connected", timeout=30000)
        time.sleep(2)
        print(f"  x11vnc + noVNC (quality {page.evaluate('rfb.qualityLevel')}, "
              f"compression {page.evaluate('rfb.compressionLevel')}), server = x11vnc + websockify")
        results = run_scenarios(
            page, counter, frames_js="window.wrdBench.flips", canvas_js="rfb._canvas",
            server_pids=[x11vnc.pid, websockify.pid], content=content, scenarios=args.scenarios,
            duration=args.duration, keys=args.keys)
        context.close()
        return results
    finally:
        harness.stop_process(websockify)
        harness.stop_process(x11vnc)


def report(ours: dict[str, Result], peer: dict[str, Result] | None) -> None:
    print()
    print("scenario    | fps WRD / peer | KiB/s WRD / peer (ratio) | server ms/frame WRD / peer | cores WRD / peer"
          " | typing latency p50 / p95 ms WRD ; peer")
    for name, ours_r in ours.items():
        p = peer.get(name) if peer else None
        ratio = (ours_r.bytes_per_s / p.bytes_per_s) if p and p.bytes_per_s else float("nan")
        line = (f"{name:<11} | {ours_r.fps:5.1f} / {p.fps if p else float('nan'):5.1f}  "
                f"| {ours_r.bytes_per_s / 1024:8.1f} / {(p.bytes_per_s / 1024) if p else float('nan'):8.1f} "
                f"({ratio:5.2f}) "
                f"| {ours_r.cpu_ms_per_frame:7.2f} / {p.cpu_ms_per_frame if p else float('nan'):7.2f}     "
                f"| {ours_r.cores:4.2f} / {p.cores if p else float('nan'):4.2f}  ")
        if ours_r.latencies:
            line += (f"| {statistics.median(ours_r.latencies):5.1f} / {percentile(ours_r.latencies, 0.95):5.1f}")
            if p and p.latencies:
                line += f" ; {statistics.median(p.latencies):5.1f} / {percentile(p.latencies, 0.95):5.1f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--scenarios", default="typing,idle,scroll,animation")
    parser.add_argument("--load", type=int, default=0, help="busy-looping processes to run alongside")
    parser.add_argument("--animate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--focus", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.animate:
        animate(args.animate)
        return
    if args.focus:
        focus_terminal()
        return
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="wrd-bench-viewer-"))
    host = console = None
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
            for _ in range(args.load)]
    try:
        host = harness.start_host(workdir, width=WIDTH, height=HEIGHT, startup=STARTUP)
        console = harness.Console(workdir)
        console.setup()
        user = console.add_user("bench")
        desktop = console.add_desktop(user["id"], host)
        console.start()
        content = Content(host)
        print(f"{WIDTH}x{HEIGHT}, {args.duration:.0f} s per scenario, {args.keys} keys for typing latency, "
              f"{os.cpu_count()} cores, {args.load} busy-looping processes alongside")
        with sync_playwright() as p:
            browser = harness.launch_chromium(p)
            try:
                ours = bench_wrd(browser, host, console, desktop, user["cookie"], args, content)
                peer = None
                if not args.no_peer:
                    # A fresh session for the peer: same size, same startup, same content. (On the
                    # first session, x11vnc's keys stopped reaching the xterm after the scroll
                    # scenario; a new session sidesteps whatever state that was.)
                    console.close()
                    host.close()
                    peer_dir = workdir / "peer"
                    peer_dir.mkdir()
                    host = harness.start_host(peer_dir, width=WIDTH, height=HEIGHT, startup=STARTUP)
                    peer = bench_novnc(browser, host, peer_dir, args, Content(host))
            finally:
                browser.close()
        report(ours, peer)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        if console is not None:
            console.close()
        if host is not None:
            host.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
