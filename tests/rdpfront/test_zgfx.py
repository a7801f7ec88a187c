"""RDP 8.0 bulk compression ([MS-RDPEGFX 3.1.9.1], ``rdpfront.zgfx``): the spec's example,
round trips through our decompressor and through FreeRDP 2.11's own decoder (``zgfx_decompress``
from libfreerdp2, called with ctypes) over many messages sharing one history, the history's
wrap-around past 2.5 MB, and malformed data rejected."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdpfront import gfx, zgfx
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

from .vectors import load_hex

FOX = b"The quick brown fox jumps over the lazy dog"


class FreerdpDecoder:
    """The client's decoder: one ZGFX_CONTEXT of libfreerdp2 (what xfreerdp runs)."""

    def __init__(self, lib: ctypes.CDLL, libc: ctypes.CDLL) -> None:
        self.lib, self.libc = lib, libc
        self.context = lib.zgfx_context_new(0)

    def unsegment(self, data: bytes) -> bytes:
        out = ctypes.POINTER(ctypes.c_ubyte)()
        size = ctypes.c_uint32()
        status = self.lib.zgfx_decompress(self.context, data, len(data), ctypes.byref(out), ctypes.byref(size), 0)
        assert status >= 0, "FreeRDP's zgfx_decompress refused the data"
        try:
            return ctypes.string_at(out, size.value) if size.value else b""
        finally:
            self.libc.free(out)

    def close(self) -> None:
        self.lib.zgfx_context_free(self.context)


@pytest.fixture(scope="module")
def freerdp_lib() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    try:
        lib = ctypes.CDLL("libfreerdp2.so.2")
    except OSError:
        pytest.skip("libfreerdp2 (FreeRDP 2) is not installed")
    lib.zgfx_context_new.restype = ctypes.c_void_p
    lib.zgfx_context_new.argtypes = [ctypes.c_int]
    lib.zgfx_context_free.argtypes = [ctypes.c_void_p]
    lib.zgfx_decompress.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32,
                                    ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
                                    ctypes.POINTER(ctypes.c_uint32), ctypes.c_uint32]
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.free.argtypes = [ctypes.c_void_p]
    return lib, libc


@pytest.fixture
def freerdp(freerdp_lib):
    decoder = FreerdpDecoder(*freerdp_lib)
    yield decoder
    decoder.close()


def _through(messages: list[bytes], compressor: zgfx.Compressor, *decoders) -> list[bytes]:
    """Each message through ``gfx.segmented`` with ``compressor``, checked with every decoder
    (ours and FreeRDP's); the wire bytes."""
    wire = []
    for message in messages:
        data = gfx.segmented([message], compressor)
        for decoder in decoders:
            assert decoder.unsegment(data) == message
        wire.append(data)
    return wire


class Ours:
    def __init__(self) -> None:
        self.decompressor = zgfx.Decompressor()

    def unsegment(self, data: bytes) -> bytes:
        return gfx.unsegment(data, self.decompressor)


def test_spec_example_multipart_with_a_compressed_segment(freerdp) -> None:
    data = load_hex("spec/zgfx-fox-multipart.hex")
    assert gfx.unsegment(data, zgfx.Decompressor()) == FOX
    assert freerdp.unsegment(data) == FOX
    with pytest.raises(RemoteProtocolError, match="compressed"):
        gfx.unsegment(data)  # without a decompressor only raw segments are taken


def test_repeated_messages_compress_and_both_decoders_agree(freerdp) -> None:
    frame = gfx.start_frame(7) + gfx.wire_to_surface_1(1, gfx.Codec.PLANAR, (8, 16, 16, 32), bytes(range(90))) \
        + gfx.end_frame(7)
    wire = _through([FOX, FOX, frame, frame, bytes(5000)], zgfx.Compressor(), Ours(), freerdp)
    assert not wire[0][1] & zgfx.PACKET_COMPRESSED  # 9 bits a literal: no gain, sent raw
    assert len(wire[1]) < 12 and len(wire[3]) < 15 and len(wire[4]) < 30


def test_a_hand_made_raw_run_decodes_like_freerdp(freerdp) -> None:
    """Distance 0 is a raw run: 15 bits of count, then bytes from the next byte boundary (our
    compressor never writes one; the decoders must agree on it)."""
    literal_a = int(zgfx.LITERAL_CODES[0x41]), int(zgfx.LITERAL_BITS[0x41])
    tokens = [literal_a, (0b10001 << 5, 10), (3, 15)]
    payload, unused = zgfx.pack_bits(np.array([t[0] for t in tokens], np.uint64), np.array([t[1] for t in tokens]))
    assert unused == 6  # 9 + 10 + 15 = 34 bits: the run starts at byte 5
    raw = b"xyz"
    tail_tokens = [literal_a]
    tail, tail_unused = zgfx.pack_bits(np.array([tail_tokens[0][0]], np.uint64), np.array([tail_tokens[0][1]]))
    segment = bytes([0x24]) + payload + raw + tail + bytes([tail_unused])
    data = b"\xe0" + segment
    assert gfx.unsegment(data, zgfx.Decompressor()) == b"AxyzA"
    assert freerdp.unsegment(data) == b"AxyzA"


messages = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=300),
        st.sampled_from([FOX, bytes(200), b"\xff" * 70, bytes(range(256)), gfx.start_frame(1) + gfx.end_frame(1)]),
        st.builds(lambda n, seed: np.random.default_rng(seed).integers(0, 4, n, np.uint8).tobytes(),
                  st.integers(1, 3000), st.integers(0, 100)),
    ),
    min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=messages, max_compress=st.sampled_from([64, 1024, 8192]))
