"""Legacy RDP bitmap codecs: ms and bytes per full-screen 1920x1080 change.

Run: .venv/bin/python bench/bench_rdp_codecs.py [--repeat N]

Two frames: a desktop-like screenshot (gradient wallpaper, flat windows with title bars,
text-like glyph noise in the windows) and pure noise (the worst case). Each frame goes through
``build_bitmap_data`` (64x64 tiles, 16 KB fast-path limit) at 32 bpp (planar), 24 and 16 bpp
(interleaved RLE) and uncompressed at 32 bpp, and ``pack_bitmap_updates``. Prints the best
and the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rdpfront.codecs import build_bitmap_data, pack_bitmap_updates

WIDTH, HEIGHT = 1920, 1080
MAX_UPDATE = 16_377  # rdpfront.fastpath.MAX_FRAGMENT: a 0x3FFF fast-path PDU less its headers


def desktop_frame(rng: np.random.Generator) -> np.ndarray:
    """A screenshot-like BGRX frame: wallpaper gradient, windows, title bars, text."""
    img = np.empty((HEIGHT, WIDTH, 4), np.uint8)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    img[..., 0] = 120 + (x * 100 // WIDTH)
    img[..., 1] = 60 + (y * 80 // HEIGHT)
    img[..., 2] = 40
    img[..., 3] = 0
    img[HEIGHT - 40:, :] = (48, 48, 48, 0)  # panel
    windows = [(80, 60, 1100, 700), (700, 300, 1150, 720), (1400, 100, 480, 900)]
    for wx, wy, ww, wh in windows:
        img[wy:wy + wh, wx:wx + ww] = (250, 250, 250, 0)
        img[wy:wy + 30, wx:wx + ww] = (200, 120, 60, 0)
        # Text: rows of 14-px lines, glyph-like dark pixels in 60 % of each line's width.
        for ly in range(wy + 40, wy + wh - 20, 18):
            line_w = int(ww * rng.uniform(0.3, 0.9))
            glyphs = rng.random((12, line_w)) < 0.22
            block = img[ly:ly + 12, wx + 10:wx + 10 + line_w]
            block[glyphs[: block.shape[0], : block.shape[1]]] = (30, 30, 30, 0)
    return img


def measure(frame: np.ndarray, bpp: int, compress: bool,
            repeat: int) -> tuple[float, float, float, int, int]:
    """Best and median wall ms, best CPU ms (this thread), bytes and updates per frame."""
    times = []
    cpu = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        c0 = time.thread_time()
        rects = build_bitmap_data(frame, [(0, 0, WIDTH, HEIGHT)], bpp=bpp,
                                  max_update_size=MAX_UPDATE, compress=compress)
        updates = pack_bitmap_updates(rects, MAX_UPDATE)
        cpu.append((time.thread_time() - c0) * 1000)
        times.append((time.perf_counter() - t0) * 1000)
    size = sum(u.size() for u in updates)
    return min(times), statistics.median(times), min(cpu), size, len(updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    frames = {
        "desktop": desktop_frame(rng),
        "noise": rng.integers(0, 256, (HEIGHT, WIDTH, 4), dtype=np.uint8),
    }
    cases = [("planar 32bpp", 32, True), ("interleaved 24bpp", 24, True),
             ("interleaved 16bpp", 16, True), ("raw 32bpp", 32, False),
             ("raw 16bpp", 16, False)]
    print(f"full-screen {WIDTH}x{HEIGHT} change, 64x64 tiles, updates <= {MAX_UPDATE} bytes, "
          f"best/median of {args.repeat}, cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'frame':8} {'codec':18} {'best ms':>8} {'median ms':>10} {'cpu ms':>7} "
          f"{'bytes/frame':>12} {'ratio':>6} {'updates':>8}")
    for name, frame in frames.items():
        for label, bpp, compress in cases:
            best, median, cpu, size, n = measure(frame, bpp, compress, args.repeat)
            ratio = WIDTH * HEIGHT * 4 / size
            print(f"{name:8} {label:18} {best:8.1f} {median:10.1f} {cpu:7.1f} {size:12,d} "
                  f"{ratio:6.1f} {n:8d}")


if __name__ == "__main__":
    main()
