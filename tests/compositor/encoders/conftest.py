from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
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
