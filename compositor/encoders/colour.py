"""BGRX → I420 (BT.601 limited range) colour conversion, without swscale.

Two implementations over the same contract, chosen once at import (STYLE §2):

- ``LibyuvConverter``: ``ARGBToI420`` from the system ``libyuv.so.0`` (Debian ``libyuv0``) through
  ctypes — SIMD, 0.74 ms for a full 1080p frame here (see docs/encoders.md);
- ``NumpyConverter``: the reference, plain integer numpy (45 ms at 1080p; also the test oracle).

Both convert one rectangle of the source into planes the caller owns, so the H.264 encoder
converts only what was damaged. Rectangles must have even x, y, w, h (``even_rect``).
libyuv's "ARGB" is little-endian ARGB, i.e. bytes B, G, R, A in memory: exactly Xvfb's BGRX.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import numpy as np

from compositor.encoders import Rect

log = logging.getLogger(__name__)


def even_rect(rect: Rect, width: int, height: int) -> Rect | None:
    """Grow ``rect`` to even edges (chroma is subsampled 2×2), clipped to the even-sized plane."""
    x, y, w, h = rect
    x0, y0 = max(0, x) & ~1, max(0, y) & ~1
    x1 = min(width, (x + w + 1) & ~1)
    y1 = min(height, (y + h + 1) & ~1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


class NumpyConverter:
    """Reference implementation: BT.601 limited range, chroma from the top-left pixel of each 2×2."""

    name = "numpy"

    def convert(self, src: np.ndarray, y_plane: np.ndarray, u_plane: np.ndarray,
                v_plane: np.ndarray, rect: Rect) -> None:
        x, y, w, h = rect
        block = src[y:y + h, x:x + w]
        b = block[:, :, 0].astype(np.int32)
        g = block[:, :, 1].astype(np.int32)
        r = block[:, :, 2].astype(np.int32)
        y_plane[y:y + h, x:x + w] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
        # Average each 2×2 block like libyuv does (rounded), so both agree within 1.
        bs = block.astype(np.int32)
        bs = (bs[0::2, 0::2] + bs[1::2, 0::2] + bs[0::2, 1::2] + bs[1::2, 1::2] + 2) >> 2
        b2, g2, r2 = bs[:, :, 0], bs[:, :, 1], bs[:, :, 2]
        cx, cy = x // 2, y // 2
        u_plane[cy:cy + h // 2, cx:cx + w // 2] = ((112 * b2 - 74 * g2 - 38 * r2 + 0x8080) >> 8)
        v_plane[cy:cy + h // 2, cx:cx + w // 2] = ((112 * r2 - 94 * g2 - 18 * b2 + 0x8080) >> 8)


class LibyuvConverter:
    """``libyuv::ARGBToI420`` on a sub-rectangle, by pointer arithmetic on the numpy buffers."""

    name = "libyuv"

    def __init__(self, lib: ctypes.CDLL) -> None:
        fn = lib.ARGBToI420
        p, i = ctypes.c_void_p, ctypes.c_int
        fn.argtypes = [p, i, p, i, p, i, p, i, i, i]
        fn.restype = i
        self._fn = fn

    def convert(self, src: np.ndarray, y_plane: np.ndarray, u_plane: np.ndarray,
                v_plane: np.ndarray, rect: Rect) -> None:
        x, y, w, h = rect
        if src.strides[1:] != (4, 1) or y_plane.strides[1] != 1:
            NumpyConverter().convert(src, y_plane, u_plane, v_plane, rect)
            return
        sy, yy, uy, vy = src.strides[0], y_plane.strides[0], u_plane.strides[0], v_plane.strides[0]
        base = src.__array_interface__["data"][0]
        self._fn(
            base + y * sy + x * 4, sy,
            y_plane.ctypes.data + y * yy + x, yy,
            u_plane.ctypes.data + (y // 2) * uy + x // 2, uy,
            v_plane.ctypes.data + (y // 2) * vy + x // 2, vy,
            w, h,
        )


def _load_libyuv() -> LibyuvConverter | None:
    for name in ("libyuv.so.0", ctypes.util.find_library("yuv")):
        if not name:
            continue
        try:
            return LibyuvConverter(ctypes.CDLL(name))
        except (OSError, AttributeError):
            continue
    return None


def best_converter() -> NumpyConverter | LibyuvConverter:
    return CONVERTER


CONVERTER: NumpyConverter | LibyuvConverter = _load_libyuv() or NumpyConverter()
if isinstance(CONVERTER, NumpyConverter):
    log.warning("libyuv not found (Debian package libyuv0): BGRX→I420 falls back to numpy, ~45 ms/1080p")
