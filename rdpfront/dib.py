"""Device-independent bitmaps of the clipboard (CF_DIB, CF_DIBV5), read and written here.

A DIB is a BITMAPINFOHEADER ([MS-WMF] 2.2.2.3, 40 bytes), a BITMAPV4HEADER (108) or a
BITMAPV5HEADER ([MS-WMF] 2.2.2.5, 124), then — for BI_BITFIELDS with the 40-byte header —
three colour masks, then ``biClrUsed`` colour-table entries, then the rows. Rows are padded to
4 bytes and run bottom-up when ``biHeight`` is positive, top-down when negative.

What is read: 24 and 32 bits per pixel, BI_RGB or BI_BITFIELDS with 8-bit masks on byte
boundaries (what Windows, FreeRDP and every clipboard owner seen write). A 32-bit BI_RGB
DIB's fourth byte is reserved, so its pixels are opaque; alpha comes only from a V4/V5
header's alpha mask. Anything else — palettes, RLE, JPEG/PNG inside a DIB, masks of other
shapes, a header whose sizes promise more rows than the data holds — is refused with
``RemoteProtocolError``; pixels beyond ``MAX_PIXELS`` too.

What is written: CF_DIB as 32-bit BI_RGB, bottom-up (the reserved byte carries alpha, which
readers that know it use); CF_DIBV5 as 32-bit BI_BITFIELDS with an alpha mask and sRGB colour
space. Images are exchanged with the session as PNG (``png_to_image``/``image_to_png``, with
Pillow, which the project already pins for screenshots); the DIB parser is this module's own
code so that the client's bytes meet no more than these checks before they are pixels.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import numpy as np

from rdpfront.errors import RemoteProtocolError

BI_RGB = 0
BI_BITFIELDS = 3
INFO_HEADER = 40
V4_HEADER = 108
V5_HEADER = 124
LCS_SRGB = 0x73524742  # 'sRGB'
LCS_GM_IMAGES = 4
MAX_PIXELS = 8192 * 8192
_BYTE_MASKS = {0xFF << s: s // 8 for s in (0, 8, 16, 24)}


@dataclass(frozen=True)
class Image:
    """Pixels as RGBA bytes, row by row from the top."""

    width: int
    height: int
    rgba: bytes = field(repr=False)

    def array(self) -> np.ndarray:
        return np.frombuffer(self.rgba, np.uint8).reshape(self.height, self.width, 4)

    @classmethod
    def from_array(cls, rgba: np.ndarray) -> Image:
        h, w, _ = rgba.shape
        return cls(w, h, np.ascontiguousarray(rgba, np.uint8).tobytes())


def _mask_byte(mask: int, what: str) -> int:
    if mask not in _BYTE_MASKS:
        raise RemoteProtocolError(f"DIB {what} mask {mask:#010x} is not one whole byte")
    return _BYTE_MASKS[mask]


def decode_dib(data: bytes, max_pixels: int = MAX_PIXELS) -> Image:
    """The pixels of a CF_DIB or CF_DIBV5 (see the module's docstring for what is taken)."""
    if len(data) < INFO_HEADER:
        raise RemoteProtocolError(f"DIB of {len(data)} bytes is shorter than its header")
    (header_size, width, height, planes, bpp, compression, _image_size, _xppm, _yppm, clr_used,
     _clr_important) = struct.unpack_from("<IiiHHIIiiII", data)
    if header_size not in (INFO_HEADER, V4_HEADER, V5_HEADER):
        raise RemoteProtocolError(f"DIB header of {header_size} bytes (not 40, 108 or 124)")
    if len(data) < header_size:
        raise RemoteProtocolError(f"DIB of {len(data)} bytes is shorter than its {header_size}-byte header")
    if planes != 1 or bpp not in (24, 32):
        raise RemoteProtocolError(f"DIB of {planes} planes, {bpp} bits per pixel (only 1 plane, 24 or 32 bpp)")
    if width <= 0 or height == 0 or height == -2**31:
        raise RemoteProtocolError(f"DIB of {width} x {height} pixels")
    rows = abs(height)
    if width * rows > max_pixels:
        raise RemoteProtocolError(f"DIB of {width} x {rows} pixels is over {max_pixels}")
    offset = header_size
    alpha: int | None = None
    if compression == BI_BITFIELDS:
        if bpp != 32:
            raise RemoteProtocolError("DIB with BI_BITFIELDS at 24 bpp")
        if header_size == INFO_HEADER:
            if len(data) < offset + 12:
                raise RemoteProtocolError("DIB ends before its colour masks")
            masks = struct.unpack_from("<III", data, offset)
            offset += 12
        else:
            masks = struct.unpack_from("<III", data, 40)
            amask = struct.unpack_from("<I", data, 52)[0]
            alpha = _mask_byte(amask, "alpha") if amask else None
        channels = [_mask_byte(m, what) for m, what in zip(masks, ("red", "green", "blue"), strict=True)]
        if len({*channels, alpha} - {None}) != len(channels) + (alpha is not None):
            raise RemoteProtocolError("DIB colour masks overlap")
    elif compression == BI_RGB:
        channels = [2, 1, 0]  # B, G, R in memory order
        if header_size != INFO_HEADER and bpp == 32:
            amask = struct.unpack_from("<I", data, 52)[0]
            alpha = 3 if amask == 0xFF000000 else None
    else:
        raise RemoteProtocolError(f"DIB compression {compression} (only BI_RGB and BI_BITFIELDS)")
    if clr_used > 256:
        raise RemoteProtocolError(f"DIB colour table of {clr_used} entries")
    offset += 4 * clr_used
    stride = (width * bpp + 31) // 32 * 4
    need = offset + stride * rows
    if len(data) < need:
        raise RemoteProtocolError(f"DIB of {width} x {rows} at {bpp} bpp needs {need} bytes, has {len(data)}")
    step = bpp // 8
    raw = np.frombuffer(data, np.uint8, stride * rows, offset).reshape(rows, stride)[:, :width * step]
    px = raw.reshape(rows, width, step)
    if height > 0:
        px = px[::-1]
    out = np.empty((rows, width, 4), np.uint8)
    for i, channel in enumerate(channels):
        out[..., i] = px[..., channel]
    out[..., 3] = px[..., alpha] if alpha is not None else 255
    return Image(width, rows, out.tobytes())


def encode_dib(image: Image, *, v5: bool = False) -> bytes:
    """``image`` as a 32-bit bottom-up CF_DIB, or as a CF_DIBV5 with an alpha mask."""
    px = image.array()[::-1]
    bgra = np.empty_like(px)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = px[..., 2], px[..., 1], px[..., 0], px[..., 3]
    pixels = bgra.tobytes()
    if not v5:
        header = struct.pack("<IiiHHIIiiII", INFO_HEADER, image.width, image.height, 1, 32, BI_RGB,
                             len(pixels), 2835, 2835, 0, 0)
    else:
        header = struct.pack("<IiiHHIIiiII", V5_HEADER, image.width, image.height, 1, 32, BI_BITFIELDS,
                             len(pixels), 2835, 2835, 0, 0)
        header += struct.pack("<IIIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000, LCS_SRGB)
        header += bytes(36) + struct.pack("<III", 0, 0, 0)  # endpoints, gamma
        header += struct.pack("<IIII", LCS_GM_IMAGES, 0, 0, 0)
    return header + pixels


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, read before any decoding."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise RemoteProtocolError("not a PNG")
    return struct.unpack(">II", data[16:24])


def png_to_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Image:
    """Decode a PNG (its size checked from the header first) to RGBA."""
    from PIL import Image as PilImage

    width, height = png_size(data)
    if width * height > max_pixels or not width or not height:
        raise RemoteProtocolError(f"PNG of {width} x {height} pixels (at most {max_pixels})")
    try:
        with PilImage.open(io.BytesIO(data), formats=["PNG"]) as im:
            rgba = np.asarray(im.convert("RGBA"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise RemoteProtocolError(f"PNG does not decode: {exc}") from None
    return Image.from_array(rgba)


def image_to_png(image: Image) -> bytes:
    from PIL import Image as PilImage

    out = io.BytesIO()
    PilImage.fromarray(image.array(), "RGBA").save(out, format="PNG", compress_level=1)
    return out.getvalue()
