"""``h264`` stream: libx264 through PyAV, ultrafast/zerolatency/baseline, Annex-B, one thread.

Colour conversion is ours (``colour.py``: libyuv, 0.74 ms per 1080p frame), and only the damaged
rectangles are converted into the persistent I420 planes, so a keystroke converts a few
hundred pixels. Keyframes only on demand (``full=True``: the first viewer, a resize) — IDR with
SPS/PPS in front, so any keyframe starts a decoder. A viewer joining a running stream gets an
IDR of its own instead (``catch_up``), and the stream's P-frames renumbered (``personalize``).

One stream serves browsers and RDP clients together: its parameters are ones both take.

Coded size: with ``pad="explicit"`` (default) the planes are padded to 16 by the encoder and no
cropping is written: RDP AVC420 crops by region rectangles, and the browser only ever draws
rectangles of the decoded picture, within the visible size. ``pad="sps"`` makes the picture the
visible size rounded up to even and lets x264 pad, writing the cropping into the SPS
(``frame_cropping``), so decoders output exactly the visible size.

Colour: ``colour="bt709-full"`` (default) converts with full-range BT.709, what MS-RDPEGFX
prescribes for AVC420 (clients ignore the VUI), and says so in the VUI, which browsers follow;
``"bt601"`` is limited-range BT.601.

Frame header: ``codec: "h264"``, ``key`` (bool), on keyframes ``width``/``height`` (visible
size) and ``coded``: ``[w, h]`` of the encoded picture; ``rects``: the damaged rectangles to draw
from the decoded picture (all of it for a keyframe; drawing only these keeps lossless frames
intact). Payload: one Annex-B access unit.

Lossless frames share the stream: damage of at most ``small`` pixels (default 4096: typing, a
blinking cursor), and damage up to ``flat`` pixels (default 262144) whose content is text or
flat UI (``lossless.flat``: few colour changes along its rows), is sent losslessly instead of as
an H.264 frame: cheaper to encode and decode, smaller, and exact. Each subscriber picks how it
takes those images with the ``images`` option (``"web"``: ``prle``/``webp`` for browsers;
``"planar"``: Planar for the RDP graphics pipeline); it is a variant, not a stream option, so a
browser and an RDP client still share the encoder, each receiving the lossless frames in its
own codec (encoded once per codec). When an RDP client watches, text-like damage that Planar
codes poorly goes through H.264 for everyone (see ``lossless.lossless_update``). Lossless frames
are safe because a front end only ever draws an H.264 frame's own ``rects``, and those are
always converted and encoded fresh: the picture the decoder holds may be stale where lossless
frames drew. Scrolling found in damage goes out as ``copy`` frames (``copy``, default true;
see ``scroll.py``), and areas sent lossily are sent again losslessly once they settle
(touch-ups, ``lossless``, ``settle``).

A subscriber that needs every update as H.264 (a recording: lossless images and copies are no
part of an MP4) takes the variant ``images="h264"`` (``PURE``). While one does, the shared
encoder makes no lossless frames and no copies for anyone: every update is an H.264 frame, so
that subscriber's decoder holds the whole screen (the others still get their touch-ups, which
only re-send settled areas). It joins on a keyframe for the whole group, never a catch-up of
its own: the encoder's planes are stale where lossless frames were drawn, and a one-off IDR
is a picture a little different from the one the encoder predicts from, which nothing would
touch up in a recording. No second encoder.

Options: ``qp`` (default 30; keyframes get about 3 less) or ``crf``, ``pad``, ``colour``,
``small`` and ``flat`` (pixels), ``copy``, ``lossless``, ``settle``; per subscriber ``images``.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import av
import numpy as np

from compositor.encoders import EncodedFrame, Encoder, Rect, h264_syntax, register
from compositor.encoders.colour import MATRICES, best_converter, even_rect
from compositor.encoders.lossless import (
    DEFAULT_FLAT,
    DEFAULT_RAW,
    IMAGE_CODECS,
    TouchUp,
    indexed_update,
    lossless_update,
)
from compositor.encoders.regions import clip
from compositor.encoders.scroll import ScrollDetector, copy_frame, with_copies

log = logging.getLogger(__name__)


# 30, not x264's usual 28: full-range BT.709 (the stream browsers and RDP share) spends ~30 %
# more bits than limited range at one quantiser; moving video at 30 is back at ~1 MB/s for a
# 720p scene (docs/performance.md), and text is lossless or touched up losslessly anyway.
DEFAULT_QP = 30
# What the stream says about its colours (VUI), per conversion matrix.
VUI = {
    "bt601": "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m:fullrange=off",
    "bt709-full": "colorprim=bt709:transfer=bt709:colormatrix=bt709:fullrange=on",
}


def _align(value: int, to: int) -> int:
    return -(-value // to) * to


DEFAULT_VARIANTS = frozenset({"web"})
WEBZ_ONLY = frozenset({"webz"})  # every viewer a browser on a compressed socket
PURE = "h264"  # the variant of subscribers that take H.264 frames only (recordings)
COPY_REST_SMALL = 48 * 1024  # pixels: see ``encode``


@register
class H264Encoder(Encoder):
    format = "h264"
    stateful = True
    variant_option = ("images", (*IMAGE_CODECS, PURE))

    def __init__(self, width: int, height: int, options: dict[str, Any]) -> None:
        super().__init__(width, height, options)
        # Rate control: a constant quantiser unless a ``crf`` is asked for. CRF makes x264 build
        # a quarter-size copy of every frame and estimate its cost (its look-ahead analysis),
        # about a third of the encoder's time on a 1080p pan (docs/encoders.md).
        if "crf" in options:
            self.rate = {"crf": str(int(options["crf"]))}
        else:
            qp = int(options.get("qp", DEFAULT_QP))
            if not 0 <= qp <= 51:
                raise ValueError(f"h264 option qp must be 0..51, not {qp}")
            self.rate = {"qp": str(qp)}
        self.pad = options.get("pad", "explicit")
        if self.pad not in ("sps", "explicit"):
            raise ValueError(f"h264 option pad must be 'sps' or 'explicit', not {self.pad!r}")
        self.colour = options.get("colour", "bt709-full")
        if self.colour not in MATRICES:
            raise ValueError(f"h264 option colour must be one of {MATRICES}, not {self.colour!r}")
        self.converter = best_converter(self.colour)
        self.touchup = TouchUp(width, height, options)
        self.small = int(options.get("small", DEFAULT_RAW))
        self.flat = int(options.get("flat", DEFAULT_FLAT))
        self.scroll = ScrollDetector(width, height) if options.get("copy", True) else None
        self._context: av.VideoCodecContext | None = None
        self._open(width, height)

    def _open(self, width: int, height: int) -> None:
        if self._context is not None:
            self._context = None
        align = 16 if self.pad == "explicit" else 2
        self.coded_width, self.coded_height = _align(width, align), _align(height, align)
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = self.coded_width, self.coded_height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 1000)
        ctx.thread_count = 1
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            **self.rate,
            "forced-idr": "1",
            # No periodic keyframes (a joining viewer asks for one), no scene-cut IDRs, headers
            # before every IDR, and say the colour matrix we converted with (VUI, per ``colour``).
            # me=umh: ultrafast's diamond search misses a terminal's line-height scroll; the
            # uneven multi-hexagon search finds it: 5 KB instead of 32 KB per scrolled 1080p
            # frame, at the same speed (docs/encoders.md).
            "x264-params": "keyint=infinite:min-keyint=1:scenecut=0:repeat-headers=1:me=umh:"
                           + VUI[self.colour] + ":threads=1:sliced-threads=0",
        }
        ctx.open()
        self._context = ctx
        # Persistent I420 planes: only damaged rectangles are reconverted. Copied into a fresh
        # AVFrame per encode (0.3 ms at 1080p; VideoFrame.from_numpy_buffer mis-sizes heights
        # that are not multiples of 4).
        cw, ch = self.coded_width, self.coded_height
        self._y = np.full((ch, cw), 16 if self.colour == "bt601" else 0, dtype=np.uint8)
        self._u = np.full((ch // 2, cw // 2), 128, dtype=np.uint8)
        self._v = np.full((ch // 2, cw // 2), 128, dtype=np.uint8)
        self._pts = 0
        self._need_key = True
        self._sequence: h264_syntax.SequenceInfo | None = None  # from the last IDR's SPS
        self._frame_num = 0  # of the last picture sent
        self._offsets: dict[int, int] = {}  # caught-up viewer -> frame_num its own IDR stands for

    @property
    def pure(self) -> bool:
        """Every update as H.264: a subscriber took the ``PURE`` variant."""
        return PURE in self.variants

    @property
    def image_variants(self) -> frozenset[str]:
        """The lossless image codecs the subscribers take (``DEFAULT_VARIANTS`` when none chose)."""
        return (self.variants - {PURE}) if self.variants else DEFAULT_VARIANTS

    def _convert(self, screen: np.ndarray, rects: list[Rect]) -> None:
        # Convert within the visible size rounded up to even; past that the padding stays black.
        # An odd visible edge is converted from a copy with its last column/row repeated.
        vw, vh = self.width + (self.width & 1), self.height + (self.height & 1)
        sh, sw = min(screen.shape[0], self.height), min(screen.shape[1], self.width)
        for rect in rects:
            r = even_rect(rect, vw, vh)
            if r is None:
                continue
            x, y, w, h = r
            if x + w <= sw and y + h <= sh:
                self.converter.convert(screen, self._y, self._u, self._v, r)
                continue
            block = screen[y:min(y + h, sh), x:min(x + w, sw)]
            if block.size == 0:
                continue
            block = np.pad(block, ((0, y + h - min(y + h, sh)), (0, x + w - min(x + w, sw)), (0, 0)),
                           mode="edge")
            self.converter.convert(
                block, self._y[y:y + h, x:x + w], self._u[y // 2:(y + h) // 2, x // 2:(x + w) // 2],
                self._v[y // 2:(y + h) // 2, x // 2:(x + w) // 2], (0, 0, w, h))

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        key = full or self._need_key
        visible = [c for r in rects if (c := clip(r, self.width, self.height)) is not None]
        if key:
            if self.scroll is not None:
                self.scroll.sent(screen, [], full=True)
            self._convert(screen, [(0, 0, self.width, self.height)])
            visible = [(0, 0, self.width, self.height)]
            return self._encode_picture(visible, key=True)
        frames: list[EncodedFrame] = []
        if self.pure:
            if self.scroll is not None and visible:
                self.scroll.sent(screen, visible)  # what everyone holds, for copies after the recording
            if not visible:
                return frames
            self._convert(screen, visible)
            return self._encode_picture(visible, key=False)
        copies = []
        if self.scroll is not None and visible:
            copies, rest = self.scroll.find(screen, visible)
            self.scroll.sent(screen, visible)  # after this update, as the viewers have it
            visible = rest
            if copies:
                frames.append(copy_frame(copies))
                self.touchup.copied(copies)
        if not visible:
            return frames
        # The rows a scroll exposed go lossless up to COPY_REST_SMALL pixels whatever the codec
        # makes of them: a line or three of text, ~1 ms as Planar against a 1080p P-frame's
        # ~8 ms, so a scrolling terminal keeps up with the client (and needs no touch-up).
        # Text-like rows past that too (up to ``flat``), whatever Planar's bytes per pixel: an
        # update that came late exposes more lines, and a P-frame for them (8-10 ms) would make
        # the next one later still; as Planar the cost follows the rows (720x91: ~3 ms).
        small = max(self.small, COPY_REST_SMALL) if copies else self.small
        lossless = lossless_update(screen, visible, self.image_variants, small=small, flat_limit=self.flat,
                                   planar_bytes=not copies)
        if lossless is None and self.flat and self.image_variants == WEBZ_ONLY:
            lossless = indexed_update(screen, visible)  # few colours past ``flat``: lossless.WEBZ_FLAT
        if lossless is not None:
            # Lossless and final: the I420 planes and the decoder's picture stay stale there,
            # which is harmless because only each H.264 frame's own rects are ever drawn, and
            # those are always converted fresh.
            return with_copies(copies, lossless, self.image_variants) if copies else frames + lossless
        self._convert(screen, visible)
        return frames + self._encode_picture(visible, key=False)

    def _encode_picture(self, visible: list[Rect], *, key: bool) -> list[EncodedFrame]:
        frame = av.VideoFrame(self.coded_width, self.coded_height, "yuv420p")
        for plane, src in zip(frame.planes, (self._y, self._u, self._v), strict=True):
            dst = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
            dst[: src.shape[0], : src.shape[1]] = src
        frame.pts = self._pts
        self._pts += 1
        if key:
            frame.pict_type = av.video.frame.PictureType.I
        assert self._context is not None
        packets = self._context.encode(frame)
        payload = b"".join(bytes(p) for p in packets)
        if not payload:
            log.warning("h264 encoder returned no packet for pts=%d", frame.pts)
            return []
        self._need_key = False
        if key:
            self._sequence = _sequence_of(payload)
            self._offsets.clear()
            self.touchup.forget_all()
        self._frame_num = 0 if key else self._next_frame_num(payload)
        self.touchup.damage(visible)
        fields: dict[str, Any] = {"codec": "h264", "key": key}
        if key:
            fields.update(width=self.width, height=self.height, coded=[self.coded_width, self.coded_height])
        fields["rects"] = [list(r) for r in visible]
        return [EncodedFrame(fields, payload)]

    def _next_frame_num(self, payload: bytes) -> int:
        if self._sequence is None:
            return self._frame_num
        number = h264_syntax.frame_num(payload, self._sequence)
        return self._frame_num if number is None else number

    def idle(self, screen: np.ndarray, now: float, viewers: frozenset[int] = frozenset()) -> list[EncodedFrame]:
        return self.touchup.frames(screen, now, self.image_variants, viewers)

    @property
    def idle_pending(self) -> bool:
        return self.touchup.pending

    def catch_up(self, screen: np.ndarray, viewer: int, variant: str | None) -> list[EncodedFrame] | None:
        """An IDR of ``screen`` from a one-off encoder with this stream's options, for
        ``viewer`` alone; the stream's later P-frames reach it renumbered (``personalize``)
        to follow that IDR. Its decoder then predicts from a picture a little different
        from the one this encoder predicted from (two encodes of one screen at one quantiser):
        a difference of coding noise, which lossless touch-ups clear wherever the screen
        settles. Costs that viewer a keyframe and nobody else anything. ``screen`` must be
        what the other subscribers were last sent (nothing pending), so that copies and
        unchanged-area checks hold for every viewer alike."""
        if variant == PURE or self._need_key or self._sequence is None or self._sequence.poc_type != 2:
            return None
        one_off = H264Encoder(self.width, self.height, {**self.options, "copy": False})
        try:
            frames = [f for f in one_off.encode(screen, [], full=True) if f.fields.get("codec") == "h264"]
        finally:
            one_off.close()
        if not frames or one_off._sequence != self._sequence:
            return None
        for frame in frames:
            frame.viewer = viewer
        self._offsets[viewer] = self._frame_num
        self.touchup.join(viewer, variant or self.variant_option[1][0])
        return frames

    def personalize(self, frame: EncodedFrame, viewer: int) -> EncodedFrame:
        offset = self._offsets.get(viewer)
        if not offset or frame.fields.get("codec") != "h264" or frame.fields.get("key") or self._sequence is None:
            return frame
        return EncodedFrame(frame.fields, h264_syntax.renumber(frame.payload, self._sequence, offset),
                            variant=frame.variant, viewer=viewer)

    def forget(self, viewer: int) -> None:
        self._offsets.pop(viewer, None)
        self.touchup.forget(viewer)

    def resize(self, width: int, height: int) -> None:
        super().resize(width, height)
        self.touchup.resize(width, height)
        self._open(width, height)
        self._offsets.clear()

    def close(self) -> None:
        self._context = None


def _sequence_of(payload: bytes) -> h264_syntax.SequenceInfo | None:
    """The sequence parameters an IDR access unit carries in front (``repeat-headers``)."""
    try:
        return h264_syntax.sequence_of(payload)
    except h264_syntax.BitstreamError:
        log.warning("h264: cannot read the encoder's own SPS; viewers joining get a keyframe")
        return None
