"""BGRX → I420 colour conversion, without swscale: BT.601 limited range (``"bt601"``, what
browsers get, signalled in the stream) or BT.709 full range (``"bt709-full"``, what RDP's AVC420
requires: MS-RDPEGFX 3.3.8.3.1; clients convert back with that matrix whatever the stream says).

Two implementations over the same contract, chosen once at import (STYLE §2):

- ``LibyuvConverter``: ``ARGBToI420`` from the system ``libyuv.so.0`` (Debian ``libyuv0``) through
  ctypes — SIMD, 0.74 ms for a full 1080p frame here (see docs/encoders.md);
- ``NumpyConverter``: the reference, plain integer numpy (45 ms at 1080p; also the test oracle).

Both convert one rectangle of the source into planes the caller owns, so the H.264 encoder
converts only what was damaged. Rectangles must have even x, y, w, h (``even_rect``).
libyuv's "ARGB" is little-endian ARGB, i.e. bytes B, G, R, A in memory: exactly Xvfb's BGRX.

This libyuv has no BT.709 RGB→YUV, only full-range BT.601 (``ARGBToJ420``). For BT.709 the
pixels first go through ``ARGBColorMatrix`` with A = M601⁻¹·M709 (both full range), so that
J420 of A·RGB is M709·RGB; A in 1/64 steps has rows summing to 64, so greys stay exact.
Saturated colours whose A·RGB falls outside 0..255 are clipped there: on uniformly random
colours the result is 1.2 levels off the exact conversion on average, 26 at worst (luma).
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


MATRICES = ("bt601", "bt709-full")
# (Y coefficients R, G, B; Y offset; U coefficients; V coefficients), 8-bit fixed point
_COEFFICIENTS = {
    "bt601": ((66, 129, 25), 16, (-38, -74, 112), (112, -94, -18)),
    "bt709-full": ((54, 183, 19), 0, (-29, -99, 128), (128, -116, -12)),
}
# A = M601⁻¹·M709 in 1/64 steps, as libyuv's ARGBColorMatrix wants it: rows produce B, G, R, A
# from (B, G, R, A).
_BT709_VIA_BT601 = (61, 2, 1, 0, -4, 75, -7, 0, 1, 5, 58, 0, 0, 0, 0, 64)


class NumpyConverter:
    """Reference implementation, chroma from the rounded average of each 2×2 like libyuv."""

    name = "numpy"

    def __init__(self, matrix: str = "bt601") -> None:
        if matrix not in _COEFFICIENTS:
            raise ValueError(f"colour matrix must be one of {MATRICES}, not {matrix!r}")
        self.matrix = matrix

    def convert(self, src: np.ndarray, y_plane: np.ndarray, u_plane: np.ndarray,
                v_plane: np.ndarray, rect: Rect) -> None:
        (yr, yg, yb), offset, (ur, ug, ub), (vr, vg, vb) = _COEFFICIENTS[self.matrix]
        x, y, w, h = rect
        block = src[y:y + h, x:x + w]
        b = block[:, :, 0].astype(np.int32)
        g = block[:, :, 1].astype(np.int32)
        r = block[:, :, 2].astype(np.int32)
        y_plane[y:y + h, x:x + w] = np.clip(((yr * r + yg * g + yb * b + 128) >> 8) + offset, 0, 255)
        bs = block.astype(np.int32)
        bs = (bs[0::2, 0::2] + bs[1::2, 0::2] + bs[0::2, 1::2] + bs[1::2, 1::2] + 2) >> 2
        b2, g2, r2 = bs[:, :, 0], bs[:, :, 1], bs[:, :, 2]
        cx, cy = x // 2, y // 2
        u_plane[cy:cy + h // 2, cx:cx + w // 2] = np.clip((ur * r2 + ug * g2 + ub * b2 + 0x8080) >> 8, 0, 255)
        v_plane[cy:cy + h // 2, cx:cx + w // 2] = np.clip((vr * r2 + vg * g2 + vb * b2 + 0x8080) >> 8, 0, 255)


class LibyuvConverter:
    """``libyuv::ARGBToI420`` (BT.601) or ``ARGBColorMatrix`` + ``ARGBToJ420`` (BT.709 full) on
    a sub-rectangle, by pointer arithmetic on the numpy buffers."""

    name = "libyuv"

    def __init__(self, lib: ctypes.CDLL, matrix: str = "bt601") -> None:
        if matrix not in _COEFFICIENTS:
            raise ValueError(f"colour matrix must be one of {MATRICES}, not {matrix!r}")
        self.matrix = matrix
        self._lib = lib
        p, i = ctypes.c_void_p, ctypes.c_int
        fn = lib.ARGBToI420 if matrix == "bt601" else lib.ARGBToJ420
        fn.argtypes = [p, i, p, i, p, i, p, i, i, i]
        fn.restype = i
        self._fn = fn
        self._scratch = np.empty((0, 0, 4), np.uint8)
        if matrix == "bt709-full":
            self._matrix = (ctypes.c_int8 * 16)(*_BT709_VIA_BT601)
            self._color_matrix = lib.ARGBColorMatrix
            self._color_matrix.argtypes = [p, i, p, i, p, i, i]
            self._color_matrix.restype = i

    def with_matrix(self, matrix: str) -> LibyuvConverter:
        return self if matrix == self.matrix else LibyuvConverter(self._lib, matrix)

    def convert(self, src: np.ndarray, y_plane: np.ndarray, u_plane: np.ndarray,
                v_plane: np.ndarray, rect: Rect) -> None:
        x, y, w, h = rect
        if src.strides[1:] != (4, 1) or y_plane.strides[1] != 1:
            NumpyConverter(self.matrix).convert(src, y_plane, u_plane, v_plane, rect)
            return
        sy, yy, uy, vy = src.strides[0], y_plane.strides[0], u_plane.strides[0], v_plane.strides[0]
        pixels = src.__array_interface__["data"][0] + y * sy + x * 4
        if self.matrix == "bt709-full":
            if self._scratch.shape[0] < h or self._scratch.shape[1] < w:
                self._scratch = np.empty((max(h, self._scratch.shape[0]), max(w, self._scratch.shape[1]), 4),
                                         np.uint8)
            self._color_matrix(pixels, sy, self._scratch.ctypes.data, self._scratch.strides[0],
                               self._matrix, w, h)
            pixels, sy = self._scratch.ctypes.data, self._scratch.strides[0]
        self._fn(
            pixels, sy,
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


def best_converter(matrix: str = "bt601") -> NumpyConverter | LibyuvConverter:
    if isinstance(CONVERTER, LibyuvConverter):
        return CONVERTER.with_matrix(matrix)
    return NumpyConverter(matrix)


CONVERTER: NumpyConverter | LibyuvConverter = _load_libyuv() or NumpyConverter()
if isinstance(CONVERTER, NumpyConverter):
    log.warning("libyuv not found (Debian package libyuv0): BGRX→I420 falls back to numpy, ~45 ms/1080p")
