"""Still pictures (all-skip P pictures) added to a recording while the screen does not change:
they decode as copies of the picture before, the host's later pictures decode exactly as
without them (renumbered), and they push the last change into the growing file."""

from __future__ import annotations

import shutil

import av
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor.encoders import h264_syntax as hs
from tests.recordings.test_mp4 import H, W, video_frames
from webconsole.recordings.mp4 import MP4Writer
from webconsole.recordings.still import BitWriter, StillMaker


def decode(units: list[bytes]) -> list[np.ndarray]:
    dec = av.CodecContext.create("h264", "r")
    pictures = [f.to_ndarray(format="rgb24") for u in units for f in dec.decode(av.Packet(u))]
    return pictures + [f.to_ndarray(format="rgb24") for f in dec.decode(None)]


def test_stills_copy_the_picture_and_later_pictures_decode_as_without_them():
    frames = list(video_frames(2.0))  # 50 pictures: frame_num wraps (MaxFrameNum 16) with stills in
    maker = StillMaker.for_keyframe(frames[0][1])
    assert maker is not None and maker.macroblocks == (W // 16) * (H // 16)
    plain = decode([unit for _, unit, _ in frames])
    after = {3, 4, 10, 11, 12, 30}
    units, expected, stills, number = [], [], 0, 0
    for i, (_, unit, key) in enumerate(frames):
        if not key:
            unit = maker.shifted(unit, stills)
            number = maker.frame_num(unit)
        units.append(unit)
        expected.append(plain[i])
        if i in after:
            number += 1
            stills += 1
            units.append(maker.still(number))
            expected.append(plain[i])  # a still shows the picture before it
    got = decode(units)
    assert len(got) == len(expected) == len(frames) + len(after)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert len(maker.still(1)) < 20


def test_a_still_pushes_the_last_change_into_the_growing_file(tmp_path):
    frames = list(video_frames(2.0))

    def written(with_still: bool) -> int:
        path = tmp_path / f"still-{with_still}.mp4"
        writer = MP4Writer(path, fragment_seconds=0.5)
        for pts, unit, key in frames:
            writer.video(unit, pts, key=key, width=W, height=H)
        end = frames[-1][0]
        for step in (1, 2):  # the screen stays still; the recorder's ticks
            if with_still:
                assert writer.still(end + step * 2_000_000)
        snapshot = tmp_path / f"snapshot-{with_still}.mp4"
        shutil.copy(path, snapshot)  # what a player fetching the file now gets
        writer.finish()
        with av.open(str(snapshot)) as container:
            return sum(1 for p in container.demux(video=0) if p.size)

    assert written(with_still=False) < len(frames), "without stills the last change waits in the muxer"
    assert written(with_still=True) >= len(frames), "with stills every change is in the file"


def test_no_still_before_a_second_and_a_half_of_stillness(tmp_path):
    writer = MP4Writer(tmp_path / "x.mp4")
    (pts, unit, key), *_ = video_frames(0.1)
    writer.video(unit, pts, key=key, width=W, height=H)
    assert not writer.still(pts + 1_000_000)
    assert writer.still(pts + 1_600_000)
    writer.finish()


def test_stills_only_for_streams_they_are_exact_for():
    (_, key_unit, _), (_, p_unit, _) = list(video_frames(0.1))[:2]
    assert StillMaker.for_keyframe(p_unit) is None  # no parameter sets
    cabac = av.CodecContext.create("libx264", "w")
    cabac.width, cabac.height, cabac.pix_fmt = W, H, "yuv420p"
    cabac.options = {"preset": "ultrafast", "profile": "main", "x264-params": "cabac=1:ref=1"}
    cabac.open()
    frame = av.VideoFrame(W, H, "yuv420p")
    frame.pts = 0
    unit = b"".join(bytes(p) for p in cabac.encode(frame)) + b"".join(bytes(p) for p in cabac.encode(None))
    assert hs.sequence_of(unit) is not None and StillMaker.for_keyframe(unit) is None


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_any_bytes_from_a_host_give_a_maker_or_none(data):
    for unit in (data, b"\x00\x00\x00\x01\x67" + data, b"\x00\x00\x01\x67" + data + b"\x00\x00\x01\x68" + data):
        maker = StillMaker.for_keyframe(unit)
        assert maker is None or maker.still(1).startswith(b"\x00\x00\x00\x01")


@given(st.lists(st.integers(0, 1 << 20), max_size=20))
def test_exp_golomb_writer_reads_back(values):
    w = BitWriter()
    for v in values:
        w.ue(v)
    r = hs.BitReader(w.rbsp())
    assert [r.ue() for _ in values] == values
