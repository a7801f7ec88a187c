"""The X side of a Wayland window: one X window per toplevel or popup, fed by PutImage."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from Xlib import X, Xatom

from compositor import touch
from compositor.rects import Rect, clip
from compositor.wayland.surface import Surface
from compositor.xshm import ShmUploader

if TYPE_CHECKING:
    from compositor.wayland.state import Server

log = logging.getLogger(__name__)

# Keep each PutImage under the core request limit (262140 bytes) and flush
# after each strip: one big unflushed PutImage is ten times slower here.
MAX_STRIP_BYTES = 240_000

EVENT_MASK = (X.ExposureMask | X.StructureNotifyMask | X.FocusChangeMask | X.KeyPressMask
              | X.KeyReleaseMask | X.ButtonPressMask | X.ButtonReleaseMask | X.PointerMotionMask
              | X.EnterWindowMask | X.LeaveWindowMask | X.PropertyChangeMask)


class XWindow:
    """An X window showing a surface tree cropped to a geometry rectangle."""

    def __init__(self, server: Server, surface: Surface, *, x: int, y: int, width: int, height: int,
                 override_redirect: bool, owner: Any) -> None:
        self.server = server
        self.surface = surface
        self.owner = owner
        self.width = max(1, width)
        self.height = max(1, height)
        self.geometry: Rect = (0, 0, self.width, self.height)
        screen = server.xscreen
        self.window = screen.root.create_window(
            x, y, self.width, self.height, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            background_pixel=screen.black_pixel, bit_gravity=X.NorthWestGravity,
            event_mask=EVENT_MASK, override_redirect=int(override_redirect),
        )
        # Marks the window as the compositor's: the session host sends touch here (compositor/touch.py).
        self.window.change_property(server.atom(touch.WINDOW_ATOM), Xatom.CARDINAL, 32, [1])
        self.gc = self.window.create_gc()
        self.mapped = False
        self.destroyed = False
        server.windows[self.window.id] = self

    @property
    def id(self) -> int:
        return int(self.window.id)

    def set_title(self, title: str) -> None:
        data = title.encode("utf-8", "replace")
        self.window.change_property(self.server.atom("_NET_WM_NAME"), self.server.atom("UTF8_STRING"), 8, data)
        self.window.change_property(Xatom.WM_NAME, Xatom.STRING, 8, title.encode("latin-1", "replace"))

    def set_class(self, app_id: str) -> None:
        self.window.set_wm_class(app_id, app_id)

    def map(self) -> None:
        if not self.mapped and not self.destroyed:
            self.window.map()
            self.mapped = True

    def resize(self, width: int, height: int) -> None:
        width, height = max(1, width), max(1, height)
        if (width, height) != (self.width, self.height):
            self.window.configure(width=width, height=height)
            self.width, self.height = width, height

    def destroy(self) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        self.server.windows.pop(self.id, None)
        try:
            self.gc.free()
            self.window.destroy()
        except Exception:  # the X server may already be gone at shutdown
            log.debug("x window destroy failed id=%#x", self.id)

    # -- drawing -------------------------------------------------------------

    def compose(self, rect: Rect) -> np.ndarray:
        """Pixels of ``rect`` (window coordinates) from the surface tree, BGRX."""
        x, y, w, h = rect
        gx, gy = self.geometry[0], self.geometry[1]
        root = self.surface
        out: np.ndarray | None = None
        if not root.subsurfaces and root.image is not None:
            sx, sy = x + gx, y + gy
            if sx >= 0 and sy >= 0 and sx + w <= root.width and sy + h <= root.height:
                return root.image[sy:sy + h, sx:sx + w]
        out = np.zeros((h, w, 4), dtype=np.uint8)
        self._blend(out, root, x + gx, y + gy, opaque_base=True)
        return out

    def _blend(self, out: np.ndarray, surface: Surface, ox: int, oy: int, opaque_base: bool = False) -> None:
        """Draw ``surface`` (and its subsurfaces) into ``out`` whose origin is (ox, oy) in its coordinates."""
        h, w = out.shape[:2]
        if surface.image is not None:
            c = clip((ox, oy, w, h), surface.width, surface.height)
            if c is not None:
                cx, cy, cw, ch = c
                src = surface.image[cy:cy + ch, cx:cx + cw]
                dst = out[cy - oy:cy - oy + ch, cx - ox:cx - ox + cw]
                if opaque_base:
                    dst[...] = src
                else:
                    alpha = src[..., 3:4].astype(np.uint16)
                    if alpha.min() == 255:
                        dst[...] = src
                    else:
                        blended = src.astype(np.uint16) + (dst.astype(np.uint16) * (255 - alpha) + 127) // 255
                        dst[...] = np.minimum(blended, 255).astype(np.uint8)
        for sub in surface.subsurfaces:
            if sub.surface.image is not None:
                self._blend(out, sub.surface, ox - sub.x, oy - sub.y)

    def visible_rects(self, rects: list[Rect]) -> list[Rect]:
        if not self.mapped or self.destroyed:
            return []
        return [c for c in (clip(r, self.width, self.height) for r in rects) if c is not None]

    def draw(self, rects: list[Rect], shm: ShmUploader | None = None) -> int:
        """Upload the damaged ``rects`` (window coordinates, clipped); returns bytes sent.

        With ``shm`` the pixels go through the shared segment (the caller syncs);
        otherwise as core PutImage strips, flushed one by one.
        """
        sent = 0
        display = self.server.xdisplay
        for c in rects:
            x, y = c[0], c[1]
            pixels = self.compose(c)
            if shm is not None:
                sent += shm.put(self.window, self.gc, x, y, pixels)
                continue
            ph, pw = pixels.shape[:2]
            rows = max(1, MAX_STRIP_BYTES // (pw * 4))
            for top in range(0, ph, rows):
                strip = np.ascontiguousarray(pixels[top:top + rows])
                self.window.put_image(self.gc, x, y + top, pw, strip.shape[0], X.ZPixmap, 24, 0,
                                      strip.tobytes())
                display.flush()
                sent += strip.nbytes
        return sent
