"""Where a session's pixels come from.

``XwdFramebuffer`` maps the file Xvfb writes with ``-fbdir`` (XWD format: header, colour
map, then the live BGRX framebuffer) so the whole screen is a numpy view with no X round
trip. ``XGetImageFramebuffer`` serves displays we did not start (attach mode): it keeps a
numpy copy of the screen and refreshes only the damaged rectangles through XGetImage.
Both give ``screen()``: an (height, width, 4) uint8 BGRX view of the visible area.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np
from Xlib import X

XWD_FIELDS = (
    "header_size", "file_version", "pixmap_format", "pixmap_depth", "pixmap_width", "pixmap_height",
    "xoffset", "byte_order", "bitmap_unit", "bitmap_bit_order", "bitmap_pad", "bits_per_pixel",
    "bytes_per_line", "visual_class", "red_mask", "green_mask", "blue_mask", "bits_per_rgb",
    "colormap_entries", "ncolors", "window_width", "window_height", "window_x", "window_y", "window_bdrwidth",
)
XWD_COLOR_SIZE = 12


class FramebufferError(RuntimeError):
    pass


def parse_xwd_header(data: bytes) -> dict[str, int]:
    """Read the 25 big-endian CARD32 fields of an XWD file header."""
    if len(data) < 100:
        raise FramebufferError("XWD header is truncated")
    header = dict(zip(XWD_FIELDS, struct.unpack(">25I", data[:100]), strict=True))
    if header["file_version"] != 7:
        raise FramebufferError(f"unsupported XWD version {header['file_version']}")
    if header["bits_per_pixel"] != 32:
        raise FramebufferError(f"need a 32 bpp framebuffer, got {header['bits_per_pixel']} bpp")
    return header


class XwdFramebuffer:
    """The live Xvfb framebuffer from its ``-fbdir`` file."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        header = parse_xwd_header(self._map[:100])
        self.max_width = header["pixmap_width"]
        self.max_height = header["pixmap_height"]
        stride = header["bytes_per_line"]
        offset = header["header_size"] + header["ncolors"] * XWD_COLOR_SIZE
        if offset + stride * self.max_height > len(self._map):
            raise FramebufferError("XWD file is shorter than its header says")
        rows = np.frombuffer(self._map, dtype=np.uint8, count=stride * self.max_height, offset=offset)
        self._full = rows.reshape(self.max_height, stride)[:, : self.max_width * 4].reshape(
            self.max_height, self.max_width, 4
        )
        self.width = self.max_width
        self.height = self.max_height

    def set_visible_size(self, width: int, height: int) -> None:
        self.width = min(width, self.max_width)
        self.height = min(height, self.max_height)

    def screen(self) -> np.ndarray:
        return self._full[: self.height, : self.width]

    def refresh(self, rects: list[tuple[int, int, int, int]]) -> None:
        """Nothing to do: the mapping is the framebuffer itself."""

    def close(self) -> None:
        self._full = None  # type: ignore[assignment]
        try:
            self._map.close()
        except BufferError:
            pass  # a numpy view is still alive somewhere; the mapping goes with it


class XGetImageFramebuffer:
    """A numpy copy of the screen kept current through XGetImage of damaged rectangles."""

    def __init__(self, display, width: int, height: int) -> None:
        self._display = display
        self._root = display.screen().root
        depth = display.screen().root_depth
        if depth not in (24, 32):
            raise FramebufferError(f"attach mode needs a 24/32-bit screen, got depth {depth}")
        self.max_width = width
        self.max_height = height
        self._full = np.zeros((height, width, 4), dtype=np.uint8)
        self.width = width
        self.height = height
        self.refresh([(0, 0, width, height)])

    def set_visible_size(self, width: int, height: int) -> None:
        if width > self.max_width or height > self.max_height:
            grown = np.zeros((max(height, self.max_height), max(width, self.max_width), 4), np.uint8)
            grown[: self.max_height, : self.max_width] = self._full
            self._full = grown
            self.max_height, self.max_width = grown.shape[:2]
        self.width = width
        self.height = height
        self.refresh([(0, 0, width, height)])

    def screen(self) -> np.ndarray:
        return self._full[: self.height, : self.width]

    def refresh(self, rects: list[tuple[int, int, int, int]]) -> None:
        # Big requests are split in bands so each reply stays well under the request limit.
        for x, y, w, h in rects:
            x, y = max(x, 0), max(y, 0)
            w, h = min(w, self.width - x), min(h, self.height - y)
            if w <= 0 or h <= 0:
                continue
            band = max(1, (4 * 1024 * 1024) // (w * 4))
            for top in range(y, y + h, band):
                rows = min(band, y + h - top)
                image = self._root.get_image(x, top, w, rows, X.ZPixmap, 0xFFFFFFFF)
                pixels = np.frombuffer(image.data, dtype=np.uint8).reshape(rows, -1)
                self._full[top:top + rows, x:x + w] = pixels[:, : w * 4].reshape(rows, w, 4)

    def close(self) -> None:
        pass
