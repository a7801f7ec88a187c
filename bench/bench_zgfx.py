"""RDP 8.0 bulk compression (rdpfront.zgfx): ms and bytes per graphics message.

Run: .venv/bin/python bench/bench_zgfx.py [--messages N]

Messages are what the graphics pipeline sends while text is typed: Start Frame, Wire To
Surface 1 with a Planar image of text (glyphs drawn from a 40-glyph alphabet of 8x16 cells,
black on white, so glyphs repeat as they do in a terminal), End Frame. Three sizes: one
glyph (~200 B, a keystroke), a line of text (~2 KB), a block of lines (~8 KB; and ~11 KB, above the
default limit, sent raw, then with the limit raised); and a 64 KB
segment of noise (an H.264 access unit: sent raw, only appended to the history); then a
screen of text (~55 KB) and the noise compressed whole (``max_compress`` 65535). Each kind
goes through one compressor in turn (the history warm with the earlier messages), checked
against the decompressor; prints ms per message (median and best of the per-message times)
and bytes before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from compositor.encoders.planar import encode_planar
from rdpfront import gfx, zgfx

GLYPH_W, GLYPH_H = 8, 16


def alphabet(rng: np.random.Generator, count: int = 40) -> list[np.ndarray]:
    """Glyph-like cells: a few strokes of dark pixels on white."""
    glyphs = []
    for _ in range(count):
        cell = np.full((GLYPH_H, GLYPH_W, 4), 255, np.uint8)
        for _ in range(3):
            x, y = rng.integers(1, GLYPH_W - 1), rng.integers(2, GLYPH_H - 3)
            if rng.integers(2):
                cell[y:y + rng.integers(3, 10), x, :3] = 30
            else:
                cell[y, x:x + rng.integers(2, 6), :3] = 30
        glyphs.append(cell)
    return glyphs


def text_frame(frame_id: int, glyphs: list[np.ndarray], rng: np.random.Generator, columns: int,
               rows: int) -> bytes:
    """One graphics frame drawing ``rows`` x ``columns`` glyphs, as the channel sends it."""
    picks = rng.integers(0, len(glyphs), (rows, columns))
    image = np.vstack([np.hstack([glyphs[g] for g in row]) for row in picks])
    x, y = int(rng.integers(0, 100)) * GLYPH_W, int(rng.integers(0, 40)) * GLYPH_H
    rect = (x, y, x + columns * GLYPH_W, y + rows * GLYPH_H)
    command = gfx.wire_to_surface_1(1, gfx.Codec.PLANAR, rect, encode_planar(image))
    return b"".join([gfx.start_frame(frame_id), command, gfx.end_frame(frame_id)])


def run(kind: str, messages: list[bytes], **options: int) -> None:
    compressor, decompressor = zgfx.Compressor(**options), zgfx.Decompressor()
    times, raw, sent = [], 0, 0
    for message in messages:
        t = time.perf_counter()
        segment = compressor.segment(message)
        times.append((time.perf_counter() - t) * 1000)
        assert decompressor.segment(segment) == message
        raw += len(message)
        sent += len(segment)
    print(f"{kind:<22} {raw / len(messages):>8.0f} B -> {sent / len(messages):>8.0f} B "
          f"({100 * sent / raw:5.1f} %)   {statistics.median(times):6.3f} ms median, {min(times):6.3f} best")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    glyphs = alphabet(rng)
    n = args.messages
    print(f"{'kind':<22} {'raw':>10}    {'sent':>8}")
    run("keystroke (1 glyph)", [text_frame(i, glyphs, rng, 1, 1) for i in range(n)])
    run("line (28 glyphs)", [text_frame(i, glyphs, rng, 28, 1) for i in range(n)])
    run("block (3 x 37 glyphs)", [text_frame(i, glyphs, rng, 37, 3) for i in range(n)])
    run("block (4 x 40 glyphs)", [text_frame(i, glyphs, rng, 40, 4) for i in range(n)])
    run("  same, all compressed", [text_frame(i, glyphs, rng, 40, 4) for i in range(n)], max_compress=65535)
    run("64 KB noise (raw)", [rng.integers(0, 256, 65534, np.uint8).tobytes() for _ in range(min(n, 60))])
    # what the graphics channel compresses whole with the C core (frames without H.264), and
    # what it keeps from that (an access unit)
    run("screen (8 x 100 glyphs)", [text_frame(i, glyphs, rng, 100, 8) for i in range(min(n, 60))],
        max_compress=65535)
    run("  64 KB noise, tried", [rng.integers(0, 256, 65534, np.uint8).tobytes() for _ in range(min(n, 60))],
        max_compress=65535)


if __name__ == "__main__":
    main()
