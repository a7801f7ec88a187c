"""Damage rectangle bookkeeping: clip, drop contained, merge when there are too many."""

from __future__ import annotations

Rect = tuple[int, int, int, int]  # x, y, w, h

BAND = 64


def clip(rect: Rect, width: int, height: int) -> Rect | None:
    x, y, w, h = rect
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, width), min(y + h, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def union(a: Rect, b: Rect) -> Rect:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _touches(a: Rect, b: Rect) -> bool:
    return not (a[0] > b[0] + b[2] or b[0] > a[0] + a[2] or a[1] > b[1] + b[3] or b[1] > a[1] + a[3])


def area(rect: Rect) -> int:
    return rect[2] * rect[3]


def merge(rects: list[Rect], width: int, height: int, max_rects: int = 32) -> list[Rect]:
    """A small list of rectangles covering ``rects`` (clipped to the screen).

    Touching rectangles merge when their union wastes little area; past ``max_rects`` they
    are collapsed per 64-row band, and past that into one bounding box.
    """
    if len(rects) == 1:  # a keystroke's damage: nothing to merge
        return [c] if (c := clip(rects[0], width, height)) else []
    clipped = [c for r in rects if (c := clip(r, width, height))]
    if not clipped:
        return []
    out: list[Rect] = []
    for rect in sorted(clipped, key=lambda r: (r[1], r[0])):
        for i, other in enumerate(out):
            if _touches(rect, other):
                joined = union(rect, other)
                if area(joined) <= (area(rect) + area(other)) * 1.3:
                    out[i] = joined
                    break
        else:
            out.append(rect)
    if len(out) <= max_rects:
        return out
    bands: dict[int, Rect] = {}
    for rect in out:
        for band in range(rect[1] // BAND, (rect[1] + rect[3] - 1) // BAND + 1):
            top = band * BAND
            piece = clip((rect[0], top, rect[2], BAND), width, height)
            piece = piece and clip(piece, width, min(height, rect[1] + rect[3]))
            if piece and piece[1] < rect[1]:
                piece = (piece[0], rect[1], piece[2], piece[3] - (rect[1] - piece[1]))
            if piece:
                bands[band] = union(bands[band], piece) if band in bands else piece
    out = list(bands.values())
    if len(out) <= max_rects:
        return out
    box = out[0]
    for rect in out[1:]:
        box = union(box, rect)
    return [box]


def disjoint(rects: list[Rect]) -> list[Rect]:
    """``rects`` with every group of overlapping rectangles replaced by its bounding box: no
    pixel is in two of them (damage merged while a client was slow is encoded once; copies
    never write where another one reads)."""
    out: list[Rect] = []
    for rect in rects:
        if rect[2] <= 0 or rect[3] <= 0:
            continue
        x, y, x1, y1 = rect[0], rect[1], rect[0] + rect[2], rect[1] + rect[3]
        merged = True
        while merged:
            merged = False
            for i, (ox, oy, ow, oh) in enumerate(out):
                if ox < x1 and x < ox + ow and oy < y1 and y < oy + oh:
                    del out[i]
                    x, y, x1, y1 = min(x, ox), min(y, oy), max(x1, ox + ow), max(y1, oy + oh)
                    merged = True
                    break
        out.append((x, y, x1 - x, y1 - y))
    return out
