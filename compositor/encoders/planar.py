"""[MS-RDPEGDI 2.2.2.5.1] RDP 6.0 Bitmap Compression (planar) for 32-bpp bitmap updates.

Pipeline (MS-RDPEGDI 3.1.9.1): split BGRX into R, G, B planes (no colour loss, no chroma
subsampling, so the codec is lossless), turn every scanline after the first into
sign-magnitude deltas against the scanline before it (3.1.9.1.3), then run-length encode each
scanline on its own (2.2.2.5.1.1 RDP6_RLE_SEGMENTS).

The alpha plane is left out and the NoAlpha flag set, unless ``alpha``: then an opaque alpha
plane leads (its RLE form depends on the size only, about two bytes a scanline). Clients whose
decoder takes only the FormatHeader 0x10 (RLE with an alpha plane, what xrdp always sends)
need it: rdesktop 1.9 and aardwolf fail every NoAlpha bitmap. FreeRDP and mstsc take both.

Scanlines go bottom-up, like every bitmap in a TS_BITMAP_DATA (FreeRDP decodes bitmap updates
with ``vFlip``). Three encoders of the run-length stage produce the same bytes:
``rle_scanline_reference`` (a plain loop, the specification in code), its port to C
(``_planar_rle.c``, built by ``make native``), and the vectorised ``_rle_rows`` (a single pass
of numpy operations) with ``_rle_rows_small`` for a few short scanlines. ``encode_planar_batch``
runs every stage of a tile in C where it is built (planes, delta transform and runs in one
pass over its pixels), else the numpy stages over all the tiles of a batch at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from compositor.encoders import CodecError

try:
    from compositor.encoders import _planar_rle
except ImportError:  # not built (``make native``): the numpy passes, about twice as slow
    _planar_rle = None

NATIVE = _planar_rle is not None

__all__ = [
    "FORMAT_HEADER_NA",
    "FORMAT_HEADER_RLE",
    "decode_planar",
    "delta_encode_planes",
    "encode_planar",
    "encode_planar_batch",
    "encode_plane_rle",
    "rle_scanline_reference",
]

# FormatHeader bits (2.2.2.5.1): CLL in bits 0-2, CS bit 3, RLE bit 4, NA bit 5.
FORMAT_HEADER_CLL_MASK = 0x07
FORMAT_HEADER_CS = 0x08
FORMAT_HEADER_RLE = 0x10
FORMAT_HEADER_NA = 0x20

_MAX_RAW = 15  # cRawBytes is 4 bits
_MIN_RUN = 3  # nRunLength 1 and 2 are escape codes; shorter runs go out as raw bytes
_MAX_RUN_ALONE = 47  # nRunLength=2 with cRawBytes=15: a run of 32 + 15
# Up to this many values (all tiles' planes together) are run-length encoded a scanline at a
# time (``_rle_scanline``): a typed glyph (12 x 13 pixels) takes ~0.04 ms that way, where the
# vectorised pass costs ~0.5 ms of numpy calls whatever the size; at this size, busy content
# costs both about the same.
_SMALL_VALUES = 4096
# Blocks of 4 or more equal bytes: with the value before it, 3 or more values that repeat it.
_BLOCKS = re.compile(rb"(.)\1{3,}", re.DOTALL)


def _planes_stream_order(tiles: np.ndarray) -> np.ndarray:
    """(T, h, w, 4) BGRX to (T, 3, h, w) R, G, B planes with the bottom scanline first."""
    return np.ascontiguousarray(tiles[:, ::-1, :, 2::-1].transpose(0, 3, 1, 2))


def delta_encode_planes(planes: np.ndarray) -> np.ndarray:
    """[3.1.9.1.3] Delta-encode planes ``(..., h, w)`` uint8 along the scanline axis.

    The first scanline stays absolute; every later value becomes the difference to the value
    above, taken modulo 256 as a signed byte ``d`` and written sign-magnitude as ``2d`` for
    ``d >= 0`` and ``-2d - 1`` for ``d < 0`` (a zigzag code).
    """
    out = np.empty_like(planes)
    out[..., 0, :] = planes[..., 0, :]
    delta = out[..., 1:, :]
    np.subtract(planes[..., 1:, :], planes[..., :-1, :], out=delta)  # wraps mod 256
    signed = delta.view(np.int8)
    sign = signed >> 7
    np.left_shift(signed, 1, out=signed)
    np.bitwise_xor(signed, sign, out=signed)
    return out


def _run_control(length: np.ndarray) -> np.ndarray:
    """Control byte of a run with no raw bytes (3..47): nRunLength, or the 16+/32+ escapes."""
    return np.where(
        length < 16,
        length,
        np.where(length < 32, 1 | ((length - 16) << 4), 2 | ((length - 32) << 4)),
    ).astype(np.uint8)


def _run_control_byte(length: int) -> int:
    """``_run_control`` of one run length."""
    if length < 16:
        return length
    return 1 | ((length - 16) << 4) if length < 32 else 2 | ((length - 32) << 4)


@functools.lru_cache(maxsize=512)
def _rle_scanline(row: bytes) -> bytes:
    """``rle_scanline_reference`` of one scanline given as bytes, the runs found by ``re``.

    A run is a stretch of 3 or more values each equal to the one before it (the first value
    is compared with 0): in the scanline with a 0 put in front, a block of 4 or more equal
    bytes whose first byte is the value the run repeats. The reference's scan takes exactly
    the maximal such blocks as runs, and everything between them as raw values. Scanlines of
    text repeat (a white row, a row equal to the one above it after the delta transform), so
    the encodings are remembered."""
    out = bytearray()
    pos = 0  # the first value not written yet
    for block in _BLOCKS.finditer(b"\0" + row):
        start, end = block.span()  # in the scanline: the run is [start, end - 1)
        _flush_segment(out, list(row[pos:start]), end - 1 - start)
        pos = end - 1
    if pos < len(row):
        _flush_segment(out, list(row[pos:]), 0)
    return bytes(out)


def _rle_rows_small(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_rle_rows`` of a few short rows, a scanline at a time (``_rle_scanline``)."""
    width = values.shape[1]
    data = values.tobytes()
    rows = [_rle_scanline(data[i:i + width]) for i in range(0, len(data), width)]
    return np.frombuffer(b"".join(rows), np.uint8), np.array([len(r) for r in rows], np.int64)


