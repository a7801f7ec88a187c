from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from compositor.encoders.regions import TouchUpMap, merge, snap

rects = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 200), st.integers(1, 120),
                           st.integers(1, 120)), max_size=25)


def _cover(rs, w=420, h=320):
    m = np.zeros((h, w), np.int32)
    for x, y, rw, rh in rs:
        m[y:y + rh, x:x + rw] += 1
    return m


@given(rects)
def test_merge_covers_everything_without_overlap(rs):
    out = merge(rs)
    before, after = _cover(rs), _cover(out)
    assert ((before > 0) <= (after > 0)).all()
    assert after.max() <= 1
    assert len(out) <= max(1, len(rs))


def test_merge_joins_neighbours_and_keeps_far_apart():
    assert merge([(0, 0, 16, 16), (16, 0, 16, 16)]) == [(0, 0, 32, 16)]
    far = merge([(0, 0, 16, 16), (1000, 1000, 16, 16)])
    assert sorted(far) == [(0, 0, 16, 16), (1000, 1000, 16, 16)]


@given(st.tuples(st.integers(-50, 500), st.integers(-50, 500), st.integers(0, 200),
                 st.integers(0, 200)))
def test_snap_is_aligned_and_clipped(r):
    s = snap(r, 16, 400, 300)
    if s is None:
        return
    x, y, w, h = s
    assert x % 16 == 0 and y % 16 == 0
    assert (x + w) % 16 == 0 or x + w == 400
    assert (y + h) % 16 == 0 or y + h == 300
    assert x + w <= 400 and y + h <= 300


def test_touchup_waits_for_quiet_then_cleans():
    m = TouchUpMap(200, 100, tile=64, settle=0.3)
    m.damage([(10, 10, 5, 5)])
    assert m.due(1.0, budget=10**6) == []   # first quiet moment noted
    assert m.due(1.2, budget=10**6) == []
    m.damage([(10, 10, 5, 5)])              # changed again: the clock restarts
    assert m.due(1.3, budget=10**6) == []
    assert m.due(1.7, budget=10**6) == [(0, 0, 64, 64)]
    m.clean([(0, 0, 64, 64)])
    assert m.due(5.0, budget=10**6) == []


def test_touchup_budget_and_edges():
    m = TouchUpMap(200, 100, tile=64, settle=0.0)
    m.damage([(0, 0, 200, 100)])
    first = m.due(0.0, budget=64 * 64)  # one run of tiles at least, then the budget stops it
    assert first == [(0, 0, 200, 64)]
    m.clean(first)
    rest = m.due(0.0, budget=10**6)
    assert rest == [(0, 64, 200, 36)]
    m.clean(rest)
    assert not m.lossy.any()
