from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from compositor.encoders.indexed import MAX_COLOURS, decode_indexed, indexed
from compositor.encoders.lossless import lossless_update, palette_rle

DATA = Path(__file__).resolve().parents[2] / "data" / "encoders"

COLOURS = np.array([0x000000, 0xFFFFFF, 0x1E90FF, 0xFF0000, 0x00FF00, 0x808080, 0x102030, 0xABCDEF,
                    0x111111, 0x222222, 0x333333, 0x444444, 0x555555, 0x666666, 0x777777, 0x999999,
                    0xAAAAAA], np.uint32)


def block_of(index: np.ndarray) -> np.ndarray:
    return (COLOURS[index] | np.uint32(0xFF000000)).view(np.uint8).reshape(*index.shape, 4)


@given(st.integers(1, MAX_COLOURS), st.integers(1, 23), st.integers(1, 37), st.integers(0, 2**32 - 1))
def test_round_trip_at_every_bit_width(colours, h, w, seed):
    index = np.random.default_rng(seed).integers(0, colours, (h, w))
    block = block_of(index)
    data = indexed(block)
    assert data is not None
    used = len(np.unique(index))
    bits = 1 if used <= 2 else 2 if used <= 4 else 4
    assert len(data) == 1 + 3 * used + -(-w * bits // 8) * h
    assert np.array_equal(decode_indexed(data, w, h), block[..., :3])


def test_large_blocks_are_judged_by_a_sample_first_but_never_wrongly():
    """Past 4 x 64 x 64 pixels a grid of the block is looked at first: a picture is turned
    down from it, a few-colour block still round-trips, and a 17th colour off the grid is still
    found by the full count."""
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 256, (400, 700, 4), dtype=np.uint8)
    assert indexed(picture) is None
    few = block_of(rng.integers(0, 5, (300, 300)))
    assert np.array_equal(decode_indexed(indexed(few), 300, 300), few[..., :3])
    sneaky = block_of(rng.integers(0, MAX_COLOURS, (300, 300)))
    sneaky[1, 1] = block_of(np.array([[MAX_COLOURS]]))[0, 0]  # row 1 and column 1 are off the grid
    assert indexed(sneaky) is None


def test_strided_view_of_the_screen():
    screen = block_of(np.random.default_rng(1).integers(0, 2, (40, 50)))
    view = screen[5:30, 7:41]
    assert np.array_equal(decode_indexed(indexed(view), 34, 25), view[..., :3])


def test_past_sixteen_colours_is_none():
    index = np.arange(17).reshape(1, 17)
    assert indexed(block_of(index)) is None


@given(st.binary(max_size=64), st.integers(1, 9), st.integers(1, 9))
def test_decoder_refuses_what_is_not_one_rectangle(data, w, h):
    try:
        pixels = decode_indexed(data, w, h)
    except ValueError:
        return
    assert pixels.shape == (h, w, 3)


def test_decoder_refuses_indices_past_the_palette():
    data = bytes([2]) + bytes(9) + bytes([0b11000000])  # 3 colours at 2 bits, index 3
    with pytest.raises(ValueError):
        decode_indexed(data, 1, 1)


def terminal() -> np.ndarray:
    """A real xterm screen (two colours), as BGRX."""
    rgb = np.asarray(Image.open(DATA / "terminal-1920x1080.png").convert("RGB"))
    screen = np.zeros((*rgb.shape[:2], 4), np.uint8)
    screen[..., :3] = rgb[..., ::-1]
    return screen


def test_compressed_browsers_get_indexed_text_the_others_webp():
    screen = terminal()
    deflated = zlib.compressobj(6, zlib.DEFLATED, -15)  # the socket's permessage-deflate

    def on_the_wire(payload: bytes) -> int:
        return len(deflated.compress(payload) + deflated.flush(zlib.Z_SYNC_FLUSH))

    rects = [(0, 100, 720, 52)]
    frames = lossless_update(screen, rects, frozenset({"web", "webz"}), small=48 * 1024)
    by_variant = {f.variant: f for f in frames}
    assert by_variant["web"].fields["codec"] == "webp"
    assert by_variant["webz"].fields["codec"] == "indexed"
    assert np.array_equal(decode_indexed(by_variant["webz"].payload, 720, 52), screen[100:152, :720, :3])
    # Four lines of text on the wire: no larger than their WebP; and once the same text went
    # through the socket, under a fifth of it (deflate refers back across messages; WebP cannot).
    assert on_the_wire(by_variant["webz"].payload) <= len(by_variant["web"].payload)
    again = lossless_update(screen, rects, frozenset({"webz"}), small=48 * 1024)[0]
    assert on_the_wire(again.payload) * 5 < len(by_variant["web"].payload)


def test_tiny_areas_stay_prle_for_compressed_browsers_too():
    screen = terminal()
    (frame,) = lossless_update(screen, [(0, 100, 12, 13)], frozenset({"webz"}))
    assert frame.fields["codec"] == "prle" and frame.payload == palette_rle(screen[100:113, :12])


def test_past_flat_compressed_browsers_alone_get_indexed_not_video():
    """A terminal's text all new (scrolled past what a copy rebuilds), larger than ``flat``:
    indexed when every viewer is a compressed browser; H.264 when another viewer takes ``web``
    images, as before."""
    from compositor.encoders import ENCODERS, load_builtin_encoders

    load_builtin_encoders()
    screen = terminal()
    rect = (0, 0, 720, 520)  # 374,400 pixels, over the default flat of 262,144
    for variants, codec in (({"webz"}, "indexed"), ({"webz", "web"}, "h264")):
        enc = ENCODERS["h264"](1920, 1080, {})
        enc.set_variants(variants)
        blank = np.zeros_like(screen)
        enc.encode(blank, [], full=True)
        frames = enc.encode(screen, [rect], full=False)
        assert {f.fields["codec"] for f in frames} == {codec}, variants
        if codec == "indexed":
            (frame,) = frames
            assert frame.variant == "webz" and len(frame.payload) < 720 * 520 // 7
            assert np.array_equal(decode_indexed(frame.payload, 720, 520), screen[:520, :720, :3])
        enc.close()
