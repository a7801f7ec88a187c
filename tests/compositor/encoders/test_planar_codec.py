"""RDP 6.0 planar codec (MS-RDPEGDI 2.2.2.5.1): round trips and hand-made streams.

The real decoder check is xfreerdp itself: tests/rdpfront/test_xfreerdp.py at 32 bpp."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compositor.encoders import CodecError, planar
from compositor.encoders.planar import (
    FORMAT_HEADER_NA,
    FORMAT_HEADER_RLE,
    _rle_rows,
    _rle_rows_skipping_flat_rows,
    _rle_rows_small,
    _rle_scanline,
    decode_planar,
    delta_encode_planes,
    encode_planar,
    encode_planar_batch,
    encode_plane_rle,
    rle_rows,
    rle_scanline_reference,
)

FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def _bitmap(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8).reshape(64, 64, 4)


def run_only_segments_after_nonzero(stream: bytes, w: int, h: int) -> int:
    """Count run-only segments that repeat a non-zero value: FreeRDP and IronRDP repeat the
    scanline's last value there, but 3.1.9.2 can be read as "zero", so we never emit them."""
    if not stream[0] & FORMAT_HEADER_RLE:
        return 0
    pos, count = 1, 0
    for _ in range(3 * h):
        x, last = 0, 0
        while x < w:
            control = stream[pos]
            pos += 1
            run, n_raw = control & 0x0F, control >> 4
            if run in (1, 2):
                run, n_raw = 16 * run + n_raw, 0
            if n_raw == 0 and run and last:
                count += 1
            if n_raw:
                last = stream[pos + n_raw - 1]
            pos += n_raw
            x += n_raw + run
    return count


@given(data=st.data())
@settings(FIXTURES_OK, max_examples=150)
def test_round_trip_is_lossless(data: st.DataObject, images: Callable) -> None:
    img = data.draw(images())
    h, w = img.shape[:2]
    stream = encode_planar(img)
    assert len(stream) <= 3 * h * w + 2
    decoded = decode_planar(stream, w, h)
    assert np.array_equal(decoded[..., :3], img[..., :3])
    assert (decoded[..., 3] == 0xFF).all()
    assert run_only_segments_after_nonzero(stream, w, h) == 0


def test_long_runs_of_a_colour_restate_the_value() -> None:
    img = np.zeros((3, 64, 4), np.uint8)
    img[:] = (200, 100, 0, 0)  # blue 200, green 100, red 0
    stream = encode_planar(img)
    assert run_only_segments_after_nonzero(stream, 64, 3) == 0
    assert np.array_equal(decode_planar(stream, 64, 3)[..., :3], img[..., :3])
    # Red plane, first scanline: 0 x 64 as run-only segments (47 + 17); blue: 200 restated.
    red = encode_plane_rle(np.zeros((1, 64), np.uint8))
    assert red == bytes([0xF2, 0x11])
    blue = encode_plane_rle(np.full((1, 64), 200, np.uint8))
    assert blue == bytes([0x1F, 200, 0x1F, 200, 0x1F, 200, 0x1F, 200])


@given(st.integers(1, 80), st.integers(1, 80), st.integers(1, 3), st.sampled_from(["few", "noise", "text"]),
       st.booleans(), st.integers(0, 2**32 - 1))
@settings(max_examples=300, deadline=None)
def test_native_and_numpy_tiles_decode_alike(h: int, w: int, n: int, kind: str, alpha: bool, seed: int) -> None:
    """Whole streams from C and from the numpy passes decode to the tile. They are the same
    bytes except where the numpy passes sent a tile raw without trying RLE (sampling found too
    few repeats): then C's is the RLE form, no larger."""
    _require_native()
    rng = np.random.default_rng(seed)
    if kind == "few":
        tiles = rng.integers(0, 3, (n, h, w, 4), dtype=np.uint8)
    elif kind == "noise":
        tiles = rng.integers(0, 256, (n, h, w, 4), dtype=np.uint8)
    else:
        tiles = np.where(rng.random((n, h, w, 1)) < 0.2, 0, 255).astype(np.uint8).repeat(4, axis=3)
        tiles[:, rng.random(h) < 0.4] = rng.integers(0, 256, 4, dtype=np.uint8)  # flat rows
    native = encode_planar_batch(tiles, alpha=alpha, native=True)
    numpy_ = encode_planar_batch(tiles, alpha=alpha, native=False)
    for tile, ours, reference in zip(tiles, native, numpy_, strict=True):
        assert np.array_equal(decode_planar(ours, w, h)[..., :3], tile[..., :3])
        if ours != reference:
            assert ours[0] & FORMAT_HEADER_RLE and not reference[0] & FORMAT_HEADER_RLE
            assert len(ours) <= len(reference)