def test_round_trip_across_messages_sharing_history(freerdp_lib, messages: list[bytes], max_compress: int) -> None:
    """Messages above ``max_compress`` go raw but stay in both histories; later ones may match
    into them or into each other."""
    decoder = FreerdpDecoder(*freerdp_lib)
    try:
        compressor = zgfx.Compressor(max_compress=max_compress)
        wire = _through(messages + messages, compressor, Ours(), decoder)
        sizes = [len(w) for w in wire]
        assert sum(sizes[len(messages):]) <= sum(len(m) + 6 for m in messages)
    finally:
        decoder.close()


@settings(max_examples=60, deadline=None)
@given(messages=messages)
def test_short_segments_compress_alike_on_both_paths(messages: list[bytes]) -> None:
    """The Python code's plain loop for short segments and its vectorised pass give the same
    bytes for the same history (each path's table updates included: the second round matches
    into it)."""
    def wire(small: int) -> list[bytes]:
        compressor = zgfx.Compressor(native=False)
        original, zgfx.SMALL_SEGMENT = zgfx.SMALL_SEGMENT, small
        try:
            return [compressor.segment(m[:4000]) for m in messages + messages]
        finally:
            zgfx.SMALL_SEGMENT = original

    assert wire(4096) == wire(0)


def test_history_wraps_around_past_2_5_mb(freerdp) -> None:
    """A message matched 2.4 MB back still decodes; one sent more than 2.5 MB ago (raw
    H.264-like segments since, a multipart message among them) is out of reach and goes raw;
    both decoders follow the ring through its wrap-around."""
    rng = np.random.default_rng(3)
    lost, probe = (rng.integers(0, 256, 600, np.uint8).tobytes() for _ in range(2))
    noise = [rng.integers(0, 256, 65534, np.uint8).tobytes() for _ in range(3)]
    compressor, ours = zgfx.Compressor(), Ours()
    decoders = (ours, freerdp)
    _through([lost, probe], compressor, *decoders)
    filler = zgfx.HISTORY_SIZE - 1200 - 100_000
    _through([noise[i % 3] for i in range(filler // 65534)], compressor, *decoders)
    _through([noise[0][:filler % 65534]], compressor, *decoders)
    (near,) = _through([probe], compressor, *decoders)
    assert near[1] & zgfx.PACKET_COMPRESSED and len(near) < 40  # ~2.4 MB back, one match
    (multipart,) = _through([b"".join(noise) * 2], compressor, *decoders)  # six raw segments
    assert multipart[0] == 0xE1 and int.from_bytes(multipart[1:3], "little") == 6
    (far,) = _through([lost], compressor, *decoders)
    assert not far[1] & zgfx.PACKET_COMPRESSED
    assert ours.decompressor.written > zgfx.HISTORY_SIZE


def test_whole_segments_compressed_on_request_decode_like_freerdp(freerdp) -> None:
    """``max_compress`` per call (what the graphics channel asks for image frames): segments
    of 65,534 bytes compressed, text-like ones and noise, each decoded by both decoders."""
    rng = np.random.default_rng(5)
    parts = [FOX, b"lazy ", b"\x00" * 40, bytes(range(90))]
    text = b"".join(parts[i] for i in rng.integers(0, len(parts), 6000))
    noise = rng.integers(0, 256, 70_000, np.uint8).tobytes()
    compressor, ours = zgfx.Compressor(), Ours()
    for message in (text[:150_000], noise, text[1000:140_000]):
        data = gfx.segmented([message], compressor, max_compress=zgfx.SEGMENT_OUTPUT_MAX - 1)
        assert ours.unsegment(data) == message and freerdp.unsegment(data) == message
    assert compressor.bytes_out < compressor.bytes_in // 4


def test_segment_bounds() -> None:
    with pytest.raises(LocalProtocolError):
        zgfx.Compressor().segment(b"")
    with pytest.raises(LocalProtocolError):
        zgfx.Compressor().segment(bytes(65536))


def _compressed(bits: str) -> bytes:
    """A compressed segment from a bit string (padded with zeros, unused count appended)."""
    unused = -len(bits) % 8
    padded = bits + "0" * unused
    payload = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return bytes([0x24]) + payload + bytes([unused])


@pytest.mark.parametrize(("segment", "error"), [
    (b"\x04", "1 bytes"),
    (b"\x05A", "compression type"),
    (b"\x24\x00\x09", "last 9 bits"),
    (_compressed("101111111" + "0" * 7), "not in the token table"),
    (_compressed("0" + "0100"), "cut off"),
    (_compressed("10001" + "00011" + "0"), "history"),  # distance 3, nothing written yet
    (_compressed("10001" + "00000" + "000000000001010")[:-1] + b"ab\x00", "runs past"),
    (_compressed("0" + "01000001" + "10001" + "00001" + "1" + "1" * 16), "longer than a segment"),
])
def test_malformed_segments_are_rejected(segment: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        zgfx.Decompressor().segment(segment)


def test_output_over_65536_bytes_is_rejected() -> None:
    decompressor = zgfx.Decompressor()
    decompressor.segment(b"\x04A")
    # "A" then a match at distance 1 of 65536 bytes: 65537 in all
    length, nbits = zgfx.length_token(65536)
    bits = "0" + "01000001" + "10001" + "00001" + format(length, f"0{nbits}b")
    with pytest.raises(RemoteProtocolError, match="more than 65536"):
        decompressor.segment(_compressed(bits))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=2, max_size=200))
def test_random_segments_raise_only_remote_protocol_errors(data: bytes) -> None:
    decompressor = zgfx.Decompressor()
    decompressor.segment(b"\x04" + bytes(range(64)))
    try:
        decompressor.segment(bytes([0x24]) + data)
    except RemoteProtocolError:
        pass