def _rle_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[2.2.2.5.1.1] RLE every row of ``values`` (R, w) uint8 independently, vectorised.

    Returns the concatenated segments of all rows and the byte count of each row; the bytes
    equal ``rle_scanline_reference`` applied row by row. Every input value owns two output
    slots, (control, value): a raw value keeps its value slot, and its control slot when a
    chunk of raw bytes starts there; the slots of run values carry the run's control bytes.
    One ``np.compress`` then packs the stream, so no per-byte index arrays are built.
    """
    n_rows, width = values.shape
    n = n_rows * width
    flat = values.reshape(-1)
    # eq[x]: the value equals the decoder's "last pixel" (which is 0 at a scanline start).
    eq = np.zeros((n_rows, width + 2), bool)
    np.equal(values[:, 1:], values[:, :-1], out=eq[:, 2:-1])
    np.equal(values[:, 0], 0, out=eq[:, 1])
    # Members of runs of >= 3 equal flags: covered by some window of three.
    mid = eq[:, :-2] & eq[:, 1:-1]
    mid &= eq[:, 2:]
    in_run = np.zeros((n_rows, width + 2), bool)
    in_run[:, 1:-1] = mid
    in_run[:, :-2] |= mid
    in_run[:, 2:] |= mid
    # Runs and raw gaps alternate within a row and the padding columns are neither, so the
    # changes of each mask come in (start, end) pairs.
    edges = np.flatnonzero(in_run.reshape(-1)[1:] != in_run.reshape(-1)[:-1]) + 1
    edges -= (edges // (width + 2)) * 2 + 1  # padded position to flat position
    run_start = edges[0::2]
    run_len = edges[1::2] - run_start
    raw_pad = ~in_run
    raw_pad[:, 0] = False
    raw_pad[:, -1] = False
    raw_edges = np.flatnonzero(raw_pad.reshape(-1)[1:] != raw_pad.reshape(-1)[:-1]) + 1
    raw_edges -= (raw_edges // (width + 2)) * 2 + 1
    gap_start = raw_edges[0::2]
    gap_end = raw_edges[1::2]
    gap_len = gap_end - gap_start
    raw = raw_pad[:, 1:-1]

    # A gap ends at its row's end or at the start of the run that follows it.
    followed = gap_end % width != 0
    nxt = np.searchsorted(run_start, gap_end[followed])
    q = (gap_len - 1) // _MAX_RAW
    c_last = gap_len - _MAX_RAW * q
    run_value = flat[run_start]
    nonzero = run_value != 0
    r1 = np.zeros(len(gap_len), np.int64)
    if len(nxt):
        follow_len = run_len[nxt]
        first = np.minimum(follow_len, 15)
        rest = follow_len - first
        short = (rest > 0) & (rest < _MIN_RUN) & ~nonzero[nxt]
        first = np.where(short, follow_len - _MIN_RUN, first)
        r1[followed] = first
    left = run_len.copy()
    left[nxt] -= r1[followed]
    # What is left of a run of zeros goes out in run-only segments (up to 47 each). A run-only
    # segment repeats "the last value" to FreeRDP and IronRDP but zero under one reading of
    # 3.1.9.2, so a non-zero value is repeated with segments that restate it (1 raw + 15).
    restate = nonzero & (left > 0)
    m = np.where(restate, 0, (left + _MAX_RUN_ALONE - 1) // _MAX_RUN_ALONE)

    slots = np.empty((n, 2), np.uint8)
    slots[:, 1] = values.reshape(-1)
    keep = np.zeros((n, 2), bool)
    keep[:, 1] = raw.reshape(-1)
    # Raw chunk controls: every 15 values into each gap; the last one carries the run length.
    n_ctrl = q + 1
    ctrl_gap = np.repeat(np.arange(len(gap_len)), n_ctrl)
    ctrl_k = np.arange(len(ctrl_gap)) - np.repeat(np.cumsum(n_ctrl) - n_ctrl, n_ctrl)
    ctrl_pos = gap_start[ctrl_gap] + _MAX_RAW * ctrl_k
    slots[ctrl_pos, 0] = 0xF0
    keep[ctrl_pos, 0] = True
    slots[gap_start + _MAX_RAW * q, 0] = (r1 | (c_last << 4)).astype(np.uint8)
    # Run-only controls go into the run's own (unused) slots.
    if m.any():
        run_of = np.repeat(np.arange(len(m)), m)
        k = np.arange(len(run_of)) - np.repeat(np.cumsum(m) - m, m)
        chunk = np.full(len(run_of), _MAX_RUN_ALONE, np.int64)
        has_m = m > 0
        last = (np.cumsum(m) - 1)[has_m]
        rem = (left - _MAX_RUN_ALONE * (m - 1))[has_m]
        fix = rem < _MIN_RUN
        chunk[last] = rem + _MIN_RUN * fix
        chunk[last[fix] - 1] = _MAX_RUN_ALONE - _MIN_RUN
        slot = 2 * run_start[run_of] + k
        slots.reshape(-1)[slot] = _run_control(chunk)
        keep.reshape(-1)[slot] = True
    restate_bytes = np.zeros(len(run_start), np.int64)
    if restate.any():
        restate_bytes[restate] = _restate_runs(slots.reshape(-1), keep.reshape(-1),
                                               run_start[restate] + run_len[restate],
                                               left[restate], run_value[restate])
    out = np.compress(keep.reshape(-1), slots.reshape(-1))
    # Bytes per row: its raw values, its raw-chunk controls, its runs' controls.
    row_bytes = np.bincount(gap_start // width, weights=gap_len + n_ctrl, minlength=n_rows).astype(np.int64)
    row_bytes += np.bincount(run_start // width, weights=m + restate_bytes, minlength=n_rows).astype(np.int64)
    return out, row_bytes


def _restate_runs(slots: np.ndarray, keep: np.ndarray, run_end: np.ndarray, left: np.ndarray,
                  value: np.ndarray) -> np.ndarray:
    """Write the last ``left`` values of runs of non-zero ``value`` ending at ``run_end`` as
    segments that restate the value: (1 raw + 15 run) per 16 values, then the remainder as
    1 raw + run (4..15 values) or as raw values only (1..3). Returns the bytes per run.

    Each value owns slots ``2 * pos`` and ``2 * pos + 1``; a segment starting at ``pos``
    uses the slots from ``2 * pos`` on, which belong to values of the same run.
    """
    full = left // 16
    rem = left - 16 * full
    first = run_end - left
    run_of = np.repeat(np.arange(len(left)), full)
    k = np.arange(len(run_of)) - np.repeat(np.cumsum(full) - full, full)
    pos = 2 * (first[run_of] + 16 * k)
    slots[pos] = 15 | (1 << 4)
    slots[pos + 1] = value[run_of]
    keep[pos] = True
    keep[pos + 1] = True
    tail = 2 * (run_end - rem)
    long_tail = rem >= 1 + _MIN_RUN
    pos = tail[long_tail]
    slots[pos] = ((rem[long_tail] - 1) | (1 << 4)).astype(np.uint8)
    slots[pos + 1] = value[long_tail]
    keep[pos] = True
    keep[pos + 1] = True
    short_tail = (rem > 0) & ~long_tail
    pos = tail[short_tail]
    slots[pos] = (rem[short_tail] << 4).astype(np.uint8)
    keep[pos] = True
    for i in range(1, _MIN_RUN + 1):
        has = rem[short_tail] >= i
        slots[pos[has] + i] = value[short_tail][has]
        keep[pos[has] + i] = True
    return 2 * full + np.where(long_tail, 2, np.where(rem > 0, rem + 1, 0))


def _rle_rows_skipping_flat_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_rle_rows``, with flat rows (every value the same: flat areas and uniform steps after
    the delta transform) set aside.

    A flat row of value ``v`` always encodes to the same bytes (``_flat_row_table``), so only
    the other rows go through ``_rle_rows``; the flat rows' bytes are then spliced in between.
    """
    n_rows, width = values.shape
    flat = _flat_rows(values)
    n_flat = int(np.count_nonzero(flat))
    # The splice scatters every busy byte once more: only worth it when a quarter of the rows
    # or more are flat (at 1/8, a 720p video inside a terminal went from 33 to 47 ms a frame).
    if n_flat * 4 < n_rows:
        return _rle_rows(values)
    first = values[:, 0]
    zero = flat & (first == 0)
    level = flat & ~zero  # flat, not zero
    table, zero_len, level_len = _flat_row_table(width)
    row_bytes = np.where(zero, zero_len, level_len)
    busy = ~flat
    n_busy = n_rows - n_flat
    if n_busy:
        out_busy, bytes_busy = _rle_rows(values[busy])
        row_bytes[busy] = bytes_busy
    row_off = np.zeros(n_rows, np.int64)
    np.cumsum(row_bytes[:-1], out=row_off[1:])
    out = np.empty(int(row_off[-1] + row_bytes[-1]), np.uint8)
    if n_busy:
        # Scatter the busy rows' bytes (consecutive in ``out_busy``) to their rows' offsets.
        lengths = row_bytes[busy]
        shift = row_off[busy] - (np.cumsum(lengths) - lengths)
        out[np.repeat(shift, lengths) + np.arange(len(out_busy))] = out_busy
    out[row_off[zero][:, np.newaxis] + np.arange(zero_len)] = table[0, :zero_len]
    out[row_off[level][:, np.newaxis] + np.arange(level_len)] = table[first[level], :level_len]
    return out, row_bytes


