"""The C core of the RDP 8.0 bulk compressor (``rdpfront/_zgfx.c``) against the Python code
it replaces (``rdpfront.zgfx``, the reference): the same bytes for the same sequence of
segments, history and hash table included, each segment decoded by the test decompressor;
bounds and reference counts of the extension itself."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdpfront import gfx, zgfx

FOX = b"The quick brown fox jumps over the lazy dog"


def test_the_c_core_is_built() -> None:
    """``make setup`` builds it; without it every graphics frame costs 20-40x the CPU."""
    assert zgfx.NATIVE, "rdpfront/_zgfx.c is not built: run `make native`"
    assert zgfx.Compressor()._core is not None


def _noise(size: int, seed: int, alphabet: int) -> bytes:
    return np.random.default_rng(seed).integers(0, alphabet, size, np.uint8).tobytes()


def _near(size: int) -> st.SearchStrategy[int]:
    return st.integers(max(1, size - 2), min(65535, size + 2))


segment_data = st.one_of(
    st.binary(min_size=1, max_size=300),
    st.sampled_from([FOX, bytes(200), b"\xff" * 70, bytes(range(256)), gfx.start_frame(1) + gfx.end_frame(1)]),
    # few distinct bytes: many matches, short and long, near and far
    st.builds(_noise, st.integers(1, 3000), st.integers(0, 100), st.sampled_from([2, 4, 16])),
    # runs: matches overlapping their source, up to a whole segment
    st.builds(lambda byte, size: bytes([byte]) * size, st.integers(0, 255), st.integers(1, 65535)),
    # sizes around the paths' bounds: short keys, SMALL_SEGMENT, the default max_compress
    st.builds(_noise, st.one_of(st.integers(1, 6), _near(zgfx.SMALL_SEGMENT), _near(zgfx.DEFAULT_MAX_COMPRESS)),
              st.integers(0, 100), st.sampled_from([4, 256])),
)


@st.composite
def segment_sequences(draw: st.DrawFn) -> list[bytes]:
    """Segments, some repeated (whole, or a part, later in the sequence)."""
    segments = draw(st.lists(segment_data, min_size=1, max_size=20))
    repeats = draw(st.lists(st.tuples(st.integers(0, len(segments) - 1), st.integers(0, 64), st.integers(0, 64)),
                            max_size=10))
    for index, head, tail in repeats:
        data = segments[index]
        part = data[head:len(data) - tail] or data
        segments.insert(draw(st.integers(index + 1, len(segments))), part)
    return segments


def _same_bytes(segments: list[bytes], **options: int) -> list[bytes]:
    """Each segment through a C and a Python compressor: the same bytes, which decode to it."""
    native, python = zgfx.Compressor(native=True, **options), zgfx.Compressor(native=False, **options)
    decompressor = zgfx.Decompressor()
    wire = []
    for data in segments:
        ours = native.segment(data)
        assert ours == python.segment(data)
        assert decompressor.segment(ours) == data
        wire.append(ours)
    assert native.position == python.position
    assert (native.bytes_in, native.bytes_out) == (python.bytes_in, python.bytes_out)
    return wire


@settings(max_examples=150, deadline=None)
@given(segments=segment_sequences(),
       max_compress=st.sampled_from([64, zgfx.SMALL_SEGMENT, zgfx.DEFAULT_MAX_COMPRESS, 65535]),
       table_bits=st.sampled_from([4, 17]))
def test_c_and_python_give_the_same_bytes(segments: list[bytes], max_compress: int, table_bits: int) -> None:
    """A 16-slot table makes hash collisions the rule (the stored key decides); a
    ``max_compress`` of 64 sends most segments raw (in the history, not in the table)."""
    _same_bytes(segments, max_compress=max_compress, table_bits=table_bits)


@pytest.mark.parametrize("gap", [zgfx.HISTORY_SIZE - 2, zgfx.HISTORY_SIZE - 1, zgfx.HISTORY_SIZE,
                                 zgfx.HISTORY_SIZE + 1])
def test_c_and_python_agree_at_the_edge_of_the_history(gap: int) -> None:
    """A segment sent again ``gap`` bytes after its first time (raw noise in between, so the
    history is trimmed) matches only while that is less than HISTORY_SIZE; then more segments
    match into what the trimmed history still holds."""
    probe = _noise(600, 1, 256)
    noise = _noise(65534, 2, 256)
    filler = gap - len(probe)  # in raw segments (above max_compress), so the table keeps the probe
    segments = [probe] + [noise] * (filler // len(noise)) + [noise[:filler % len(noise)]]
    assert len(segments[-1]) > 8192
    segments += [probe, noise[:5000], noise[:5000]] + [noise] * 20 + [noise[100:3000], probe]
    wire = _same_bytes(segments, max_compress=8192)
    again = wire[segments.index(probe, 1)]
    assert bool(again[0] & zgfx.PACKET_COMPRESSED) == (gap < zgfx.HISTORY_SIZE)
    assert wire[-2][0] & zgfx.PACKET_COMPRESSED  # matched into the raw noise, trimmed history


def test_arguments_out_of_bounds_are_refused() -> None:
    core = zgfx._zgfx.Core(17)
    history = bytearray(b"abcdabcdabcd")
    for start, n, base in [(0, 0, 0), (0, 13, 0), (12, 1, 0), (-1, 2, 0), (11, 2, 0), (0, 65536, 0), (0, 4, -1)]:
        with pytest.raises(ValueError):
            core.compress(history, start, n, base)
    with pytest.raises(ValueError):
        zgfx._zgfx.Core(0)
    with pytest.raises(TypeError):
        core.compress("abcd", 0, 4, 0)
    assert zgfx.Decompressor().segment(core.compress(bytes(history), 0, 12, 0)) == history


def test_no_reference_or_memory_grows_over_many_segments() -> None:
    """The same segment compressed again and again over the same history and table: the same
    bytes each time, no memory kept, no reference gained or lost."""
    frames = [gfx.start_frame(i) + _noise(150, i % 7, 16) + gfx.end_frame(i) for i in range(14)]
    history = bytearray(b"".join(frames))
    start, n = len(history) - len(frames[-1]), len(frames[-1])
    core = zgfx._zgfx.Core(17)
    expected = core.compress(history, start, n, 1000)
    counts = [sys.getrefcount(x) for x in (history, expected, core)]
    tracemalloc.start()
    try:
        for _ in range(1000):
            assert core.compress(history, start, n, 1000) == expected
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(50_000):
            core.compress(history, start, n, 1000)
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second - first < 4096
    assert [sys.getrefcount(x) for x in (history, expected, core)] == counts
    history += b"more"  # the history's buffer was released: it can grow again


def test_compressor_keeps_its_references_over_many_segments() -> None:
    frames = [gfx.start_frame(i) + _noise(150, i % 7, 16) + gfx.end_frame(i) for i in range(14)]
    compressor = zgfx.Compressor(native=True)
    buf = compressor._buf
    counts = [sys.getrefcount(x) for x in (buf, *frames)]
    for i in range(30_000):  # 5 MB: the history trimmed twice
        compressor.segment(frames[i % len(frames)])
    assert compressor._buf is buf and compressor._base > 0
    assert [sys.getrefcount(x) for x in (buf, *frames)] == counts
