"""Encoder figures at 1920×1080 (prints a table; not a pass/fail test).

    .venv/bin/python bench/bench_encoders.py [--repeat 30]

Colour conversion (swscale through PyAV vs libyuv vs the numpy reference), H.264 keyframe and
P-frames for typing / terminal scroll / full-screen pan, the copy search of a scrolling
terminal (alone, and in the bitmap encoder), JPEG full and per tile, lossless touch-up
candidates (WebP lossless, zlib, PNG). Content: tests/data/encoders/terminal-1920x1080.png.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compositor.encoders import ENCODERS, load_builtin_encoders  # noqa: E402
from compositor.encoders.colour import CONVERTER, NumpyConverter  # noqa: E402


def timed(fn: Callable[[], object], repeat: int,
          prepare: Callable[[], object] | None = None) -> tuple[float, float, object]:
    """Median and p95 milliseconds of ``repeat`` calls after one warm-up; ``prepare`` runs
    before each call, untimed."""
    if prepare is not None:
        prepare()
    fn()
    times, result = [], None
    for _ in range(repeat):
        if prepare is not None:
            prepare()
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], result


def row(name: str, median: float, p95: float, size: int | None = None) -> None:
    size_text = f"{size:>9,} B" if size is not None else ""
    print(f"  {name:<48} {median:7.2f} ms  (p95 {p95:6.2f})  {size_text}")


class ScrollingTerminal:
    """A 720x520 terminal of ``screen``'s text, scrolled a 13-row line at a time. Two screens
    in turn: the next one is drawn (``scroll``, untimed) into the one not shown last, so the
    one an encoder remembers stays as it was. Past the text's end (~200 scrolls) it starts
    again: one frame in ~200 that is not a scroll."""

    def __init__(self, screen: np.ndarray) -> None:
        self._lines = np.tile(screen[:, :720], (3, 1, 1))
        self._buffers = [np.zeros_like(screen), np.zeros_like(screen)]
        self._shown = -1
        self.scroll()

    @property
    def screen(self) -> np.ndarray:
        return self._buffers[self._shown % 2]

    def scroll(self) -> None:
        self._shown += 1
        top = 13 * self._shown % (len(self._lines) - 520)
        self._buffers[self._shown % 2][:520, :720] = self._lines[top:top + 520]


def load_screen() -> np.ndarray:
    from PIL import Image

    rgb = np.asarray(Image.open(REPO / "tests/data/encoders/terminal-1920x1080.png").convert("RGB"))
    bgrx = np.zeros((*rgb.shape[:2], 4), np.uint8)
    bgrx[:, :, :3] = rgb[:, :, ::-1]
    return bgrx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args().repeat
    load_builtin_encoders()
    screen = load_screen()
    h, w = screen.shape[:2]
    print(f"1920x1080, median of {repeat} runs, converter in use: {CONVERTER.name}")

    print("colour conversion BGRX -> I420 (full frame)")
    import av

    def swscale() -> object:
        return av.VideoFrame.from_ndarray(screen, format="bgra").reformat(format="yuv420p")

    planes = (np.empty((h, w), np.uint8), np.empty((h // 2, w // 2), np.uint8), np.empty((h // 2, w // 2), np.uint8))
    row("PyAV swscale (from_ndarray + reformat)", *timed(swscale, repeat)[:2])
    row(f"{CONVERTER.name}", *timed(lambda: CONVERTER.convert(screen, *planes, (0, 0, w, h)), repeat)[:2])
    row("numpy reference", *timed(lambda: NumpyConverter().convert(screen, *planes, (0, 0, w, h)),
                                  max(3, repeat // 5))[:2])

    print("h264 (libx264 ultrafast, zerolatency, baseline, me=umh, crf 26, 1 thread; our conversion;"
          " small=0: every change as video)")
    enc = ENCODERS["h264"](w, h, {"lossless": False, "small": 0})
    med, p95, frames = timed(lambda: enc.encode(screen, [], full=True), max(3, repeat // 3))
    row("keyframe", med, p95, len(frames[0].payload))
    work = screen.copy()
    counter = iter(range(10**9))

    sizes: list[int] = []

    def typing() -> object:
        i = next(counter)
        x, y = 8 + (i % 100) * 9, 600 + (i // 100 % 20) * 18
        work[y + 2:y + 13, x + 1:x + 7] = 0  # a black glyph-sized block on the white terminal
        frames = enc.encode(work, [(x, y, 8, 15)], full=False)
        sizes.append(len(frames[0].payload))
        return frames

    med, p95, _ = timed(typing, repeat)
    row("P-frame, one character typed (median size)", med, p95, int(statistics.median(sizes)))
    sizes.clear()

    def scroll() -> object:
        work[0:h - 18] = work[18:h].copy()
        frames = enc.encode(work, [(0, 0, w, h)], full=False)
        sizes.append(len(frames[0].payload))
        return frames

    med, p95, _ = timed(scroll, repeat)
    row("P-frame, terminal scrolled one line (median size)", med, p95, int(statistics.median(sizes)))
    sizes.clear()
    texture = np.tile(screen, (1, 2, 1))
    offset = iter(range(0, 10**9, 12))

    def pan() -> object:
        o = next(offset) % w
        frames = enc.encode(np.ascontiguousarray(texture[:, o:o + w]), [(0, 0, w, h)], full=False)
        sizes.append(len(frames[0].payload))
        return frames

    med, p95, _ = timed(pan, repeat)
    row("P-frame, full-screen pan 12 px/frame (median size)", med, p95, int(statistics.median(sizes)))

    print("copy search: a 720x520 terminal scrolled one 13-row line a frame (ScrollDetector.find + sent)")
    from compositor.encoders.bitmap import BitmapEncoder
    from compositor.encoders.scroll import ScrollDetector

    terminal = ScrollingTerminal(screen)
    area = (0, 0, 720, 520)
    detector = ScrollDetector(w, h)
    detector.sent(terminal.screen, [], full=True)

    def search() -> object:
        found = detector.find(terminal.screen, [area])
        detector.sent(terminal.screen, [area])
        return found

    row("search and remember", *timed(search, repeat, terminal.scroll)[:2])
    terminal = ScrollingTerminal(screen)
    benc = BitmapEncoder(w, h, {"bpp": 32, "codec": "auto", "layout": "bitmap", "copy": True})
    benc.encode(terminal.screen, [], full=True)
    sizes.clear()

    def bitmap_update() -> object:
        frames = benc.encode(terminal.screen, [area], full=False)
        sizes.append(sum(len(f.payload) for f in frames))
        return frames

    med, p95, _ = timed(bitmap_update, repeat, terminal.scroll)
    row("bitmap updates: copy + new line (median size)", med, p95, int(statistics.median(sizes)))

    print("small damage path (lossless frames an H.264 stream sends for small changes, per viewer variant)")
    from compositor.encoders.lossless import lossless_update

    # Two character cells of antialiased text (a typed letter and the cursor), as xterm damages
    # (Planar remembers bitmaps this small by their pixels: typing repeats them), and a block.
    for variant in ("planar", "web"):
        for label, rect in (("two text cells 20x20", (0, 0, 20, 20)), ("160x160 of text", (0, 0, 160, 160))):
            med, p95, frames = timed(lambda r=rect, v=variant: lossless_update(screen, [r], frozenset({v})), repeat)
            if frames is None:
                row(f"{label}, {variant}: left to H.264", med, p95)
            else:
                row(f"{label}, {variant} ({frames[0].fields['codec']})", med, p95, len(frames[0].payload))

    print("jpeg (simplejpeg q80 4:2:0, small=0)")
    jenc = ENCODERS["jpeg"](w, h, {"lossless": False, "small": 0})
    med, p95, frames = timed(lambda: jenc.encode(screen, [], full=True), max(3, repeat // 3))
    row("full frame", med, p95, len(frames[0].payload))
    med, p95, frames = timed(lambda: jenc.encode(screen, [(256, 256, 256, 256)], full=False), repeat)
    row("one 256x256 tile", med, p95, len(frames[0].payload))
    med, p95, frames = timed(lambda: jenc.encode(screen, [(100, 500, 8, 15)], full=False), repeat)
    row("one character (snapped to 16 px)", med, p95, len(frames[0].payload))

    print("lossless touch-up candidates (full frame)")
    from PIL import Image

    from compositor.encoders.lossless import webp_lossless

    med, p95, data = timed(lambda: webp_lossless(screen, (0, 0, w, h)), max(3, repeat // 5))
    row("WebP lossless method 0 (chosen)", med, p95, len(data))
    bgr = np.ascontiguousarray(screen[:, :, :3])
    med, p95, data = timed(lambda: zlib.compress(bgr.tobytes(), 1), max(3, repeat // 5))
    row("zlib level 1 of BGR", med, p95, len(data))
    image = Image.fromarray(screen[:, :, 2::-1].copy())

    def png() -> bytes:
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        return out.getvalue()

    med, p95, data = timed(png, max(3, repeat // 10))
    row("PNG level 1 (Pillow)", med, p95, len(data))
    med, p95, data = timed(lambda: webp_lossless(screen, (0, 0, 512, 256)), repeat)
    row("WebP lossless, one touch-up budget (512x256)", med, p95, len(data))


if __name__ == "__main__":
    main()
