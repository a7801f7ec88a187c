"""Pixel formats of the legacy bitmap paths: BGRX (the screen), RGB565 and BGR24 (the wire).

[MS-RDPBCGR 2.2.9.1.1.3.1.2.2] a 16-bpp pixel is RGB565 little-endian (5 bits red at the top),
a 15-bpp pixel RGB555;
a 24-bpp pixel is three bytes blue, green, red. Screens arrive as ``(h, w, 4)`` uint8 BGRX
(Xvfb's framebuffer layout).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bgr24_to_bgrx",
    "bgrx_to_bgr24",
    "bgrx_to_rgb555",
    "bgrx_to_rgb565",
    "bytes_per_pixel",
    "pixel_bytes",
    "rgb565_to_bgrx",
]


def bytes_per_pixel(bpp: int) -> int:
    """Bytes per pixel of a colour depth the legacy codecs carry (15/16, 24, 32)."""
    if bpp in (15, 16):
        return 2
    if bpp == 24:
        return 3
    if bpp == 32:
        return 4
    raise ValueError(f"unsupported colour depth {bpp}")


def _bgrx_words(bgrx: np.ndarray) -> np.ndarray:
    """BGRX ``(..., 4)`` uint8 as little-endian words ``(...)``: blue in bits 0-7, green in
    8-15, red in 16-23."""
    if bgrx.shape[-1] != 4 or bgrx.dtype != np.uint8:
        raise ValueError(f"expected (..., 4) uint8 BGRX, got {bgrx.shape} {bgrx.dtype}")
    if bgrx.strides[-1] != 1:
        bgrx = np.ascontiguousarray(bgrx)
    try:
        return bgrx.view("<u4")[..., 0]
    except ValueError:  # the pixel axis is not contiguous
        return np.ascontiguousarray(bgrx).view("<u4")[..., 0]


def bgrx_to_rgb565(bgrx: np.ndarray) -> np.ndarray:
    """[2.2.9.1.1.3.1.2.2] BGRX ``(..., 4)`` uint8 to RGB565 ``(...)`` uint16 (truncating)."""
    v = _bgrx_words(bgrx)
    return (((v >> 8) & 0xF800) | ((v >> 5) & 0x07E0) | ((v >> 3) & 0x001F)).astype(np.uint16)


def bgrx_to_rgb555(bgrx: np.ndarray) -> np.ndarray:
    """[2.2.9.1.1.3.1.2.2] BGRX ``(..., 4)`` uint8 to RGB555 ``(...)`` uint16 (truncating)."""
    v = _bgrx_words(bgrx)
    return (((v >> 9) & 0x7C00) | ((v >> 6) & 0x03E0) | ((v >> 3) & 0x001F)).astype(np.uint16)


def rgb565_to_bgrx(pix: np.ndarray) -> np.ndarray:
    """RGB565 ``(...)`` to BGRX ``(..., 4)``, widening each channel the way FreeRDP does."""
    pix = pix.astype(np.uint16)
    r5 = (pix >> 11) & 0x1F
    g6 = (pix >> 5) & 0x3F
    b5 = pix & 0x1F
    out = np.empty((*pix.shape, 4), np.uint8)
    out[..., 0] = (b5 << 3) | (b5 >> 2)
    out[..., 1] = (g6 << 2) | (g6 >> 4)
    out[..., 2] = (r5 << 3) | (r5 >> 2)
    out[..., 3] = 0xFF
    return out


def bgrx_to_bgr24(bgrx: np.ndarray) -> np.ndarray:
    """BGRX ``(..., 4)`` to the 24-bpp wire layout ``(..., 3)`` (blue, green, red bytes)."""
    return bgrx[..., :3]


def bgr24_to_bgrx(bgr: np.ndarray) -> np.ndarray:
    """24-bpp ``(..., 3)`` back to BGRX with X = 0xFF."""
    out = np.empty((*bgr.shape[:-1], 4), np.uint8)
    out[..., :3] = bgr
    out[..., 3] = 0xFF
    return out


def pixel_bytes(bgrx: np.ndarray, bpp: int) -> np.ndarray:
    """The wire bytes of each pixel: ``(..., bytes_per_pixel(bpp))`` uint8.

    32 bpp keeps BGR and sets the unused fourth byte to 0xFF, so a client that reads it as
    alpha still paints opaque pixels.
    """
    if bpp in (15, 16):
        pix = bgrx_to_rgb565(bgrx) if bpp == 16 else bgrx_to_rgb555(bgrx)
        return pix.astype("<u2").view(np.uint8).reshape((*bgrx.shape[:-1], 2))
    if bpp == 24:
        return bgrx[..., :3]
    if bpp == 32:
        out = np.array(bgrx, dtype=np.uint8, copy=True)
        out[..., 3] = 0xFF
        return out
    raise ValueError(f"unsupported colour depth {bpp}")
