"""Where a keystroke's time goes on the browser path: peerbench's ``probe`` traced hop by hop.

    .venv/bin/python bench/trace_browser_latency.py [--keys 40] [--strace] [--out trace.json]
        [--chromium-arg=--disable-features=DeferRendererTasksAfterInput] [--no-frame-loop]

Run from a WRD checkout beside ``../shared/peerbench`` (its README; ``PB_SCRATCH``,
``PB_WRD_RUNTIME_ROOT`` and ``WRD_ACCOUNT_PREFIX`` as for a peerbench run). It starts WRD the
way peerbench's ``wrd-browser`` does (``manage.py serve``, one 1920x1080 desktop, headless
Chromium logged in, viewer at 1:1), runs the probe window (a 300x300 window that flips colour
on each KeyPress) and presses ``a`` ``--keys`` times, 250-450 ms apart, like peerbench.

In the page, each press is stamped (wall clock, ``performance.timeOrigin + now()``): keydown,
the input message sent, the frame message received, drawn (the viewer's ``drawn`` event), every
animation frame with the probe's colour, and peerbench's own figure (the first animation frame
that sees the flip). With ``--strace``, the console's daphne and the session host are traced
(``strace -f -tt``, wall clock) and the socket reads and writes of each keystroke are matched
up: daphne reading the key from the WebSocket, writing it to the host, the host reading it,
writing the frame, daphne reading it and writing it to the WebSocket. strace slows every system
call of the two processes, so those hop times are upper bounds; the page figures without
``--strace`` are the ones to compare. Prints medians; ``--out`` keeps every stamp.
Not a pass/fail test; everything it starts is stopped by pid (peerbench's own clean-up).

``--no-frame-loop``: the page as a user's tab has it, with no animation-frame loop running (this
tool's and peerbench's own are stopped once peerbench's page script is in). A loop keeps a frame
pending at every keydown, and Chromium then holds the page's tasks, the frame message among
them, until that frame has run (``DeferRendererTasksAfterInput``, docs/performance.md). Without
it, the frame that shows the flip is found by one animation-frame request made when the viewer
has drawn: its callback runs at the start of the frame that paints the drawing, so *presented*
is when a user's screen could show it. No frame is requested at the keydown itself, which would
arm the deferral the mode leaves out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PEERBENCH = Path(os.environ.get("PB_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "peerbench"))
sys.path.insert(0, str(PEERBENCH / "pb"))

# Stamps in the page (``__trace.ev``, wall clock): the keydown, the input message sent and every
# frame message received.
_PRESS_STAMPS = """
  const now = () => performance.timeOrigin + performance.now();
  const v = wrdViewer;
  window.addEventListener('keydown', () => T.ev.push(['keydown', now()]), true);
  const sendOp = v.sendOp.bind(v);
  v.sendOp = (h, p) => { T.ev.push(['send ' + h.op, now()]); sendOp(h, p); };
  const onMessage = v.onMessage.bind(v);
  v.onMessage = (d) => { T.ev.push(['message ' + d.byteLength, now()]); onMessage(d); };
