"""Cursor images: wl_pointer.set_cursor and wp_cursor_shape_v1 mapped to X cursors.

python-xlib has no RENDER, so ARGB cursor images cannot be uploaded; a client's
cursor surface becomes a core two-colour cursor built from its alpha and
luminance, and cursor-shape names map to the X cursor font.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from Xlib import X

if TYPE_CHECKING:
    from compositor.wayland.state import Server
    from compositor.wayland.surface import Surface
    from compositor.wayland.xwindow import XWindow

log = logging.getLogger(__name__)

# X cursor font glyphs (X11/cursorfont.h)
FONT_CURSORS = {"default": 68, "text": 152, "pointer": 60, "grab": 52, "move": 52, "crosshair": 34,
                "wait": 150, "progress": 150, "help": 92, "not-allowed": 24, "ew-resize": 108,
                "ns-resize": 116, "nesw-resize": 12, "nwse-resize": 14, "col-resize": 108,
                "row-resize": 116, "e-resize": 96, "w-resize": 70, "n-resize": 138, "s-resize": 16,
                "ne-resize": 136, "nw-resize": 134, "se-resize": 14, "sw-resize": 12, "all-scroll": 52}
# wp_cursor_shape_device_v1.shape enum order (1-based)
SHAPE_NAMES = ["default", "context-menu", "help", "pointer", "progress", "wait", "cell", "crosshair",
               "text", "vertical-text", "alias", "copy", "move", "no-drop", "not-allowed", "grab",
               "grabbing", "e-resize", "n-resize", "ne-resize", "nw-resize", "s-resize", "se-resize",
               "sw-resize", "w-resize", "ew-resize", "ns-resize", "nesw-resize", "nwse-resize",
               "col-resize", "row-resize", "all-scroll", "zoom-in", "zoom-out"]


class CursorManager:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.font = None
        self.font_cursors: dict[int, Any] = {}
        self.current: Any = None  # X cursor for the focused client
        self.cursor_surface: Surface | None = None
        self.hotspot = (0, 0)
        self.image_cursor: Any = None
        self.blank: Any = None

    def _font_cursor(self, glyph: int) -> Any:
        if glyph not in self.font_cursors:
            if self.font is None:
                self.font = self.server.xdisplay.open_font("cursor")
            self.font_cursors[glyph] = self.font.create_glyph_cursor(
                self.font, glyph, glyph + 1, (0, 0, 0), (0xFFFF, 0xFFFF, 0xFFFF))
        return self.font_cursors[glyph]

    def _blank_cursor(self) -> Any:
        if self.blank is None:
            pixmap = self.server.root.create_pixmap(1, 1, 1)
            self.blank = pixmap.create_cursor(pixmap, (0, 0, 0), (0, 0, 0), 0, 0)
            pixmap.free()
        return self.blank

    def apply(self, cursor: Any) -> None:
        self.current = cursor
        focus = self.server.seat.pointer_focus
        window = getattr(getattr(focus, "root", lambda: None)(), "role_object", None) if focus else None
        xwindow = getattr(window, "xwindow", None)
        if xwindow is not None and not xwindow.destroyed:
            xwindow.window.change_attributes(cursor=cursor)
            self.server.xdisplay.flush()

    def pointer_entered(self, window: XWindow) -> None:
        if self.current is not None:
            window.window.change_attributes(cursor=self.current)

    def set_shape(self, shape: int) -> None:
        name = SHAPE_NAMES[shape - 1] if 1 <= shape <= len(SHAPE_NAMES) else "default"
        self.apply(self._font_cursor(FONT_CURSORS.get(name, 68)))

    def set_cursor(self, pointer: Any, surface_res: Any, hx: int, hy: int) -> None:
        if surface_res is None:
            self.cursor_surface = None
            self.apply(self._blank_cursor())
            return
        surface = surface_res.surface
        surface.role = "cursor"
        surface.role_object = self
        self.cursor_surface = surface
        self.hotspot = (hx, hy)
        self.committed(surface, [])

    def committed(self, surface: Surface, damage: list[Any]) -> None:
        if surface is not self.cursor_surface:
            return
        if surface.image is None:
            self.apply(self._blank_cursor())
            return
        self.apply(self._image_cursor(surface))

    def _image_cursor(self, surface: Surface) -> Any:
        assert surface.image is not None
        img = surface.image[:64, :64]
        h, w = img.shape[:2]
        alpha = img[..., 3] > 127
        dark = img[..., :3].astype(np.uint16).sum(axis=2) < 3 * 128
        source = self._bitmap(alpha & dark, w, h)  # foreground (black) where dark
        mask = self._bitmap(alpha, w, h)
        hx = min(max(0, self.hotspot[0]), w - 1)
        hy = min(max(0, self.hotspot[1]), h - 1)
        cursor = source.create_cursor(mask, (0, 0, 0), (0xFFFF, 0xFFFF, 0xFFFF), hx, hy)
        source.free()
        mask.free()
        if self.image_cursor is not None:
            self.image_cursor.free()
        self.image_cursor = cursor
        return cursor

    def _bitmap(self, bits: np.ndarray, w: int, h: int) -> Any:
        pixmap = self.server.root.create_pixmap(w, h, 1)
        gc = pixmap.create_gc(foreground=0, background=0)
        pixmap.fill_rectangle(gc, 0, 0, w, h)
        gc.change(foreground=1)
        ys, xs = np.nonzero(bits)
        points = list(zip(xs.tolist(), ys.tolist(), strict=True))
        for start in range(0, len(points), 4000):
            pixmap.poly_point(gc, X.CoordModeOrigin, points[start:start + 4000])
        gc.free()
        return pixmap

    def surface_destroyed(self, surface: Surface | None = None) -> None:
        if surface is None or surface is self.cursor_surface:
            self.cursor_surface = None
