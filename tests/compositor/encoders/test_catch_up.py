"""A viewer joining a running H.264 stream catches up on an IDR of its own: the bitstream
renumbering it needs (h264_syntax), the decode it gives, and its own lossless touch-ups."""

from __future__ import annotations

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor.encoders import ENCODERS, load_builtin_encoders
from compositor.encoders import h264_syntax as hs

load_builtin_encoders()

W, H = 320, 240
# Every update as an H.264 picture (no lossless shortcuts, no copies, no touch-ups) unless a
# test asks for them, and limited-range BT.601 so PyAV's conversion gives back what went in.
VIDEO = {"small": 0, "flat": 0, "copy": False, "lossless": False, "colour": "bt601", "pad": "sps"}


def scene(t: int) -> np.ndarray:
    """A moving gradient with a textured block: every frame changes everywhere."""
    yy, xx = np.mgrid[0:H, 0:W]
    s = np.zeros((H, W, 4), np.uint8)
    s[..., 0] = (xx * 2 + t * 7) % 256
    s[..., 1] = (yy * 3 + t * 5) % 256
    s[..., 2] = ((xx + yy) // 2 + t * 3) % 256
    s[60:120, 40 + t % 100:140 + t % 100, :3] = np.random.default_rng(t).integers(0, 256, (60, 100, 3))
    return s


def stream(enc, frames: int):
    """(screen, frame) for ``frames`` pictures, the first a keyframe."""
    out = []
    for t in range(frames):
        screen = scene(t)
        (frame,) = enc.encode(screen, [(0, 0, W, H)], full=t == 0)
        out.append((screen, frame))
    return out


def sequence(frame) -> hs.SequenceInfo:
    info = hs.sequence_of(frame.payload)
    assert info is not None, "no SPS in front of the keyframe"
    return info


def decode(payloads: list[bytes]) -> list[np.ndarray]:
    dec = av.CodecContext.create("h264", "r")
    pictures = []
    for payload in payloads:
        pictures += [f.to_ndarray(format="bgr24") for f in dec.decode(av.Packet(payload))]
    return pictures


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_frame_numbers_count_from_each_idr_and_wrap():
    frames = stream(ENCODERS["h264"](W, H, VIDEO), 20)
    info = sequence(frames[0][1])
    assert info.poc_type == 2 and 4 <= info.log2_max_frame_num <= 16
    modulus = 1 << info.log2_max_frame_num
    assert [hs.frame_num(f.payload, info) for _, f in frames] == [t % modulus for t in range(20)]
    for _, frame in frames:  # our escaping is the encoder's, byte for byte
        for start, end in hs.nal_units(frame.payload):
            assert hs.escape(hs.unescape(frame.payload[start:end])) == frame.payload[start:end]


def test_renumbering_moves_frame_num_only():
    frames = stream(ENCODERS["h264"](W, H, VIDEO), 8)
    info = sequence(frames[0][1])
    modulus = 1 << info.log2_max_frame_num
    for _, frame in frames[1:]:
        number = hs.frame_num(frame.payload, info)
        for offset in (1, 5, modulus - 1):
            moved = hs.renumber(frame.payload, info, offset)
            assert moved != frame.payload  # offsets below MaxFrameNum always change the number
            assert hs.frame_num(moved, info) == (number - offset) % modulus
            assert hs.renumber(moved, info, -offset) == frame.payload
    with pytest.raises(hs.BitstreamError):
        hs.renumber(frames[0][1].payload, info, 1)  # an IDR is always 0


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_escaping_round_trips_and_leaves_no_start_code(data):
    escaped = hs.escape(data)
    assert hs.unescape(escaped) == data
    for bad in (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02"):
        assert bad not in escaped


@given(st.binary(max_size=64), st.integers(0, 65535))
@settings(max_examples=300, deadline=None)
def test_renumbering_garbage_raises_its_own_error_or_returns_bytes(data, offset):
    info = hs.SequenceInfo(log2_max_frame_num=4, poc_type=2)
    for payload in (data, b"\x00\x00\x00\x01\x41" + data, b"\x00\x00\x01\x67" + data):
        try:
            assert isinstance(hs.renumber(payload, info, offset), bytes)
            hs.frame_num(payload, info)
            hs.parse_sps(data)
        except hs.BitstreamError:
            pass


def test_a_joiner_decodes_its_own_idr_then_the_shared_p_frames():
    enc = ENCODERS["h264"](W, H, VIDEO)
    reference = stream(enc, 24)
    join = 13
    # The same stream again, a viewer joining after frame ``join``.
    enc = ENCODERS["h264"](W, H, VIDEO)
    assert enc.catch_up(scene(0), viewer=7, variant="web") is None  # no stream yet: a keyframe for all
    shared, own = [], []
    for t in range(24):
        screen = scene(t)
        (frame,) = enc.encode(screen, [(0, 0, W, H)], full=t == 0)
        assert frame.fields["key"] == (t == 0)  # the joiner forces no keyframe on the stream
        shared.append(frame.payload)
        if t == join:
            (idr,) = enc.catch_up(screen, viewer=7, variant="web")
            assert idr.viewer == 7 and idr.fields["key"] and idr.fields["rects"] == [[0, 0, W, H]]
            own.append(idr.payload)
        elif t > join:
            mine = enc.personalize(frame, 7)
            assert mine is not frame and mine.viewer == 7
            own.append(mine.payload)
            assert enc.personalize(frame, 8) is frame  # viewers in step get the shared frame
    assert shared == [f.payload for _, f in reference]  # the shared stream is unchanged
    info = sequence(reference[0][1])
    assert [hs.frame_num(p, info) for p in own] == list(range(24 - join))
    everyone, joiner = decode(shared), decode(own)
    assert len(joiner) == len(own)
    for k, picture in enumerate(joiner):
        source = scene(join + k)[:, :, :3]
        # Predicted from its own IDR rather than the encoder's picture: coding noise apart.
        assert psnr(picture, source) > psnr(everyone[join + k], source) - 1.0
        assert psnr(picture, everyone[join + k]) > 30  # measured: 32 at the IDR, then 34-36, not drifting


def test_a_joiner_is_touched_up_alone_then_with_the_others(terminal_screen):
    screen = np.ascontiguousarray(terminal_screen[:H, :W])
    enc = ENCODERS["h264"](W, H, {"small": 0, "flat": 0, "copy": False, "settle": 0.3})
    enc.set_variants({"web", "planar"})
    enc.encode(screen, [], full=True)
    for frame in enc.idle(screen, 10.0) + enc.idle(screen, 11.0):  # the keyframe settles for all
        assert frame.viewer is None
    (idr,) = enc.catch_up(screen, viewer=3, variant="planar")
    assert enc.idle(screen, 12.0, frozenset({3})) == []  # not settled yet
    assert enc.idle(screen, 13.0, frozenset()) == []  # settled, but the viewer cannot take it now
    (mine,) = enc.idle(screen, 13.1, frozenset({3}))
    assert mine.viewer == 3 and mine.variant == "planar" and mine.fields["touchup"]
    covered = sum(r[2] * r[3] for r in mine.fields["rects"])
    assert covered == W * H
    assert enc.idle(screen, 20.0, frozenset({3})) == []  # caught up: nothing more of its own
    assert 3 not in enc.touchup.viewers
    # A keyframe for everyone ends every viewer's own bookkeeping.
    enc.catch_up(screen, viewer=4, variant="web")
    enc.encode(screen, [], full=True)
    assert enc.touchup.viewers == {} and enc.personalize(idr, 4) is idr
