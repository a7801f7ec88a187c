"""[MS-RDPBCGR 2.2.9.1.1.3.1.2.4] Interleaved RLE bitmap compression (RLE_BITMAP_STREAM).

Used for 15/16/24-bpp bitmap updates (32-bpp clients get planar). The stream is a sequence
of compression orders over the pixels in scanline order, bottom scanline first. The encoder
uses three orders, chosen per pixel with numpy and written in one scatter:

- background run (REGULAR_BG_RUN / MEGA_MEGA_BG_RUN): pixels equal to the pixel one scanline
  up. Never on the first scanline, and never two in a row, so neither of the decoder's special
  cases (black "above" on the first line, the inserted foreground pel between consecutive
  background runs) is reached.
- colour run (REGULAR_COLOR_RUN / MEGA_MEGA_COLOR_RUN): 3 or more identical pixels.
- colour image (REGULAR_COLOR_IMAGE / MEGA_MEGA_COLOR_IMAGE): everything else, verbatim.

Foreground, dithered and FG/BG-image orders are not produced (the decoder here reads them).
A bitmap holds at most 65535 pixels, so every run fits one MEGA_MEGA order.

Two encoders of the orders give the same bytes: the numpy masks and scatter of
``_encode_batch`` (the reference), and their port to C (``_interleaved_rle.c``, built by
``make native``), a loop over each tile's pixels that ``_encode_batch`` uses when it is built.
The pixel conversion (``_pixel_values``) is C too when built, numpy otherwise.
"""

from __future__ import annotations

import numpy as np

from compositor.encoders import CodecError
from compositor.encoders.bitmap_pixels import bgrx_to_rgb555, bgrx_to_rgb565, bytes_per_pixel

try:
    from compositor.encoders import _interleaved_rle
except ImportError:  # not built (``make native``): the numpy masks, about 4 times slower
    _interleaved_rle = None

NATIVE = _interleaved_rle is not None

__all__ = [
    "MAX_PIXELS",
    "decode_interleaved",
    "encode_interleaved",
    "encode_interleaved_batch",
]

MAX_PIXELS = 0xFFFF

# Order codes (2.2.9.1.1.3.1.2.4): regular orders keep the code in the top 3 bits.
REGULAR_BG_RUN = 0x0
REGULAR_FG_RUN = 0x1
REGULAR_FGBG_IMAGE = 0x2
REGULAR_COLOR_RUN = 0x3
REGULAR_COLOR_IMAGE = 0x4
LITE_SET_FG_FG_RUN = 0xC
LITE_SET_FG_FGBG_IMAGE = 0xD
LITE_DITHERED_RUN = 0xE
MEGA_MEGA_BG_RUN = 0xF0
MEGA_MEGA_FG_RUN = 0xF1
MEGA_MEGA_FGBG_IMAGE = 0xF2
MEGA_MEGA_COLOR_RUN = 0xF3
MEGA_MEGA_COLOR_IMAGE = 0xF4
MEGA_MEGA_SET_FG_RUN = 0xF6
MEGA_MEGA_SET_FGBG_IMAGE = 0xF7
MEGA_MEGA_DITHERED_RUN = 0xF8
SPECIAL_FGBG_1 = 0xF9
SPECIAL_FGBG_2 = 0xFA
SPECIAL_WHITE = 0xFD
SPECIAL_BLACK = 0xFE

_BG, _RUN, _IMG = 0, 1, 2
_REGULAR = np.array([REGULAR_BG_RUN << 5, REGULAR_COLOR_RUN << 5, REGULAR_COLOR_IMAGE << 5], np.uint8)
_MEGA = np.array([MEGA_MEGA_BG_RUN, MEGA_MEGA_COLOR_RUN, MEGA_MEGA_COLOR_IMAGE], np.uint8)


def _pixel_values(tiles: np.ndarray, bpp: int, *, native: bool = NATIVE) -> np.ndarray:
    """Tiles (T, h, w, 4) BGRX to bottom-up wire pixel values (T, h*w): uint16 at 15/16 bpp,
    uint32 0x00RRGGBB at 24 bpp (whose little-endian bytes are the wire's blue, green, red).
    ``native``: in one pass of C (``_interleaved_rle.wire_values``), where numpy makes a
    temporary of the batch for every shift and mask."""
    n_tiles = tiles.shape[0]
    if native and bpp in (15, 16, 24) and tiles.strides[3] == 1 and tiles.strides[2] == 4:
        values = np.empty((n_tiles, tiles.shape[1] * tiles.shape[2]), np.uint32 if bpp == 24 else np.uint16)
        _interleaved_rle.wire_values(tiles, bpp, values)
        return values
    if bpp == 16:
        values = bgrx_to_rgb565(tiles)
    elif bpp == 15:
        values = bgrx_to_rgb555(tiles)
    elif bpp == 24:
        values = np.ascontiguousarray(tiles).view("<u4")[..., 0] & 0xFFFFFF
    else:
        raise ValueError(f"interleaved RLE carries 15, 16 or 24 bpp, not {bpp}")
    return values[:, ::-1].reshape(n_tiles, -1)


