"""Interleaved RLE (MS-RDPBCGR 2.2.9.1.1.3.1.2.4): hand-made orders, round trips, and the C
encoder (``_interleaved_rle.c``) against the numpy one.

The real decoder check is xfreerdp itself: tests/rdpfront/test_xfreerdp.py at 15/16/24 bpp."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compositor.encoders import CodecError, interleaved
from compositor.encoders.bitmap_pixels import bgrx_to_rgb565
from compositor.encoders.interleaved import (
    MAX_PIXELS,
    _encode_batch,
    _encode_batch_numpy,
    decode_interleaved,
    encode_interleaved,
    encode_interleaved_batch,
)

FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def wire_values(img: np.ndarray, bpp: int) -> np.ndarray:
    """What a 15/16/24-bpp client holds for a BGRX image, top row first."""
    b, g, r = (img[..., c].astype(np.uint32) for c in range(3))
    if bpp == 16:
        return bgrx_to_rgb565(img)
    if bpp == 15:
        return ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)
    return b | (g << 8) | (r << 16)


def freerdp_widen_565(pix: np.ndarray) -> np.ndarray:
    """RGB565 to BGR the way FreeRDP's FreeRDPSplitColor does, clamped at 255 (the vectors
    were made so)."""
    pix = pix.astype(np.uint32)
    r5, g6, b5 = (pix >> 11) & 0x1F, (pix >> 5) & 0x3F, pix & 0x1F
    bgr = np.stack([(b5 << 3) + b5 // 4, (g6 << 2) + g6 // 8, (r5 << 3) + r5 // 4], -1)
    return np.minimum(bgr, 255).astype(np.uint8)


def our_orders(stream: bytes, pixel_size: int) -> list[tuple[str, int, int]]:
    """(kind, first pixel, length) of each order in a stream of the three kinds we write."""
    orders = []
    pos = pixel = 0
    while pos < len(stream):
        hdr = stream[pos]
        if hdr in (0xF0, 0xF3, 0xF4):
            kind = {0xF0: "bg", 0xF3: "run", 0xF4: "image"}[hdr]
            length = int.from_bytes(stream[pos + 1:pos + 3], "little")
            pos += 3
        else:
            kind = {0: "bg", 3: "run", 4: "image"}[hdr >> 5]  # KeyError: an order we never write
            length = hdr & 0x1F
            pos += 1
            if length == 0:
                length = stream[pos] + 32
                pos += 1
        pos += {"bg": 0, "run": pixel_size, "image": length * pixel_size}[kind]
        orders.append((kind, pixel, length))
        pixel += length
    return orders


def assert_decodes_back(stream: bytes, img: np.ndarray, bpp: int) -> None:
    """The reference decoder gives ``img``'s wire pixels back from ``stream``, and neither of
    its special cases is reached: no background run starts on the first scanline, and no two
    background runs follow each other."""
    h, w = img.shape[:2]
    assert np.array_equal(decode_interleaved(stream, w, h, bpp), wire_values(img, bpp))
    orders = our_orders(stream, 3 if bpp == 24 else 2)
    assert all(start >= w for kind, start, _ in orders if kind == "bg")
    assert all(not (a[0] == b[0] == "bg") for a, b in pairwise(orders))


@pytest.mark.parametrize("native", [True, False], ids=["c", "numpy"])
@given(data=st.data(), bpp=st.sampled_from([15, 16, 24]))
@settings(FIXTURES_OK, max_examples=150)
def test_round_trip(data: st.DataObject, bpp: int, native: bool, images: Callable) -> None:
    if native:
        _require_native()
    img = data.draw(images())
    assert_decodes_back(encode_interleaved(img, bpp, native=native), img, bpp)


@given(st.integers(1, 64), st.integers(1, 64), st.integers(0, 2**32 - 1), st.sampled_from([16, 24]))
@settings(max_examples=40, deadline=None)
def test_batch_equals_single(h: int, w: int, seed: int, bpp: int) -> None:
    """Each tile of a batch is encoded on its own (the reference's masks run over the whole
    batch at once)."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 2, (4, h, w, 4), dtype=np.uint8) * 255
    tiles[1] = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    tiles[2] = 9
    for native in (True, False) if interleaved.NATIVE else (False,):
        assert encode_interleaved_batch(tiles, bpp, native=native) == [
            encode_interleaved(t, bpp, native=native) for t in tiles]


