"""The ``bitmap`` stream (compositor/encoders/bitmap.py): frames of ready-to-frame
TS_BITMAP_DATA (or top-down Planar images) that, decoded in order by the reference decoders,
paint the screen back exactly; unchanged damage costs nothing; small changes stay small."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor.encoders import ENCODERS, bitmap, load_builtin_encoders
from compositor.encoders.bitmap import BitmapEncoder, bitmap_tiles
from compositor.encoders.bitmap_pixels import bgrx_to_rgb555, bgrx_to_rgb565
from compositor.encoders.bitmap_raw import decode_raw
from compositor.encoders.interleaved import decode_interleaved
from compositor.encoders.planar import decode_planar

W, H = 200, 150


def client_view(img: np.ndarray, bpp: int) -> np.ndarray:
    """What the client holds for BGRX pixels at ``bpp``, as comparable integers."""
    if bpp == 16:
        return bgrx_to_rgb565(img).astype(np.uint32)
    if bpp == 15:
        return bgrx_to_rgb555(img).astype(np.uint32)
    b, g, r = (img[..., c].astype(np.uint32) for c in range(3))
    return b | (g << 8) | (r << 16)


def paint_bitmap_frame(canvas: np.ndarray, fields: dict, payload: bytes) -> None:
    """Parse each TS_BITMAP_DATA of a frame as a client does and paint it."""
    assert fields["codec"] == "bitmap"
    offset = 0
    for x, y, w, h, n in fields["rects"]:
        left, top, right, bottom, coded_w, coded_h, bpp, flags, length = struct.unpack_from("<9H", payload, offset)
        data = payload[offset + 18:offset + 18 + length]
        assert (left, top, right - left + 1, bottom - top + 1) == (x, y, w, h)
        assert n == 18 + length and coded_w % 4 == 0 and coded_h == h
        offset += n
        if flags & 1:
            if not flags & 0x0400:
                data = data[8:]
            if bpp == 32:
                pixels = client_view(decode_planar(data, coded_w, h), 32)
            else:
                pixels = decode_interleaved(data, coded_w, h, bpp).astype(np.uint32)
        else:
            wire = decode_raw(data, coded_w, h, bpp).astype(np.uint32)
            pixels = wire[..., 0] | (wire[..., 1] << 8)
            if bpp in (24, 32):
                pixels |= wire[..., 2] << 16
        canvas[y:y + h, x:x + w] = pixels[:, :w]
    assert offset == len(payload)


def paint_planar_frame(canvas: np.ndarray, fields: dict, payload: bytes) -> None:
    assert fields["codec"] == "planar"
    offset = 0
    for x, y, w, h, n in fields["rects"]:
        image = decode_planar(payload[offset:offset + n], w, h)[::-1]  # top-down on the wire
        canvas[y:y + h, x:x + w] = client_view(image, 32)
        offset += n
    assert offset == len(payload)


def paint_copy_frame(canvas: np.ndarray, fields: dict, payload: bytes) -> None:
    """A ``copy`` frame as a client runs it (ScrBlt, SurfaceToSurface): through a temporary."""
    assert fields["codec"] == "copy" and payload == b""
    for x, y, w, h, sx, sy in fields["rects"]:
        canvas[y:y + h, x:x + w] = canvas[sy:sy + h, sx:sx + w].copy()


def scene(rng: np.random.Generator) -> np.ndarray:
    img = np.empty((H, W, 4), np.uint8)
    img[:] = (240, 240, 240, 0)
    img[: H // 3] = rng.integers(0, 256, (H // 3, W, 4), dtype=np.uint8)
    img[rng.random((H, W)) < 0.05] = (20, 20, 20, 0)
    img[..., 3] = 0
    return img


edits = st.lists(st.tuples(st.integers(0, W - 1), st.integers(0, H - 1), st.integers(1, 120),
                           st.integers(1, 120), st.integers(0, 4)), min_size=1, max_size=6)


@pytest.mark.parametrize("bpp,codec,layout,copy", [(32, "auto", "bitmap", False), (24, "auto", "bitmap", False),
                                                   (16, "auto", "bitmap", False), (32, "raw", "bitmap", False),
                                                   (32, "planar", "gfx", False), (32, "auto", "bitmap", True),
                                                   (16, "auto", "bitmap", True), (32, "planar", "gfx", True)])
@given(steps=st.lists(edits, min_size=1, max_size=4), seed=st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_frames_paint_the_screen_back(bpp: int, codec: str, layout: str, copy: bool, steps: list,
                                      seed: int) -> None:
    rng = np.random.default_rng(seed)
    screen = scene(rng)
    enc = BitmapEncoder(W, H, {"bpp": bpp, "codec": codec, "layout": layout, "copy": copy})
    paint_pixels = paint_planar_frame if layout == "gfx" else paint_bitmap_frame

    def paint(canvas: np.ndarray, fields: dict, payload: bytes) -> None:
        if fields["codec"] == "copy":
            assert copy
            paint_copy_frame(canvas, fields, payload)
        else:
            paint_pixels(canvas, fields, payload)
    canvas = np.zeros((H, W), np.uint32)
    (frame,) = enc.encode(screen, [], full=True)
    assert frame.fields["key"] and (frame.fields["width"], frame.fields["height"]) == (W, H)
    paint(canvas, frame.fields, frame.payload)
    assert np.array_equal(canvas, client_view(screen, bpp))
    for step in steps:
        damage = []
        for x, y, w, h, kind in step:
            w, h = min(w, W - x), min(h, H - y)
            if kind == 0:  # noise
                screen[y:y + h, x:x + w, :3] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            elif kind == 1:  # flat colour
                screen[y:y + h, x:x + w, :3] = rng.integers(0, 256, 3, dtype=np.uint8)
            elif kind == 2:  # one pixel
                screen[y, x, :3] ^= 0x5A
            elif kind == 3 and h > 8:  # scrolled up by a few rows, new rows at the bottom
                dy = 1 + x % 8
                screen[y:y + h - dy, x:x + w] = screen[y + dy:y + h, x:x + w].copy()
                screen[y + h - dy:y + h, x:x + w, :3] = rng.integers(0, 256, (dy, w, 3), dtype=np.uint8)
            # otherwise: damage reported, nothing changed
            damage.append((x, y, w, h))
        for frame in enc.encode(screen, damage, full=False):
            assert "key" not in frame.fields
            json.dumps(frame.fields)  # the host sends the fields as JSON
            paint(canvas, frame.fields, frame.payload)
        assert np.array_equal(canvas, client_view(screen, bpp))


def test_unchanged_damage_sends_nothing_and_a_typed_character_stays_small() -> None:
    screen = scene(np.random.default_rng(1))
    enc = BitmapEncoder(W, H, {})
    enc.encode(screen, [], full=True)
    assert enc.encode(screen, [(0, 0, W, H)], full=False) == []
    screen[100:112, 70:77, :3] = 0  # a glyph inside one 64x64 tile
    (frame,) = enc.encode(screen, [(60, 90, 40, 40)], full=False)
    assert [r[:4] for r in frame.fields["rects"]] == [[70, 100, 7, 12]]
    assert len(frame.payload) < 200


@pytest.mark.parametrize("layout", ["bitmap", "gfx"])
def test_scrolling_is_a_copy_and_only_new_rows_are_encoded(layout: str) -> None:
    """A terminal-like area scrolled by a text line: one copy frame, then only the new line."""
    rng = np.random.default_rng(3)
    screen = np.full((H, W, 4), 250, np.uint8)
    screen[rng.random((H, W)) < 0.1, :3] = 20  # sparse dark "text" pixels, every row unlike the others
    enc = BitmapEncoder(W, H, {"copy": True, "layout": layout, "codec": "planar"})
    canvas = np.zeros((H, W), np.uint32)
    paint = paint_planar_frame if layout == "gfx" else paint_bitmap_frame
    (frame,) = enc.encode(screen, [], full=True)
    paint(canvas, frame.fields, frame.payload)
    screen[:-10] = screen[10:].copy()
    screen[-10:, :, :3] = 250
    screen[-8:-2, 4:60, :3] = 0  # the new line's text
    copy, rest = enc.encode(screen, [(0, 0, W, H)], full=False)
    assert copy.fields == {"codec": "copy", "rects": [[0, 0, W, H - 10, 0, 10]]}
    paint_copy_frame(canvas, copy.fields, copy.payload)
    paint(canvas, rest.fields, rest.payload)
    assert np.array_equal(canvas, client_view(screen, 32))
    assert all(y >= H - 10 for _, y, *_ in rest.fields["rects"])
    # The copied rows count as sent: the same damage again sends nothing.
    assert enc.encode(screen, [(0, 0, W, H)], full=False) == []


@pytest.mark.parametrize("layout", ["bitmap", "gfx"])
def test_rows_exposed_by_a_scroll_are_encoded_as_those_rows_not_whole_tiles(layout: str) -> None:
    """Three new text lines across many 64x64 tiles (too many to shrink each): the pieces sent
    are the tiles cut to the damaged rows, so the area encoded is those rows' area."""
    rng = np.random.default_rng(5)
    w, h = 1280, 256
    screen = np.full((h, w, 4), 250, np.uint8)
    enc = BitmapEncoder(w, h, {"layout": layout, "codec": "planar"})
    canvas = np.zeros((h, w), np.uint32)
    paint = paint_planar_frame if layout == "gfx" else paint_bitmap_frame
    (frame,) = enc.encode(screen, [], full=True)
    paint(canvas, frame.fields, frame.payload)
    rows = (50, 39)  # across the tile rows 0-63 and 64-127
    screen[rows[0]:sum(rows), :, :3] = np.where(rng.random((rows[1], w, 1)) < 0.2, 20, 250)
    (frame,) = enc.encode(screen, [(0, rows[0], w, rows[1])], full=False)
    assert all(rows[0] <= r[1] and r[1] + r[3] <= sum(rows) for r in frame.fields["rects"])
    assert sum(r[2] * r[3] for r in frame.fields["rects"]) == w * rows[1]
    paint(canvas, frame.fields, frame.payload)
    assert np.array_equal(canvas, client_view(screen, 32))


