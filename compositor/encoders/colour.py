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

This libyuv has no BT.709 RGB→YUV, only full-range BT.601 (``ARGBToJ420``). For BT.709 full
range the chroma comes from J420 and is then mapped exactly in YUV space: with U' = U − 128,
V' = V − 128, BT.709's chroma is T·(U', V') where T = M709·M601⁻¹ has no luma term
(U709' = 1.0186 U' + 0.1146 V', V709' = 0.0750 U' + 1.0253 V'), so the subsampled planes can be
corrected as they are (numpy, ~2 ms for a 1080p frame's quarter-size planes). Luma is computed
exactly from the pixels in numpy (``(54 R + 183 G + 19 B + 128) >> 8``, ~10 ms for a whole
1080p frame, proportionally less for the damaged rectangles it is usually given). Colours are
then within rounding of the reference; an earlier pre-mix in RGB (``ARGBColorMatrix`` with
M601⁻¹·M709) clipped saturated colours and showed pure red as (250, 24, 1).
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
# T = M709·M601⁻¹ on (U', V'), full range both, in 1/256 steps: BT.601 chroma to BT.709's.
_BT709_CHROMA_FROM_BT601 = ((261, 29), (19, 262))


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


def bt709_luma(block: np.ndarray, out: np.ndarray) -> None:
    """Full-range BT.709 luma of a BGRX block into ``out`` (uint16 arithmetic, exact to rounding)."""
    acc = np.multiply(block[..., 2], 54, dtype=np.uint16)
    acc += np.multiply(block[..., 1], 183, dtype=np.uint16)
    acc += np.multiply(block[..., 0], 19, dtype=np.uint16)
    acc += 128
    np.right_shift(acc, 8, out=out, casting="unsafe")


def bt709_chroma_from_bt601(u: np.ndarray, v: np.ndarray) -> None:
    """Full-range BT.601 chroma planes, in place, to BT.709's (``_BT709_CHROMA_FROM_BT601``)."""
    (uu, uv), (vu, vv) = _BT709_CHROMA_FROM_BT601
    u1 = u.astype(np.int32) - 128
    v1 = v.astype(np.int32) - 128
    u[...] = np.clip(((uu * u1 + uv * v1 + 128) >> 8) + 128, 0, 255)
    v[...] = np.clip(((vu * u1 + vv * v1 + 128) >> 8) + 128, 0, 255)


class LibyuvConverter:
    """``libyuv::ARGBToI420`` (BT.601) or ``ARGBToJ420`` corrected to BT.709 (full range) on a
    sub-rectangle, by pointer arithmetic on the numpy buffers."""

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
        self._fn(
            pixels, sy,
            y_plane.ctypes.data + y * yy + x, yy,
            u_plane.ctypes.data + (y // 2) * uy + x // 2, uy,
            v_plane.ctypes.data + (y // 2) * vy + x // 2, vy,
            w, h,
        )
        if self.matrix == "bt709-full":
            block = src[y:y + h, x:x + w]
            bt709_luma(block, y_plane[y:y + h, x:x + w])
            cy, cx = y // 2, x // 2
            bt709_chroma_from_bt601(u_plane[cy:cy + h // 2, cx:cx + w // 2], v_plane[cy:cy + h // 2, cx:cx + w // 2])


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
