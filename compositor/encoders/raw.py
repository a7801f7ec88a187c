"""``raw`` stream: damaged rectangles as BGRX pixels (for front ends that encode themselves)."""

from __future__ import annotations

import numpy as np

from compositor.encoders import EncodedFrame, Encoder, Rect, register


@register
class RawEncoder(Encoder):
    format = "raw"

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        if full:
            rects = [(0, 0, self.width, self.height)]
        parts = [np.ascontiguousarray(screen[y:y + h, x:x + w]).tobytes() for x, y, w, h in rects]
        return [EncodedFrame({"rects": [list(r) for r in rects]}, b"".join(parts))]


@register
class DamageOnlyEncoder(Encoder):
    format = "damage"

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        if full:
            rects = [(0, 0, self.width, self.height)]
        return [EncodedFrame({"rects": [list(r) for r in rects]})]
