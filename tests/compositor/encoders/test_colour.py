from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compositor.encoders.colour import CONVERTER, LibyuvConverter, NumpyConverter, even_rect

needs_libyuv = pytest.mark.skipif(not isinstance(CONVERTER, LibyuvConverter),
                                  reason="libyuv0 not installed")


def _planes(h: int, w: int):
    return (np.zeros((h, w), np.uint8), np.zeros((h // 2, w // 2), np.uint8),
            np.zeros((h // 2, w // 2), np.uint8))


def test_known_colours_bt601_limited():
    src = np.zeros((2, 8, 4), np.uint8)
    # black, white, red, blue (BGRX), each 2 px wide
    src[:, 0:2] = (0, 0, 0, 0)
    src[:, 2:4] = (255, 255, 255, 0)
    src[:, 4:6] = (0, 0, 255, 0)
    src[:, 6:8] = (255, 0, 0, 0)
    y, u, v = _planes(2, 8)
    NumpyConverter().convert(src, y, u, v, (0, 0, 8, 2))
    assert list(y[0, ::2]) == [16, 235, 82, 41]
    assert list(u[0]) == [128, 128, 90, 240]
    assert list(v[0]) == [128, 128, 240, 110]


@needs_libyuv
def test_libyuv_matches_reference_on_terminal(terminal_screen):
    ref, fast = _planes(1080, 1920), _planes(1080, 1920)
    NumpyConverter().convert(terminal_screen, *ref, (0, 0, 1920, 1080))
    CONVERTER.convert(terminal_screen, *fast, (0, 0, 1920, 1080))
    for a, b in zip(ref, fast, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


@needs_libyuv
@given(st.integers(0, 30), st.integers(0, 20), st.integers(1, 34), st.integers(1, 24),
       st.integers(0, 2**32 - 1))
def test_libyuv_subrect_writes_only_inside(x, y, w, h, seed):
    rng = np.random.default_rng(seed)
    # A strided source: a view into a wider framebuffer, as after a RandR shrink.
    big = rng.integers(0, 256, (24, 80, 4), dtype=np.uint8)
    src = big[:, :64]
    rect = even_rect((x, y, w, h), 64, 24)
    if rect is None:
        return
    ref, fast = _planes(24, 64), _planes(24, 64)
    NumpyConverter().convert(src, *ref, rect)
    CONVERTER.convert(src, *fast, rect)
    for a, b in zip(ref, fast, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    rx, ry, rw, rh = rect
    mask = np.ones((24, 64), bool)
    mask[ry:ry + rh, rx:rx + rw] = False
    assert not fast[0][mask].any()


@given(st.integers(-10, 100), st.integers(-10, 100), st.integers(0, 100), st.integers(0, 100))
def test_even_rect_covers_and_is_even(x, y, w, h):
    r = even_rect((x, y, w, h), 64, 48)
    inside = max(0, min(64, x + w) - max(0, x)) > 0 and max(0, min(48, y + h) - max(0, y)) > 0
    if r is None:
        assert not inside or w == 0 or h == 0
        return
    rx, ry, rw, rh = r
    assert rx % 2 == ry % 2 == rw % 2 == rh % 2 == 0
    assert rx <= max(0, x) and ry <= max(0, y)
    assert rx + rw >= min(64, x + w) and ry + rh >= min(48, y + h)
    assert rx + rw <= 64 and ry + rh <= 48


def test_known_colours_bt709_full():
    """MS-RDPEGFX 3.3.8.3.1: full-range BT.709 (Y of white 255, black 0; red, blue per the
    BT.709 coefficients)."""
    src = np.zeros((2, 8, 4), np.uint8)
    src[:, 2:4] = (255, 255, 255, 0)
    src[:, 4:6] = (0, 0, 255, 0)
    src[:, 6:8] = (255, 0, 0, 0)
    y, u, v = _planes(2, 8)
    NumpyConverter("bt709-full").convert(src, y, u, v, (0, 0, 8, 2))
    assert list(y[0, ::2]) == [0, 255, 54, 19]
    assert list(u[0]) == [128, 128, 99, 255]
    assert list(v[0]) == [128, 128, 255, 116]


@needs_libyuv
def test_libyuv_bt709_full_matches_reference(terminal_screen):
    """libyuv has no BT.709 RGB→YUV: full-range BT.601 chroma mapped to BT.709's, luma computed
    exactly. Greys are exact; on the terminal picture and on saturated colours (which an RGB
    pre-mix used to clip: red came out as (250, 24, 1)) everything is within rounding."""
    greys = np.repeat(np.arange(256, dtype=np.uint8), 4).reshape(1, 256, 4).repeat(2, axis=0)
    greys = np.ascontiguousarray(np.concatenate([greys, greys], axis=1))
    y, u, v = _planes(2, 512)
    CONVERTER.with_matrix("bt709-full").convert(greys, y, u, v, (0, 0, 512, 2))
    assert list(y[0, :256]) == list(range(256)) and set(u.ravel()) == {128} and set(v.ravel()) == {128}
    ref, fast = _planes(1080, 1920), _planes(1080, 1920)
    NumpyConverter("bt709-full").convert(terminal_screen, *ref, (0, 0, 1920, 1080))
    CONVERTER.with_matrix("bt709-full").convert(terminal_screen, *fast, (0, 0, 1920, 1080))
    for a, b in zip(ref, fast, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    colours[:8, :8] = (0, 0, 255, 0)  # pure red, blue and green blocks
    colours[8:16, :8] = (255, 0, 0, 0)
    colours[16:24, :8] = (0, 255, 0, 0)
    ref, fast = _planes(64, 64), _planes(64, 64)
    NumpyConverter("bt709-full").convert(colours, *ref, (0, 0, 64, 64))
    CONVERTER.with_matrix("bt709-full").convert(colours, *fast, (0, 0, 64, 64))
    for a, b in zip(ref, fast, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_unknown_matrix_is_refused():
    with pytest.raises(ValueError, match="colour matrix"):
        NumpyConverter("bt2020")
