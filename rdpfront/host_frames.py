"""Host frames into RDP output, as pure functions: the host's bitmap stream as TS_BITMAP_DATA
and its copies as ScrBlt orders, and the
session host's H.264 / Planar / copy frames as graphics pipeline (MS-RDPEGFX) commands.
Nothing is encoded here."""

from __future__ import annotations

import numpy as np

from compositor import messages
from compositor.encoders.h264 import DEFAULT_QP
from rdpfront import gfx
from rdpfront.orders import ScrBlt

# ---- graphics pipeline commands ----------------------------------------------------------

# The session host's H.264 stream, the same one browsers watch (its defaults are parameters both
# take: planes padded to 16, as AVC420 crops by region rectangles; full-range BT.709, which
# MS-RDPEGFX 3.3.8.3.1 prescribes; scrolling as copies, here SurfaceToSurface), with its lossless
# frames (typing, flat areas, touch-ups of settled areas) as Planar images for this client.
GFX_H264_OPTIONS: dict[str, object] = {"images": "planar"}
GFX_WINDOW = 4  # host frames in flight per connection, released by the client's frame acks
# A client's frame acknowledgement is passed on to the host once the host counts this many of
# the stream's frames unacknowledged (fewer: it is held, and a later one covers it). At most
# GFX_ACK_EVERY - 1 frames the client has taken are held, so the host always has room for
# GFX_WINDOW - GFX_ACK_EVERY + 1 frames when the client has taken everything: typing sends one
# acknowledgement for every GFX_ACK_EVERY keystrokes' frames, a busy stream (frames in flight
# at every client acknowledgement) one per acknowledgement as before.
GFX_ACK_EVERY = 3
GFX_BATCH = 8  # host frames waiting together that go into one graphics frame
GFX_PLANAR_IN_FLIGHT = 4  # Planar frames sent and not yet acknowledged before output waits
GFX_QP = DEFAULT_QP  # what the host encodes at, for the AVC420 metablock


# Host frames of the bitmap stream in flight per connection: one being written, one ready.
BITMAP_WINDOW = 2
# A bitmap frame this large is a huge-area change (a video, a full-screen animation): its
# acknowledgement is held so such frames go at most at a byte budget (``bitmap_hold``).
HUGE_FRAME_BYTES = 256 * 1024
BITMAP_BYTES_PER_SECOND = 12 * 1024 * 1024


def bitmap_hold(size: int, took: float, bytes_per_second: float = BITMAP_BYTES_PER_SECOND) -> float:
    """Seconds to hold the acknowledgement of a host bitmap frame of ``size`` bytes that the
    socket took in ``took`` seconds (written and drained).

    The host encodes the next frame only when the window has room, merging the damage that
    came meanwhile, so holding the ack of huge frames makes them fewer and merged: each one
    gets at least ``size / bytes_per_second``, and at least as long again as the client took to
    drain it (a slow client is held back by its own pace). Small frames (typing, scrolling)
    are never held."""
    if size < HUGE_FRAME_BYTES:
        return 0.0
    return max(0.0, max(size / bytes_per_second, 2 * took) - took)


def size_only_screen(width: int, height: int) -> np.ndarray:
    """A screen of a session's size that holds no pixels (its host encodes them): the shape is
    all the driver keeps, at no memory cost."""
    return np.broadcast_to(np.zeros(4, np.uint8), (height, width, 4))


def host_images(frame: messages.Frame, width: int, height: int) -> list[tuple[tuple[int, int, int, int], bytes]]:
    """The ``(x, y, w, h)`` and bytes of each image of a host image frame (rects with byte
    counts: bitmap tiles, Planar images), left out when it falls outside a ``width`` x
    ``height`` screen (a frame encoded before a resize); a frame whose rects and payload
    disagree is a ValueError."""
    payload = memoryview(frame.payload)
    offset, out = 0, []
    for rect in frame.rects:
        if len(rect) != 5:
            raise ValueError(f"{frame.codec} rectangle {rect} has no byte count")
        x, y, w, h, n = rect
        if offset + n > len(payload):
            raise ValueError(f"{frame.codec} rectangle {x},{y} {w}x{h} runs past the payload")
        if x + w <= width and y + h <= height:
            out.append(((x, y, w, h), bytes(payload[offset:offset + n])))
        offset += n
    return out