@pytest.mark.parametrize("layout", ["bitmap", "gfx"])
def test_a_pan_is_a_copy_and_only_the_new_columns_are_encoded(layout: str) -> None:
    """Content moved sideways (a horizontal scroll; peerbench's full-screen animation): a copy
    and the few columns it did not bring, where the whole area would be a full encode."""
    w, h = 640, 256
    wide = np.random.default_rng(7).integers(0, 256, (h, 2 * w, 4), dtype=np.uint8)
    screen = np.ascontiguousarray(wide[:, 100:100 + w])
    enc = BitmapEncoder(w, h, {"copy": True, "layout": layout, "codec": "planar"})
    canvas = np.zeros((h, w), np.uint32)
    paint = paint_planar_frame if layout == "gfx" else paint_bitmap_frame
    (frame,) = enc.encode(screen, [], full=True)
    paint(canvas, frame.fields, frame.payload)
    screen = np.ascontiguousarray(wide[:, 108:108 + w])
    copy, rest = enc.encode(screen, [(0, 0, w, h)], full=False)
    assert copy.fields == {"codec": "copy", "rects": [[0, 0, w - 8, h, 8, 0]]}
    assert sum(r[2] * r[3] for r in rest.fields["rects"]) == 8 * h
    paint_copy_frame(canvas, copy.fields, copy.payload)
    paint(canvas, rest.fields, rest.payload)
    assert np.array_equal(canvas, client_view(screen, 32))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 5), st.sampled_from([0, 0, 0, 5]),
                          st.sampled_from([64, 64, 64, 20])), min_size=1, max_size=48), st.booleans())