def _shift_prev(mask: np.ndarray) -> np.ndarray:
    out = np.zeros_like(mask)
    out[1:] = mask[:-1]
    return out


def _shift_next(mask: np.ndarray) -> np.ndarray:
    out = np.zeros_like(mask)
    out[:-1] = mask[1:]
    return out


def _encode_batch(tiles: np.ndarray, bpp: int, *, native: bool = NATIVE) -> list[bytes | None]:
    """Encode each tile, or give None where the stream would not be smaller than raw data.
    In C when it is built (``native``), else by the numpy masks."""
    if tiles.ndim != 4 or tiles.shape[3] != 4 or tiles.dtype != np.uint8:
        raise ValueError(f"expected (T, h, w, 4) uint8 BGRX tiles, got {tiles.shape} {tiles.dtype}")
    n_tiles, height, width, _ = tiles.shape
    if n_tiles == 0:
        return []
    n = height * width
    if n == 0 or n > MAX_PIXELS:
        raise ValueError(f"interleaved bitmap must hold 1..{MAX_PIXELS} pixels, not {n}")
    bpp_bytes = bytes_per_pixel(bpp)
    values = _pixel_values(tiles, bpp, native=native)
    if native:
        return _interleaved_rle.encode_tiles(np.ascontiguousarray(values), width, bpp_bytes)
    return _encode_batch_numpy(values, width, height, bpp_bytes)


def _encode_batch_numpy(values: np.ndarray, width: int, height: int, bpp_bytes: int) -> list[bytes | None]:
    """``_encode_batch`` of the wire pixel values (T, h*w) with numpy passes over the batch."""
    n_tiles, n = values.shape
    total = n_tiles * n

    # Background: equal to the pixel one scanline up, never on the first scanline, and only
    # in runs of two or more (a lone one costs as much as it saves).
    bg2 = np.zeros((n_tiles, n), bool)
    np.equal(values[:, width:], values[:, :-width], out=bg2[:, width:])
    bg = bg2.reshape(-1)
    bg &= _shift_prev(bg) | _shift_next(bg)
    # Colour runs among the rest: pixels equal to their left neighbour (same tile), neither
    # one background; runs of 3 or more pixels, i.e. 2 or more such repeats.
    same2 = np.zeros((n_tiles, n), bool)
    np.equal(values[:, 1:], values[:, :-1], out=same2[:, 1:])
    same = same2.reshape(-1)
    not_bg = ~bg
    same &= not_bg
    same &= _shift_prev(not_bg)
    repeat = same & (_shift_prev(same) | _shift_next(same))
    in_run = repeat | _shift_next(repeat)
    run_head = in_run & ~same

    boundary = in_run != _shift_prev(in_run)
    boundary |= bg != _shift_prev(bg)
    boundary |= run_head
    boundary[::n] = True
    seg_start = np.flatnonzero(boundary)
    seg_len = np.diff(np.append(seg_start, total))
    seg_kind = np.where(bg[seg_start], _BG, np.where(in_run[seg_start], _RUN, _IMG))
    header = np.where(seg_len < 32, 1, np.where(seg_len < 288, 2, 3))
    payload = np.where(seg_kind == _BG, 0, np.where(seg_kind == _RUN, bpp_bytes, seg_len * bpp_bytes))
    seg_size = header + payload
    seg_tile = seg_start // n
    tile_bytes = np.bincount(seg_tile, weights=seg_size, minlength=n_tiles).astype(np.int64)
    raw_size = ((width * bpp_bytes + 3) & ~3) * height
    worth = tile_bytes < raw_size
    result: list[bytes | None] = [None] * n_tiles
    if not worth.any():
        return result

    # Scatter into the output: each segment's header, then its pixels (the first pixel of a
    # colour run, every pixel of a colour image). Work is per segment and per sent pixel.
    flat_values = values.reshape(-1)
    if not worth.all():
        keep_seg = worth[seg_tile]
        seg_start, seg_len, seg_kind, header, seg_size = (
            seg_start[keep_seg], seg_len[keep_seg], seg_kind[keep_seg], header[keep_seg],
            seg_size[keep_seg])
    seg_out = np.zeros(len(seg_size), np.int64)
    np.cumsum(seg_size[:-1], out=seg_out[1:])
    out = np.empty(int(seg_out[-1] + seg_size[-1]), np.uint8)
    code = _REGULAR[seg_kind]
    one, two, three = header == 1, header == 2, header == 3
    out[seg_out[one]] = code[one] | seg_len[one].astype(np.uint8)
    out[seg_out[two]] = code[two]
    out[seg_out[two] + 1] = (seg_len[two] - 32).astype(np.uint8)
    out[seg_out[three]] = _MEGA[seg_kind[three]]
    out[seg_out[three] + 1] = (seg_len[three] & 0xFF).astype(np.uint8)
    out[seg_out[three] + 2] = (seg_len[three] >> 8).astype(np.uint8)
    # Sent pixels: every pixel of a colour image, the first of a colour run.
    sent_count = np.where(seg_kind == _IMG, seg_len, np.where(seg_kind == _RUN, 1, 0))
    sent_seg = np.repeat(np.arange(len(sent_count)), sent_count)
    k = np.arange(len(sent_seg)) - np.repeat(np.cumsum(sent_count) - sent_count, sent_count)
    sent_idx = seg_start[sent_seg] + k
    dest = (seg_out + header)[sent_seg] + k * bpp_bytes
    pix = flat_values[sent_idx]
    for c in range(bpp_bytes):
        out[dest + c] = (pix >> (8 * c)).astype(np.uint8)
    sizes = np.where(worth, tile_bytes, 0)
    ends = np.cumsum(sizes)
    for k in np.flatnonzero(worth):
        end = int(ends[k])
        result[k] = out[end - int(sizes[k]):end].tobytes()
    return result