"""

# ... and each drawing, and every animation frame with the probe's colour.
STAMPS_JS = """() => {
  const T = window.__trace = {ev: []};""" + _PRESS_STAMPS + """
  v.events.addEventListener('drawn', (e) => T.ev.push(['drawn ' + e.detail.codec, now()]));
  const frame = () => { T.ev.push(['frame ' + __pb.probe(), now()]); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
}"""

# The page without animation-frame loops: peerbench's (a function named ``loop``) asks for no
# next frame, and the flip's frame is found by one request when the viewer has drawn.
NO_LOOP_JS = """() => {
  const T = window.__trace = {ev: [], want: null};
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => cb.name === 'loop' ? 0 : raf(cb);""" + _PRESS_STAMPS + """
  v.events.addEventListener('drawn', (e) => {
    T.ev.push(['drawn ' + e.detail.codec, now()]);
    if (T.want === null) return;
    raf(() => {
      if (T.want !== null && __pb.probe() === T.want) { T.ev.push(['presented', now()]); T.want = null; }
    });
  });
}"""

# (name, process, syscall, byte-count test) in the order a keystroke passes them
HOPS = [
    ("daphne reads the key (WebSocket)", "daphne", "recvfrom", lambda n: n < 40),
    ("daphne writes it to the host", "daphne", "sendto", lambda n: 50 < n < 200),
    ("host reads it", "host", "recvfrom", lambda n: 50 < n < 300),
    ("host writes the frame", "host", "sendto", lambda n: n > 500),
    ("daphne reads the frame", "daphne", "recvfrom", lambda n: n > 500),
    ("daphne writes it (WebSocket)", "daphne", "sendto", lambda n: 10 < n < 400),
]


def press(client, keys: int) -> tuple[list[float], list]:
    page = client.page
    page.evaluate(STAMPS_JS)
    page.evaluate("wrdViewer.input.focus()")
    page.evaluate("__pb.lat.res = []")
    for _ in range(keys):
        page.evaluate("__pb.arm(); __trace.ev.push(['arm', performance.timeOrigin + performance.now()])")
        page.keyboard.press("a")
        page.wait_for_function("__pb.lat.armed === false", timeout=3000, polling=5)
        time.sleep(random.uniform(0.25, 0.45))
    return page.evaluate("__pb.lat.res"), page.evaluate("__trace.ev")


def press_without_loop(client, keys: int) -> tuple[list[float], list]:
    page = client.page
    page.evaluate(NO_LOOP_JS)
    page.evaluate("wrdViewer.input.focus()")
    time.sleep(0.5)  # peerbench's last frame request runs out
    for _ in range(keys):
        page.evaluate("__trace.ev.push(['arm', performance.timeOrigin + performance.now()]); "
                      "__trace.want = 1 - __pb.probe()")
        page.keyboard.press("a")
        page.wait_for_function("__trace.want === null", timeout=3000, polling=5)
        time.sleep(random.uniform(0.25, 0.45))
    return [], page.evaluate("__trace.ev")


def per_key(events: list, measured: list[float]) -> dict[str, list[float]]:
    """Milliseconds from keydown to each page stamp, one list per stamp."""
    out: dict[str, list[float]] = {"input sent": [], "frame message": [], "drawn": [],
                                   "first animation frame": [], "presented (no frame loop)": []}
    if measured:
        out["probe (peerbench)"] = list(measured)
    presses: list[list] = []
    for name, t in events:
        if name == "arm":
            presses.append([])
        elif presses:
            presses[-1].append((name, t))
    for stamps in presses:
        t0 = next((t for n, t in stamps if n == "keydown"), None)
        if t0 is None:
            continue
        for key, prefix in (("input sent", "send input"), ("frame message", "message"), ("drawn", "drawn")):
            t = next((t for n, t in stamps if n.startswith(prefix) and t >= t0), None)
            if t is not None:
                out[key].append(t - t0)
        for key, prefix in (("first animation frame", "frame"), ("presented (no frame loop)", "presented")):
            t = next((t for n, t in stamps if n.startswith(prefix) and t >= t0), None)
            if t is not None:
                out[key].append(t - t0)
    return out


def strace_hops(files: dict[str, Path], events: list) -> dict[str, list[float]]:
    lines = []
    for proc, path in files.items():
        for line in path.read_text().splitlines():
            m = re.match(r"\d+\s+(\d+):(\d+):([\d.]+) (sendto|recvfrom)\((\d+), .*= (\d+)$", line)
            if m:
                t = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
                lines.append((t, proc, m[4], int(m[6])))
    lines += [((t / 1000) % 86400, "page", name, 0) for name, t in events if name == "keydown"]
    lines.sort()
    out: dict[str, list[float]] = {name: [] for name, *_ in HOPS}
    for i, (t0, proc, *_) in enumerate(lines):
        if proc != "page":
            continue
        j = i
        for name, hop_proc, hop_call, size in HOPS:
            j = next((k for k in range(j + 1, min(j + 400, len(lines)))
                      if lines[k][1] == hop_proc and lines[k][2] == hop_call and size(lines[k][3])), None)
            if j is None or lines[j][0] - t0 > 0.2:
                break
            out[name].append((lines[j][0] - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=40)
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--chromium-arg", action="append", default=[],
                    help="an extra Chromium flag, for diagnosis (peerbench's own flags are fixed), "
                         "e.g. --disable-features=DeferRendererTasksAfterInput; repeatable")
    ap.add_argument("--no-frame-loop", action="store_true",
                    help="measure the page with no animation-frame loop running, as a user's tab")
    args = ap.parse_args()
    import importlib.util

    import servers
    from clients import BrowserClient

    spec = importlib.util.spec_from_file_location("peerbench_bench", PEERBENCH / "bench.py")
    peerbench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peerbench)

    class Args:
        client_args: list[str] = []

    scratch = Path(os.environ.get("PB_SCRATCH", "/tmp/peerbench"))
    BrowserClient.ARGS = [*BrowserClient.ARGS, *args.chromium_arg]
    srv = servers.make("wrd-browser", Args)
    src = client = None
    tracers: list[subprocess.Popen] = []
    files: dict[str, Path] = {}
    try:
        src = srv.make_source()
        srv.start(src)
        client = BrowserClient(*srv.client[1:])
        peerbench.start_scenario("probe", src)
        client.start()
        if args.strace:
            for proc, pid in (("daphne", srv._serve_children().get("daphne")), ("host", srv.host_pid)):
                files[proc] = scratch / f"strace-{proc}.txt"
                tracers.append(subprocess.Popen(["strace", "-f", "-tt", "-qq", "-s", "0", "-e", "trace=sendto,recvfrom",
                                                 "-p", str(pid), "-o", str(files[proc])]))
            time.sleep(1.5)
        measured, events = (press_without_loop if args.no_frame_loop else press)(client, args.keys)
    finally:
        for tracer in tracers:
            tracer.terminate()
            tracer.wait()
        if client:
            client.stop()
        srv.stop()
        if src:
            src.close()
    table = per_key(events, measured)
    if files:
        table.update(strace_hops(files, events))
    print(f"{'ms after keydown':36s} {'median':>7s} {'min':>6s} {'p95':>6s}  n")
    for name, values in sorted(table.items(), key=lambda kv: statistics.median(kv[1]) if kv[1] else 0):
        if values:
            s = sorted(values)
            print(f"{name:36s} {statistics.median(s):7.1f} {s[0]:6.1f} {s[int(0.95 * (len(s) - 1))]:6.1f}  {len(s)}")
    if args.out:
        Path(args.out).write_text(json.dumps({"measured": measured, "events": events, "table": table}))


if __name__ == "__main__":
    main()
