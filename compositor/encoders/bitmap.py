"""[MS-RDPBCGR 2.2.9.1.1.3.1.2] The ``bitmap`` stream: RDP bitmap output encoded in the host.

RDP clients without H.264 draw bitmaps: TS_BITMAP_DATA in bitmap updates, or, through the
graphics pipeline without AVC, Planar images in Wire To Surface 1 commands. Both are encoded
here once per session for every subscriber with the same options; the RDP server only frames
the bytes into PDUs (docs/session-host-protocol.md, *Subscriptions*; docs/encoders.md).

Work per frame is bounded by what really changed: damage is cut into 64x64 tiles on a fixed
screen grid, each compared with the last screen sent (``ScreenDiff``), and only tiles that
differ are encoded, all tiles of one shape in one batch. A few changed tiles (typing) are
shrunk to the bounding box of their changed pixels. With ``copy``, scrolling found in the
damage goes first as a ``copy`` frame (``scroll.py``; the RDP server sends ScrBlt orders or
SurfaceToSurface) and only the rows the copy did not bring are compared and encoded.

``bitmap_tiles`` is also what the RDP server uses for pixels of its own (the login form).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from compositor.encoders import EncodedFrame, Encoder, Rect, register
from compositor.encoders.bitmap_pixels import bytes_per_pixel, pixel_bytes
from compositor.encoders.bitmap_raw import raw_scanline_size
from compositor.encoders.interleaved import _encode_batch as _encode_interleaved
from compositor.encoders.planar import encode_planar_batch
from compositor.encoders.scroll import HashCarry, copy_frame, find_copies
from compositor.rects import disjoint

try:  # built by ``make native``; without it the numpy steps below, the reference, do the work
    from compositor.encoders import _bitmap_tiles
except ImportError:  # pragma: no cover - a checkout where the extension was not built
    _bitmap_tiles = None

NATIVE = _bitmap_tiles is not None

TILE = 64
# [2.2.9.1.1.3.1.2] a fast-path update of 0x3FFF bytes less its headers (rdpfront.fastpath)
DEFAULT_MAX_UPDATE_SIZE = 16_377
UPDATE_FIXED = 4  # TS_UPDATE_BITMAP_DATA: updateType, numberRectangles
BITMAP_DATA_FIXED = 18  # TS_BITMAP_DATA before bitmapDataStream
CD_HEADER_SIZE = 8  # TS_CD_HEADER
FLAG_COMPRESSION = 0x0001  # BITMAP_COMPRESSION
FLAG_NO_HEADER = 0x0400  # NO_BITMAP_COMPRESSION_HDR
CODECS = ("auto", "planar", "interleaved", "raw")
# At most this many changed tiles are shrunk to their changed pixels: a typed character is
# then one small bitmap; a large change keeps whole tiles, which batch by shape.
SHRINK_TILES = 16


class UpdateLimitError(ValueError):
    """A bitmap cannot be made to fit the update size asked for."""


@dataclass(frozen=True, slots=True)
class BitmapTile:
    """[2.2.9.1.1.3.1.2.2] One TS_BITMAP_DATA: destination area, coded size and data."""

    x: int
    y: int
    width: int  # of the destination area; the coded width is a multiple of 4
    height: int
    coded_width: int
    bpp: int
    data: bytes
    compressed: bool
    header: bytes | None = None  # TS_CD_HEADER, for clients that want it

    @property
    def flags(self) -> int:
        if not self.compressed:
            return 0
        return FLAG_COMPRESSION if self.header is not None else FLAG_COMPRESSION | FLAG_NO_HEADER

    def size(self) -> int:
        return BITMAP_DATA_FIXED + len(self.data) + (CD_HEADER_SIZE if self.header is not None else 0)

    def encode(self) -> bytes:
        """The TS_BITMAP_DATA bytes (destination bounds inclusive)."""
        header = self.header or b""
        return struct.pack("<9H", self.x, self.y, self.x + self.width - 1, self.y + self.height - 1,
                           self.coded_width, self.height, self.bpp, self.flags,
                           len(self.data) + len(header)) + header + self.data


def compressed_data_header(body_size: int, width: int, height: int, bpp: int) -> bytes:
    """[2.2.9.1.1.3.1.2.3] Compressed Data Header (TS_CD_HEADER) of a compressed bitmap."""
    scan = raw_scanline_size(width, bpp)
    return struct.pack("<4H", 0, body_size, scan, scan * height)


def resolve_codec(codec: str, bpp: int) -> str:
    """``auto``: Planar at 32 bpp, interleaved RLE at 15/16/24 bpp. Checks the pair."""
    bytes_per_pixel(bpp)  # rejects depths the bitmap path cannot carry
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, not {codec!r}")
    if codec == "auto":
        return "planar" if bpp == 32 else "interleaved"
    if codec == "planar" and bpp != 32:
        raise ValueError("planar carries 32 bpp only")
    if codec == "interleaved" and bpp == 32:
        raise ValueError("interleaved RLE carries 15, 16 or 24 bpp")
    return codec


def _raw_batch(stack: np.ndarray, bpp: int) -> list[bytes]:
    """Uncompressed data of each tile of a (T, h, w, 4) stack (bottom-up, 4-byte rows)."""
    n_tiles, height, width = stack.shape[:3]
    pix = pixel_bytes(stack[:, ::-1], bpp).reshape(n_tiles, height, -1)
    stride = raw_scanline_size(width, bpp)
    if pix.shape[2] != stride:
        padded = np.zeros((n_tiles, height, stride), np.uint8)
        padded[:, :, : pix.shape[2]] = pix
        pix = padded
    pix = np.ascontiguousarray(pix)
    return [tile.tobytes() for tile in pix]


def encode_stack(stack: np.ndarray, bpp: int, codec: str) -> list[tuple[bytes, bool]]:
    """Encode a (T, h, w, 4) stack with a resolved ``codec``; each result says whether it is
    compressed. A tile goes uncompressed when compression would not make it smaller."""
    height, width = stack.shape[1:3]
    raw_size = raw_scanline_size(width, bpp) * height
    encoded: list[bytes | None]
    if codec == "raw":
        encoded = [None] * len(stack)
    elif codec == "planar":  # with the alpha plane: rdesktop and aardwolf decode nothing else
        encoded = [e if len(e) < raw_size else None for e in encode_planar_batch(stack, alpha=True)]
    else:
        encoded = list(_encode_interleaved(stack, bpp))
    need_raw = [k for k, e in enumerate(encoded) if e is None]
    raw = _raw_batch(stack[need_raw] if len(need_raw) < len(stack) else stack, bpp) if need_raw else []
    result: list[tuple[bytes, bool]] = [(e, True) if e is not None else (b"", False) for e in encoded]
    for k, data in zip(need_raw, raw, strict=True):
        result[k] = (data, False)
    return result


def _gather(screen: np.ndarray, origins: list[tuple[int, int]], w: int, h: int, coded_w: int, *,
            native: bool = NATIVE) -> np.ndarray:
    """Tiles of one size as a (T, h, coded_w, 4) stack; columns past ``w`` repeat the last.
    ``native``: copied in C (``_bitmap_tiles``), a row at a time, where numpy pays for a slice
    per tile (464 tiles of 64x64 from a 1080p frame: 0.26 ms against 0.65)."""
    stack = np.empty((len(origins), h, coded_w, 4), np.uint8)
    if native:
        _bitmap_tiles.gather(screen, origins, w, h, coded_w, stack)
        return stack
    for i, (x, y) in enumerate(origins):
        stack[i, :, :w] = screen[y:y + h, x:x + w]
    if coded_w > w:
        stack[:, :, w:] = stack[:, :, w - 1:w]
    return stack


def _make(x: int, y: int, w: int, h: int, coded_w: int, bpp: int, data: bytes, compressed: bool,
          header: bool) -> BitmapTile:
    hdr = compressed_data_header(len(data), coded_w, h, bpp) if compressed and header else None
    return BitmapTile(x, y, w, h, coded_w, bpp, data, compressed, hdr)


def _fit(screen: np.ndarray, x: int, y: int, w: int, h: int, bpp: int, codec: str,
         header: bool, limit: int) -> list[BitmapTile]:
    """Encode one tile alone, halving it until each piece fits ``limit`` bytes."""
    coded_w = (w + 3) & ~3
    (data, compressed), = encode_stack(_gather(screen, [(x, y)], w, h, coded_w), bpp, codec)
    tile = _make(x, y, w, h, coded_w, bpp, data, compressed, header)
    if tile.size() <= limit:
        return [tile]
    if h > 1:
        top = h // 2
        return (_fit(screen, x, y, w, top, bpp, codec, header, limit)
                + _fit(screen, x, y + top, w, h - top, bpp, codec, header, limit))
    if w > 4:
        left = ((w // 2) + 3) & ~3
        return (_fit(screen, x, y, left, h, bpp, codec, header, limit)
                + _fit(screen, x + left, y, w - left, h, bpp, codec, header, limit))
    raise UpdateLimitError(f"a {w}x{h} bitmap does not fit an update of {limit} bytes")


def tile_height(tile_size: int, bpp: int, codec: str, limit: int) -> int:
    """The tallest tile whose worst encoding still fits ``limit`` bytes: 64x64 with compression
    (Planar's worst is taken as its raw planes, 3 bytes a pixel; RLE is only kept when smaller
    than raw data, and the rare tile that Planar with its alpha plane cannot shrink goes
    uncompressed and is halved to fit); shorter for uncompressed 32 bpp (64x63 in 16 KB)."""
    worst_row = raw_scanline_size(tile_size, bpp)
    if codec == "planar":
        worst_row = min(worst_row, 3 * tile_size)
    fixed = BITMAP_DATA_FIXED + CD_HEADER_SIZE + 2
    height = min(tile_size, (limit - fixed) // worst_row)
    if height < 1:
        raise UpdateLimitError(f"an update limit of {limit} bytes is too small for a tile row")
    return height


def bitmap_tiles(screen: np.ndarray, rects: list[Rect], *, bpp: int, max_update_size: int,
                 codec: str = "auto", header: bool = False, tile_size: int = TILE) -> list[BitmapTile]:
    """[2.2.9.1.1.3.1.2.2] TS_BITMAP_DATA for the ``rects`` (x, y, w, h) of a BGRX ``screen``.

    Each rectangle is cut into tiles from its own origin, all tiles of one size encoded in one
    batch; overlapping rectangles are encoded twice (merge them first). Every tile fits a
    TS_UPDATE_BITMAP_DATA of ``max_update_size`` bytes on its own. ``header`` keeps the
    TS_CD_HEADER, for clients that did not set NO_BITMAP_COMPRESSION_HDR.
    """
    if screen.ndim != 3 or screen.shape[2] != 4 or screen.dtype != np.uint8:
        raise ValueError(f"expected (h, w, 4) uint8 BGRX screen, got {screen.shape} {screen.dtype}")
    codec = resolve_codec(codec, bpp)
    if tile_size < 4 or tile_size % 4:
        raise ValueError("tile_size must be a positive multiple of 4")
    limit = max_update_size - UPDATE_FIXED
    tile_h = tile_height(tile_size, bpp, codec, limit)
    screen_h, screen_w = screen.shape[:2]
    tiles: list[tuple[int, int, int, int]] = []
    for rx, ry, rw, rh in rects:
        x0, y0 = max(rx, 0), max(ry, 0)
        x1, y1 = min(rx + rw, screen_w), min(ry + rh, screen_h)
        for ty in range(y0, y1, tile_h):
            for tx in range(x0, x1, tile_size):
                tiles.append((tx, ty, min(tile_size, x1 - tx), min(tile_h, y1 - ty)))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (_, _, w, h) in enumerate(tiles):
        groups.setdefault((w, h), []).append(i)
    results: list[list[BitmapTile]] = [[] for _ in tiles]
    for (w, h), members in groups.items():
        coded_w = (w + 3) & ~3
        stack = _gather(screen, [tiles[i][:2] for i in members], w, h, coded_w)
        for i, (data, compressed) in zip(members, encode_stack(stack, bpp, codec), strict=True):
            x, y = tiles[i][:2]
            tile = _make(x, y, w, h, coded_w, bpp, data, compressed, header)
            results[i] = [tile] if tile.size() <= limit else _fit(screen, x, y, w, h, bpp, codec, header, limit)
    return [tile for group in results for tile in group]


def planar_images(screen: np.ndarray, rects: list[Rect]) -> list[bytes]:
    """Planar images of ``rects`` with top-down scanlines (the graphics pipeline's Wire To
    Surface 1 draws them so; bitmap updates go bottom-up), equal sizes batched."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (_, _, w, h) in enumerate(rects):
        groups.setdefault((w, h), []).append(i)
    images: list[bytes] = [b""] * len(rects)
    for (w, h), members in groups.items():
        stack = _gather(screen, [rects[i][:2] for i in members], w, h, w)
        for i, image in zip(members, encode_planar_batch(stack[:, ::-1]), strict=True):
            images[i] = image
    return images