def test_native_tiles_refuse_what_is_not_whole_tiles() -> None:
    _require_native()
    encode_tiles = planar._planar_rle.encode_tiles
    for args in [(b"\x00" * 15, 1, 2, 2), (b"\x00" * 16, 2, 2, 2), (b"\x00" * 16, 1, 0, 4), (b"", 1, 1, 1),
                 (b"\x00" * 16, -1, 2, 2), (b"\x00" * 16, 1, 0x10000, 0)]:
        with pytest.raises(ValueError, match="BGRX pixels"):
            encode_tiles(*args, b"\x30", b"\x20")
    assert encode_tiles(b"", 0, 3, 3, b"\x30", b"\x20") == []
    # A 1x1 tile: R, G and B as one raw value each, whichever form is the smaller.
    assert encode_tiles(b"\x01\x02\x03\x00", 1, 1, 1, b"\x30", b"\x20") == [b"\x20\x03\x02\x01\x00"]


@given(st.lists(st.lists(st.integers(0, 3) | st.integers(0, 255), min_size=1, max_size=140),
                min_size=1, max_size=6).filter(lambda rows: len({len(r) for r in rows}) == 1))
@settings(max_examples=300, deadline=None)
def test_vectorised_rle_equals_reference(rows: list[list[int]]) -> None:
    values = np.array(rows, np.uint8)
    out, row_bytes = _rle_rows(values)
    expected = [rle_scanline_reference(r) for r in rows]
    assert out.tobytes() == b"".join(expected)
    assert row_bytes.tolist() == [len(e) for e in expected]


def _require_native() -> None:
    assert planar.NATIVE, "compositor/encoders/_planar_rle.c is not built: run `make native`"


# Scanlines of one width made of stretches: a value repeated (runs of zero and of other values,
# of every length around the segment limits 3, 15, 16, 47) or random values (raw bytes).
_STRETCH = st.tuples(st.integers(0, 3) | st.integers(0, 255), st.integers(1, 70), st.booleans())


