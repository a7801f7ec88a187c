"""[2.2.9.1.1.3.1.2] Bitmap Update Data (TS_UPDATE_BITMAP_DATA) and Bitmap Data (TS_BITMAP_DATA)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

UPDATETYPE_BITMAP = 0x0001


class BitmapFlags(enum.IntFlag):
    NONE = 0
    BITMAP_COMPRESSION = 0x0001
    NO_BITMAP_COMPRESSION_HDR = 0x0400


@dataclass(frozen=True)
class BitmapData:
    """[2.2.9.1.1.3.1.2.2] Bitmap Data (TS_BITMAP_DATA).

    ``dest_right``/``dest_bottom`` are inclusive. Uncompressed data is bottom-up with rows
    padded to 4 bytes; compressed data follows the codec (interleaved RLE or planar). When
    ``compression_header`` is given (8 bytes, TS_CD_HEADER) it precedes the data.
    """

    dest_left: int
    dest_top: int
    dest_right: int
    dest_bottom: int
    width: int
    height: int
    bits_per_pixel: int
    data: bytes = field(repr=False)
    flags: int = 0
    compression_header: bytes | None = field(default=None, repr=False)

    @classmethod
    def decode(cls, r: Reader) -> BitmapData:
        left, top, right, bottom = (r.u16("destRect") for _ in range(4))
        width, height, bpp, flags = (r.u16("bitmap field") for _ in range(4))
        length = r.u16("bitmapLength")
        header = None
        if flags & BitmapFlags.BITMAP_COMPRESSION and not flags & BitmapFlags.NO_BITMAP_COMPRESSION_HDR:
            if length < 8:
                raise RemoteProtocolError("compressed bitmap shorter than its TS_CD_HEADER")
            header = r.read(8, "bitmapComprHdr")
            length -= 8
        return cls(left, top, right, bottom, width, height, bpp, r.read(length, "bitmapDataStream"), flags, header)

    def encode(self, w: Writer) -> None:
        for v in (self.dest_left, self.dest_top, self.dest_right, self.dest_bottom,
                  self.width, self.height, self.bits_per_pixel, self.flags):
            w.u16(v)
        length = len(self.data) + (8 if self.compression_header is not None else 0)
        if length > 0xFFFF:
            raise LocalProtocolError(f"bitmap of {length} bytes exceeds bitmapLength's 16 bits")
        w.u16(length)
        if self.compression_header is not None:
            w.write(self.compression_header)
        w.write(self.data)

    def size(self) -> int:
        return 18 + len(self.data) + (8 if self.compression_header is not None else 0)

    @classmethod
    def uncompressed(cls, x: int, y: int, width: int, height: int, bgrx: bytes, bpp: int = 32) -> BitmapData:
        """Uncompressed 32 bpp from top-down BGRX rows (4·width bytes each): flips to bottom-up."""
        if bpp != 32:
            raise LocalProtocolError("only 32 bpp is built here; other depths come from rdpfront.codecs")
        stride = width * 4
        if len(bgrx) != stride * height:
            raise LocalProtocolError(f"{len(bgrx)} bytes for a {width}x{height} BGRX tile")
        rows = [bgrx[i * stride:(i + 1) * stride] for i in range(height - 1, -1, -1)]
        return cls(x, y, x + width - 1, y + height - 1, width, height, 32, b"".join(rows))


@dataclass(frozen=True)
class BitmapUpdate:
    """[2.2.9.1.1.3.1.2.1] Bitmap Update Data (TS_UPDATE_BITMAP_DATA)."""

    rectangles: tuple[BitmapData, ...]

    @classmethod
    def decode(cls, r: Reader) -> BitmapUpdate:
        if r.u16("updateType") != UPDATETYPE_BITMAP:
            raise RemoteProtocolError("bitmap update with updateType other than UPDATETYPE_BITMAP")
        count = r.u16("numberRectangles")
        return cls(tuple(BitmapData.decode(r) for _ in range(count)))

    def encode(self, w: Writer) -> None:
        w.u16(UPDATETYPE_BITMAP)
        w.u16(len(self.rectangles))
        for rect in self.rectangles:
            rect.encode(w)

    def size(self) -> int:
        return 4 + sum(r.size() for r in self.rectangles)
