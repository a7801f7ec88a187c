"""Interleaved RLE (MS-RDPBCGR 2.2.9.1.1.3.1.2.4): hand-made orders and round trips.

The real decoder check is xfreerdp itself: tests/rdpfront/test_xfreerdp.py at 15/16/24 bpp."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compositor.encoders import CodecError
from compositor.encoders.bitmap_pixels import bgrx_to_rgb565
from compositor.encoders.interleaved import (
    MAX_PIXELS,
    decode_interleaved,
    encode_interleaved,
    encode_interleaved_batch,
)

FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def wire_values(img: np.ndarray, bpp: int) -> np.ndarray:
    """What a 15/16/24-bpp client holds for a BGRX image, top row first."""
    b, g, r = (img[..., c].astype(np.uint32) for c in range(3))
    if bpp == 16:
        return bgrx_to_rgb565(img)
    if bpp == 15:
        return ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)
    return b | (g << 8) | (r << 16)


def freerdp_widen_565(pix: np.ndarray) -> np.ndarray:
    """RGB565 to BGR the way FreeRDP's FreeRDPSplitColor does, clamped at 255 (the vectors
    were made so)."""
    pix = pix.astype(np.uint32)
    r5, g6, b5 = (pix >> 11) & 0x1F, (pix >> 5) & 0x3F, pix & 0x1F
    bgr = np.stack([(b5 << 3) + b5 // 4, (g6 << 2) + g6 // 8, (r5 << 3) + r5 // 4], -1)
    return np.minimum(bgr, 255).astype(np.uint8)


def our_orders(stream: bytes, pixel_size: int) -> list[tuple[str, int, int]]:
    """(kind, first pixel, length) of each order in a stream of the three kinds we write."""
    orders = []
    pos = pixel = 0
    while pos < len(stream):
        hdr = stream[pos]
        if hdr in (0xF0, 0xF3, 0xF4):
            kind = {0xF0: "bg", 0xF3: "run", 0xF4: "image"}[hdr]
            length = int.from_bytes(stream[pos + 1:pos + 3], "little")
            pos += 3
        else:
            kind = {0: "bg", 3: "run", 4: "image"}[hdr >> 5]  # KeyError: an order we never write
            length = hdr & 0x1F
            pos += 1
            if length == 0:
                length = stream[pos] + 32
                pos += 1
        pos += {"bg": 0, "run": pixel_size, "image": length * pixel_size}[kind]
        orders.append((kind, pixel, length))
        pixel += length
    return orders


@given(data=st.data(), bpp=st.sampled_from([15, 16, 24]))
@settings(FIXTURES_OK, max_examples=150)
def test_round_trip(data: st.DataObject, bpp: int, images: Callable) -> None:
    img = data.draw(images())
    h, w = img.shape[:2]
    stream = encode_interleaved(img, bpp)
    decoded = decode_interleaved(stream, w, h, bpp)
    assert np.array_equal(decoded, wire_values(img, bpp))
    # Neither decoder special case is ever reached: no background run starts on the first
    # scanline, and no two background runs follow each other.
    orders = our_orders(stream, 3 if bpp == 24 else 2)
    assert all(start >= w for kind, start, _ in orders if kind == "bg")
    assert all(not (a[0] == b[0] == "bg") for a, b in pairwise(orders))


@given(st.integers(1, 64), st.integers(1, 64), st.integers(0, 2**32 - 1), st.sampled_from([16, 24]))
@settings(max_examples=40, deadline=None)
def test_batch_equals_single(h: int, w: int, seed: int, bpp: int) -> None:
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 2, (4, h, w, 4), dtype=np.uint8) * 255
    tiles[1] = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    tiles[2] = 9
    assert encode_interleaved_batch(tiles, bpp) == [encode_interleaved(t, bpp) for t in tiles]


def test_flat_areas_are_background_and_colour_runs() -> None:
    img = np.zeros((64, 64, 4), np.uint8)
    img[:] = (10, 20, 30, 0)
    img[30:34, 10:50] = (200, 100, 50, 0)
    stream = encode_interleaved(img, 16)
    assert len(stream) < 40
    assert np.array_equal(decode_interleaved(stream, 64, 64, 16), wire_values(img, 16))


def _u16(*values: int) -> bytes:
    return b"".join(v.to_bytes(2, "little") for v in values)


# Hand-made streams for the orders the encoder never writes, 4 pixels wide, 16 bpp.
# Expected rows are bottom-up (stream order).
ORDER_CASES = {
    "colour image + background run": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0x04]),
        [[1, 2, 3, 4], [1, 2, 3, 4]],
    ),
    "set-fg fg run on the second line xors with the line above": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0xC4]) + _u16(0x0F00),
        [[1, 2, 3, 4], [0x0F01, 0x0F02, 0x0F03, 0x0F04]],
    ),
    "dithered run": (
        bytes([0xE2]) + _u16(7, 8) + bytes([0xE2]) + _u16(5, 6),
        [[7, 8, 7, 8], [5, 6, 5, 6]],
    ),
    "colour run, white and black": (
        bytes([0x66]) + _u16(0x1234) + bytes([0xFD, 0xFE]),
        [[0x1234] * 4, [0x1234, 0x1234, 0xFFFF, 0]],
    ),
    "fg/bg image, lite set-fg form": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0xD0, 0x03]) + _u16(0x00F0) + bytes([0b1010]),
        [[1, 2, 3, 4], [1, 2 ^ 0xF0, 3, 4 ^ 0xF0]],
    ),
    "consecutive background runs insert a foreground pel": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0x01, 0x02, 0x61]) + _u16(9),
        [[1, 2, 3, 4], [1, 2 ^ 0xFFFF, 3, 9]],
    ),
    "mega-mega colour image": (
        bytes([0xF4, 0x08, 0x00]) + _u16(*range(8)),
        [[0, 1, 2, 3], [4, 5, 6, 7]],
    ),
}


@pytest.mark.parametrize("name", list(ORDER_CASES))
def test_decoder_orders(name: str) -> None:
    stream, rows = ORDER_CASES[name]
    got = decode_interleaved(stream, 4, 2, 16)
    assert got[::-1].tolist() == rows


def test_first_line_background_and_foreground() -> None:
    # BG run of 2 on the first line is black; an FG run of 2 there is the foreground (white);
    # SPECIAL_FGBG_1 (8 pixels, mask 0x03) on the next lines xors the first two with fg and
    # copies the rest from the line above.
    stream = bytes([0x02, 0x22]) + bytes([0xF9])
    got = decode_interleaved(stream, 4, 3, 16)[::-1]
    assert got[0].tolist() == [0, 0, 0xFFFF, 0xFFFF]
    assert got[1].tolist() == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]
    assert got[2].tolist() == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]


@given(st.binary(max_size=120), st.integers(1, 8), st.integers(1, 8), st.sampled_from([16, 24]))
@settings(max_examples=400, deadline=None)
def test_decoder_rejects_garbage_cleanly(data: bytes, w: int, h: int, bpp: int) -> None:
    try:
        decode_interleaved(data, w, h, bpp)
    except CodecError:
        pass


def test_encoder_limits() -> None:
    with pytest.raises(ValueError):
        encode_interleaved(np.zeros((256, 256, 4), np.uint8), 16)
    assert MAX_PIXELS == 0xFFFF
    with pytest.raises(ValueError):
        encode_interleaved(np.zeros((4, 4, 4), np.uint8), 32)
