"""``jpeg`` stream: damaged rectangles, snapped to 16 px and merged, as baseline JPEGs (simplejpeg).

The fallback path for browsers without WebCodecs. Frame header: ``codec: "jpeg"``, ``width`` and
``height`` (full frames only), ``rects: [[x, y, w, h, nbytes], …]``; payload: the JPEG files
concatenated in that order. Lossless WebP touch-up frames (``codec: "webp"``, same shape) follow
once an area is quiet.

Small damage (at most ``small`` pixels, default 4096) and text-like damage (up to ``flat``
pixels) go out losslessly instead (``prle`` or ``webp``, see ``lossless.lossless_update``).

Options: ``quality`` (default 80), ``small``, ``flat``, ``lossless`` (touch-up on, default
true), ``settle`` (s).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simplejpeg

from compositor.encoders import EncodedFrame, Encoder, Rect, register
from compositor.encoders.lossless import DEFAULT_FLAT, DEFAULT_RAW, TouchUp, image_frame, lossless_update
from compositor.encoders.regions import clip, merge, snap

WEB = frozenset({"web"})  # browsers only: lossless images as prle / WebP


def jpeg_rects(rects: list[Rect], width: int, height: int) -> list[Rect]:
    snapped = [s for r in rects if (s := snap(r, 16, width, height)) is not None]
    return merge(snapped)


@register
class JpegEncoder(Encoder):
    format = "jpeg"

    def __init__(self, width: int, height: int, options: dict[str, Any]) -> None:
        super().__init__(width, height, options)
        self.quality = max(10, min(95, int(options.get("quality", 80))))
        self.touchup = TouchUp(width, height, options)
        self.small = int(options.get("small", DEFAULT_RAW))
        self.flat = int(options.get("flat", DEFAULT_FLAT))

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        if full:
            rects = [(0, 0, self.width, self.height)]
        elif (lossless := lossless_update(screen, [c for r in rects if (c := clip(r, self.width, self.height))],
                                          WEB, small=self.small, flat_limit=self.flat)) is not None:
            return lossless
        out_rects = jpeg_rects(rects, self.width, self.height)
        if not out_rects:
            return []
        images = []
        for x, y, w, h in out_rects:
            block = screen[y:y + h, x:x + w]
            images.append(simplejpeg.encode_jpeg(
                block, quality=self.quality, colorspace="BGRX", colorsubsampling="420"))
        self.touchup.damage(out_rects)
        size = (self.width, self.height) if full else (None, None)
        return [image_frame("jpeg", *size, out_rects, images)]

    def idle(self, screen: np.ndarray, now: float, viewers: frozenset[int] = frozenset()) -> list[EncodedFrame]:
        return self.touchup.frames(screen, now, WEB)

    def resize(self, width: int, height: int) -> None:
        super().resize(width, height)
        self.touchup.resize(width, height)
