"""Capture cost of an attached display: MIT-SHM (ShmGetImage into a shared segment) vs
XGetImage through python-xlib, beside the ``-fbdir`` mmap copy WRD's own Xvfb allows.

    .venv/bin/python bench/bench_attach_capture.py [--size 1920x1080] [--rounds 30]

Starts an Xvfb of its own (ended at the end), paints it with noise so nothing compresses,
and times each method on a full frame and on a typing-sized damage (one 300x20 rectangle).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from Xlib import X
from Xlib import display as xdisplay

from compositor.display import start_xvfb
from compositor.framebuffer import ShmFramebuffer, XGetImageFramebuffer, XwdFramebuffer


def paint_noise(d, width: int, height: int) -> None:
    """Random pixels on the root window, in strips small enough for core PutImage."""
    root = d.screen().root
    gc = root.create_gc()
    rng = np.random.default_rng(1)
    rows = max(1, 240_000 // (width * 4))  # under the core request limit (256 KB)
    for top in range(0, height, rows):
        strip = rng.integers(0, 256, (min(rows, height - top), width, 4), dtype=np.uint8)
        root.put_image(gc, 0, top, width, strip.shape[0], X.ZPixmap, 24, 0, strip.tobytes())
        d.flush()
    d.sync()


def timed(fn, rounds: int) -> tuple[float, float]:
    """Median and 95th percentile of ``fn()`` in ms."""
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        xvfb = start_xvfb(width=width, height=height, workdir=Path(tmp))
        try:
            os.environ["XAUTHORITY"] = str(xvfb.xauthority)
            d = xdisplay.Display(xvfb.name)
            paint_noise(d, width, height)
            xwd = XwdFramebuffer(xvfb.framebuffer_path)
            shm = ShmFramebuffer(d, width, height)
            xget = XGetImageFramebuffer(d, width, height)
            assert np.array_equal(shm.screen(), xget.screen()), "MIT-SHM and XGetImage disagree"
            full = [(0, 0, width, height)]
            typing = [(100, 400, 300, 20)]
            rows = [
                ("-fbdir mmap copy (WRD's own Xvfb)", lambda: np.array(xwd.screen(), copy=True), None),
                ("MIT-SHM ShmGetImage", lambda: shm.refresh(full), lambda: shm.refresh(typing)),
                ("MIT-SHM ShmGetImage + copy out", lambda: (shm.refresh(full), np.array(shm.screen(), copy=True)),
                 None),
                ("XGetImage (python-xlib)", lambda: xget.refresh(full), lambda: xget.refresh(typing)),
            ]
            print(f"capture cost, {width}x{height}, {args.rounds} rounds, median / p95 in ms")
            for name, frame, small in rows:
                med, p95 = timed(frame, args.rounds)
                line = f"  {name:36s} full frame {med:7.2f} / {p95:7.2f}"
                if small is not None:
                    smed, sp95 = timed(small, args.rounds)
                    line += f"   300x20 damage {smed:6.3f} / {sp95:6.3f}"
                print(line)
            shm.close()
            xwd.close()
            d.close()
        finally:
            xvfb.stop()


if __name__ == "__main__":
    main()
