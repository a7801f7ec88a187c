"""The ``bitmap`` stream (compositor/encoders/bitmap.py): ms and bytes per update, per scene.

Run: .venv/bin/python bench/bench_rdp_bitmap.py [--repeat N]

Scenes at 1920x1080, 32 bpp (Planar) unless said:
- gradient: a full-screen gradient moving by a few levels every frame (every pixel changes);
- typing: one 8x16 glyph drawn, damage 10x20;
- scroll: the xterm screenshot (tests/data/encoders) scrolled by one 16-px text line, full
  damage; ``scroll+copy`` the same with the ``copy`` option (a ScrBlt for the client);
- damage-only: full-screen damage, nothing changed (X damage of a window redrawn alike);
- video720: a 1280x720 textured area moving by 3 px a frame (every pixel changes).

Each is measured two ways: "per connection" is what the RDP server did per client before the
host encoded once per session (``build_bitmap_data`` of the damage, no comparison with the
previous frame); "stream" is ``BitmapEncoder.encode`` (changed tiles only). Best and median
of ``--repeat`` runs, and bytes of TS_BITMAP_DATA per update.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compositor.encoders.bitmap import BitmapEncoder, bitmap_tiles  # noqa: E402

W, H = 1920, 1080
MAX_UPDATE = 16_377


def gradient(t: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W, 4), np.uint8)
    img[..., 0] = (x * 256 // W + 8 * t) & 255
    img[..., 1] = (y * 256 // H + 4 * t) & 255
    img[..., 2] = ((x + y) * 128 // (W + H) + 2 * t) & 255
    return img


def terminal() -> np.ndarray:
    rgb = np.asarray(Image.open(ROOT / "tests" / "data" / "encoders" / "terminal-1920x1080.png").convert("RGB"))
    img = np.zeros((H, W, 4), np.uint8)
    img[..., :3] = rgb[..., ::-1]
    return img


def scenes() -> dict[str, tuple[np.ndarray, np.ndarray, list]]:
    """name -> (previous screen, new screen, damage)."""
    term = terminal()
    scrolled = term.copy()
    scrolled[:-16] = term[16:]
    typed = term.copy()
    typed[500:516, 300:308, :3] = 255 - typed[500:516, 300:308, :3]
    rng = np.random.default_rng(1)
    texture = rng.integers(0, 256, (730, 1300, 4), dtype=np.uint8)
    texture = (texture // 32 * 32).astype(np.uint8)  # a few levels: video-like blocks compress a little
    before_video, after_video = term.copy(), term.copy()
    before_video[180:900, 320:1600] = texture[:720, :1280]
    after_video[180:900, 320:1600] = texture[3:723, 3:1283]
    return {
        "gradient": (gradient(0), gradient(1), [(0, 0, W, H)]),
        "typing": (term, typed, [(299, 498, 10, 20)]),
        "scroll": (term, scrolled, [(0, 0, W, H)]),
        "damage-only": (term, term.copy(), [(0, 0, W, H)]),
        "video720": (before_video, after_video, [(320, 180, 1280, 720)]),
    }


def timed(fn: Callable[[], int], repeat: int, setup: Callable[[], None] = lambda: None) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        setup()
        t0 = time.perf_counter()
        size = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times), size


def per_connection(screen: np.ndarray, damage: list) -> int:
    return sum(t.size() for t in bitmap_tiles(screen, damage, bpp=32, max_update_size=MAX_UPDATE))


def stream(after: np.ndarray, damage: list, enc: BitmapEncoder) -> Callable[[], int]:
    def run() -> int:
        frames = enc.encode(after, damage, full=False)
        return sum(len(f.payload) for f in frames)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{W}x{H}, 32 bpp Planar, best/median of {args.repeat}, cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'scene':12} {'per connection ms':>18} {'bytes':>10} {'stream ms':>10} {'bytes':>10}")
    rows = [(name, scene, False) for name, scene in scenes().items()]
    rows.insert(3, ("scroll+copy", scenes()["scroll"], True))
    for name, (before, after, damage), copy in rows:
        old_best, old_median, old_size = timed(lambda a=after, d=damage: per_connection(a, d), args.repeat)
        enc = BitmapEncoder(W, H, {"bpp": 32, "max_update_size": MAX_UPDATE, "copy": copy})
        # Untimed before each run: the previous frame was sent.
        new_best, new_median, new_size = timed(stream(after, damage, enc), args.repeat,
                                               setup=lambda e=enc, b=before: e.diff.reset(b))
        print(f"{name:12} {old_best:8.2f} ({old_median:6.2f}) {old_size:10,d} "
              f"{new_best:6.2f} ({new_median:6.2f}) {new_size:10,d}")


if __name__ == "__main__":
    main()
