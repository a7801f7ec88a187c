"""[MS-RDPBCGR 2.2.9.1.1.3.1.2] Bitmap updates: damaged screen rectangles to TS_BITMAP_DATA.

The PDUs themselves (``BitmapData``, ``BitmapUpdate``) live in ``rdpfront.bitmap``; this module
fills them.

``build_bitmap_data`` cuts each damaged rectangle into tiles (64x64 by default), encodes all
tiles of one shape in one batch (planar at 32 bpp, interleaved RLE at 15/16/24 bpp, raw when
compression does not pay or is off), and splits any tile whose TS_BITMAP_DATA would not fit
one TS_UPDATE_BITMAP_DATA of ``max_update_size`` bytes. ``pack_bitmap_updates`` then groups
the rectangles into as few TS_UPDATE_BITMAP_DATA as fit that size. The fast-path update
header and the fast-path PDU header around them are the PDU layer's business.

A bitmap's ``width`` is a multiple of 4 (clients require it); the pixels past the damaged
area repeat the last column and the destination rectangle (inclusive bounds) crops them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np

from rdpfront.bitmap import BitmapData, BitmapFlags, BitmapUpdate
from rdpfront.codecs.color import bytes_per_pixel, pixel_bytes
from rdpfront.codecs.interleaved import _encode_batch as _encode_interleaved
from rdpfront.codecs.planar import encode_planar_batch
from rdpfront.codecs.raw import raw_scanline_size
from rdpfront.errors import LocalProtocolError

__all__ = ["build_bitmap_data", "compressed_data_header", "pack_bitmap_updates"]

_CD_HEADER_SIZE = 8
_BITMAP_DATA_FIXED = 18
_UPDATE_FIXED = 4


def _raw_batch(stack: np.ndarray, bpp: int) -> list[bytes]:
    """Uncompressed data of each tile of a (T, h, w, 4) stack (bottom-up, 4-byte rows)."""
    n_tiles, height, width = stack.shape[:3]
    pix = pixel_bytes(stack[:, ::-1], bpp).reshape(n_tiles, height, -1)
    stride = raw_scanline_size(width, bpp)
    if pix.shape[2] != stride:
        padded = np.zeros((n_tiles, height, stride), np.uint8)
        padded[:, :, : pix.shape[2]] = pix
        pix = padded
    pix = np.ascontiguousarray(pix)
    return [tile.tobytes() for tile in pix]


def _encode_tiles(stack: np.ndarray, bpp: int, compress: bool) -> list[tuple[bytes, bool]]:
    """Encode a (T, h, w, 4) stack; each result says whether it is compressed. A tile goes
    uncompressed when compression is off or would not make it smaller."""
    height, width = stack.shape[1:3]
    raw_size = raw_scanline_size(width, bpp) * height
    encoded: list[bytes | None]
    if not compress:
        encoded = [None] * len(stack)
    elif bpp == 32:
        encoded = [e if len(e) < raw_size else None for e in encode_planar_batch(stack)]
    else:
        encoded = list(_encode_interleaved(stack, bpp))
    need_raw = [k for k, e in enumerate(encoded) if e is None]
    raw = _raw_batch(stack[need_raw] if len(need_raw) < len(stack) else stack, bpp) if need_raw else []
    result: list[tuple[bytes, bool]] = [(e, True) if e is not None else (b"", False) for e in encoded]
    for k, data in zip(need_raw, raw, strict=True):
        result[k] = (data, False)
    return result


def compressed_data_header(body_size: int, width: int, height: int, bpp: int) -> bytes:
    """[2.2.9.1.1.3.1.2.3] Compressed Data Header (TS_CD_HEADER) of a compressed bitmap."""
    scan = raw_scanline_size(width, bpp)
    return struct.pack("<4H", 0, body_size, scan, scan * height)


_FLAGS_COMPRESSED = int(BitmapFlags.BITMAP_COMPRESSION)
_FLAGS_COMPRESSED_NO_HDR = int(BitmapFlags.BITMAP_COMPRESSION | BitmapFlags.NO_BITMAP_COMPRESSION_HDR)


def _make(x: int, y: int, w: int, h: int, enc_w: int, bpp: int, data: bytes, compressed: bool,
          header: bool) -> BitmapData:
    # Plain ints for flags: IntFlag arithmetic costs more than the rest of this function.
    flags = 0
    hdr = None
    if compressed:
        if header:
            flags = _FLAGS_COMPRESSED
            hdr = compressed_data_header(len(data), enc_w, h, bpp)
        else:
            flags = _FLAGS_COMPRESSED_NO_HDR
    return BitmapData(x, y, x + w - 1, y + h - 1, enc_w, h, bpp, data, flags, hdr)


def _gather(screen: np.ndarray, tiles: Sequence[tuple[int, int]], w: int, h: int,
            enc_w: int) -> np.ndarray:
    stack = np.empty((len(tiles), h, enc_w, 4), np.uint8)
    for i, (x, y) in enumerate(tiles):
        stack[i, :, :w] = screen[y:y + h, x:x + w]
    if enc_w > w:
        stack[:, :, w:] = stack[:, :, w - 1:w]
    return stack


def _fit(screen: np.ndarray, x: int, y: int, w: int, h: int, bpp: int, compress: bool,
         header: bool, limit: int) -> list[BitmapData]:
    """Encode one tile alone, halving it until each piece fits ``limit`` bytes."""
    enc_w = (w + 3) & ~3
    (data, compressed), = _encode_tiles(_gather(screen, [(x, y)], w, h, enc_w), bpp, compress)
    bd = _make(x, y, w, h, enc_w, bpp, data, compressed, header)
    if bd.size() <= limit:
        return [bd]
    if h > 1:
        top = h // 2
        return (_fit(screen, x, y, w, top, bpp, compress, header, limit)
                + _fit(screen, x, y + top, w, h - top, bpp, compress, header, limit))
    if w > 4:
        left = ((w // 2) + 3) & ~3
        return (_fit(screen, x, y, left, h, bpp, compress, header, limit)
                + _fit(screen, x + left, y, w - left, h, bpp, compress, header, limit))
    raise LocalProtocolError(f"a {w}x{h} bitmap does not fit an update of {limit} bytes")


def build_bitmap_data(
    screen: np.ndarray,
    rects: Iterable[tuple[int, int, int, int]],
    *,
    bpp: int,
    max_update_size: int,
    compress: bool = True,
    compression_header: bool = False,
    tile_size: int = 64,
) -> list[BitmapData]:
    """[2.2.9.1.1.3.1.2.2] TS_BITMAP_DATA for the damaged ``rects`` of a BGRX ``screen``.

    ``rects`` are ``(x, y, width, height)`` in screen pixels, clipped to the screen; overlapping
    rectangles are encoded twice (merge them first). ``bpp`` is the client's colour depth
    (15, 16, 24, 32). Every result fits a TS_UPDATE_BITMAP_DATA of ``max_update_size`` bytes
    on its own. ``compression_header`` keeps the TS_CD_HEADER, for clients that did not set
    NO_BITMAP_COMPRESSION_HDR in their General Capability Set.
    """
    if screen.ndim != 3 or screen.shape[2] != 4 or screen.dtype != np.uint8:
        raise ValueError(f"expected (h, w, 4) uint8 BGRX screen, got {screen.shape} {screen.dtype}")
    bytes_per_pixel(bpp)  # rejects depths the legacy path cannot carry
    if tile_size < 4 or tile_size % 4:
        raise ValueError("tile_size must be a positive multiple of 4")
    limit = max_update_size - _UPDATE_FIXED
    # Tiles short enough that even their uncompressed form fits (64x63 at 32 bpp in 16 KB).
    worst = raw_scanline_size(tile_size, bpp)
    tile_h = min(tile_size, (limit - _BITMAP_DATA_FIXED - _CD_HEADER_SIZE) // worst)
    if tile_h < 1:
        raise LocalProtocolError(f"max_update_size {max_update_size} is too small for a tile row")
    screen_h, screen_w = screen.shape[:2]
    tiles: list[tuple[int, int, int, int]] = []
    for rx, ry, rw, rh in rects:
        x0, y0 = max(rx, 0), max(ry, 0)
        x1, y1 = min(rx + rw, screen_w), min(ry + rh, screen_h)
        for ty in range(y0, y1, tile_h):
            for tx in range(x0, x1, tile_size):
                tiles.append((tx, ty, min(tile_size, x1 - tx), min(tile_h, y1 - ty)))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (_, _, w, h) in enumerate(tiles):
        groups.setdefault((w, h), []).append(i)
    results: list[list[BitmapData]] = [[] for _ in tiles]
    for (w, h), members in groups.items():
        enc_w = (w + 3) & ~3
        stack = _gather(screen, [tiles[i][:2] for i in members], w, h, enc_w)
        for i, (data, compressed) in zip(members, _encode_tiles(stack, bpp, compress), strict=True):
            x, y = tiles[i][:2]
            bd = _make(x, y, w, h, enc_w, bpp, data, compressed, compression_header)
            if bd.size() > limit:
                results[i] = _fit(screen, x, y, w, h, bpp, compress, compression_header, limit)
            else:
                results[i] = [bd]
    return [bd for group in results for bd in group]


def pack_bitmap_updates(bitmaps: Iterable[BitmapData], max_update_size: int) -> list[BitmapUpdate]:
    """[2.2.9.1.1.3.1.2] Group TS_BITMAP_DATA, in order, into TS_UPDATE_BITMAP_DATA of at most
    ``max_update_size`` bytes each."""
    updates: list[BitmapUpdate] = []
    current: list[BitmapData] = []
    size = _UPDATE_FIXED
    for bd in bitmaps:
        if _UPDATE_FIXED + bd.size() > max_update_size:
            raise LocalProtocolError(f"TS_BITMAP_DATA of {bd.size()} bytes exceeds {max_update_size}")
        if current and (size + bd.size() > max_update_size or len(current) == 0xFFFF):
            updates.append(BitmapUpdate(tuple(current)))
            current, size = [], _UPDATE_FIXED
        current.append(bd)
        size += bd.size()
    if current:
        updates.append(BitmapUpdate(tuple(current)))
    return updates
