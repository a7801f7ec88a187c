"""[MS-RDPBCGR 2.2.9.1.1.3.1.2] Bitmap updates for pixels the RDP server draws itself (the
login form): TS_BITMAP_DATA from ``compositor.encoders.bitmap`` as ``rdpfront.bitmap`` PDUs,
grouped into TS_UPDATE_BITMAP_DATA. A session's pixels come encoded from its host (the
``bitmap`` stream); the codecs live in ``compositor/encoders/``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from compositor.encoders.bitmap import (
    UPDATE_FIXED,
    UpdateLimitError,
    bitmap_tiles,
    compressed_data_header,
)
from rdpfront.bitmap import BitmapData, BitmapUpdate
from rdpfront.errors import LocalProtocolError

__all__ = ["build_bitmap_data", "compressed_data_header", "pack_bitmap_updates"]


def build_bitmap_data(
    screen: np.ndarray,
    rects: Iterable[tuple[int, int, int, int]],
    *,
    bpp: int,
    max_update_size: int,
    compress: bool = True,
    compression_header: bool = False,
    tile_size: int = 64,
) -> list[BitmapData]:
    """[2.2.9.1.1.3.1.2.2] TS_BITMAP_DATA for the damaged ``rects`` of a BGRX ``screen``
    (``compositor.encoders.bitmap.bitmap_tiles``: Planar at 32 bpp, interleaved RLE at 15/16/24,
    uncompressed when ``compress`` is off or compression does not pay)."""
    try:
        tiles = bitmap_tiles(screen, list(rects), bpp=bpp, max_update_size=max_update_size,
                             codec="auto" if compress else "raw", header=compression_header,
                             tile_size=tile_size)
    except UpdateLimitError as exc:
        raise LocalProtocolError(str(exc)) from exc
    return [BitmapData(t.x, t.y, t.x + t.width - 1, t.y + t.height - 1, t.coded_width, t.height, t.bpp,
                       t.data, t.flags, t.header) for t in tiles]


def pack_bitmap_updates(bitmaps: Iterable[BitmapData], max_update_size: int) -> list[BitmapUpdate]:
    """[2.2.9.1.1.3.1.2] Group TS_BITMAP_DATA, in order, into TS_UPDATE_BITMAP_DATA of at most
    ``max_update_size`` bytes each."""
    updates: list[BitmapUpdate] = []
    current: list[BitmapData] = []
    size = UPDATE_FIXED
    for bd in bitmaps:
        if UPDATE_FIXED + bd.size() > max_update_size:
            raise LocalProtocolError(f"TS_BITMAP_DATA of {bd.size()} bytes exceeds {max_update_size}")
        if current and (size + bd.size() > max_update_size or len(current) == 0xFFFF):
            updates.append(BitmapUpdate(tuple(current)))
            current, size = [], UPDATE_FIXED
        current.append(bd)
        size += bd.size()
    if current:
        updates.append(BitmapUpdate(tuple(current)))
    return updates
