"""[2.2.9.1.1.4] Pointer updates: position, system, colour, new (TS_POINTERATTRIBUTE), large
and cached pointers, as carried in fast-path output ([2.2.9.1.2.1.5-11])."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import UpdateCode

MAX_POINTER_SIZE = 384


class SystemPointer(enum.IntEnum):
    SYSPTR_NULL = 0x00000000
    SYSPTR_DEFAULT = 0x00007F00


@dataclass(frozen=True)
class PointerPosition:
    """[2.2.9.1.1.4.2] Pointer Position Update (TS_POINTERPOSATTRIBUTE)."""

    x: int
    y: int

    CODE = UpdateCode.PTR_POSITION

    @classmethod
    def decode(cls, r: Reader) -> PointerPosition:
        return cls(r.u16("xPos"), r.u16("yPos"))

    def encode(self, w: Writer) -> None:
        w.u16(self.x)
        w.u16(self.y)

    def size(self) -> int:
        return 4


@dataclass(frozen=True)
class CachedPointer:
    """[2.2.9.1.1.4.6] Cached Pointer Update (TS_CACHEDPOINTERATTRIBUTE)."""

    cache_index: int

    CODE = UpdateCode.CACHED

    @classmethod
    def decode(cls, r: Reader) -> CachedPointer:
        return cls(r.u16("cacheIndex"))

    def encode(self, w: Writer) -> None:
        w.u16(self.cache_index)

    def size(self) -> int:
        return 2


def _mask_stride(width: int, bpp: int) -> int:
    """Rows of the XOR and AND masks are padded to a multiple of 2 bytes ([2.2.9.1.1.4.4])."""
    row = (width * bpp + 7) // 8
    return row + (row & 1)


@dataclass(frozen=True)
class ColorPointer:
    """[2.2.9.1.1.4.4] Color Pointer Update (TS_COLORPOINTERATTRIBUTE); 24 bpp XOR mask.

    Masks are bottom-up. With ``xor_bpp`` set, this is [2.2.9.1.1.4.5] New Pointer Update
    (TS_POINTERATTRIBUTE), whose XOR mask may be 1-32 bpp; 32 bpp carries alpha.
    """

    cache_index: int
    hot_x: int
    hot_y: int
    width: int
    height: int
    xor_mask: bytes = field(repr=False)
    and_mask: bytes = field(repr=False)
    xor_bpp: int | None = None

    @property
    def CODE(self) -> UpdateCode:
        return UpdateCode.COLOR if self.xor_bpp is None else UpdateCode.POINTER

    @classmethod
    def decode_color(cls, r: Reader, xor_bpp: int | None = None) -> ColorPointer:
        index = r.u16("cacheIndex")
        hot_x, hot_y = r.u16("hotSpot.x"), r.u16("hotSpot.y")
        width, height = r.u16("width"), r.u16("height")
        if width > 96 or height > 96:
            raise RemoteProtocolError(f"{width}x{height} pointer is larger than 96x96")
        len_and, len_xor = r.u16("lengthAndMask"), r.u16("lengthXorMask")
        xor = r.read(len_xor, "xorMaskData")
        and_ = r.read(len_and, "andMaskData")
        if r.remaining():
            r.skip(1, "pad")
        return cls(index, hot_x, hot_y, width, height, xor, and_, xor_bpp)

    @classmethod
    def decode(cls, r: Reader) -> ColorPointer:
        return cls.decode_color(r)

    @classmethod
    def decode_new(cls, r: Reader) -> ColorPointer:
        bpp = r.u16("xorBpp")
        if bpp not in (1, 4, 8, 16, 24, 32):
            raise RemoteProtocolError(f"pointer xorBpp {bpp} is not 1/4/8/16/24/32")
        return cls.decode_color(r, bpp)

    def encode(self, w: Writer) -> None:
        if self.xor_bpp is not None:
            w.u16(self.xor_bpp)
        for v in (self.cache_index, self.hot_x, self.hot_y, self.width, self.height,
                  len(self.and_mask), len(self.xor_mask)):
            w.u16(v)
        w.write(self.xor_mask)
        w.write(self.and_mask)

    def size(self) -> int:
        return (2 if self.xor_bpp is not None else 0) + 14 + len(self.xor_mask) + len(self.and_mask)


@dataclass(frozen=True)
class LargePointer:
    """[2.2.9.1.1.4.7] Large Pointer Update (TS_LARGEPOINTERATTRIBUTE), up to 384x384."""

    xor_bpp: int
    cache_index: int
    hot_x: int
    hot_y: int
    width: int
    height: int
    xor_mask: bytes = field(repr=False)
    and_mask: bytes = field(repr=False)

    CODE = UpdateCode.LARGE_POINTER

    @classmethod
    def decode(cls, r: Reader) -> LargePointer:
        bpp = r.u16("xorBpp")
        index = r.u16("cacheIndex")
        hot_x, hot_y = r.u16("hotSpot.x"), r.u16("hotSpot.y")
        width, height = r.u16("width"), r.u16("height")
        if width > MAX_POINTER_SIZE or height > MAX_POINTER_SIZE:
            raise RemoteProtocolError(f"{width}x{height} large pointer exceeds 384x384")
        len_and, len_xor = r.u32("lengthAndMask"), r.u32("lengthXorMask")
        xor = r.read(len_xor, "xorMaskData")
        and_ = r.read(len_and, "andMaskData")
        return cls(bpp, index, hot_x, hot_y, width, height, xor, and_)

    def encode(self, w: Writer) -> None:
        for v in (self.xor_bpp, self.cache_index, self.hot_x, self.hot_y, self.width, self.height):
            w.u16(v)
        w.u32(len(self.and_mask))
        w.u32(len(self.xor_mask))
        w.write(self.xor_mask)
        w.write(self.and_mask)

    def size(self) -> int:
        return 20 + len(self.xor_mask) + len(self.and_mask)


def pointer_from_rgba(width: int, height: int, hot_x: int, hot_y: int, rgba: bytes,
                      *, cache_index: int = 0) -> ColorPointer | LargePointer:
    """A 32 bpp pointer from straight-alpha RGBA rows (top-down), as XFixes gives them.

    XOR mask: BGRA, bottom-up. AND mask: 1 where fully transparent, so clients that ignore
    alpha still see the shape. Pointers over 96x96 become Large Pointer updates.
    """
    if len(rgba) != width * height * 4:
        raise LocalProtocolError(f"{len(rgba)} bytes for a {width}x{height} RGBA cursor")
    if not (0 < width <= MAX_POINTER_SIZE and 0 < height <= MAX_POINTER_SIZE):
        raise LocalProtocolError(f"{width}x{height} pointer is out of range")
    xor_rows = []
    and_rows = []
    and_stride = _mask_stride(width, 1)
    for y in range(height - 1, -1, -1):
        row = rgba[y * width * 4:(y + 1) * width * 4]
        bgra = bytearray(row)
        bgra[0::4], bgra[2::4] = row[2::4], row[0::4]
        xor_rows.append(bytes(bgra))
        bits = bytearray(and_stride)
        for x in range(width):
            if row[x * 4 + 3] == 0:
                bits[x >> 3] |= 0x80 >> (x & 7)
        and_rows.append(bytes(bits))
    xor, and_ = b"".join(xor_rows), b"".join(and_rows)
    hot_x, hot_y = min(hot_x, width - 1), min(hot_y, height - 1)
    if width > 96 or height > 96:
        return LargePointer(32, cache_index, hot_x, hot_y, width, height, xor, and_)
    return ColorPointer(cache_index, hot_x, hot_y, width, height, xor, and_, xor_bpp=32)