def test_flat_areas_are_background_and_colour_runs() -> None:
    img = np.zeros((64, 64, 4), np.uint8)
    img[:] = (10, 20, 30, 0)
    img[30:34, 10:50] = (200, 100, 50, 0)
    stream = encode_interleaved(img, 16)
    assert len(stream) < 40
    assert np.array_equal(decode_interleaved(stream, 64, 64, 16), wire_values(img, 16))


def _u16(*values: int) -> bytes:
    return b"".join(v.to_bytes(2, "little") for v in values)


# Hand-made streams for the orders the encoder never writes, 4 pixels wide, 16 bpp.
# Expected rows are bottom-up (stream order).
ORDER_CASES = {
    "colour image + background run": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0x04]),
        [[1, 2, 3, 4], [1, 2, 3, 4]],
    ),
    "set-fg fg run on the second line xors with the line above": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0xC4]) + _u16(0x0F00),
        [[1, 2, 3, 4], [0x0F01, 0x0F02, 0x0F03, 0x0F04]],
    ),
    "dithered run": (
        bytes([0xE2]) + _u16(7, 8) + bytes([0xE2]) + _u16(5, 6),
        [[7, 8, 7, 8], [5, 6, 5, 6]],
    ),
    "colour run, white and black": (
        bytes([0x66]) + _u16(0x1234) + bytes([0xFD, 0xFE]),
        [[0x1234] * 4, [0x1234, 0x1234, 0xFFFF, 0]],
    ),
    "fg/bg image, lite set-fg form": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0xD0, 0x03]) + _u16(0x00F0) + bytes([0b1010]),
        [[1, 2, 3, 4], [1, 2 ^ 0xF0, 3, 4 ^ 0xF0]],
    ),
    "consecutive background runs insert a foreground pel": (
        bytes([0x84]) + _u16(1, 2, 3, 4) + bytes([0x01, 0x02, 0x61]) + _u16(9),
        [[1, 2, 3, 4], [1, 2 ^ 0xFFFF, 3, 9]],
    ),
    "mega-mega colour image": (
        bytes([0xF4, 0x08, 0x00]) + _u16(*range(8)),
        [[0, 1, 2, 3], [4, 5, 6, 7]],
    ),
}


@pytest.mark.parametrize("name", list(ORDER_CASES))
def test_decoder_orders(name: str) -> None:
    stream, rows = ORDER_CASES[name]
    got = decode_interleaved(stream, 4, 2, 16)
    assert got[::-1].tolist() == rows


def test_first_line_background_and_foreground() -> None:
    # BG run of 2 on the first line is black; an FG run of 2 there is the foreground (white);
    # SPECIAL_FGBG_1 (8 pixels, mask 0x03) on the next lines xors the first two with fg and
    # copies the rest from the line above.
    stream = bytes([0x02, 0x22]) + bytes([0xF9])
    got = decode_interleaved(stream, 4, 3, 16)[::-1]
    assert got[0].tolist() == [0, 0, 0xFFFF, 0xFFFF]
    assert got[1].tolist() == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]
    assert got[2].tolist() == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]


@given(st.binary(max_size=120), st.integers(1, 8), st.integers(1, 8), st.sampled_from([16, 24]))
@settings(max_examples=400, deadline=None)
def test_decoder_rejects_garbage_cleanly(data: bytes, w: int, h: int, bpp: int) -> None:
    try:
        decode_interleaved(data, w, h, bpp)
    except CodecError:
        pass


def test_encoder_limits() -> None:
    with pytest.raises(ValueError):
        encode_interleaved(np.zeros((256, 256, 4), np.uint8), 16)
    assert MAX_PIXELS == 0xFFFF
    with pytest.raises(ValueError):
        encode_interleaved(np.zeros((4, 4, 4), np.uint8), 32)


# The C encoder (``_interleaved_rle.c``) against the numpy masks: the same bytes, and None for
# the same tiles (those the orders cannot shrink).


def _require_native() -> None:
    assert interleaved.NATIVE, "compositor/encoders/_interleaved_rle.c is not built: run `make native`"


def test_the_c_encoder_is_built() -> None:
    """``make native`` builds it; without it a 15/16/24-bpp screen costs about twice the CPU."""
    _require_native()