def encode_interleaved_batch(tiles: np.ndarray, bpp: int, *, native: bool = NATIVE) -> list[bytes]:
    """[2.2.9.1.1.3.1.2.4] RLE_BITMAP_STREAM of each BGRX tile in ``tiles`` (T, h, w, 4).

    All tiles share one size; ``bpp`` is 15, 16 or 24. Each tile is encoded independently.
    A tile the orders cannot shrink is sent as one colour image.
    """
    encoded = _encode_batch(tiles, bpp, native=native)
    bpp_bytes = bytes_per_pixel(bpp)
    result = []
    for k, data in enumerate(encoded):
        if data is None:
            n = tiles.shape[1] * tiles.shape[2]
            pix = _pixel_values(tiles[k:k + 1], bpp)
            wire = pix.astype("<u2") if bpp_bytes == 2 else pix.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
            header = bytes([MEGA_MEGA_COLOR_IMAGE, n & 0xFF, n >> 8]) if n >= 288 else (
                bytes([REGULAR_COLOR_IMAGE << 5, n - 32]) if n >= 32 else bytes([REGULAR_COLOR_IMAGE << 5 | n]))
            data = header + wire.tobytes()
        result.append(data)
    return result


def encode_interleaved(bgrx: np.ndarray, bpp: int, *, native: bool = NATIVE) -> bytes:
    """[2.2.9.1.1.3.1.2.4] RLE_BITMAP_STREAM of one BGRX bitmap (h, w, 4) at ``bpp`` 15/16/24."""
    return encode_interleaved_batch(bgrx[np.newaxis], bpp, native=native)[0]