def _flat_rows(values: np.ndarray) -> np.ndarray:
    """Which rows of ``values`` (R, w) hold one value throughout. Rows of a multiple of 8
    values compare as uint64 words, 8 values at a time."""
    width = values.shape[1]
    if width % 8 or not values.flags.c_contiguous:
        return (values == values[:, :1]).all(axis=1)
    words = values.view(np.uint64)
    first = words[:, 0]
    flat = (words == first[:, np.newaxis]).all(axis=1)
    flat &= first == (first & np.uint64(0xFF)) * np.uint64(0x0101010101010101)
    return flat


@functools.lru_cache(maxsize=16)
def _flat_row_table(width: int) -> tuple[np.ndarray, int, int]:
    """The encoded bytes of a flat row of each value 0..255 (row ``v`` of the table, padded),
    the length for value 0 and the length for every other value (one raw value, then runs
    that restate it: the same shape whatever the value)."""
    rows = [_rle_scanline.__wrapped__(bytes([v]) * width) for v in range(256)]  # not kept in its cache
    lengths = {len(r) for r in rows[1:]}
    assert len(lengths) == 1, "flat rows of non-zero values encode to one length"
    table = np.zeros((256, max(len(r) for r in rows)), np.uint8)
    for v, r in enumerate(rows):
        table[v, :len(r)] = np.frombuffer(r, np.uint8)
    return table, len(rows[0]), lengths.pop()


