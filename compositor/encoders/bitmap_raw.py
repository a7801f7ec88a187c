"""[MS-RDPBCGR 2.2.9.1.1.3.1.2.2] Uncompressed bitmap data (the fallback when compression
would not pay, or when the client takes none).

Scanlines go bottom-up, each padded with zero bytes to a multiple of 4 bytes. Pixels are
RGB565 little-endian at 16 bpp, blue-green-red at 24 bpp, blue-green-red-0xFF at 32 bpp.
"""

from __future__ import annotations

import numpy as np

from compositor.encoders import CodecError
from compositor.encoders.bitmap_pixels import bytes_per_pixel, pixel_bytes

__all__ = ["decode_raw", "encode_raw", "raw_scanline_size"]


def raw_scanline_size(width: int, bpp: int) -> int:
    """Bytes per uncompressed scanline: ``width`` pixels rounded up to a multiple of 4 bytes."""
    return (width * bytes_per_pixel(bpp) + 3) & ~3


def encode_raw(bgrx: np.ndarray, bpp: int) -> bytes:
    """[2.2.9.1.1.3.1.2.2] Uncompressed bitmapDataStream of a BGRX bitmap (h, w, 4) at ``bpp``."""
    height, width = bgrx.shape[:2]
    pix = pixel_bytes(bgrx[::-1], bpp).reshape(height, -1)
    stride = raw_scanline_size(width, bpp)
    if pix.shape[1] == stride:
        return np.ascontiguousarray(pix).tobytes()
    out = np.zeros((height, stride), np.uint8)
    out[:, : pix.shape[1]] = pix
    return out.tobytes()


def decode_raw(data: bytes, width: int, height: int, bpp: int) -> np.ndarray:
    """Reference decoder: uncompressed bitmap data to wire pixels (h, w, bytes per pixel),
    top row first."""
    stride = raw_scanline_size(width, bpp)
    if len(data) != stride * height:
        raise CodecError(f"raw bitmap: {len(data)} bytes, {stride * height} expected")
    rows = np.frombuffer(data, np.uint8).reshape(height, stride)
    size = bytes_per_pixel(bpp)
    return rows[::-1, : width * size].reshape(height, width, size).copy()
