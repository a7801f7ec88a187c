"""Surface state: double-buffered wl_surface state, pixels, damage and roles."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compositor.rects import Rect, union

log = logging.getLogger(__name__)


def merge_rects(rects: list[Rect], limit: int = 8) -> list[Rect]:
    """Keep damage cheap: beyond ``limit`` rectangles, use their bounding box."""
    if len(rects) <= limit:
        return rects
    box = rects[0]
    for r in rects[1:]:
        box = union(box, r)
    return [box]


@dataclass
class PendingState:
    buffer: tuple[Any, int] | None = None  # (client ptr, buffer object id) or None for detach
    attached: bool = False
    dx: int = 0
    dy: int = 0
    damage: list[Rect] = field(default_factory=list)
    buffer_damage: list[Rect] = field(default_factory=list)
    frames: list[Any] = field(default_factory=list)
    scale: int | None = None


class Surface:
    """One wl_surface: its committed pixels (BGRA, premultiplied) and its role."""

    def __init__(self, server: Any, resource: Any) -> None:
        self.server = server
        self.resource = resource
        self.pending = PendingState()
        self.image: np.ndarray | None = None  # h × w × 4, uint8
        self.width = 0
        self.height = 0
        self.scale = 1
        self.role: str | None = None
        self.role_object: Any = None
        self.frames: list[Any] = []
        self.subsurfaces: list[Subsurface] = []
        self.parent_sub: Subsurface | None = None
        self.commit_time = 0.0
        self.destroyed = False
        self.cached: PendingState | None = None  # a synchronized subsurface's state awaiting its parent

    @property
    def has_content(self) -> bool:
        return self.image is not None

    def root(self) -> Surface:
        surface = self
        while surface.parent_sub is not None:
            surface = surface.parent_sub.parent
        return surface

    def offset_in_root(self) -> tuple[int, int]:
        x = y = 0
        surface = self
        while surface.parent_sub is not None:
            x += surface.parent_sub.x
            y += surface.parent_sub.y
            surface = surface.parent_sub.parent
        return x, y

    def set_image_size(self, width: int, height: int) -> None:
        if self.image is None or self.image.shape[0] != height or self.image.shape[1] != width:
            self.image = np.zeros((height, width, 4), dtype=np.uint8)
        self.width, self.height = width, height


class Subsurface:
    def __init__(self, resource: Any, surface: Surface, parent: Surface) -> None:
        self.resource = resource
        self.surface = surface
        self.parent = parent
        self.x = 0
        self.y = 0
        self.sync = True

    def effectively_sync(self) -> bool:
        """Synchronized itself or through any ancestor subsurface (wl_subsurface spec)."""
        sub: Subsurface | None = self
        while sub is not None:
            if sub.sync:
                return True
            sub = sub.parent.parent_sub
        return False
