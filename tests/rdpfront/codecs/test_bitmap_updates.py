"""Damaged rectangles to TS_BITMAP_DATA (MS-RDPBCGR 2.2.9.1.1.3.1.2): tiling, limits, and the
client's view of the result (every tile decoded and painted back)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor.encoders.bitmap_pixels import bgrx_to_rgb555, bgrx_to_rgb565
from rdpfront.bitmap import BitmapData, BitmapFlags, BitmapUpdate
from rdpfront.codecs import (
    build_bitmap_data,
    compressed_data_header,
    decode_interleaved,
    decode_planar,
    decode_raw,
    pack_bitmap_updates,
)
from rdpfront.cursor import Reader, encode
from rdpfront.errors import LocalProtocolError

FAST_PATH_MAX = 16_377


def client_view(img: np.ndarray, bpp: int) -> np.ndarray:
    """What the client should hold for a BGRX image at ``bpp``: comparable integer pixels."""
    b, g, r = (img[..., c].astype(np.uint32) for c in range(3))
    if bpp == 16:
        return bgrx_to_rgb565(img).astype(np.uint32)
    if bpp == 15:
        return bgrx_to_rgb555(img).astype(np.uint32)
    return b | (g << 8) | (r << 16)


def decode_tile(bd: BitmapData) -> np.ndarray:
    """One TS_BITMAP_DATA as the client decodes it, in ``client_view`` form, top row first."""
    bpp = bd.bits_per_pixel
    if bd.flags & BitmapFlags.BITMAP_COMPRESSION:
        if bpp == 32:
            return client_view(decode_planar(bd.data, bd.width, bd.height), 32)
        return decode_interleaved(bd.data, bd.width, bd.height, bpp).astype(np.uint32)
    wire = decode_raw(bd.data, bd.width, bd.height, bpp).astype(np.uint32)
    if bpp in (15, 16):
        return wire[..., 0] | (wire[..., 1] << 8)
    return wire[..., 0] | (wire[..., 1] << 8) | (wire[..., 2] << 16)


def paint(canvas: np.ndarray, bitmaps: list[BitmapData]) -> None:
    for bd in bitmaps:
        w = bd.dest_right - bd.dest_left + 1
        h = bd.dest_bottom - bd.dest_top + 1
        assert 0 < w <= bd.width and h == bd.height
        canvas[bd.dest_top:bd.dest_bottom + 1, bd.dest_left:bd.dest_right + 1] = decode_tile(bd)[:, :w]


def screen(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 4), np.uint8)
    img[:] = (240, 240, 240, 0)
    img[: h // 3] = rng.integers(0, 256, (h // 3, w, 4), dtype=np.uint8)  # photo-like noise
    text = rng.random((h, w)) < 0.1
    text[: h // 3] = False
    img[text] = (20, 20, 20, 0)
    return img


@pytest.mark.parametrize("bpp", [15, 16, 24, 32])
@pytest.mark.parametrize("compress", [True, False])
def test_full_screen_paints_back_exactly(bpp: int, compress: bool) -> None:
    img = screen(150, 201)
    bitmaps = build_bitmap_data(img, [(0, 0, 201, 150)], bpp=bpp, max_update_size=FAST_PATH_MAX,
                                compress=compress)
    canvas = np.full((150, 201), 0xDEADBEEF, np.uint32)
    paint(canvas, bitmaps)
    assert np.array_equal(canvas, client_view(img, bpp))
    for bd in bitmaps:
        assert bd.width % 4 == 0
        assert bd.width <= 64 and bd.height <= 64
        assert 4 + bd.size() <= FAST_PATH_MAX
        assert bd.bits_per_pixel == bpp
    compressed = [bd for bd in bitmaps if bd.flags & BitmapFlags.BITMAP_COMPRESSION]
    assert bool(compressed) == compress
    for bd in compressed:
        assert bd.flags & BitmapFlags.NO_BITMAP_COMPRESSION_HDR
        assert bd.compression_header is None


@given(
    rects=st.lists(st.tuples(st.integers(-20, 120), st.integers(-20, 90), st.integers(0, 150),
                             st.integers(0, 110)), min_size=1, max_size=4),
    bpp=st.sampled_from([16, 24, 32]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=25, deadline=None)
def test_damaged_rects_are_clipped_and_painted(rects: list[tuple[int, int, int, int]], bpp: int,
                                               seed: int) -> None:
    img = screen(90, 120, seed)
    bitmaps = build_bitmap_data(img, rects, bpp=bpp, max_update_size=FAST_PATH_MAX)
    canvas = np.zeros((90, 120), np.uint32)
    covered = np.zeros((90, 120), bool)
    paint(canvas, bitmaps)
    for x, y, w, h in rects:
        covered[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
    expected = np.where(covered, client_view(img, bpp), 0)
    assert np.array_equal(canvas, expected)


@pytest.mark.parametrize("bpp", [16, 24, 32])
def test_small_update_limit_splits_tiles(bpp: int) -> None:
    img = np.random.default_rng(3).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    limit = 1500
    bitmaps = build_bitmap_data(img, [(0, 0, 64, 64)], bpp=bpp, max_update_size=limit)
    assert len(bitmaps) > 1
    assert all(4 + bd.size() <= limit for bd in bitmaps)
    canvas = np.zeros((64, 64), np.uint32)
    paint(canvas, bitmaps)
    assert np.array_equal(canvas, client_view(img, bpp))
    updates = pack_bitmap_updates(bitmaps, limit)
    assert all(u.size() <= limit for u in updates)
    assert [bd for u in updates for bd in u.rectangles] == bitmaps
    with pytest.raises(LocalProtocolError):
        build_bitmap_data(img, [(0, 0, 64, 64)], bpp=bpp, max_update_size=30)


def test_compression_header_when_the_client_wants_it() -> None:
    img = np.zeros((10, 10, 4), np.uint8)
    (bd,) = build_bitmap_data(img, [(0, 0, 10, 10)], bpp=16, max_update_size=FAST_PATH_MAX,
                              compression_header=True)
    assert bd.flags == BitmapFlags.BITMAP_COMPRESSION
    assert bd.compression_header == compressed_data_header(len(bd.data), 12, 10, 16)
    assert struct.unpack("<4H", bd.compression_header) == (0, len(bd.data), 24, 240)
    wire = encode(bd)
    again = BitmapData.decode(Reader(wire))
    assert again == bd
    assert struct.unpack_from("<9H", wire) == (0, 0, 9, 9, 12, 10, 16, 1, len(bd.data) + 8)


def test_update_packing_and_wire_round_trip() -> None:
    img = screen(200, 300, 7)
    bitmaps = build_bitmap_data(img, [(0, 0, 300, 200)], bpp=32, max_update_size=FAST_PATH_MAX)
    updates = pack_bitmap_updates(bitmaps, FAST_PATH_MAX)
    assert len(updates) < len(bitmaps)
    for u in updates:
        wire = encode(u)
        assert len(wire) <= FAST_PATH_MAX
        assert BitmapUpdate.decode(Reader(wire)) == u
    assert [bd for u in updates for bd in u.rectangles] == bitmaps


def test_rejects_bad_arguments() -> None:
    img = np.zeros((8, 8, 4), np.uint8)
    with pytest.raises(ValueError):
        build_bitmap_data(img, [(0, 0, 8, 8)], bpp=8, max_update_size=FAST_PATH_MAX)
    with pytest.raises(ValueError):
        build_bitmap_data(img[..., :3], [(0, 0, 8, 8)], bpp=32, max_update_size=FAST_PATH_MAX)
    assert build_bitmap_data(img, [(0, 0, 0, 8), (9, 9, 5, 5)], bpp=32, max_update_size=FAST_PATH_MAX) == []