def rle_scanline_reference(values: Sequence[int]) -> bytes:
    """[2.2.2.5.1.1] RDP6_RLE_SEGMENTS of one scanline, as a plain loop (the reference).

    Runs of 3 or more values equal to the value before them (the first value of a scanline is
    compared with 0) become runs; everything else is raw.
    """
    vals = list(values)
    out = bytearray()
    x = 0
    raw: list[int] = []
    width = len(vals)
    while x < width:
        end = x
        while end < width and vals[end] == (vals[end - 1] if end > 0 else 0):
            end += 1
        if end - x >= _MIN_RUN:
            run = end - x
            _flush_segment(out, raw, run)
            raw = []
            x = end
        else:
            # Not a long run here: this value is raw (the run check restarts at the next one).
            raw.append(vals[x])
            x += 1
    if raw:
        _flush_segment(out, raw, 0)
    return bytes(out)


def _flush_segment(out: bytearray, raw: list[int], run: int) -> None:
    while len(raw) > _MAX_RAW:
        out.append(0xF0)
        out += bytes(raw[:_MAX_RAW])
        raw = raw[_MAX_RAW:]
    value = raw[-1] if raw else 0
    if raw:
        r1 = min(run, 15)
        if value == 0 and 0 < run - r1 < _MIN_RUN:
            r1 = run - _MIN_RUN
        out.append(r1 | (len(raw) << 4))
        out += bytes(raw)
        run -= r1
    if value == 0:
        while run > 0:
            chunk = min(run, _MAX_RUN_ALONE)
            if 0 < run - chunk < _MIN_RUN:
                chunk = _MAX_RUN_ALONE - _MIN_RUN
            out.append(_run_control_byte(chunk))
            run -= chunk
        return
    # A run-only segment repeats "the last value" (FreeRDP, IronRDP) or zero (one reading of
    # 3.1.9.2); a non-zero value is repeated with segments that restate it, so both agree.
    while run >= 16:
        out += bytes([15 | (1 << 4), value])
        run -= 16
    if run >= 1 + _MIN_RUN:
        out += bytes([(run - 1) | (1 << 4), value])
    elif run:
        out += bytes([run << 4]) + bytes([value] * run)


