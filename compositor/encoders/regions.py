"""Rectangle arithmetic shared by the image encoders: snapping, merging, and the touch-up map.

Pure functions and one small state object; no pixels, no clock (``idle`` passes ``now`` in).
"""

from __future__ import annotations

import numpy as np

from compositor.rects import Rect, area, clip, union

# Each separate image costs a header (~600 B for a JPEG, ~100 B for WebP) and a decode call in
# the browser; merging two rectangles is worth it while the bounding box adds fewer pixels
# than this.
MERGE_SLACK_PIXELS = 64 * 64


def snap(rect: Rect, grid: int, width: int, height: int) -> Rect | None:
    """Grow ``rect`` outwards to multiples of ``grid`` (JPEG blocks align), clipped to the screen."""
    x, y, w, h = rect
    x0, y0 = (x // grid) * grid, (y // grid) * grid
    x1 = -(-(x + w) // grid) * grid
    y1 = -(-(y + h) // grid) * grid
    return clip((x0, y0, x1 - x0, y1 - y0), width, height)


def _overlap(a: Rect, b: Rect) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0


def merge(rects: list[Rect], *, slack: int = MERGE_SLACK_PIXELS, max_rects: int = 32) -> list[Rect]:
    """Merge rectangles whose bounding box costs at most ``slack`` extra pixels.

    Greedy and quadratic, which is fine for the tens of rectangles damage gives per frame.
    The result never overlaps and covers every input pixel; past ``max_rects`` the cheapest
    merges are forced until it fits.
    """
    out = [r for r in rects if r[2] > 0 and r[3] > 0]
    changed = True
    while changed and len(out) > 1:
        changed = False
        best: tuple[int, int, int] | None = None
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                cost = area(union(a, b)) - (area(a) + area(b) - _overlap(a, b))
                overlapping = _overlap(a, b) > 0
                if (overlapping or cost <= slack or len(out) > max_rects) and (
                    best is None or cost < best[0]
                ):
                    best = (cost, i, j)
        if best is not None:
            _, i, j = best
            merged = union(out[i], out[j])
            out = [r for k, r in enumerate(out) if k not in (i, j)]
            out.append(merged)
            changed = True
    return out


class TouchUpMap:
    """Which tiles were last sent lossy, and since when they have been quiet.

    ``damage`` marks tiles lossy (the encoder just sent them with loss) and not quiet;
    ``idle(now)`` notes the first quiet moment of each lossy tile and returns the rectangles
    (tile runs) quiet for at least ``settle`` seconds, up to ``budget`` pixels; ``sent`` clears
    them. Time is whatever clock the caller uses, consistently.
    """

    def __init__(self, width: int, height: int, *, tile: int = 64, settle: float = 0.3) -> None:
        self.tile = tile
        self.settle = settle
        self.width = width
        self.height = height
        rows, cols = -(-height // tile), -(-width // tile)
        self.lossy = np.zeros((rows, cols), dtype=bool)
        self.quiet_since = np.full((rows, cols), np.nan)
        # ``lossy.any()``, kept as the map changes: asked on every frame and idle tick, where a
        # numpy reduction costs more than the rest of the check
        self.any_lossy = False

    def damage(self, rects: list[Rect]) -> None:
        t = self.tile
        for x, y, w, h in rects:
            if w <= 0 or h <= 0:
                continue
            sl = (slice(y // t, -(-(y + h) // t)), slice(x // t, -(-(x + w) // t)))
            self.lossy[sl] = True
            self.quiet_since[sl] = np.nan
            self.any_lossy = True

    def clean(self, rects: list[Rect]) -> None:
        """Tiles fully inside ``rects`` were just sent losslessly."""
        t = self.tile
        for x, y, w, h in rects:
            c0, r0 = -(-x // t), -(-y // t)
            c1 = (x + w) // t if x + w < self.width else self.lossy.shape[1]
            r1 = (y + h) // t if y + h < self.height else self.lossy.shape[0]
            if c1 > c0 and r1 > r0:
                self.lossy[r0:r1, c0:c1] = False
                self.quiet_since[r0:r1, c0:c1] = np.nan
        if self.any_lossy:
            self.any_lossy = bool(self.lossy.any())

    def copied(self, source: Rect, dest: Rect) -> None:
        """Pixels moved from ``source`` to ``dest`` on the viewers' screens: lossy ones stay lossy."""
        t = self.tile
        x, y, w, h = source
        if self.any_lossy and self.lossy[y // t:-(-(y + h) // t), x // t:-(-(x + w) // t)].any():
            self.damage([dest])

    def due(self, now: float, *, budget: int) -> list[Rect]:
        if not self.any_lossy:  # the usual case while typing: nothing was sent lossy
            return []
        fresh = self.lossy & np.isnan(self.quiet_since)
        self.quiet_since[fresh] = now
        ready = self.lossy & (now - np.nan_to_num(self.quiet_since, nan=now) >= self.settle)
        if not ready.any():
            return []
        t = self.tile
        rects: list[Rect] = []
        spent = 0
        for r in range(ready.shape[0]):
            row = ready[r]
            if not row.any():
                continue
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                rect = clip((start * t, r * t, (c - start) * t, t), self.width, self.height)
                if rect is None:
                    continue
                if spent and spent + area(rect) > budget:
                    return _stack(rects)
                rects.append(rect)
                spent += area(rect)
        return _stack(rects)


def _stack(rects: list[Rect]) -> list[Rect]:
    """Join runs of equal horizontal extent on consecutive tile rows into taller rectangles."""
    out: list[Rect] = []
    for r in rects:
        for k, o in enumerate(out):
            if o[0] == r[0] and o[2] == r[2] and o[1] + o[3] == r[1]:
                out[k] = (o[0], o[1], o[2], o[3] + r[3])
                break
        else:
            out.append(r)
    return out