class ScreenDiff:
    """The screen as last sent, to tell which damaged 64x64 tiles really changed.

    Damage is a promise that something may have changed (X damage reports whole windows, a
    terminal redraws every line it scrolls); comparing with the pixels sent costs about
    1 ms per megapixel and spares encoding and sending what is the same.
    """

    def __init__(self, width: int, height: int, tile: int = TILE, *, native: bool = NATIVE) -> None:
        self.tile = tile
        self.native = native  # the tile compare and the copies in C (``_bitmap_tiles``)
        self.width = width
        self.height = height
        self.sent = np.zeros((height, width), np.uint32)

    def reset(self, screen: np.ndarray) -> None:
        """Everything was sent: remember all of ``screen``."""
        self.sent[:] = _words(screen)

    def pixels(self) -> np.ndarray:
        """The screen as last sent, as (h, w, 4) BGRX (a view)."""
        return self.sent.view(np.uint8).reshape(self.height, self.width, 4)

    def copied(self, screen: np.ndarray, rect: Rect) -> None:
        """The client copied ``rect`` into place: it now shows the screen's pixels there."""
        x, y, w, h = rect
        self.sent[y:y + h, x:x + w] = _words(screen[y:y + h, x:x + w])

    def changed(self, screen: np.ndarray, rects: list[Rect]) -> list[Rect]:
        """Grid tiles under ``rects`` whose pixels differ from the last sent, each cut to the
        rectangle it lies under (the rows a scroll exposed are encoded as those rows, not as
        the 64-row tiles they touch), remembered as sent; when few, each is cut further to the
        bounding box of its changed pixels."""
        t = self.tile
        seen: set[tuple[int, int, int, int]] = set()
        found: list[tuple[int, int, int, int]] = []
        words = _words(screen)
        native = self.native
        for x, y, w, h in rects:
            x0, y0 = max(0, (x // t) * t), max(0, (y // t) * t)
            x1, y1 = min(self.width, x + w), min(self.height, y + h)
            if x1 <= x0 or y1 <= y0:
                continue
            cx0, cy0, cx1, cy1 = max(0, x), max(0, y), x1, y1
            x1, y1 = min(self.width, -(-x1 // t) * t), min(self.height, -(-y1 // t) * t)
            cur, old = words[y0:y1, x0:x1], self.sent[y0:y1, x0:x1]
            hits = _changed_tiles(cur, old, t, native=native)
            for r, c in zip(*np.nonzero(hits), strict=True):
                tx, ty = x0 + int(c) * t, y0 + int(r) * t  # plain ints: they go into JSON
                px0, py0 = max(tx, cx0), max(ty, cy0)
                px1, py1 = min(tx + t, cx1, self.width), min(ty + t, cy1, self.height)
                piece = (px0, py0, px1 - px0, py1 - py0)
                if piece in seen:
                    continue
                if (px0, py0, px1, py1) != (tx, ty, min(tx + t, self.width), min(ty + t, self.height)) and \
                        np.array_equal(words[py0:py1, px0:px1], self.sent[py0:py1, px0:px1]):
                    continue  # the tile changed outside this rectangle only
                seen.add(piece)
                found.append(piece)
        shrink = len(found) <= SHRINK_TILES
        if not shrink and native:  # whole pieces: remembered in one call
            _bitmap_tiles.copy_rects(self.sent, words, found)
            return found
        out: list[Rect] = []
        for px, py, pw, ph in found:
            cur, old = words[py:py + ph, px:px + pw], self.sent[py:py + ph, px:px + pw]
            if shrink:
                mask = cur != old
                rows_hit = np.flatnonzero(mask.any(axis=1))
                cols_hit = np.flatnonzero(mask.any(axis=0))
                if len(rows_hit) == 0:
                    continue  # an overlapping rectangle's piece already took these pixels
                out.append((px + int(cols_hit[0]), py + int(rows_hit[0]),
                            int(cols_hit[-1] - cols_hit[0]) + 1, int(rows_hit[-1] - rows_hit[0]) + 1))
            else:
                out.append((px, py, pw, ph))
            old[...] = cur  # where they were equal this changes nothing: no mask needed
        return out


def _changed_tiles(cur: np.ndarray, old: np.ndarray, t: int, *, native: bool = NATIVE) -> np.ndarray:
    """(rows of tiles, columns of tiles) flags: does the ``t`` x ``t`` tile of ``cur`` differ
    from ``old`` ((h, w) uint32, tiles from the top-left corner, the last row and column of
    tiles may be partial).

    ``native``: in C (``_bitmap_tiles``), each row compared whole, and tile by tile where it
    differs, until every tile of its band differs: a screen where everything changed costs
    next to nothing, an unchanged 1080p one 0.19 ms against 0.35 for the numpy passes below.

    Full columns of tiles compare two pixels at a time as uint64 and OR the flags of each
    tile's rows eight at a time (the bool bytes read as uint64): ~0.3 ms for an unchanged
    1080p screen against ~1.9 ms with logical_or.reduceat over every pixel's flag."""
    h, w = cur.shape
    if native:
        flags = _bitmap_tiles.changed_tiles(cur, old, t)
        return np.frombuffer(flags, np.bool_).reshape(-(-h // t), -(-w // t))
    full = (w // t) * t if t % 16 == 0 else 0
    row_starts = np.arange(0, h, t)
    flags = np.zeros((len(row_starts), -(-w // t)), bool)
    if full:
        pairs = np.not_equal(cur[:, :full].view(np.uint64), old[:, :full].view(np.uint64))
        words = pairs.view(np.uint64)  # 8 flags (16 pixels) per word
        per_band = np.bitwise_or.reduceat(words, row_starts, axis=0)
        flags[:, :full // t] = per_band.reshape(len(row_starts), full // t, t // 16).any(axis=2)
    if full < w:  # a partial column of tiles at the screen's right edge: pixel by pixel
        diff = cur[:, full:] != old[:, full:]
        rows = np.logical_or.reduceat(diff, row_starts, axis=0)
        flags[:, full // t:] = np.logical_or.reduceat(rows, np.arange(0, w - full, t), axis=1)
    return flags


def _words(screen: np.ndarray) -> np.ndarray:
    """BGRX pixels as (h, w) uint32 without copying. The padding byte takes part in the
    comparison; Xvfb keeps it constant."""
    return screen.view(np.uint32)[..., 0]


@register
class BitmapEncoder(Encoder):
    """``bitmap`` stream. Options: ``bpp`` (15, 16, 24, 32; default 32), ``codec`` (``auto``,
    ``planar``, ``interleaved``, ``raw``), ``max_update_size`` (bytes of one
    TS_UPDATE_BITMAP_DATA, default 16377), ``header`` (keep TS_CD_HEADER), ``layout``
    (``bitmap``: TS_BITMAP_DATA; ``gfx``: top-down Planar images for Wire To Surface 1),
    ``copy`` (scrolling as ``copy`` frames, for clients that can copy screen to screen)."""

    format = "bitmap"

    def __init__(self, width: int, height: int, options: dict[str, Any]) -> None:
        super().__init__(width, height, options)
        self.layout = options.get("layout", "bitmap")
        if self.layout not in ("bitmap", "gfx"):
            raise ValueError(f"layout must be 'bitmap' or 'gfx', not {self.layout!r}")
        self.bpp = int(options.get("bpp", 32))
        self.codec = resolve_codec(str(options.get("codec", "auto")), self.bpp)
        if self.layout == "gfx" and self.codec != "planar":
            raise ValueError("the gfx layout carries Planar at 32 bpp")
        self.max_update_size = int(options.get("max_update_size", DEFAULT_MAX_UPDATE_SIZE))
        tile_height(TILE, self.bpp, self.codec, self.max_update_size - UPDATE_FIXED)  # fits a tile row
        self.header = bool(options.get("header", False))
        self.diff = ScreenDiff(width, height)
        self.copy = bool(options.get("copy", False))
        # Each update leaves the client with the screen's pixels in every rectangle searched
        # (copies, then the tiles that differ), which is what the carry's hashes need.
        self._carry = HashCarry()

    def resize(self, width: int, height: int) -> None:
        super().resize(width, height)
        self.diff = ScreenDiff(width, height)
        self._carry.clear()

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        screen = screen[:self.height, :self.width]
        frames: list[EncodedFrame] = []
        if full:
            self.diff.reset(screen)
            self._carry.clear()
            areas = [(0, 0, self.width, self.height)]
        else:
            if self.copy:
                frames, rects = self._copies(screen, rects)
            areas = self.diff.changed(screen, rects)
            if not areas:
                return frames
            if len(areas) > SHRINK_TILES:
                areas = join_pieces(areas, across_rows=self.layout == "bitmap")
        frames.append(self._encode_areas(screen, areas, full))
        return frames

    def _copies(self, screen: np.ndarray, rects: list[Rect]) -> tuple[list[EncodedFrame], list[Rect]]:
        """Scrolling in ``rects`` as a copy frame, and the rectangles left to compare and encode."""
        # The screen as last sent (ScreenDiff's copy) is what the clients show: lossless.
        # Overlapping damage joined first, so each overlapping group can still be one copy.
        # Sideways moves too: here a whole-screen change costs a Planar encode of every pixel
        # (~40 ms at 1080p), a failed search a few ms.
        copies, rest = find_copies(self.diff.pixels(), screen, disjoint(rects), horizontal=True, carry=self._carry)
        if not copies:
            return [], rects
        for c in copies:
            self.diff.copied(screen, c.dest)
        return [copy_frame(copies)], rest

    def _encode_areas(self, screen: np.ndarray, areas: list[Rect], full: bool) -> EncodedFrame:
        fields: dict[str, Any] = {}
        if full:
            fields.update(key=True, width=self.width, height=self.height)
        if self.layout == "gfx":
            areas = _grid(areas) if full else areas
            images = planar_images(screen, areas)
            fields["codec"] = "planar"
            fields["rects"] = [[x, y, w, h, len(img)] for (x, y, w, h), img in zip(areas, images, strict=True)]
            return EncodedFrame(fields, b"".join(images))
        tiles = bitmap_tiles(screen, areas, bpp=self.bpp, max_update_size=self.max_update_size,
                             codec=self.codec, header=self.header)
        encoded = [tile.encode() for tile in tiles]
        fields["codec"] = "bitmap"
        fields["rects"] = [[t.x, t.y, t.width, t.height, len(e)] for t, e in zip(tiles, encoded, strict=True)]
        return EncodedFrame(fields, b"".join(encoded))


def join_pieces(pieces: list[Rect], *, across_rows: bool) -> list[Rect]:
    """Changed tiles joined where they cover a rectangle exactly: side by side in one row of
    tiles (same top and height), and with ``across_rows`` one above the other (same left
    edge and width). Fewer, wider areas encode in fewer batches (a 720x39 band of new text
    that touches two rows of tiles: 0.7 ms as one area against 1.5 ms as 24 pieces); bitmap
    updates cut each area into tiles again, so they may join across rows too."""
    rows: list[list[int]] = []
    for x, y, w, h in sorted(pieces, key=lambda r: (r[1], r[3], r[0])):
        last = rows[-1] if rows else None
        if last is not None and last[1] == y and last[3] == h and last[0] + last[2] == x:
            last[2] += w
        else:
            rows.append([x, y, w, h])
    if not across_rows:
        return [tuple(r) for r in rows]
    out: list[list[int]] = []
    for x, y, w, h in sorted(rows, key=lambda r: (r[0], r[2], r[1])):
        last = out[-1] if out else None
        if last is not None and last[0] == x and last[2] == w and last[1] + last[3] == y:
            last[3] += h
        else:
            out.append([x, y, w, h])
    return [tuple(r) for r in out]


def _grid(rects: list[Rect]) -> list[Rect]:
    """Rectangles cut into 64x64 tiles (one Planar image each, batched by size)."""
    out: list[Rect] = []
    for x, y, w, h in rects:
        for ty in range(y, y + h, TILE):
            for tx in range(x, x + w, TILE):
                out.append((tx, ty, min(TILE, x + w - tx), min(TILE, y + h - ty)))
    return out
