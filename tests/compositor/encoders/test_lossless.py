from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compositor.encoders.lossless import palette_rle, small_update


@given(arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 40), st.just(4)),
              elements=st.sampled_from([0, 7, 128, 255])))
def test_palette_rle_round_trip(decode_prle, block):
    data = palette_rle(block)
    assert data is not None  # at most 4**3 = 64 colours here
    h, w = block.shape[:2]
    assert np.array_equal(decode_prle(data, w, h), block[:, :, :3])


def test_long_runs_are_split(decode_prle):
    block = np.zeros((30, 40, 4), np.uint8)  # 1200 equal pixels: runs of 256
    data = palette_rle(block)
    assert data is not None
    assert len(data) == 1 + 3 + 2 * 5
    assert np.array_equal(decode_prle(data, 40, 30), block[:, :, :3])


def test_too_many_colours_fall_back_to_webp():
    rng = np.random.default_rng(0)
    screen = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    assert palette_rle(screen[:32, :32]) is None
    frame = small_update(screen, [(0, 0, 32, 32)], 64, 64, limit=10_000)
    assert frame is not None and frame.fields["codec"] == "webp"
    assert small_update(screen, [(0, 0, 64, 64)], 64, 64, limit=1000) is None