def test_joined_pieces_cover_exactly_the_pieces(cells, across_rows):
    """Joining changed tiles (each cut to a damaged rectangle: some start lower, some are
    shorter) never adds or drops a pixel, and areas never overlap."""
    from compositor.encoders.bitmap import join_pieces

    tiles = {(c, r): (top, min(height, 64 - top)) for c, r, top, height in cells}
    pieces = [(c * 64, r * 64 + top, 64, h) for (c, r), (top, h) in tiles.items()]
    joined = join_pieces(pieces, across_rows=across_rows)
    want, got = np.zeros((400, 520), np.int32), np.zeros((400, 520), np.int32)
    for x, y, w, h in pieces:
        want[y:y + h, x:x + w] += 1
    for x, y, w, h in joined:
        got[y:y + h, x:x + w] += 1
    assert np.array_equal(want, got)
    assert len(joined) <= len(pieces)


def test_registered_and_options_checked() -> None:
    load_builtin_encoders()
    assert ENCODERS["bitmap"] is BitmapEncoder
    for bad in ({"bpp": 8}, {"bpp": 16, "codec": "planar"}, {"codec": "interleaved"},
                {"layout": "gfx", "bpp": 16}, {"max_update_size": 100}, {"layout": "tiles"}):
        with pytest.raises(ValueError):
            BitmapEncoder(W, H, bad)


def test_tiles_fit_the_update_limit() -> None:
    screen = np.random.default_rng(2).integers(0, 256, (H, W, 4), dtype=np.uint8)
    for codec, bpp in (("raw", 32), ("planar", 32), ("interleaved", 24)):
        tiles = bitmap_tiles(screen, [(0, 0, W, H)], bpp=bpp, max_update_size=4096, codec=codec)
        assert all(4 + t.size() <= 4096 for t in tiles)
        assert sum(t.width * t.height for t in tiles) == W * H


# -- the stream's per-pixel steps in C (_bitmap_tiles) against the numpy reference ----------

