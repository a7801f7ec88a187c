"""Lossless touch-up: once an area sent lossily has stopped changing, send it again as WebP lossless.

Measured at 1080p on a terminal screen (docs/encoders.md): WebP lossless ``method=0``,
``quality=0`` 35 ms / 19.7 KB for the whole screen, versus zlib level 1 of BGR 25 ms / 82 KB and
PNG level 1 75 ms / 74 KB. Browsers decode WebP natively (``createImageBitmap``), so WebP wins.
The work per ``idle`` call is capped (``budget`` pixels) so the host's loop is never blocked long.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from compositor.encoders import EncodedFrame, Rect
from compositor.encoders.indexed import indexed
from compositor.encoders.regions import TouchUpMap

DEFAULT_BUDGET = 512 * 256  # pixels per idle call: about 2.5 ms of WebP here
# Damage this small (a few typed characters, a cursor blink) goes out losslessly at once whatever
# its content, instead of through the lossy codec: ~0.1 ms to encode, ~100–200 B, crisp, and in
# the browser a synchronous palette + run-length decode ("prle", putImageData) instead of a
# full-frame video decode and conversion; WebP past 256 colours (docs/encoders.md).
DEFAULT_RAW = 4096  # pixels
# prle also for larger areas of at most this many runs (a solid flip of a 300 x 300 window:
# ~700 B), sparing the browser an asynchronous WebP decode.
PRLE_MAX_RUNS = 1024
# How a viewer takes lossless images (a subscription's ``images`` option) and the codec of its
# touch-ups. ``webz``: a browser whose socket is deflate-compressed; it also takes ``indexed``
# (few-colour areas left for the socket's deflate: ``indexed.py``).
IMAGE_CODECS = {"web": "webp", "webz": "webp", "planar": "planar"}
WEB_VARIANTS = ("web", "webz")
# Text-like damage up to this many pixels goes lossless too (a 1080p screen of text is 2 Mpx:
# whole-screen changes stay with the video codec, whose cost does not grow with the content).
DEFAULT_FLAT = 512 * 512
# Colour changes per pixel along rows below which an area counts as text or flat UI (``flat``):
# a terminal's text lines have about 0.1-0.3, an empty area 0, photos and gradients close to 1.
FLAT_DENSITY = 0.3
# Planar is kept for areas past ``DEFAULT_RAW`` only while it codes them in at most this much:
# a solid flip or a plain panel, yes (a solid 300 x 300: 0.07 B/pixel); xterm text, no
# (0.68 B/pixel, where H.264 coded the same rows in ~0.007).
PLANAR_MAX_BYTES_PER_PIXEL = 0.125


# Areas up to this many pixels have their ``prle`` remembered by their pixels (at most 128 of
# them, ~0.5 MB): a typed letter with the cursor beside it is the same picture wherever it is.
REMEMBERED_PIXELS = 1024


def palette_rle(block: np.ndarray) -> bytes | None:
    """``prle`` of one BGRX rectangle, or None past 256 colours.

    Layout: ``u8 n-1``, ``n`` palette entries as B, G, R bytes, then (``u8 run-1``, ``u8 index``)
    pairs in row-major pixel order; runs are at most 256 long.
    """
    if block.ndim == 3 and block.shape[0] * block.shape[1] <= REMEMBERED_PIXELS:
        return _palette_rle_remembered(block.shape, np.ascontiguousarray(block).tobytes())
    return _palette_rle(block)


@functools.lru_cache(maxsize=128)
def _palette_rle_remembered(shape: tuple[int, ...], pixels: bytes) -> bytes | None:
    return _palette_rle(np.frombuffer(pixels, np.uint8).reshape(shape))


def _palette_rle(block: np.ndarray) -> bytes | None:
    pixels = np.ascontiguousarray(block).view(np.uint32).reshape(-1) & 0x00FFFFFF
    # Runs first, then the palette of the runs' colours (the same colours as the pixels'):
    # np.unique sorts what it is given, so a solid 300 x 300 flip sorts one value, not 90 000
    # (2.4 -> 0.07 ms of CPU; it is on a keystroke's way to the screen, docs/performance.md).
    starts = np.flatnonzero(np.concatenate(([True], pixels[1:] != pixels[:-1])))
    palette, values = np.unique(pixels[starts], return_inverse=True)
    if len(palette) > 256:
        return None
    lengths = np.diff(np.append(starts, len(pixels)))
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
                images: list[bytes], *, variant: str | None = None) -> EncodedFrame:
    """The shared shape of image frames: one image per rectangle, concatenated.

    ``width``/``height`` (the screen size) ride only on full frames; every byte counts when a
    typed character is ~150 B.
    """
    fields: dict = {"codec": codec}
    if width is not None and height is not None:
        fields["width"], fields["height"] = width, height
    fields["rects"] = [[x, y, w, h, len(img)] for (x, y, w, h), img in zip(rects, images, strict=True)]
    return EncodedFrame(fields, b"".join(images), variant=variant)


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


def _rle_runs(block: np.ndarray) -> int:
    """Runs of equal pixels in row-major order (what ``palette_rle`` codes, before splitting)."""
    pixels = np.ascontiguousarray(block).view(np.uint32).reshape(-1) & 0x00FFFFFF
    return 1 + int(np.count_nonzero(pixels[1:] != pixels[:-1])) if pixels.size else 0


def web_frame(screen: np.ndarray, rects: list[Rect], raw_limit: int = DEFAULT_RAW, *,
              deflated: bool = False) -> EncodedFrame:
    """What a browser draws losslessly: ``prle`` (decoded synchronously) for tiny areas and for
    areas of few runs (a solid flip); else, on a ``deflated`` socket, ``indexed`` for areas of
    at most ``indexed.MAX_COLOURS`` colours (text: also decoded synchronously); else, or past
    256 colours, ``webp``."""
    blocks = [screen[y:y + h, x:x + w] for x, y, w, h in rects]
    if sum(w * h for _, _, w, h in rects) <= raw_limit or sum(map(_rle_runs, blocks)) <= PRLE_MAX_RUNS:
        encoded = [palette_rle(b) for b in blocks]
        if all(e is not None for e in encoded):
            return image_frame("prle", None, None, rects, encoded)  # type: ignore[arg-type]
    if deflated:
        encoded = [indexed(b) for b in blocks]
        if all(e is not None for e in encoded):
            return image_frame("indexed", None, None, rects, encoded)  # type: ignore[arg-type]
    return image_frame("webp", None, None, rects, encode_images("webp", screen, rects))


def lossless_update(screen: np.ndarray, rects: list[Rect], variants: frozenset[str], *, small: int = DEFAULT_RAW,
                    flat_limit: int = DEFAULT_FLAT, raw_limit: int = DEFAULT_RAW,
                    planar_bytes: bool = True) -> list[EncodedFrame] | None:
    """Lossless frames for ``rects`` instead of a lossy frame, one per image variant viewers
    take (``IMAGE_CODECS``), or None to leave them to the lossy codec.

    Lossless when the total area is at most ``small`` pixels (any content), or at most
    ``flat_limit`` pixels of text-like content (``flat``); and in that second case, when a viewer
    takes Planar, only while Planar codes the area (past ``raw_limit`` pixels) in at most
    ``PLANAR_MAX_BYTES_PER_PIXEL``: a solid or mostly plain area, yes; a paragraph of text,
    which Planar barely compresses, no (``planar_bytes=False`` leaves that check out: rows a
    scroll exposed, whose cost as Planar grows with the rows where a P-frame costs a whole
    picture's encode). The decision is the same for every variant, so each viewer of the
    stream gets the same frames in its own encoding.
    """
    from compositor.encoders.regions import merge

    if not rects:
        return None
    area = sum(w * h for _, _, w, h in rects)
    if area > max(small, flat_limit):
        return None
    merged = merge(rects, slack=256)
    if area > small and not all(flat(screen[y:y + h, x:x + w]) for x, y, w, h in merged):
        return None
    frames = []
    if "planar" in variants:
        images = encode_images("planar", screen, merged)
        if planar_bytes and area > max(small, raw_limit) and \
                sum(map(len, images)) > area * PLANAR_MAX_BYTES_PER_PIXEL:
            return None
        frames.append(image_frame("planar", None, None, merged, images, variant="planar"))
    shared = None  # a prle frame: the same for ``web`` and ``webz``, encoded once
    for variant in WEB_VARIANTS:
        if variant in variants:
            frame = shared or web_frame(screen, merged, raw_limit, deflated=variant == "webz")
            if frame.fields["codec"] == "prle":
                shared = frame
            frames.append(EncodedFrame(frame.fields, frame.payload, variant=variant))
    return frames


# Streams whose viewers all take ``webz`` send areas of at most this many pixels and
# ``indexed.MAX_COLOURS`` colours as ``indexed`` past ``flat`` too: a terminal's whole text
# changed at once (its program scrolled past what a copy can rebuild) is ~47 KB of indices for
# a 720 x 520 xterm, a few KB after the socket's deflate, where its H.264 frame was 30-100 KB
# (and a touch-up later).
WEBZ_FLAT = 1024 * 1024


def indexed_update(screen: np.ndarray, rects: list[Rect], limit: int = WEBZ_FLAT) -> list[EncodedFrame] | None:
    """``rects`` as one ``indexed`` frame of the ``webz`` variant, or None past ``limit`` pixels
    or ``indexed.MAX_COLOURS`` colours in a rectangle."""
    from compositor.encoders.regions import merge

    if not rects or sum(w * h for _, _, w, h in rects) > limit:
        return None
    merged = merge(rects, slack=256)
    encoded = [indexed(screen[y:y + h, x:x + w]) for x, y, w, h in merged]
    if any(e is None for e in encoded):
        return None
    return [image_frame("indexed", None, None, merged, encoded, variant="webz")]  # type: ignore[arg-type]


class TouchUp:
    """Re-sends settled areas losslessly, in each image variant the stream's viewers take: WebP
    (``web``, browsers) or RDP's Planar codec with top-down scanlines (``planar``, what the RDP
    graphics pipeline draws), encoded here once per variant for every subscriber.

    A viewer that caught up on a running stream (``H264Encoder.catch_up``) holds a lossy
    picture everywhere the others do not: it gets a map of its own, damaged whole when it
    joined, fed the stream's damage like the shared one, and touched up for it alone."""

    def __init__(self, width: int, height: int, options: dict) -> None:
        self.enabled = bool(options.get("lossless", True))
        self.settle = float(options.get("settle", 0.3))
        self.budget = int(options.get("budget", DEFAULT_BUDGET))
        self.map = TouchUpMap(width, height, settle=self.settle)
        self.viewers: dict[int, tuple[TouchUpMap, str]] = {}

    def resize(self, width: int, height: int) -> None:
        self.map = TouchUpMap(width, height, settle=self.settle)
        self.forget_all()

    def join(self, viewer: int, variant: str) -> None:
        """``viewer`` was just sent the whole screen lossily, apart from the others."""
        if self.enabled:
            own = TouchUpMap(self.map.width, self.map.height, settle=self.settle)
            own.damage([(0, 0, own.width, own.height)])
            self.viewers[viewer] = (own, variant)

    def forget(self, viewer: int) -> None:
        self.viewers.pop(viewer, None)

    def forget_all(self) -> None:
        """Every viewer was sent the same whole picture (a keyframe): none needs its own map."""
        self.viewers.clear()

    def damage(self, rects: list[Rect]) -> None:
        if self.enabled:
            for m in self._maps():
                m.damage(rects)

    def copied(self, copies) -> None:
        """Viewers moved pixels (``scroll.Copy``): lossy areas stay lossy where they went."""
        if self.enabled:
            for m in self._maps():
                for copy in copies:
                    m.copied(copy.source, copy.dest)

    @property
    def pending(self) -> bool:
        """Some area was sent lossy and is not touched up yet, for all or for one viewer."""
        return self.enabled and (self.map.any_lossy or bool(self.viewers))

    def _maps(self) -> list[TouchUpMap]:
        return [self.map, *(own for own, _ in self.viewers.values())]

    def frames(self, screen: np.ndarray, now: float, variants: frozenset[str],
               viewers: frozenset[int] = frozenset()) -> list[EncodedFrame]:
        """Touch-ups due now: for every subscriber in each of ``variants``; else for each
        caught-up viewer among ``viewers`` (those able to take a frame now) alone."""
        if not self.enabled:
            return []
        frames = []
        rects = self.map.due(now, budget=self.budget)
        if rects:
            for m in self._maps():
                m.clean(rects)  # every viewer takes the shared touch-ups
            by_codec: dict[str, EncodedFrame] = {}  # web and webz take the same WebP
            for variant in sorted(variants):
                codec = IMAGE_CODECS[variant]
                if codec not in by_codec:
                    by_codec[codec] = self._frame(screen, rects, variant)
                    frames.append(by_codec[codec])
                else:
                    frames.append(EncodedFrame(by_codec[codec].fields, by_codec[codec].payload, variant=variant))
            return frames  # one touch-up per subscriber per call: a viewer's own ones wait
        for viewer, (own, variant) in list(self.viewers.items()):
            if not own.any_lossy:
                del self.viewers[viewer]  # the shared touch-ups covered what it lacked
                continue
            if viewer not in viewers or not (rects := own.due(now, budget=self.budget)):
                continue
            own.clean(rects)
            frame = self._frame(screen, rects, variant)
            frame.viewer = viewer
            frames.append(frame)
        return frames

    @staticmethod
    def _frame(screen: np.ndarray, rects: list[Rect], variant: str) -> EncodedFrame:
        codec = IMAGE_CODECS[variant]
        frame = image_frame(codec, None, None, rects, encode_images(codec, screen, rects), variant=variant)
        frame.fields["touchup"] = True
        return frame
