"""Damage rectangle merging: the result covers every damaged pixel, stays on screen, stays small."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor import rects

W, H = 200, 150
rect = st.tuples(st.integers(-50, W + 50), st.integers(-50, H + 50), st.integers(0, 120), st.integers(0, 120))


def coverage(rs, w=W, h=H):
    mask = np.zeros((h, w), bool)
    for x, y, rw, rh in rs:
        x0, y0 = max(x, 0), max(y, 0)
        mask[y0:max(y + rh, 0), x0:max(x + rw, 0)] = True
    return mask


@settings(max_examples=300)
@given(st.lists(rect, max_size=80), st.integers(1, 40))
def test_merge_covers_damage_within_screen(damage, max_rects):
    merged = rects.merge(damage, W, H, max_rects=max_rects)
    assert len(merged) <= max(max_rects, 1)
    for x, y, w, h in merged:
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= W and y + h <= H
    want = coverage(damage)
    got = coverage(merged)
    assert not (want & ~got).any()


def test_touching_rects_merge_and_far_ones_do_not():
    assert rects.merge([(0, 0, 10, 10), (10, 0, 10, 10)], W, H) == [(0, 0, 20, 10)]
    assert len(rects.merge([(0, 0, 10, 10), (100, 100, 10, 10)], W, H)) == 2


def test_offscreen_damage_disappears():
    assert rects.merge([(-20, -20, 10, 10), (W, H, 5, 5)], W, H) == []