def decode_interleaved(data: bytes, width: int, height: int, bpp: int) -> np.ndarray:
    """[3.1.9 RleDecompress] Reference decoder: every order, plain Python.

    Returns the wire pixel values (h, w) — uint16 for 15/16 bpp, uint32 (0xRRGGBB) for 24 —
    top row first (the stream itself is bottom-up).
    """
    pix_size = bytes_per_pixel(bpp)
    if pix_size not in (2, 3):
        raise ValueError(f"interleaved RLE carries 15, 16 or 24 bpp, not {bpp}")
    white = 0xFFFF if pix_size == 2 else 0xFFFFFF
    n = width * height
    dest: list[int] = []
    pos = 0
    fg = white
    insert_fg = False
    first_line = True

    def take(k: int) -> bytes:
        nonlocal pos
        if pos + k > len(data):
            raise CodecError("interleaved: truncated order")
        chunk = data[pos:pos + k]
        pos += k
        return chunk

    def pixel() -> int:
        return int.from_bytes(take(pix_size), "little")

    def above(i: int) -> int:
        return dest[i - width]

    def fgbg(mask: int, bits: int) -> None:
        for bit in range(bits):
            i = len(dest)
            base = 0 if first_line else above(i)
            dest.append(base ^ fg if mask & (1 << bit) else base)

    while pos < len(data):
        if first_line and len(dest) >= width:
            first_line = False
            insert_fg = False
        hdr = data[pos]
        if hdr & 0xC0 != 0xC0:
            code = hdr >> 5
        elif hdr & 0xF0 == 0xF0:
            code = hdr
        else:
            code = hdr >> 4
        pos += 1
        # Run length, by order family.
        length = 0
        if code in (REGULAR_BG_RUN, REGULAR_FG_RUN, REGULAR_COLOR_RUN, REGULAR_COLOR_IMAGE):
            length = hdr & 0x1F
            if length == 0:
                length = take(1)[0] + 32
        elif code == REGULAR_FGBG_IMAGE:
            length = hdr & 0x1F
            length = take(1)[0] + 1 if length == 0 else length * 8
        elif code in (LITE_SET_FG_FG_RUN, LITE_DITHERED_RUN):
            length = hdr & 0x0F
            if length == 0:
                length = take(1)[0] + 16
        elif code == LITE_SET_FG_FGBG_IMAGE:
            length = hdr & 0x0F
            length = take(1)[0] + 1 if length == 0 else length * 8
        elif code in (
            MEGA_MEGA_BG_RUN, MEGA_MEGA_FG_RUN, MEGA_MEGA_SET_FG_RUN, MEGA_MEGA_DITHERED_RUN,
            MEGA_MEGA_COLOR_RUN, MEGA_MEGA_FGBG_IMAGE, MEGA_MEGA_SET_FGBG_IMAGE,
            MEGA_MEGA_COLOR_IMAGE,
        ):
            length = int.from_bytes(take(2), "little")
        start = len(dest)
        if code in (REGULAR_BG_RUN, MEGA_MEGA_BG_RUN):
            todo = length
            if insert_fg and todo:
                dest.append(fg if first_line else above(len(dest)) ^ fg)
                todo -= 1
            for _ in range(todo):
                dest.append(0 if first_line else above(len(dest)))
            insert_fg = True
        else:
            insert_fg = False
            if code in (REGULAR_FG_RUN, MEGA_MEGA_FG_RUN, LITE_SET_FG_FG_RUN, MEGA_MEGA_SET_FG_RUN):
                if code in (LITE_SET_FG_FG_RUN, MEGA_MEGA_SET_FG_RUN):
                    fg = pixel()
                for _ in range(length):
                    dest.append(fg if first_line else above(len(dest)) ^ fg)
            elif code in (LITE_DITHERED_RUN, MEGA_MEGA_DITHERED_RUN):
                a, b = pixel(), pixel()
                dest.extend([a, b] * length)
            elif code in (REGULAR_COLOR_RUN, MEGA_MEGA_COLOR_RUN):
                dest.extend([pixel()] * length)
            elif code in (REGULAR_FGBG_IMAGE, MEGA_MEGA_FGBG_IMAGE, LITE_SET_FG_FGBG_IMAGE,
                          MEGA_MEGA_SET_FGBG_IMAGE):
                if code in (LITE_SET_FG_FGBG_IMAGE, MEGA_MEGA_SET_FGBG_IMAGE):
                    fg = pixel()
                while length > 0:
                    bits = min(length, 8)
                    fgbg(take(1)[0], bits)
                    length -= bits
            elif code in (REGULAR_COLOR_IMAGE, MEGA_MEGA_COLOR_IMAGE):
                raw = take(length * pix_size)
                dest.extend(int.from_bytes(raw[k:k + pix_size], "little")
                            for k in range(0, len(raw), pix_size))
            elif code == SPECIAL_FGBG_1:
                fgbg(0x03, 8)
            elif code == SPECIAL_FGBG_2:
                fgbg(0x05, 8)
            elif code == SPECIAL_WHITE:
                dest.append(white)
            elif code == SPECIAL_BLACK:
                dest.append(0)
            else:
                raise CodecError(f"interleaved: unknown order header 0x{hdr:02x}")
        if len(dest) > n:
            raise CodecError(f"interleaved: order at pixel {start} overruns the bitmap")
    if len(dest) != n:
        raise CodecError(f"interleaved: {len(dest)} pixels decoded, {n} expected")
    dtype = np.uint16 if pix_size == 2 else np.uint32
    return np.array(dest, dtype=dtype).reshape(height, width)[::-1].copy()
