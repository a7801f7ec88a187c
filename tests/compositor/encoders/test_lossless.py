from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compositor.encoders.lossless import _palette_rle, lossless_update, palette_rle


@given(arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 40), st.just(4)),
              elements=st.sampled_from([0, 7, 128, 255])))
def test_palette_rle_round_trip(decode_prle, block):
    data = palette_rle(block)
    assert data is not None  # at most 4**3 = 64 colours here
    h, w = block.shape[:2]
    assert np.array_equal(decode_prle(data, w, h), block[:, :, :3])


def test_small_areas_remembered_by_their_pixels(decode_prle):
    """A glyph-sized area comes from memory the second time, the same bytes as encoding it;
    one pixel changed is another picture, and a view into the screen is read like a copy."""
    screen = np.full((40, 60, 4), 255, np.uint8)
    screen[10:20, 10:16, :3] = 0
    block = screen[8:21, 8:20]  # not contiguous
    first = palette_rle(block)
    assert palette_rle(np.ascontiguousarray(block)) == first == _palette_rle(block)
    screen[12, 12, 2] = 90
    changed = palette_rle(screen[8:21, 8:20])
    assert changed != first
    assert decode_prle(changed, 12, 13)[4, 4, 2] == 90


def test_long_runs_are_split(decode_prle):
    block = np.zeros((30, 40, 4), np.uint8)  # 1200 equal pixels: runs of 256
    data = palette_rle(block)
    assert data is not None
    assert len(data) == 1 + 3 + 2 * 5
    assert np.array_equal(decode_prle(data, 40, 30), block[:, :, :3])


def test_too_many_colours_fall_back_to_webp():
    rng = np.random.default_rng(0)
    screen = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    assert palette_rle(screen[:32, :32]) is None
    (frame,) = lossless_update(screen, [(0, 0, 32, 32)], frozenset({"web"}), small=10_000)
    assert frame.fields["codec"] == "webp" and frame.variant == "web"
    # Noise past ``small`` is not text-like: left to the lossy codec.
    assert lossless_update(screen, [(0, 0, 64, 64)], frozenset({"web"}), small=1000) is None


WEB, PLANAR, BOTH = frozenset({"web"}), frozenset({"planar"}), frozenset({"web", "planar"})


def text_block(h: int, w: int) -> np.ndarray:
    """Two-colour glyph-like content: few colour changes per row, but no long runs."""
    rng = np.random.default_rng(3)
    block = np.zeros((h, w, 4), np.uint8)
    block[..., :3] = (rng.integers(0, 2, (h, w // 3), dtype=np.uint8).repeat(3, axis=1) * 220)[..., None]
    block[::13] = 0  # blank line spacing
    return block


def test_one_decision_for_every_variant_each_in_its_own_codec(decode_prle):
    screen = np.zeros((400, 600, 4), np.uint8)
    screen[100:200, 100:400] = (40, 90, 200, 0)  # a solid panel: flat, and tiny in Planar
    frames = lossless_update(screen, [(100, 100, 300, 100)], BOTH)
    assert [(f.variant, f.fields["codec"]) for f in frames] == [("planar", "planar"), ("web", "prle")]
    assert all(f.fields["rects"][0][:4] == [100, 100, 300, 100] for f in frames)
    assert len(frames[1].payload) < 1000  # a few hundred runs of at most 256
    assert np.array_equal(decode_prle(frames[1].payload, 300, 100), screen[100:200, 100:400, :3])


def test_text_is_lossless_for_browsers_but_not_when_planar_codes_it_poorly():
    screen = np.zeros((400, 600, 4), np.uint8)
    screen[:52, :600] = text_block(52, 600)
    rect = [(0, 0, 600, 52)]
    (web,) = lossless_update(screen, rect, WEB)
    assert web.fields["codec"] == "webp"
    assert lossless_update(screen, rect, PLANAR) is None
    assert lossless_update(screen, rect, BOTH) is None  # H.264 for everyone: one stream


@given(st.lists(st.tuples(st.integers(1, 400), st.integers(0, 2**24 - 1)), min_size=1, max_size=300),
       st.integers(1, 64))
def test_palette_rle_of_runs(decode_prle, runs, width):
    """Long runs of up to 300 colours: the palette is every colour once, sorted; past 256
    colours there is no prle."""
    pixels = np.concatenate([np.full(n, colour, np.uint32) for n, colour in runs])
    pixels = pixels[:len(pixels) - len(pixels) % width] if len(pixels) >= width else np.resize(pixels, width)
    block = pixels.reshape(-1, width).view(np.uint8).reshape(-1, width, 4)
    colours = np.unique(pixels)
    data = _palette_rle(block)
    if len(colours) > 256:
        assert data is None
        return
    assert data is not None and data[0] == len(colours) - 1
    palette = np.frombuffer(data[1:1 + 3 * len(colours)], np.uint8).reshape(-1, 3)
    assert np.array_equal(palette, colours.view(np.uint8).reshape(-1, 4)[:, :3])
    assert np.array_equal(decode_prle(data, width, block.shape[0]), block[:, :, :3])


def test_a_browser_on_a_plain_socket_and_one_on_a_compressed_socket_get_the_same_prle():
    from compositor.encoders.lossless import lossless_update

    screen = np.zeros((64, 64, 4), np.uint8)
    screen[10:20, 10:30] = (255, 255, 255, 255)
    frames = lossless_update(screen, [(8, 8, 32, 16)], frozenset({"web", "webz"}))
    assert [f.variant for f in frames] == ["web", "webz"]
    assert [f.fields["codec"] for f in frames] == ["prle", "prle"]
    assert frames[0].payload == frames[1].payload
