"""Shared pieces of the bitmap codec tests: a hypothesis strategy for BGRX images that look like
screens (handed out as a fixture: tests import no siblings)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import strategies as st


@st.composite
def bgrx_images(draw: st.DrawFn, max_side: int = 70) -> np.ndarray:
    """A (h, w, 4) uint8 BGRX image, 1x1 to max_side x max_side: noise, solid, gradient,
    blocks of flat colour, sparse "text" on a flat background, or few-colour noise."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["noise", "solid", "gradient", "blocks", "text", "palette"]))
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    if kind == "solid":
        img = np.empty((h, w, 4), np.uint8)
        img[:] = rng.integers(0, 256, 4, dtype=np.uint8)
        return img
    if kind == "gradient":
        y, x = np.mgrid[0:h, 0:w]
        img = np.empty((h, w, 4), np.uint8)
        img[..., 0] = (x * int(rng.integers(1, 9))) & 0xFF
        img[..., 1] = (y * int(rng.integers(0, 9))) & 0xFF
        img[..., 2] = (x + y) & 0xFF
        img[..., 3] = 0
        return img
    if kind == "blocks":
        bh, bw = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        small = rng.integers(0, 256, (h // bh + 1, w // bw + 1, 4), dtype=np.uint8)
        return np.ascontiguousarray(np.repeat(np.repeat(small, bh, 0), bw, 1)[:h, :w])
    if kind == "text":
        img = np.empty((h, w, 4), np.uint8)
        img[:] = (250, 250, 250, 0)
        img[rng.random((h, w)) < 0.2] = (20, 20, 20, 0)
        return img
    palette = rng.integers(0, 256, (3, 4), dtype=np.uint8)
    return palette[rng.integers(0, 3, (h, w))]


@pytest.fixture(scope="session")
def images() -> Callable[..., st.SearchStrategy[np.ndarray]]:
    """The ``bgrx_images`` strategy, for ``data.draw(images())`` in ``@given(data=st.data())``."""
    return bgrx_images