def host_bitmap_data(frame: messages.Frame, width: int, height: int) -> list[bytes]:
    """The TS_BITMAP_DATA of a host ``bitmap`` frame, each ready to frame."""
    return [data for _, data in host_images(frame, width, height)]


def host_copies(frame: messages.Frame, width: int, height: int) -> list[tuple[int, int, int, int, int, int]]:
    """The rectangles ``[x, y, w, h, sx, sy]`` of a host ``copy`` frame whose source and
    destination both lie inside a ``width`` x ``height`` screen (a frame encoded before a
    resize may not; a full frame follows it)."""
    out = []
    for rect in frame.rects:
        if len(rect) != 6:
            raise ValueError(f"copy rectangle {rect} has no source")
        x, y, w, h, sx, sy = rect
        if w > 0 and h > 0 and min(x, y, sx, sy) >= 0 and max(x, sx) + w <= width and max(y, sy) + h <= height:
            out.append((x, y, w, h, sx, sy))
    return out


def scrblt_orders(frame: messages.Frame, width: int, height: int) -> list[ScrBlt]:
    """A host ``copy`` frame of the bitmap stream as ScrBlt orders (MS-RDPEGDI 2.2.2.2.1.1.2.7),
    drawn in order before the frame's bitmaps that follow."""
    return [ScrBlt(x, y, w, h, x_src=sx, y_src=sy) for x, y, w, h, sx, sy in host_copies(frame, width, height)]


def gfx_commands_for_host_frame(frame: messages.Frame, surface: int, width: int, height: int) -> list[bytes]:
    """A host ``frame`` of the ``h264`` stream as Wire To Surface 1 commands: an H.264 picture
    becomes one AVC420 command whose region rectangles are the frame's damaged rectangles; a
    touch-up's Planar images become one Planar command each; a copy (scrolling) becomes one
    SurfaceToSurface command per rectangle. Nothing is encoded here."""
    codec = frame.codec
    rects = frame.rects
    if codec == "h264":
        regions = []
        for x, y, w, h, *_ in rects[:4096]:
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            if x1 > x0 and y1 > y0:
                regions.append((x0, y0, x1, y1))
        if not regions:
            return []
        bitmap = gfx.avc420_bitmap(regions, GFX_QP, frame.payload)
        return [gfx.wire_to_surface_1(surface, gfx.Codec.AVC420, (0, 0, width, height), bitmap)]
    if codec == "copy":
        return [gfx.surface_to_surface(surface, (sx, sy, sx + w, sy + h), [(x, y)])
                for x, y, w, h, sx, sy in host_copies(frame, width, height)]
    if codec == "planar":
        return [gfx.wire_to_surface_1(surface, gfx.Codec.PLANAR, (x, y, x + w, y + h), data)
                for (x, y, w, h), data in host_images(frame, width, height)]
    return []


def gfx_changed_areas(frame: messages.Frame, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The areas (left, top, right, bottom, exclusive) that ``gfx_commands_for_host_frame``
    draws for ``frame`` on a ``width`` x ``height`` surface: an H.264 picture's region
    rectangles, each Planar image, each copy's destination."""
    codec = frame.codec
    if codec == "h264":
        out = []
        for x, y, w, h, *_ in frame.rects[:4096]:
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            if x1 > x0 and y1 > y0:
                out.append((x0, y0, x1, y1))
        return out
    if codec == "copy":
        return [(x, y, x + w, y + h) for x, y, w, h, _, _ in host_copies(frame, width, height)]
    if codec == "planar":
        return [(x, y, x + w, y + h) for x, y, w, h, *_ in frame.rects if x + w <= width and y + h <= height]
    return []


def h264_key_for(frame: messages.Frame, width: int, height: int) -> bool:
    """Whether a host frame is an H.264 keyframe of a ``width`` x ``height`` screen."""
    return frame.codec == "h264" and bool(frame.key) and (frame.width, frame.height) == (width, height)