def _require_native() -> None:
    assert bitmap.NATIVE, "compositor/encoders/_bitmap_tiles.c is not built: run `make native`"


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(edits, min_size=1, max_size=4), seed=st.integers(0, 2**16), tile=st.sampled_from([4, 16, 64]))
def test_native_screen_diff_equals_the_reference(steps: list, seed: int, tile: int) -> None:
    """The same pieces and the same screen remembered, edit after edit (the edits of the
    painting test: noise, flat colour, one pixel, a scroll, nothing)."""
    _require_native()
    rng = np.random.default_rng(seed)
    screen = scene(rng)
    native, reference = bitmap.ScreenDiff(W, H, tile, native=True), bitmap.ScreenDiff(W, H, tile, native=False)
    native.reset(screen)
    reference.reset(screen)
    for step in steps:
        damage = []
        for x, y, w, h, kind in step:
            w, h = min(w, W - x), min(h, H - y)
            if kind == 0:
                screen[y:y + h, x:x + w, :3] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            elif kind == 1:
                screen[y:y + h, x:x + w, :3] = rng.integers(0, 256, 3, dtype=np.uint8)
            elif kind == 2:
                screen[y, x, 3] ^= 0x01  # the padding byte takes part in the comparison
            elif kind == 3 and h > 1:
                screen[y:y + h - 1, x:x + w] = screen[y + 1:y + h, x:x + w].copy()
            damage.append((x - 3, y - 3, w + 6, h + 6))  # past the screen's edges too
        assert native.changed(screen, damage) == reference.changed(screen, damage)
        assert np.array_equal(native.sent, reference.sent)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**16), h=st.integers(1, 150), w=st.integers(1, 200), t=st.integers(1, 70),
       changes=st.lists(st.tuples(st.integers(0, 149), st.integers(0, 199), st.integers(0, 3)), max_size=8))
def test_native_changed_tiles_equal_the_reference(seed: int, h: int, w: int, t: int, changes: list) -> None:
    _require_native()
    old = scene(np.random.default_rng(seed))
    new = old.copy()
    for y, x, byte in changes:
        new[y, x, byte] ^= 0x80
    cur, before = bitmap._words(new)[:h, :w], bitmap._words(old)[:h, :w]  # views with the screen's stride
    assert np.array_equal(bitmap._changed_tiles(cur, before, t, native=True),
                          bitmap._changed_tiles(cur, before, t, native=False))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**16), w=st.integers(1, 64), h=st.integers(1, 64), pad=st.integers(0, 3),
       origins=st.lists(st.tuples(st.integers(0, W - 64), st.integers(0, H - 64)), max_size=12))
def test_native_gather_equals_the_reference(seed: int, w: int, h: int, pad: int, origins: list) -> None:
    _require_native()
    screen = scene(np.random.default_rng(seed))
    assert np.array_equal(bitmap._gather(screen, origins, w, h, w + pad, native=True),
                          bitmap._gather(screen, origins, w, h, w + pad, native=False))


def test_native_steps_refuse_what_they_cannot_read() -> None:
    _require_native()
    from compositor.encoders import _bitmap_tiles

    screen = scene(np.random.default_rng(5))
    words = bitmap._words(screen)
    out = np.empty((1, 8, 8, 4), np.uint8)
    with pytest.raises(ValueError, match="not inside"):
        _bitmap_tiles.gather(screen, [(W - 4, 0)], 8, 8, 8, out)
    with pytest.raises(ValueError, match="not inside"):
        _bitmap_tiles.gather(screen, [(-1, 0)], 8, 8, 8, out)
    with pytest.raises(ValueError, match="byte stack"):
        _bitmap_tiles.gather(screen, [(0, 0), (8, 8)], 8, 8, 8, out)
    with pytest.raises(ValueError, match="coded_w"):
        _bitmap_tiles.gather(screen, [(0, 0)], 8, 8, 4, out)
    with pytest.raises(TypeError):
        _bitmap_tiles.gather(screen, [(0, 0, 1)], 8, 8, 8, out)
    with pytest.raises(ValueError, match="not inside"):
        _bitmap_tiles.copy_rects(words.copy(), words, [(0, 0, W + 1, 1)])
    with pytest.raises(ValueError, match=r"\(x, y, w, h\)"):
        _bitmap_tiles.copy_rects(words.copy(), words, [(0, 0, 1)])
    with pytest.raises(ValueError, match="same shape"):
        _bitmap_tiles.copy_rects(words[:10].copy(), words, [])
    with pytest.raises(ValueError, match="same shape"):
        _bitmap_tiles.changed_tiles(words[:10], words, 64)
    with pytest.raises(ValueError, match="at least 1"):
        _bitmap_tiles.changed_tiles(words, words, 0)
    with pytest.raises(ValueError, match="bottom-up"):
        _bitmap_tiles.changed_tiles(words[::-1], words[::-1], 64)
    for bad in (screen[:, :, :3], screen[:, ::2], np.zeros((4, 4), np.uint16), b"1234"):
        with pytest.raises((ValueError, BufferError)):
            _bitmap_tiles.changed_tiles(bad, bad, 64)
    read_only = words.copy()
    read_only.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        _bitmap_tiles.copy_rects(read_only, words, [])