def _scanline(width: int, stretches: list[tuple[int, int, bool]], seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    row: list[int] = []
    for value, length, repeat in stretches:
        row += [value] * length if repeat else rng.integers(0, 4 if value < 4 else 256, length).tolist()
    return (row * (width // max(len(row), 1) + 1))[:width]


@given(st.integers(1, 300), st.lists(st.lists(_STRETCH, min_size=1, max_size=8), min_size=1, max_size=6),
       st.integers(0, 2**32 - 1))
@settings(max_examples=400, deadline=None)
def test_native_rle_equals_reference(width: int, rows: list[list[tuple[int, int, bool]]], seed: int) -> None:
    """The C run-length stage gives the reference's bytes and byte counts, scanline by scanline."""
    _require_native()
    values = [_scanline(width, stretches, seed + i) for i, stretches in enumerate(rows)]
    out, row_bytes = rle_rows(np.array(values, np.uint8), native=True)
    expected = [rle_scanline_reference(r) for r in values]
    assert out.tobytes() == b"".join(expected)
    assert row_bytes.tolist() == [len(e) for e in expected]


@given(st.integers(1, 90), st.integers(1, 60), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_native_and_numpy_rle_agree_on_bitmaps(h: int, w: int, seed: int) -> None:
    """Delta-encoded planes of text-like tiles (flat rows among busy ones, sizes on both sides
    of the small path's) run-length encode the same in C and through the numpy passes."""
    _require_native()
    rng = np.random.default_rng(seed)
    tiles = (rng.integers(0, 2, (3, h, w, 4), dtype=np.uint8) * 255) * (rng.random((3, h, w, 1)) < 0.2)
    tiles[:, rng.random(h) < 0.4] = rng.integers(0, 256, 4, dtype=np.uint8)  # flat rows
    values = delta_encode_planes(np.ascontiguousarray(tiles[..., :3].transpose(0, 3, 1, 2))).reshape(-1, w)
    native_out, native_bytes = rle_rows(values, native=True)
    numpy_out, numpy_bytes = rle_rows(values, native=False)
    assert native_out.tobytes() == numpy_out.tobytes()
    assert native_bytes.tolist() == numpy_bytes.tolist()


def test_native_rle_refuses_what_is_not_whole_scanlines() -> None:
    _require_native()
    with pytest.raises(ValueError, match="whole scanlines"):
        planar._planar_rle.rle_rows(b"\x01\x02\x03", 2)
    with pytest.raises(ValueError, match="whole scanlines"):
        planar._planar_rle.rle_rows(b"\x01", 0)
    assert planar._planar_rle.rle_rows(b"", 5) == (b"", b"")


@given(st.lists(st.lists(st.integers(0, 3) | st.integers(0, 255), min_size=1, max_size=140),
                min_size=1, max_size=6).filter(lambda rows: len({len(r) for r in rows}) == 1))
@settings(max_examples=300, deadline=None)
def test_scanline_at_a_time_rle_equals_reference(rows: list[list[int]]) -> None:
    """The path of small tiles (runs found by a regular expression, scanlines remembered)
    gives the reference's bytes, asked once and again (the remembered answer)."""
    values = np.array(rows, np.uint8)
    expected = [rle_scanline_reference(r) for r in rows]
    for _ in range(2):
        out, row_bytes = _rle_rows_small(values)
        assert out.tobytes() == b"".join(expected)
        assert row_bytes.tolist() == [len(e) for e in expected]
    assert _rle_scanline(bytes(rows[0])) == expected[0]


@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_small_and_vectorised_paths_give_the_same_stream(h: int, w: int, seed: int) -> None:
    """A tile encoded alone (small: a scanline at a time) and inside a batch of many (the
    vectorised pass) comes out the same."""
    rng = np.random.default_rng(seed)
    tile = (rng.integers(0, 2, (h, w, 4), dtype=np.uint8) * 255) * (rng.random((h, w, 1)) < 0.3)
    tile = tile.astype(np.uint8)
    many = np.repeat(tile[np.newaxis], 4096 // (h * w * 3) + 2, axis=0)  # past the small path's size
    assert encode_planar_batch(many)[0] == encode_planar(tile)
    assert decode_planar(encode_planar(tile), w, h)[..., :3].tolist() == tile[..., :3].tolist()


def test_small_bitmaps_remembered_by_their_pixels() -> None:
    """A glyph-sized bitmap encoded again comes from memory, still the batch's bytes; one pixel
    changed (or the alpha plane asked for) is a different bitmap."""
    glyph = np.full((13, 12, 4), 255, np.uint8)
    glyph[3:10, 2:9, :3] = 0
    first = encode_planar(glyph)
    assert encode_planar(glyph.copy()) == first == encode_planar_batch(glyph[np.newaxis])[0]
    changed = glyph.copy()
    changed[5, 5, 1] = 200
    assert encode_planar(changed) != first
    assert decode_planar(encode_planar(changed), 12, 13)[5, 5, 1] == 200
    assert encode_planar(glyph, alpha=True) == encode_planar_batch(glyph[np.newaxis], alpha=True)[0] != first


@given(st.sampled_from([1, 5, 8, 16, 56, 64, 67]),
       st.lists(st.one_of(st.integers(0, 255).map(lambda v: ("flat", v)), st.integers(0, 2**32 - 1).map(
           lambda seed: ("busy", seed))), min_size=1, max_size=24))
@settings(max_examples=200, deadline=None)
def test_flat_rows_set_aside_equal_reference(width: int, kinds: list[tuple[str, int]]) -> None:
    """Flat rows (one value throughout, zero or not) spliced between the others' bytes give
    exactly the reference encoding, at widths that do and do not compare 8 values a word."""
    rows = []
    for kind, v in kinds:
        if kind == "flat":
            rows.append([v] * width)
        else:
            rows.append(np.random.default_rng(v).integers(0, 4, width).tolist())
    values = np.array(rows, np.uint8)
    out, row_bytes = _rle_rows_skipping_flat_rows(values)
    expected = [rle_scanline_reference(r) for r in rows]
    assert out.tobytes() == b"".join(expected)
    assert row_bytes.tolist() == [len(e) for e in expected]


@given(st.integers(1, 70), st.integers(1, 70), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_batch_equals_single(h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 3, (4, h, w, 4), dtype=np.uint8)
    tiles[1] = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    tiles[2] = 7
    assert encode_planar_batch(tiles) == [encode_planar(t) for t in tiles]


def test_solid_tile_is_tiny_and_noise_goes_raw() -> None:
    solid = np.full((64, 64, 4), 200, np.uint8)
    stream = encode_planar(solid)
    assert stream[0] == FORMAT_HEADER_RLE | FORMAT_HEADER_NA
    assert len(stream) < 3 * 64 * 4  # a few bytes per scanline per plane
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    stream = encode_planar(noise)
    assert stream[0] == FORMAT_HEADER_NA
    assert len(stream) == 1 + 3 * 64 * 64 + 1


def test_delta_is_sign_magnitude() -> None:
    planes = np.array([[10], [11], [9], [137], [9]], np.uint8)
    # +1 -> 2, -2 -> 3, +128 == -128 (mod 256) -> 255, -128 -> 255
    assert delta_encode_planes(planes).ravel().tolist() == [10, 2, 3, 255, 255]


@given(st.binary(max_size=200), st.integers(1, 9), st.integers(1, 9))
@settings(max_examples=300, deadline=None)
def test_decoder_rejects_garbage_cleanly(data: bytes, w: int, h: int) -> None:
    try:
        decode_planar(data, w, h)
    except CodecError:
        pass


@pytest.mark.parametrize("rle", [True, False])
def test_decoder_rejects_truncation(rle: bool) -> None:
    img = np.zeros((8, 8, 4), np.uint8)
    if not rle:
        img = np.random.default_rng(1).integers(0, 256, (8, 8, 4), dtype=np.uint8)
    stream = encode_planar(img)
    assert bool(stream[0] & FORMAT_HEADER_RLE) == rle
    # Every cut fails, except dropping the raw planes' pad byte, which is optional (FreeRDP
    # skips it when present).
    for cut in range(1, len(stream) - 1):
        with pytest.raises(CodecError):
            decode_planar(stream[:cut], 8, 8)
    with pytest.raises(CodecError):
        decode_planar(stream + b"\x00\x00", 8, 8)


def test_with_the_alpha_plane_the_header_is_what_rdesktop_and_aardwolf_decode() -> None:
    """FormatHeader 0x10 (RLE, alpha plane present) is the only one rdesktop 1.9 and aardwolf
    take; the opaque plane costs about two bytes a scanline."""
    rng = np.random.default_rng(1)
    img = np.full((64, 64, 4), 30, np.uint8)
    img[10:20, 5:50, :3] = rng.integers(0, 256, (10, 45, 3), dtype=np.uint8)
    stream = encode_planar(img, alpha=True)
    assert stream[0] == FORMAT_HEADER_RLE
    assert len(stream) - len(encode_planar(img)) < 3 * 64
    decoded = decode_planar(stream, 64, 64)
    assert np.array_equal(decoded[..., :3], img[..., :3]) and (decoded[..., 3] == 0xFF).all()
    tiles = np.stack([img, np.zeros_like(img)])
    assert encode_planar_batch(tiles, alpha=True) == [encode_planar(t, alpha=True) for t in tiles]
    # The raw form carries the alpha plane raw too, a byte a pixel, so with it the RLE form of
    # noise (about 16 bytes per 15 values) is the smaller: the numpy passes, which send tiles
    # that sampling finds too busy raw without trying, send it raw; the C encoder tries RLE.
    noise = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    raw = encode_planar_batch(noise[np.newaxis], alpha=True, native=False)[0]
    assert raw[0] == 0 and len(raw) == 1 + 4 * 64 + 1
    assert np.array_equal(decode_planar(raw, 8, 8)[..., :3], noise[..., :3])
    _require_native()
    rle = encode_planar_batch(noise[np.newaxis], alpha=True, native=True)[0]
    assert rle[0] == FORMAT_HEADER_RLE and len(rle) < len(raw)
    assert np.array_equal(decode_planar(rle, 8, 8)[..., :3], noise[..., :3])
