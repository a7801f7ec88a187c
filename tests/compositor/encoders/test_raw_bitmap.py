"""Uncompressed bitmap data (MS-RDPBCGR 2.2.9.1.1.3.1.2.2): bottom-up, 4-byte scanlines."""

from __future__ import annotations

import numpy as np
import pytest

from compositor.encoders import CodecError
from compositor.encoders.bitmap_raw import decode_raw, encode_raw, raw_scanline_size


def test_layout_24bpp_is_bottom_up_and_padded() -> None:
    img = np.zeros((2, 3, 4), np.uint8)
    img[0] = (1, 2, 3, 0)  # top row
    img[1] = (4, 5, 6, 0)
    data = encode_raw(img, 24)
    assert raw_scanline_size(3, 24) == 12
    assert data == bytes([4, 5, 6] * 3 + [0] * 3 + [1, 2, 3] * 3 + [0] * 3)


def test_layout_16bpp_and_32bpp() -> None:
    img = np.zeros((1, 1, 4), np.uint8)
    img[0, 0] = (0xFF, 0x00, 0xFF, 0x12)  # blue + red
    assert encode_raw(img, 16) == bytes([0x1F, 0xF8, 0, 0])
    assert encode_raw(img, 15) == bytes([0x1F, 0x7C, 0, 0])
    assert encode_raw(img, 32) == bytes([0xFF, 0x00, 0xFF, 0xFF])


@pytest.mark.parametrize("bpp", [16, 24, 32])
@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 64])
def test_round_trip(bpp: int, width: int) -> None:
    img = np.random.default_rng(width).integers(0, 256, (5, width, 4), dtype=np.uint8)
    data = encode_raw(img, bpp)
    assert len(data) == raw_scanline_size(width, bpp) * 5
    assert raw_scanline_size(width, bpp) % 4 == 0
    wire = decode_raw(data, width, 5, bpp)
    if bpp == 24:
        assert np.array_equal(wire, img[..., :3])
    elif bpp == 32:
        assert np.array_equal(wire[..., :3], img[..., :3])
    with pytest.raises(CodecError):
        decode_raw(data[:-1], width, 5, bpp)
