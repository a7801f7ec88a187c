"""Lossless touch-up: once an area sent lossily has stopped changing, send it again as WebP lossless.

Measured at 1080p on a terminal screen (docs/encoders.md): WebP lossless ``method=0``,
``quality=0`` 35 ms / 19.7 KB for the whole screen, versus zlib level 1 of BGR 25 ms / 82 KB and
PNG level 1 75 ms / 74 KB. Browsers decode WebP natively (``createImageBitmap``), so WebP wins.
The work per ``idle`` call is capped (``budget`` pixels) so the host's loop is never blocked long.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from compositor.encoders import EncodedFrame, Rect
from compositor.encoders.regions import TouchUpMap

DEFAULT_BUDGET = 512 * 256  # pixels per idle call: about 2.5 ms of WebP here
# Damage this small (a few typed characters, a cursor blink) goes out as WebP lossless at once
# instead of through the lossy codec: ~0.3 ms to encode, ~100–400 B, crisp, and in the browser a
# tiny image decode instead of a full-frame video decode and conversion (docs/encoders.md).
DEFAULT_SMALL = 32 * 1024  # pixels
# Tinier still (one or two characters): palette + run-length ("prle"), decoded synchronously
# by a browser (putImageData), skipping the 5–10 ms of an asynchronous image decode; falls back
# to WebP when a rectangle has more than 256 colours (docs/encoders.md).
DEFAULT_RAW = 4096  # pixels
# Text-like damage up to this many pixels goes lossless too (a 1080p screen of text is 2 Mpx:
# whole-screen changes stay with the video codec, whose cost does not grow with the content).
DEFAULT_FLAT = 512 * 512
# Colour changes per pixel along rows below which an area counts as text or flat UI (``flat``):
# a terminal's text lines have about 0.1-0.3, an empty area 0, photos and gradients close to 1.
FLAT_DENSITY = 0.3
# Planar is kept for areas past ``DEFAULT_RAW`` only while it codes them in at most this much:
# a solid flip or a plain panel, yes (~0.01 B/pixel); text, no (~0.7 B/pixel, where H.264's
# P-frame is ~0.05).
PLANAR_MAX_BYTES_PER_PIXEL = 0.125


def palette_rle(block: np.ndarray) -> bytes | None:
    """``prle`` of one BGRX rectangle, or None past 256 colours.

    Layout: ``u8 n-1``, ``n`` palette entries as B, G, R bytes, then (``u8 run-1``, ``u8 index``)
    pairs in row-major pixel order; runs are at most 256 long.
    """
    pixels = np.ascontiguousarray(block).view(np.uint32).reshape(-1) & 0x00FFFFFF
    palette, index = np.unique(pixels, return_inverse=True)
    if len(palette) > 256:
        return None
    starts = np.flatnonzero(np.diff(index, prepend=-1))
    lengths = np.diff(np.append(starts, len(index)))
    values = index[starts]
    if lengths.max() > 256:  # split long runs into pieces of at most 256
        reps = -(-lengths // 256)
        values = np.repeat(values, reps)
        pieces = np.full(int(reps.sum()), 256)
        ends = np.cumsum(reps) - 1
        pieces[ends] = lengths - (reps - 1) * 256
        lengths = pieces
    runs = np.empty((len(lengths), 2), np.uint8)
    runs[:, 0] = lengths - 1
    runs[:, 1] = values
    pal = palette.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
    return bytes([len(palette) - 1]) + pal.tobytes() + runs.tobytes()


def webp_lossless(screen: np.ndarray, rect: Rect) -> bytes:
    x, y, w, h = rect
    block = screen[y:y + h, x:x + w]
    if not block.flags.c_contiguous:
        block = np.ascontiguousarray(block)
    image = Image.frombuffer("RGB", (w, h), block, "raw", "BGRX", 0, 1)
    out = io.BytesIO()
    image.save(out, "WEBP", lossless=True, method=0, quality=0)
    return out.getvalue()


def image_frame(codec: str, width: int | None, height: int | None, rects: list[Rect],
                images: list[bytes]) -> EncodedFrame:
    """The shared shape of image frames: one image per rectangle, concatenated.

    ``width``/``height`` (the screen size) ride only on full frames; every byte counts when a
    typed character is ~150 B.
    """
    fields: dict = {"codec": codec}
    if width is not None and height is not None:
        fields["width"], fields["height"] = width, height
    fields["rects"] = [[x, y, w, h, len(img)] for (x, y, w, h), img in zip(rects, images, strict=True)]
    return EncodedFrame(fields, b"".join(images))


def flat(block: np.ndarray, density: float = FLAT_DENSITY) -> bool:
    """Whether ``block`` looks like text or flat UI rather than a picture: at most ``density``
    colour changes per pixel along its rows. Such content is smaller and exact losslessly; a
    photo or gradient changes colour at almost every pixel. Sampled on every other row, so a
    1080p screen is judged in about 2 ms."""
    rows = np.ascontiguousarray(block[::2]).view(np.uint32)[..., 0]
    if rows.shape[1] < 2 or rows.size == 0:
        return True
    changes = np.count_nonzero(rows[:, 1:] != rows[:, :-1])
    return changes <= density * rows.size


def encode_images(codec: str, screen: np.ndarray, rects: list[Rect]) -> list[bytes]:
    """One lossless image per rectangle: ``webp``, or ``planar`` (RDP's codec, top-down
    scanlines: what the graphics pipeline's Wire To Surface draws)."""
    if codec == "planar":
        from compositor.encoders.planar import encode_planar  # its scanlines go bottom-up

        return [encode_planar(np.ascontiguousarray(screen[y:y + h, x:x + w][::-1])) for x, y, w, h in rects]
    return [webp_lossless(screen, r) for r in rects]


def small_update(screen: np.ndarray, rects: list[Rect], width: int, height: int,
                 limit: int, raw_limit: int = DEFAULT_RAW, *, codec: str = "auto",
                 flat_limit: int = 0) -> EncodedFrame | None:
    """A lossless frame for ``rects``, or None to leave them to the lossy codec.

    ``codec="auto"`` (browsers): when their total area is at most ``limit`` pixels, or at most
    ``flat_limit`` pixels of text-like content (``flat``): ``prle`` (``palette_rle``) up to
    ``raw_limit`` pixels, otherwise, or with too many colours, ``webp``.
    ``codec="planar"`` (RDP): up to ``raw_limit`` pixels always; up to ``limit`` pixels when the
    content is flat and Planar's run-length coding makes it small (``PLANAR_MAX_BYTES_PER_PIXEL``):
    a solid or mostly plain area, yes; a paragraph of text, which Planar barely compresses, no.
    All have the image-frame shape (``rects`` with byte counts).
    """
    from compositor.encoders.regions import merge

    if not rects or (limit <= 0 and flat_limit <= 0):
        return None
    area = sum(w * h for _, _, w, h in rects)
    if area > max(limit, flat_limit):
        return None
    merged = merge(rects, slack=256)
    blocks = [screen[y:y + h, x:x + w] for x, y, w, h in merged]
    if codec == "planar":
        if area > raw_limit and (area > limit or not all(flat(b) for b in blocks)):
            return None
        images = encode_images("planar", screen, merged)
        if area > raw_limit and sum(map(len, images)) > area * PLANAR_MAX_BYTES_PER_PIXEL:
            return None
        return image_frame("planar", None, None, merged, images)
    if area > limit and not all(flat(b) for b in blocks):
        return None
    if sum(w * h for _, _, w, h in merged) <= raw_limit:
        encoded = [palette_rle(b) for b in blocks]
        if all(e is not None for e in encoded):
            return image_frame("prle", None, None, merged, encoded)  # type: ignore[arg-type]
    return image_frame("webp", None, None, merged, encode_images("webp", screen, merged))


class TouchUp:
    """Re-sends settled areas losslessly: as WebP (``touchup="webp"``, browsers) or as RDP's
    Planar codec with top-down scanlines (``touchup="planar"``, what the RDP graphics pipeline
    draws), encoded here once for every subscriber like the rest of the stream."""

    def __init__(self, width: int, height: int, options: dict) -> None:
        self.enabled = bool(options.get("lossless", True))
        self.codec = options.get("touchup", "webp")
        if self.codec not in ("webp", "planar"):
            raise ValueError(f"touchup must be 'webp' or 'planar', not {self.codec!r}")
        self.settle = float(options.get("settle", 0.3))
        self.budget = int(options.get("budget", DEFAULT_BUDGET))
        self.map = TouchUpMap(width, height, settle=self.settle)

    def resize(self, width: int, height: int) -> None:
        self.map = TouchUpMap(width, height, settle=self.settle)

    def damage(self, rects: list[Rect]) -> None:
        if self.enabled:
            self.map.damage(rects)

    def copied(self, copies) -> None:
        """Viewers moved pixels (``scroll.Copy``): lossy areas stay lossy where they went."""
        if self.enabled:
            for copy in copies:
                self.map.copied(copy.source, copy.dest)

    def frames(self, screen: np.ndarray, now: float) -> list[EncodedFrame]:
        if not self.enabled:
            return []
        rects = self.map.due(now, budget=self.budget)
        if not rects:
            return []
        images = encode_images(self.codec, screen, rects)
        self.map.clean(rects)
        frame = image_frame(self.codec, None, None, rects, images)
        frame.fields["touchup"] = True
        return [frame]