def rle_rows(values: np.ndarray, *, native: bool = NATIVE) -> tuple[np.ndarray, np.ndarray]:
    """[2.2.2.5.1.1] RLE every row of ``values`` (R, w) uint8 on its own: the segments of all
    rows concatenated, and the byte count of each row. In C when it is built (``native``),
    else by the numpy passes."""
    if values.ndim != 2 or values.dtype != np.uint8:
        raise ValueError(f"expected (R, w) uint8 values, got {values.shape} {values.dtype}")
    if native:
        out, row_bytes = _planar_rle.rle_rows(np.ascontiguousarray(values), values.shape[1])
        return np.frombuffer(out, np.uint8), np.frombuffer(row_bytes, np.int64)
    if values.size <= _SMALL_VALUES:
        return _rle_rows_small(values)
    return _rle_rows_skipping_flat_rows(values)


def encode_plane_rle(plane: np.ndarray) -> bytes:
    """[3.1.9.1.3, 2.2.2.5.1.1] Delta transform and RLE of one colour plane (h, w) uint8,
    scanlines in stream order (bottom-up)."""
    out, _ = rle_rows(delta_encode_planes(np.asarray(plane, np.uint8)))
    return out.tobytes()


@functools.cache
def _opaque_alpha_rle(width: int, height: int) -> bytes:
    return encode_plane_rle(np.full((height, width), 0xFF, np.uint8))