# Tile sizes: anything up to 70x70, single scanlines and columns, the full 64x64 grid tile,
# and the largest bitmaps (65535 pixels in one scanline, or in 255 scanlines of 257).
_SIDE = st.integers(1, 70)
_SHAPES = st.one_of(
    st.tuples(_SIDE, _SIDE),
    st.tuples(st.just(1), st.integers(1, 300)),
    st.tuples(st.integers(1, 300), st.just(1)),
    st.just((64, 64)),
    st.sampled_from([(1, MAX_PIXELS), (255, 257), (MAX_PIXELS, 1)]),
)


def _tiles(n_tiles: int, shape: tuple[int, int], kind: str, colours: int, seed: int) -> np.ndarray:
    """(T, h, w, 4) BGRX tiles. ``few``: pixels from a few colours, some of which differ only in
    bits the 15/16-bpp wire drops or in the unused byte (equal on the wire, not in memory);
    ``rows``: scanlines repeated with a few changes (long background runs broken here and there);
    ``stretches``: runs of one colour of random length; ``noise``: every byte random."""
    rng = np.random.default_rng(seed)
    h, w = shape
    size = (n_tiles, h, w)
    if kind == "noise":
        return rng.integers(0, 256, (*size, 4), dtype=np.uint8)
    palette = rng.integers(0, 256, (colours, 4), dtype=np.uint8)
    for k in range(1, colours, 2):  # the colour before with its low bits changed
        palette[k] = palette[k - 1] ^ rng.integers(0, 8, 4, dtype=np.uint8)
    if kind == "few":
        return palette[rng.integers(0, colours, size)]
    if kind == "rows":
        rows = palette[rng.integers(0, colours, (n_tiles, 1, w))].repeat(h, axis=1)
        changed = rng.random(size) < 0.05
        rows[changed] = palette[rng.integers(0, colours, int(changed.sum()))]
        return rows
    lengths = rng.geometric(0.3, size=n_tiles * h * w)
    flat = np.repeat(rng.integers(0, colours, len(lengths)), lengths)[: n_tiles * h * w]
    return palette[flat.reshape(size)]


_TILES = st.builds(
    _tiles,
    n_tiles=st.integers(1, 4),
    shape=_SHAPES,
    kind=st.sampled_from(["few", "rows", "stretches", "noise"]),
    colours=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)


@given(tiles=_TILES, bpp=st.sampled_from([15, 16, 24]))
@settings(max_examples=400, deadline=None)
def test_native_encoder_equals_numpy(tiles: np.ndarray, bpp: int) -> None:
    _require_native()
    native = _encode_batch(tiles, bpp, native=True)
    assert native == _encode_batch(tiles, bpp, native=False)
    assert encode_interleaved_batch(tiles, bpp, native=True) == encode_interleaved_batch(tiles, bpp, native=False)


