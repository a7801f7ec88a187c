"""Scrolling found in damage and sent as a copy: a terminal printing lines, a page moving.

When a damaged area holds what was a few rows further down (or up) the last time it was sent,
the front end can move those pixels itself (RDP: a graphics pipeline SurfaceToSurface; the
browser: a canvas self-copy) and only the rows it did not have are encoded. A scrolling
terminal then costs one copy and a line or two of text per frame instead of a picture of the
whole terminal.

``ScrollDetector`` keeps a copy of the screen as last sent (only the damaged rectangles are
copied on each update) and compares row hashes of a damaged rectangle with the same columns
of that copy: the vertical shift most rows agree on is checked pixel by pixel over the longest
run of agreeing rows, and accepted when that band is tall enough to be worth a copy.

Frame header: ``codec: "copy"``, ``rects``: ``[[x, y, w, h, sx, sy], …]``: draw the ``w`` x
``h`` pixels at ``sx, sy`` at ``x, y``, as the screen was before this frame (the source may
overlap the destination). No payload. Browsers on a compressed socket (image variant ``webz``)
take the copies in the header of the image frame with the exposed rows instead (``copy``, the
same list, run before its images are drawn): one message, one acknowledgement and one draw per
scrolled update (``with_copies``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compositor.encoders import EncodedFrame
from compositor.rects import Rect

try:  # built by ``make native``; without it the numpy steps below, the reference, do the work
    from compositor.encoders import _scroll_rows
except ImportError:  # pragma: no cover - a checkout where the extension was not built
    _scroll_rows = None

NATIVE = _scroll_rows is not None

MIN_ROWS = 16  # a band shorter than this is cheaper to encode than to copy and re-check
MIN_WIDTH = 64
MIN_AREA = 64 * 64
SAMPLE_STEP = 4  # row hashes first from every 4th pixel (see ``find_shift``)
STRIPE = 64  # rows of the stripes searched for sideways moves (``find_sideways``)
MIN_SIDEWAYS_ROWS = 8  # a stripe shorter than this (the rect's last rows) is not searched
_WEIGHTS = np.random.default_rng(0x5C0).integers(1, 2**63, size=8192, dtype=np.uint64) | np.uint64(1)


@dataclass(frozen=True)
class Copy:
    """Move ``w`` x ``h`` pixels from ``sx, sy`` to ``x, y``."""

    x: int
    y: int
    w: int
    h: int
    sx: int
    sy: int

    @property
    def dest(self) -> Rect:
        return (self.x, self.y, self.w, self.h)

    @property
    def source(self) -> Rect:
        return (self.sx, self.sy, self.w, self.h)


def row_hashes(block: np.ndarray, step: int = 1, *, native: bool = NATIVE) -> np.ndarray:
    """One 64-bit hash per row of an (h, w, 4) BGRX block (equal rows, equal hashes), of every
    ``step``-th pixel of each row. ``native``: in one pass of C (``_scroll_rows``), the same
    values as the numpy passes (a 1920x1080 block: 0.34 ms against 0.99 at step 4, 1.4 against
    11.8 at step 1)."""
    if native and block.strides[2] == 1:
        hashes = np.empty(block.shape[0], np.uint64)
        _scroll_rows.row_hashes(block, step, _WEIGHTS, hashes)
        return hashes
    pixels = block[:, ::step].view(np.uint32)[..., 0] & np.uint32(0x00FFFFFF)
    width = pixels.shape[1]
    if width > len(_WEIGHTS):
        pixels = pixels[:, :len(_WEIGHTS)]  # wider than 8192: the exact check still decides
        width = len(_WEIGHTS)
    return (pixels.astype(np.uint64) * _WEIGHTS[:width]).sum(axis=1, dtype=np.uint64)


class RowHashes:
    """Row hashes of one rectangle before and after (``row_hashes``), each computed once per
    sampling step: ``find_copies`` searches a rectangle's rows left over after each band it
    found, and those searches read the same rows again. ``old``: hashes of ``before`` by step,
    known already (``HashCarry``); ``new_by_step`` is what was computed of ``after``."""

    def __init__(self, before: np.ndarray, after: np.ndarray, old: dict[int, np.ndarray] | None = None) -> None:
        self.before, self.after = before, after
        self.old_by_step: dict[int, np.ndarray] = old if old is not None else {}
        self.new_by_step: dict[int, np.ndarray] = {}

    def old(self, step: int) -> np.ndarray:
        return self._hashed(self.old_by_step, self.before, step)

    def new(self, step: int) -> np.ndarray:
        return self._hashed(self.new_by_step, self.after, step)

    @staticmethod
    def _hashed(by_step: dict[int, np.ndarray], block: np.ndarray, step: int) -> np.ndarray:
        if (hashes := by_step.get(step)) is None:
            hashes = by_step[step] = row_hashes(block, step)
        return hashes


class HashCarry:
    """The row hashes of the rectangles of one ``find_copies``'s screen, for the next search:
    once the front ends have that screen in those rectangles, it is what the next search
    compares with, and hashing it again (~0.5 ms a 720x520 terminal, a third of a scrolled
    frame's search) is saved when the next damage covers the same rectangle, as a scrolling
    terminal's does frame after frame.

    Its owner keeps the promise that makes the hashes true: between two searches, the screen
    as sent changed only by each searched rectangle taking the searched screen's pixels;
    anything else (a whole frame, another update, a resize) must ``clear`` it. A broken
    promise costs copies, never correctness: hashes only propose bands, pixels decide."""

    def __init__(self) -> None:
        self._hashes: dict[Rect, dict[int, np.ndarray]] = {}

    def take(self, rect: Rect) -> dict[int, np.ndarray] | None:
        return self._hashes.get(rect)

    def keep(self, hashes: dict[Rect, dict[int, np.ndarray]]) -> None:
        self._hashes = hashes

    def clear(self) -> None:
        self._hashes = {}


def find_shift(before: np.ndarray, after: np.ndarray, lo: int = 0,
               hi: int | None = None, step: int | None = None, *,
               hashes: RowHashes | None = None) -> tuple[int, int, int] | None:
    """``(dy, start, end)``: rows ``start:end`` of ``after`` equal rows ``start+dy:end+dy`` of
    ``before`` (same columns), the tallest such band for the shift most rows agree on; None
    when nothing moved vertically by whole rows (or the band is under ``MIN_ROWS``). Only rows
    ``lo:hi`` of ``after`` are looked at (all by default); the source may be any rows of
    ``before``. ``hashes``: the rows' hashes of earlier searches of the same two blocks.

    Rows are first hashed from every ``SAMPLE_STEP``-th pixel (a full-screen animation, where
    nothing moved vertically, costs ~2 ms instead of ~19). The band they vote for is then
    checked row by row, pixel for pixel, and cut to its longest run of equal rows: rows of text
    that differ only between the samples agree by their hashes, and a band that ran past them
    is kept where it holds. Only when no such run is left are whole rows hashed (an unrelated
    row whose samples matched may have swayed the vote)."""
    hi = after.shape[0] if hi is None else hi
    if hi - lo < MIN_ROWS * 2:
        return None
    if step is None:
        step = SAMPLE_STEP if after.shape[1] >= SAMPLE_STEP * MIN_WIDTH else 1
    if hashes is None:
        hashes = RowHashes(before, after)
    band = _candidate_band(hashes.old(step), hashes.new(step)[lo:hi], lo)
    if band is None:
        return None
    if (equal := _equal_run(before, after, band)) is not None or step == 1:
        return equal
    band = _candidate_band(hashes.old(1), hashes.new(1)[lo:hi], lo)
    return None if band is None else _equal_run(before, after, band)


def _equal_run(before: np.ndarray, after: np.ndarray, band: tuple[int, int, int], *,
               native: bool = NATIVE) -> tuple[int, int, int] | None:
    """The longest run of rows of ``band`` whose pixels are equal (all four bytes), if it is
    at least ``MIN_ROWS`` tall: the only check that decides a copy (hashes only propose).
    ``native``: rows compared in C (``_scroll_rows``), stopping at a row's first difference."""
    dy, start, end = band
    if native and after.strides[2] == 1 and before.strides[2] == 1:
        run = _scroll_rows.equal_run(before[start + dy:end + dy], after[start:end])
        if run == (0, end - start):
            return band
    else:
        new = after[start:end].view(np.uint32)[..., 0]
        old = before[start + dy:end + dy].view(np.uint32)[..., 0]
        equal = (new == old).all(axis=1)
        if equal.all():
            return band
        run = _longest_run(equal)
    if run is None or run[1] - run[0] < MIN_ROWS:
        return None
    return dy, start + run[0], start + run[1]


def _longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """``start, end`` of the longest run of True in a 1-D boolean array (the first of equal
    ones), or None if it holds none."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    starts, ends = edges[::2], edges[1::2]
    if len(starts) == 0:
        return None
    best = int(np.argmax(ends - starts))
    return int(starts[best]), int(ends[best])


def _candidate_band(old: np.ndarray, new: np.ndarray, lo: int = 0, *,
                    native: bool = NATIVE) -> tuple[int, int, int] | None:
    """The shift most rows vote for and its longest run of agreeing rows, by row hashes;
    ``new`` are the hashes of rows ``lo``, ``lo + 1``, … (``old`` of all rows from 0).
    ``native``: the same answer from C (``_scroll_rows``: a hash table of ``old`` where numpy
    sorts it, and the votes counted in an array)."""
    if native:
        return _scroll_rows.candidate_band(np.ascontiguousarray(old), np.ascontiguousarray(new), lo, MIN_ROWS)
    # Rows that occur once in ``before`` say unambiguously where they went (blank rows do not).
    values, first, counts = np.unique(old, return_index=True, return_counts=True)
    unique_old, where_old = values[counts == 1], first[counts == 1]
    if len(unique_old) == 0:
        return None
    pos = np.minimum(np.searchsorted(unique_old, new), len(unique_old) - 1)
    found = unique_old[pos] == new
    shifts = where_old[pos[found]] - (np.flatnonzero(found) + lo)
    shifts = shifts[shifts != 0]
    if len(shifts) < 3:
        return None
    candidates, votes = np.unique(shifts, return_counts=True)
    dy = int(candidates[np.argmax(votes)])
    rows = np.arange(max(lo, -dy), min(lo + len(new), len(old) - dy))  # absolute row numbers
    if len(rows) < MIN_ROWS:
        return None
    run = _longest_run(new[rows - lo] == old[rows + dy])  # of agreeing rows
    if run is None:
        return None
    start, end = int(rows[run[0]]), int(rows[run[1] - 1]) + 1
    if end - start < MIN_ROWS:
        return None
    return dy, start, end


class ScrollDetector:
    """Finds copies in damage against the screen as last encoded; see the module docstring."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._sent: np.ndarray | None = None
        self._carry = HashCarry()
        self._searched: list[Rect] | None = None  # the rects of the last ``find``

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._sent = None
        self._carry.clear()

    def find(self, screen: np.ndarray, rects: list[Rect]) -> tuple[list[Copy], list[Rect]]:
        """Copies that rebuild part of ``rects`` from the screen as last sent, and the
        rectangles left to encode. Call ``sent`` after encoding."""
        if self._sent is None:
            return [], rects
        self._searched = list(rects)  # a copy: the caller's list may change before ``sent``
        return find_copies(self._sent, screen, rects, carry=self._carry)

    def sent(self, screen: np.ndarray, rects: list[Rect], *, full: bool = False) -> None:
        """The screen as the front ends now have it: ``rects`` (or all of it) updated."""
        if full or rects != self._searched:
            self._carry.clear()  # not the update of the last search: its hashes no longer hold
        self._searched = None
        h, w = min(screen.shape[0], self.height), min(screen.shape[1], self.width)
        if self._sent is None or full or self._sent.shape[:2] != (h, w):
            self._sent = np.array(screen[:h, :w])
            return
        for x, y, rw, rh in rects:
            self._sent[y:y + rh, x:x + rw] = screen[y:y + rh, x:x + rw]


def find_copies(sent: np.ndarray, screen: np.ndarray, rects: list[Rect], *,
                horizontal: bool = False, carry: HashCarry | None = None) -> tuple[list[Copy], list[Rect]]:
    """Copies that rebuild part of ``rects`` from ``sent`` (the screen as the front ends have
    it, (h, w, 4)), and the rectangles left to encode.

    Each copy's source and destination lie inside its own rectangle, and a rectangle that
    overlaps another one gets no copy: a front end runs the copies one after the other, so no
    copy may write where another one reads (``disjoint`` joins such rectangles first).

    A rectangle may get up to ``MAX_BANDS`` copies of different shifts: a capture taken while
    a program was still scrolling (xterm moving its lines in several steps) holds bands moved
    by different amounts, and one copy would leave the others to the codec (a frame of the
    whole terminal as H.264). They are ordered so that none writes where a later one reads.
    ``horizontal``: where nothing moved vertically, also look for sideways moves
    (``find_sideways``). ``carry``: row hashes of the last search's screen, replaced by this
    one's (``HashCarry``)."""
    copies: list[Copy] = []
    rest: list[Rect] = []
    hashed: dict[Rect, dict[int, np.ndarray]] = {}
    for i, rect in enumerate(rects):
        x, y, w, h = rect
        if w < MIN_WIDTH or h < MIN_ROWS * 2 or w * h < MIN_AREA or _overlaps_another(rects, i):
            rest.append(rect)
            continue
        before, after = sent[y:y + h, x:x + w], screen[y:y + h, x:x + w]
        found: list[tuple[int, int, int]] = []  # (dy, start, end) in the rectangle's rows
        left: list[tuple[int, int]] = []
        todo = [(0, h)]
        hashes = RowHashes(before, after, carry.take(rect) if carry is not None else None)
        hashed[rect] = hashes.new_by_step
        while todo:
            lo, hi = todo.pop()
            shift = find_shift(before, after, lo, hi, hashes=hashes) if len(found) < MAX_BANDS else None
            if shift is None:
                left.append((lo, hi))
                continue
            found.append(shift)
            dy, start, end = shift
            todo += [(lo, start)] * (start > lo) + [(end, hi)] * (end < hi)
        if not found and horizontal:
            moved, left_over = find_sideways(sent, screen, rect)
            copies += moved
            rest += left_over
            continue
        ordered, dropped = _in_safe_order(found)
        left += [(start, end) for _, start, end in dropped]
        copies += [Copy(x, y + start, w, end - start, x, y + start + dy) for dy, start, end in ordered]
        rest += [(x, y + lo, w, hi - lo) for lo, hi in sorted(left)]
    if carry is not None:
        carry.keep(hashed)
    return copies, rest


def find_sideways(sent: np.ndarray, screen: np.ndarray, rect: Rect) -> tuple[list[Copy], list[Rect]]:
    """Copies of content moved sideways in ``rect`` (a horizontal scroll, a pan), and the
    rectangles left to encode. The rectangle is searched in ``STRIPE``-row stripes on the
    screen's grid (columns hashed as ``find_shift`` hashes rows), so an area above or below
    that changed otherwise (a toolbar, a status line) costs its own stripes only; stripes
    with the same move are one copy. Each copy's source lies in its own rows, so copies are
    independent of their order."""
    x, y, w, h = rect
    copies: list[Copy] = []
    rest: list[Rect] = []
    found: list[tuple[int, int, int, int, int] | None] = []  # per stripe: (y, h, dx, start, end)
    sy, sh = y, 0
    while (sy := sy + sh) < y + h:
        sh = min(STRIPE - (sy % STRIPE), y + h - sy)
        before = sent[sy:sy + sh, x:x + w].transpose(1, 0, 2)
        after = screen[sy:sy + sh, x:x + w].transpose(1, 0, 2)
        band = find_shift(before, after, step=SAMPLE_STEP if sh >= STRIPE else 1) \
            if w >= MIN_ROWS * 2 and sh >= MIN_SIDEWAYS_ROWS else None
        found.append((sy, sh, *band) if band else None)
        if not band:
            rest.append((x, sy, w, sh))
    runs: list[list[int]] = []  # stripes with the same move, one after the other
    for stripe in found:
        if stripe is None:
            continue
        if runs and runs[-1][1] + runs[-1][2] == stripe[0] and runs[-1][3:] == list(stripe[2:]):
            runs[-1][2] += stripe[1]
        else:
            runs.append([0, stripe[0], stripe[1], *stripe[2:]])
    for _, sy, sh, dx, start, end in runs:
        copies.append(Copy(x + start, sy, end - start, sh, x + start + dx, sy))
        if start > 0:
            rest.append((x, sy, start, sh))
        if end < w:
            rest.append((x + end, sy, w - end, sh))
    return copies, rest


MAX_BANDS = 4  # copies per damaged rectangle


def _in_safe_order(bands: list[tuple[int, int, int]]) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """``(dy, start, end)`` bands of one rectangle in an order where no copy writes rows a later
    one reads, and those that fit no such order (left to the codec)."""
    remaining, ordered, dropped = list(bands), [], []
    while remaining:
        for band in remaining:
            _, start, end = band
            if not any(o is not band and o[1] + o[0] < end and start < o[2] + o[0] for o in remaining):
                ordered.append(band)  # nobody still to run reads where it writes
                remaining.remove(band)
                break
        else:
            dropped.append(remaining.pop())
    return ordered, dropped


def _overlaps_another(rects: list[Rect], i: int) -> bool:
    x, y, w, h = rects[i]
    return any(ox < x + w and x < ox + ow and oy < y + h and y < oy + oh
               for j, (ox, oy, ow, oh) in enumerate(rects) if j != i)


def copy_frame(copies: list[Copy]) -> EncodedFrame:
    return EncodedFrame({"codec": "copy", "rects": [[c.x, c.y, c.w, c.h, c.sx, c.sy] for c in copies]})


RIDING_VARIANTS = frozenset({"webz"})  # image variants whose lossless frames carry their copies


def with_copies(copies: list[Copy], frames: list[EncodedFrame], variants: frozenset[str]) -> list[EncodedFrame]:
    """One update's ``copies`` and its lossless ``frames`` (one per image variant of
    ``variants``): the copies ride in the header of each ``RIDING_VARIANTS`` frame (``copy``),
    and go as a ``copy`` frame of their own to every other variant, ahead of its frame."""
    riding = [f for f in frames if f.variant in RIDING_VARIANTS]
    if not riding:
        return [copy_frame(copies), *frames]
    rects = copy_frame(copies).fields["rects"]
    for frame in riding:
        frame.fields = {**frame.fields, "copy": rects}
    alone = []
    for variant in sorted(variants - RIDING_VARIANTS):
        frame = copy_frame(copies)
        frame.variant = variant
        alone.append(frame)
    return [*alone, *frames]
