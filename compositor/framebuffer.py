"""Where a session's pixels come from.

``XwdFramebuffer`` maps the file Xvfb writes with ``-fbdir`` (XWD format: header, colour
map, then the live BGRX framebuffer) so the whole screen is a numpy view with no X round
trip. Displays we did not start (attach mode) have no such file: ``ShmFramebuffer`` has the
X server write the damaged rows into a shared segment (MIT-SHM), and where the server cannot
share memory with us ``XGetImageFramebuffer`` keeps a numpy copy current through XGetImage
(``attached_framebuffer`` picks one). All give ``screen()``: an (height, width, 4) uint8 BGRX
view of the visible area, and name their ``capture`` method (the host's status reports it).
"""

from __future__ import annotations

import logging
import mmap
import struct
from pathlib import Path

import numpy as np
from Xlib import X
from Xlib import error as xerror

from compositor import xshm

log = logging.getLogger(__name__)

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

    capture = "xwd-mmap"

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


def check_screen_format(display) -> None:
    """Attach mode reads ZPixmap images as BGRX: 24/32-bit depth at 32 bits per pixel."""
    depth = display.screen().root_depth
    bpp = next((f.bits_per_pixel for f in display.display.info.pixmap_formats if f.depth == depth), 0)
    if depth not in (24, 32) or bpp != 32:
        raise FramebufferError(f"attach mode needs a 24/32-bit screen at 32 bpp, got depth {depth} at {bpp} bpp")


def row_bands(rects: list[tuple[int, int, int, int]], height: int, gap: int = 16) -> list[tuple[int, int]]:
    """The rows ``rects`` touch as (top, bottom) bands within 0..height; bands closer than
    ``gap`` rows are joined (one request for both costs less than two)."""
    spans = sorted((max(y, 0), min(y + h, height)) for _, y, w, h in rects if w > 0 and h > 0)
    bands: list[tuple[int, int]] = []
    for top, bottom in spans:
        if bottom <= top:
            continue
        if bands and top <= bands[-1][1] + gap:
            bands[-1] = (bands[-1][0], max(bands[-1][1], bottom))
        else:
            bands.append((top, bottom))
    return bands


class ShmFramebuffer:
    """The screen in a SysV segment the X server writes itself (MIT-SHM ``ShmGetImage``).

    Damaged rows are fetched whole (full-width bands), so the segment always holds the screen
    as one image of ``width * 4``-byte rows and ``screen()`` is a view of the segment: no copy
    on our side, one memcpy in the server, one round trip per band."""

    capture = "mit-shm"

    def __init__(self, display, width: int, height: int) -> None:
        check_screen_format(display)
        if not xshm.is_local(display):
            raise xshm.ShmError("the display is not reached through a local socket")
        self._display = display
        self._root = display.screen().root
        self._opcode = xshm.shm_opcode(display)
        self._segment: xshm.ShmSegment | None = None
        self._view: np.ndarray | None = None
        self.max_width, self.max_height = width, height
        self.width, self.height = width, height
        self._map(width, height)
        self.refresh([(0, 0, width, height)])

    def _map(self, width: int, height: int) -> None:
        """Lay the screen out in the segment as (height, width) rows, growing it when needed."""
        size = width * height * 4
        if self._segment is None or self._segment.size < size:
            self._view = None
            if self._segment is not None:
                self._segment.close()
            self._segment = None
            self._segment = xshm.ShmSegment(self._display, self._opcode, size, read_only=False)
        self._view = self._segment.buffer[:size].reshape(height, width, 4)

    def set_visible_size(self, width: int, height: int) -> None:
        self._map(width, height)
        self.width, self.height = width, height
        self.max_width, self.max_height = max(self.max_width, width), max(self.max_height, height)
        self.refresh([(0, 0, width, height)])

    def screen(self) -> np.ndarray:
        return self._view

    def refresh(self, rects: list[tuple[int, int, int, int]]) -> None:
        stride = self.width * 4
        for top, bottom in row_bands(rects, self.height):
            try:
                xshm.ShmGetImage(display=self._display.display, opcode=self._opcode, drawable=self._root,
                                 x=0, y=top, width=self.width, height=bottom - top, plane_mask=0xFFFFFFFF,
                                 format=X.ZPixmap, shmseg=self._segment.segment, offset=top * stride)
            except xerror.BadMatch:
                return  # the screen shrank under us: its ScreenChangeNotify brings a full refresh

    def close(self) -> None:
        self._view = None
        if self._segment is not None:
            try:
                self._segment.close()
            except (xerror.ConnectionClosedError, OSError):
                pass  # the X connection is gone: the server detached the segment itself
            self._segment = None


def attached_framebuffer(display, width: int, height: int) -> ShmFramebuffer | XGetImageFramebuffer:
    """The capture of a display we did not start: MIT-SHM where the X server shares memory
    with us, XGetImage otherwise (a remote display, no MIT-SHM, a server of another account)."""
    try:
        return ShmFramebuffer(display, width, height)
    except xshm.ShmError as exc:
        log.warning("MIT-SHM capture unavailable, reading the screen with XGetImage: %s", exc)
        return XGetImageFramebuffer(display, width, height)


class XGetImageFramebuffer:
    """A numpy copy of the screen kept current through XGetImage of damaged rectangles."""

    capture = "xgetimage"

    def __init__(self, display, width: int, height: int) -> None:
        self._display = display
        self._root = display.screen().root
        check_screen_format(display)
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