@pytest.mark.parametrize("length", [1, 2, 3, 31, 32, 33, 287, 288, 289, 1000])
@pytest.mark.parametrize("bpp", [15, 16, 24])
def test_native_encoder_order_forms(length: int, bpp: int) -> None:
    """Orders of lengths on both sides of each form's limits (1 byte below 32 pixels, 2 below
    288, MEGA_MEGA above): a colour image and a background run of ``length`` (two equal
    scanlines of alternating colours), and a colour run of ``length`` (one solid scanline)."""
    _require_native()
    a, b = (10, 20, 30, 0), (200, 100, 50, 0)
    alternating = np.array([[a, b] * (length // 2) + [a] * (length % 2)] * 2, np.uint8)
    tiles = [alternating[np.newaxis]]
    if length >= 3:
        tiles.append(np.full((1, 1, length, 4), a, np.uint8))
    for tile in tiles:
        streams = _encode_batch(tile, bpp, native=True)
        assert streams[0] is not None
        assert streams == _encode_batch(tile, bpp, native=False)
    if length >= 3:
        pixel = int(wire_values(tiles[1][0], bpp)[0, 0]).to_bytes(3 if bpp == 24 else 2, "little")
        header = bytes([0x60 | length]) if length < 32 else (
            bytes([0x60, length - 32]) if length < 288 else bytes([0xF3, length & 0xFF, length >> 8]))
        assert _encode_batch(tiles[1], bpp, native=True) == [header + pixel]


@given(st.integers(1, 12).flatmap(lambda w: st.tuples(
    st.just(w), st.lists(st.integers(0, 2), min_size=w, max_size=w * 12).map(lambda p: p[: len(p) // w * w]))),
    st.sampled_from([15, 16, 24]))
@settings(max_examples=400, deadline=None)
def test_native_encoder_equals_numpy_on_small_tiles(tile: tuple[int, list[int]], bpp: int) -> None:
    """Small tiles of three colours drawn pixel by pixel, which hypothesis shrinks well: every
    short arrangement of background runs, colour runs and images."""
    _require_native()
    width, pixels = tile
    palette = np.array([(0, 0, 0, 0), (255, 255, 255, 0), (3, 2, 5, 9)], np.uint8)
    tiles = palette[np.array(pixels)].reshape(1, -1, width, 4)
    assert _encode_batch(tiles, bpp, native=True) == _encode_batch(tiles, bpp, native=False)


@given(tiles=_TILES.filter(lambda t: t.shape[1] * t.shape[2] <= 4096), bpp=st.sampled_from([15, 16, 24]))
@settings(max_examples=150, deadline=None)
def test_native_encoder_round_trip(tiles: np.ndarray, bpp: int) -> None:
    """The reference decoder gives the wire pixels back, and neither of its special cases is
    reached (no background run on the first scanline, no two in a row)."""
    _require_native()
    for tile, stream in zip(tiles, encode_interleaved_batch(tiles, bpp, native=True), strict=True):
        assert_decodes_back(stream, tile, bpp)


@given(st.integers(1, 64), st.integers(1, 64), st.integers(0, 2**32 - 1), st.sampled_from([2, 3]))
@settings(max_examples=100, deadline=None)
def test_native_encoder_takes_any_wire_values(h: int, w: int, seed: int, pixel_bytes: int) -> None:
    """Straight into the extension, values the pixel conversion never makes (24-bpp ones with
    the top byte set compare on all 32 bits, in both encoders) give the numpy encoder's bytes."""
    _require_native()
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if pixel_bytes == 2 else np.uint32
    values = rng.integers(0, 3, (3, h * w)).astype(dtype) * dtype(rng.integers(0, np.iinfo(dtype).max))
    got = interleaved._interleaved_rle.encode_tiles(values, w, pixel_bytes)
    assert got == _encode_batch_numpy(values, w, h, pixel_bytes)


_DTYPES = st.sampled_from([np.uint8, np.int8, np.uint16, np.int16, ">u2", np.uint32, np.int32, ">u4",
                           np.uint64, np.float16, np.float32, np.float64, np.bool_, np.complex64])


@given(st.lists(st.integers(0, 6), max_size=5), _DTYPES, st.integers(-3, 9), st.integers(-1, 33),
       st.booleans())
@settings(max_examples=500, deadline=None)
def test_native_encoder_refuses_what_is_not_tiles(shape: list[int], dtype: object, width: int, bpp: int,
                                                   strided: bool) -> None:
    """Arrays of any shape and type, widths and depths, into both entry points: a list of
    streams when they make sense, else ValueError, never a crash."""
    _require_native()
    array = np.arange(int(np.prod(shape)), dtype=np.uint64).astype(dtype).reshape(shape)
    if strided and array.ndim:
        array = array[..., ::2]
    for pixel_bytes in (bpp, 2, 3):
        try:
            result = interleaved._interleaved_rle.encode_tiles(array, width, pixel_bytes)
        except ValueError:
            continue
        assert array.ndim == 2 and pixel_bytes in (2, 3) and width > 0
        assert array.dtype == (np.uint16 if pixel_bytes == 2 else np.uint32)
        assert result == _encode_batch_numpy(array, width, array.shape[1] // width, pixel_bytes)
    try:
        result = _encode_batch(array, bpp, native=True)
    except ValueError:
        return
    assert bpp in (15, 16, 24) and array.shape[1:] and array.shape[-1] == 4 and array.dtype == np.uint8
    assert result == _encode_batch(array, bpp, native=False)


def test_native_encoder_refuses_what_is_not_a_buffer() -> None:
    _require_native()
    encode_tiles = interleaved._interleaved_rle.encode_tiles
    for values in (None, [1, 2, 3], "abcd", 7):
        with pytest.raises(TypeError):
            encode_tiles(values, 1, 2)
    with pytest.raises(ValueError, match="native uint16"):
        encode_tiles(b"\x01\x02\x03\x04", 1, 2)
    with pytest.raises(ValueError, match="2 or 3 bytes"):
        encode_tiles(np.zeros((1, 4), np.uint16), 1, 4)
    with pytest.raises(ValueError, match="whole scanlines"):
        encode_tiles(np.zeros((1, 6), np.uint16), 4, 2)
    with pytest.raises(ValueError, match=r"1\.\.65535 pixels"):
        encode_tiles(np.zeros((1, MAX_PIXELS + 1), np.uint32), 1, 3)
    assert encode_tiles(np.zeros((0, 4), np.uint16), 2, 2) == []


def test_native_encoder_releases_buffers_and_references() -> None:
    """Buffers are released on every path (a bytearray under them can grow again), and
    repeated calls keep no memory and no references."""
    _require_native()
    encode_tiles = interleaved._interleaved_rle.encode_tiles
    backing = bytearray(np.tile(np.arange(16, dtype=np.uint16), 8).tobytes())
    values = memoryview(backing).cast("H", (2, 64))
    expected = encode_tiles(values, 8, 2)
    assert expected == _encode_batch_numpy(np.frombuffer(backing, np.uint16).reshape(2, 64), 8, 8, 2)
    with pytest.raises(ValueError):
        encode_tiles(values, 3, 2)
    with pytest.raises(ValueError):
        encode_tiles(values, 8, 3)
    counts = [sys.getrefcount(x) for x in (values, *(e for e in expected if e is not None))]
    tracemalloc.start()
    try:
        for _ in range(1000):
            assert encode_tiles(values, 8, 2) == expected
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(20_000):
            encode_tiles(values, 8, 2)
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second - first < 4096
    assert [sys.getrefcount(x) for x in (values, *(e for e in expected if e is not None))] == counts
    values.release()
    backing += b"more"  # nothing holds the bytearray's buffer any more


def test_native_encoder_on_a_terminal_screen(terminal_screen: np.ndarray) -> None:
    """A real screen (an xterm with text), cut into 64x64 grid tiles: the same bytes at every
    depth."""
    _require_native()
    tiles = terminal_screen[:1024, :1920].reshape(16, 64, 30, 64, 4).swapaxes(1, 2).reshape(-1, 64, 64, 4)
    for bpp in (15, 16, 24):
        assert _encode_batch(tiles, bpp, native=True) == _encode_batch(tiles, bpp, native=False)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5), h=st.integers(1, 40), w=st.integers(1, 40),
       bpp=st.sampled_from([15, 16, 24]), strided=st.booleans())
def test_native_wire_values_equal_numpy(seed: int, n: int, h: int, w: int, bpp: int, strided: bool) -> None:
    """The pixel conversion in C against numpy's, for stacks and for tiles cut from a screen."""
    _require_native()
    rng = np.random.default_rng(seed)
    if strided:  # n tiles side by side in one screen, read through its row stride
        screen = rng.integers(0, 256, (max(h, 1), max(n * w, 1) + 3, 4), dtype=np.uint8)
        tiles = screen[:h, :n * w].reshape(h, n, w, 4).swapaxes(0, 1)
    else:
        tiles = rng.integers(0, 256, (n, h, w, 4), dtype=np.uint8)
    native = interleaved._pixel_values(tiles, bpp, native=True)
    reference = interleaved._pixel_values(tiles, bpp, native=False)
    assert native.dtype == reference.dtype and native.shape == reference.shape
    assert np.array_equal(native, reference)


def test_native_wire_values_refuse_what_they_cannot_convert() -> None:
    _require_native()
    from compositor.encoders import _interleaved_rle

    tiles = np.zeros((2, 3, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="15, 16 or 24"):
        _interleaved_rle.wire_values(tiles, 32, np.empty((2, 12), np.uint32))
    with pytest.raises(ValueError, match="out must be"):
        _interleaved_rle.wire_values(tiles, 16, np.empty((2, 12), np.uint32))  # 24-bpp sized
    with pytest.raises((TypeError, ValueError)):  # not contiguous
        _interleaved_rle.wire_values(tiles, 16, np.empty((2, 24), np.uint16)[:, ::2])
    for bad in (np.zeros((2, 3, 4, 3), np.uint8), np.zeros((3, 4, 4), np.uint8), tiles[:, :, ::2]):
        with pytest.raises(ValueError, match="tiles must be"):
            _interleaved_rle.wire_values(bad, 16, np.empty((2, 12), np.uint16))
    with pytest.raises(TypeError):
        _interleaved_rle.wire_values(tiles, 16, b"\0" * 48)  # not writable