def encode_planar_batch(tiles: np.ndarray, *, alpha: bool = False, native: bool = NATIVE) -> list[bytes]:
    """[2.2.2.5.1] RDP6_BITMAP_STREAM of each BGRX tile in ``tiles`` (T, h, w, 4) uint8, with
    an opaque alpha plane if ``alpha``, else with the NoAlpha flag.

    A tile whose RLE form would be larger than its raw planes goes out raw (RLE flag clear,
    planes verbatim, one pad byte). In C when it is built (``native``: planes, delta transform
    and runs in one pass over each tile's pixels, every tile's RLE form tried); else the planes
    and the delta transform are numpy passes over all the tiles at once, the run-length stage
    is ``rle_rows`` (itself in C when built), and tiles that sampling shows to have too few
    repeats for RLE to win go out raw without trying.
    """
    if tiles.ndim != 4 or tiles.shape[3] != 4 or tiles.dtype != np.uint8:
        raise ValueError(f"expected (T, h, w, 4) uint8 BGRX tiles, got {tiles.shape} {tiles.dtype}")
    n_tiles, height, width, _ = tiles.shape
    if n_tiles == 0:
        return []
    if height == 0 or width == 0:
        raise ValueError("empty bitmap")
    no_alpha = 0 if alpha else FORMAT_HEADER_NA
    alpha_rle = _opaque_alpha_rle(width, height) if alpha else b""
    alpha_raw = b"\xff" * (height * width) if alpha else b""
    rle_header = bytes([FORMAT_HEADER_RLE | no_alpha]) + alpha_rle
    raw_header = bytes([no_alpha]) + alpha_raw
    if native:
        return _planar_rle.encode_tiles(np.ascontiguousarray(tiles), n_tiles, height, width, rle_header, raw_header)
    planes = _planes_stream_order(tiles)
    values = delta_encode_planes(planes)
    plane_size = 3 * height * width
    raw_size = plane_size + 1 + len(alpha_raw) - len(alpha_rle)
    # RLE needs at least 16 bytes per 15 raw values, and a value can only be part of a run
    # if it equals the one before it: tiles with too few such values go out raw unencoded.
    # Every 4th scanline is enough to tell (the final size comparison decides anyway).
    sample = values[..., ::4, :]
    repeats = np.count_nonzero(sample[..., 1:] == sample[..., :-1], axis=(1, 2, 3))
    repeats += np.count_nonzero(sample[..., 0] == 0, axis=(1, 2))
    try_rle = np.flatnonzero(repeats * 16 >= sample[0].size * 3 // 4)
    rle_size = np.full(n_tiles, raw_size + 1, np.int64)
    ends = np.zeros(n_tiles, np.int64)
    out = np.empty(0, np.uint8)
    if len(try_rle):
        subset = values if len(try_rle) == n_tiles else values[try_rle]
        out, row_bytes = rle_rows(subset.reshape(-1, width))
        sizes = row_bytes.reshape(len(try_rle), 3 * height).sum(axis=1)
        rle_size[try_rle] = sizes
        ends[try_rle] = np.cumsum(sizes)
    result: list[bytes] = []
    for k in range(n_tiles):
        size = int(rle_size[k])
        if size <= raw_size:
            end = int(ends[k])
            result.append(rle_header + out[end - size:end].tobytes())
        else:
            result.append(raw_header + planes[k].tobytes() + b"\x00")
    return result


def encode_planar(bgrx: np.ndarray, *, alpha: bool = False) -> bytes:
    """[2.2.2.5.1] RDP6_BITMAP_STREAM of one BGRX bitmap (h, w, 4) uint8, lossless.

    Small bitmaps (a typed glyph and the cursor beside it) are remembered by their pixels:
    typing draws the same few dozen pictures again and again."""
    if bgrx.ndim == 3 and bgrx.shape[0] * bgrx.shape[1] <= _REMEMBERED_PIXELS and bgrx.dtype == np.uint8:
        return _encode_small(bgrx.shape, alpha, np.ascontiguousarray(bgrx).tobytes())
    return encode_planar_batch(bgrx[np.newaxis], alpha=alpha)[0]


# Bitmaps up to this many pixels are remembered (``encode_planar``): at most 128 of them, so at
# most ~0.5 MB per process whatever is drawn (a glyph and the cursor: ~0.7 KB).
_REMEMBERED_PIXELS = 1024


@functools.lru_cache(maxsize=128)
def _encode_small(shape: tuple[int, ...], alpha: bool, pixels: bytes) -> bytes:
    return encode_planar_batch(np.frombuffer(pixels, np.uint8).reshape(1, *shape), alpha=alpha)[0]


def _decode_rle_plane(data: bytes, pos: int, width: int, height: int) -> tuple[np.ndarray, int]:
    plane = np.zeros((height, width), np.uint8)
    prev_row: list[int] | None = None
    for y in range(height):
        row: list[int] = []
        pixel = 0
        while len(row) < width:
            if pos >= len(data):
                raise CodecError("planar: truncated RLE plane")
            control = data[pos]
            pos += 1
            run = control & 0x0F
            n_raw = control >> 4
            if run == 1:
                run, n_raw = 16 + n_raw, 0
            elif run == 2:
                run, n_raw = 32 + n_raw, 0
            if len(row) + n_raw + run > width:
                raise CodecError("planar: segment runs past the end of the scanline")
            if pos + n_raw > len(data):
                raise CodecError("planar: truncated raw bytes")
            for value in data[pos:pos + n_raw]:
                pixel = value
                row.append(pixel)
            pos += n_raw
            row.extend([pixel] * run)
        if prev_row is None:
            decoded = row
        else:
            decoded = [
                (above + ((v >> 1) if not v & 1 else -((v >> 1) + 1))) & 0xFF
                for above, v in zip(prev_row, row, strict=True)
            ]
        plane[y] = decoded
        prev_row = decoded
    return plane, pos


def decode_planar(data: bytes, width: int, height: int) -> np.ndarray:
    """[3.1.9.2] Reference decoder: RDP6_BITMAP_STREAM to BGRX (h, w, 4), top row first.

    Handles what ``encode_planar`` emits and what FreeRDP's encoder emits: RGB planes (no
    colour loss, no subsampling), with or without RLE, with or without the alpha plane. Alpha
    goes to the X byte (0xFF when absent).
    """
    if not data:
        raise CodecError("planar: empty stream")
    header = data[0]
    if header & (FORMAT_HEADER_CLL_MASK | FORMAT_HEADER_CS):
        raise CodecError("planar: colour loss / chroma subsampling not supported")
    has_alpha = not header & FORMAT_HEADER_NA
    names = ("A", "R", "G", "B") if has_alpha else ("R", "G", "B")
    planes: dict[str, np.ndarray] = {}
    pos = 1
    size = width * height
    for name in names:
        if header & FORMAT_HEADER_RLE:
            planes[name], pos = _decode_rle_plane(data, pos, width, height)
        else:
            if pos + size > len(data):
                raise CodecError("planar: truncated raw plane")
            planes[name] = np.frombuffer(data, np.uint8, size, pos).reshape(height, width)
            pos += size
    if not header & FORMAT_HEADER_RLE and len(data) - pos == 1:
        pos += 1  # pad
    if pos != len(data):
        raise CodecError(f"planar: {len(data) - pos} trailing bytes")
    out = np.empty((height, width, 4), np.uint8)
    out[..., 0] = planes["B"]
    out[..., 1] = planes["G"]
    out[..., 2] = planes["R"]
    out[..., 3] = planes["A"] if has_alpha else 0xFF
    return out[::-1].copy()
