from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "data" / "encoders"


@pytest.fixture(scope="session")
def terminal_screen() -> np.ndarray:
    """A 1920×1080 BGRX screen of an xterm with text (tests/data/encoders)."""
    rgb = np.asarray(Image.open(DATA / "terminal-1920x1080.png").convert("RGB"))
    bgrx = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
    bgrx[:, :, :3] = rgb[:, :, ::-1]
    return bgrx


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(name="psnr")
def psnr_fixture():
    return psnr


def decode_prle(data: bytes, w: int, h: int) -> np.ndarray:
    """Reference decoder of ``prle`` (the browser's is static/viewer/display.js): BGR pixels."""
    count = data[0] + 1
    palette = np.frombuffer(data, np.uint8, count * 3, 1).reshape(count, 3)
    runs = np.frombuffer(data, np.uint8, offset=1 + count * 3).reshape(-1, 2)
    index = np.repeat(runs[:, 1], runs[:, 0].astype(int) + 1)
    assert len(index) == w * h
    return palette[index].reshape(h, w, 3)


@pytest.fixture(name="decode_prle", scope="session")
def decode_prle_fixture():
    return decode_prle



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


