"""The MP4 writer: H.264 access units from the project's encoder and AAC packets from the
session host's encoder or Opus packets from libopus (all through PyAV), remuxed without
re-encoding; ffprobe reads the result."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from compositor.encoders import ENCODERS, load_builtin_encoders
from compositor.encoders.audio import adts_payload
from compositor.encoders.h264 import PURE
from tests.audio_tone import dominant_frequency
from webconsole.recordings.mp4 import MP4Writer, opus_head, parameter_sets

load_builtin_encoders()
pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")

W, H = 320, 240
ORIGIN = 5_000_000_000  # µs of a host's monotonic clock


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_name,codec_type,width,height,sample_rate,channels,duration"
                          ":format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)


def video_frames(seconds: float, fps: int = 25, origin: int = ORIGIN):
    """(pts µs, access unit, key) of a moving block, from the session host's H.264 encoder."""
    enc = ENCODERS["h264"](W, H, {})
    enc.set_variants({PURE})
    screen = np.zeros((H, W, 4), np.uint8)
    for i in range(int(seconds * fps)):
        screen[:] = 40
        x = (i * 5) % (W - 40)
        screen[80:140, x:x + 40, :3] = (0, 200, 255)
        for frame in enc.encode(screen, [(0, 0, W, H)], full=i == 0):
            assert frame.fields["codec"] == "h264"
            yield origin + i * 1_000_000 // fps, frame.payload, bool(frame.fields["key"])


def opus_packets(seconds: float, start_us: int):
    """(pts µs, packet) of a 440 Hz tone: libopus, 20 ms frames of 48 kHz stereo."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 48_000, "stereo", "s16", 96_000
    enc.open()
    t = np.arange(960) / 48_000
    for n in range(int(seconds * 50)):
        tone = (np.sin(2 * np.pi * 440 * (t + n * 0.02)) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone[None, :], 2, axis=0).T.reshape(1, -1),
                                           format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48_000, n * 960
        for packet in enc.encode(frame):
            yield start_us + packet.pts * 1_000_000 // 48_000, bytes(packet)


def aac_packets(seconds: float, start_us: int):
    """(pts µs, packet) of a 440 Hz tone from the session host's own AAC encoder: one ADTS
    frame each, ``pts`` mapped back to the capture as the host sends them."""
    from compositor.encoders.audio import AacEncoder

    enc = AacEncoder({})
    t = np.arange(480) / 48_000
    for n in range(int(seconds * 100)):  # 10 ms reads, as the host's capture makes them
        tone = (np.sin(2 * np.pi * 440 * (t + n * 0.01)) * 8000).astype("<i2")
        for packet in enc.encode(np.repeat(tone[:, None], 2, axis=1).tobytes(), start_us + n * 10_000):
            yield packet.pts, packet.payload


@pytest.mark.parametrize(("codec", "packets"), [("aac", aac_packets), ("opus", opus_packets)])
def test_video_and_sound_remuxed_as_they_come(tmp_path, codec, packets):
    path = tmp_path / "rec.mp4"
    writer = MP4Writer(path, audio=codec)
    audio = list(packets(4.0, ORIGIN - 200_000))  # sound from before the first picture is dropped
    merged = sorted([(pts, "v", data, key) for pts, data, key in video_frames(4.0)]
                    + [(pts, "a", data, None) for pts, data in audio])
    sizes = []
    for pts, kind, data, key in merged:
        if kind == "v":
            writer.video(data, pts, key=key, width=W, height=H)
        else:
            writer.audio(data, pts)
        if pts >= ORIGIN + 2_000_000 and not sizes:
            sizes.append(path.stat().st_size)
    writer.finish(end_us=ORIGIN + 4_500_000)
    assert sizes[0] > 1000, "fragments reach the file while it is written"
    info = ffprobe(path)
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and (kinds["video"]["width"], kinds["video"]["height"]) == (W, H)
    assert kinds["audio"]["codec_name"] == codec and int(kinds["audio"]["sample_rate"]) == 48_000
    assert int(kinds["audio"]["channels"]) == 2
    assert abs(float(info["format"]["duration"]) - 4.5) < 0.05, info["format"]
    assert writer.audio_packets < len(audio), "packets before the picture were dropped"
    # Nothing was re-encoded: the file's video packets are the encoder's access units, as
    # length-prefixed NAL units (same bytes after the start codes).
    with av.open(str(path)) as container:
        packets = [bytes(p) for p in container.demux(video=0) if p.size]
        decoded = [f for f in av.open(str(path)).decode(audio=0)]
    original = [data for _, data, _ in video_frames(4.0)]
    assert len(packets) == len(original)
    assert packets[5].endswith(original[5].split(b"\x00\x00\x01")[-1])
    assert sum(f.samples for f in decoded) > 48_000 * 3
    samples = np.concatenate([f.to_ndarray()[0] for f in decoded]).astype(np.float64)
    assert dominant_frequency(samples, 48_000) == pytest.approx(440, abs=10)


def test_adts_headers_are_checked_and_cut():
    _, packet = next(aac_packets(0.1, ORIGIN))
    assert adts_payload(packet) == packet[7:]
    for bad in (b"", packet[:6], b"\x00" + packet[1:], packet[:-1], packet + b"\x00"):
        with pytest.raises(ValueError):
            adts_payload(bad)
    with pytest.raises(ValueError):
        MP4Writer(Path("never.mp4"), audio="mp3")


def test_file_written_so_far_plays_up_to_its_last_fragment(tmp_path):
    """A recorder that dies leaves a file readable to where it got (here: never finished)."""
    path = tmp_path / "cut.mp4"
    writer = MP4Writer(path, fragment_seconds=0.5)
    for pts, data, key in video_frames(3.0):
        writer.video(data, pts, key=key, width=W, height=H)
    snapshot = tmp_path / "snapshot.mp4"
    shutil.copy(path, snapshot)  # as a player fetching it now would see it
    writer.finish()
    duration = float(ffprobe(snapshot)["format"]["duration"])
    assert 2.0 <= duration <= 3.0


def test_nothing_before_the_first_keyframe(tmp_path):
    frames = list(video_frames(1.0))
    writer = MP4Writer(tmp_path / "x.mp4")
    assert not writer.video(frames[1][1], frames[1][0], key=False)
    assert not writer.started and not (tmp_path / "x.mp4").exists()
    assert parameter_sets(frames[1][1]) is None and parameter_sets(frames[0][1]) is not None


def test_opus_head_is_rfc7845():
    head = opus_head()
    assert head[:8] == b"OpusHead" and len(head) == 19 and head[8] == 1 and head[9] == 2
    assert int.from_bytes(head[12:16], "little") == 48_000


def test_padding_is_cropped_to_the_visible_size(tmp_path):
    """The shared stream codes 1280x712 as 1280x720 (padded to 16, no cropping in its SPS);
    the file's SPS crops it back: players show 1280x712, the bottom row of the screen included."""
    width, height = 1280, 712
    enc = ENCODERS["h264"](width, height, {})
    enc.set_variants({PURE})
    screen = np.zeros((height, width, 4), np.uint8)
    screen[-8:, :, :3] = 255  # the visible screen's last rows: white
    writer = MP4Writer(tmp_path / "crop.mp4")
    for i in range(3):
        for frame in enc.encode(screen, [(0, 0, width, height)], full=i == 0):
            fields = frame.fields
            writer.video(frame.payload, ORIGIN + i * 40_000, key=fields["key"], width=fields.get("width", 0),
                         height=fields.get("height", 0), coded=tuple(fields["coded"]) if "coded" in fields else None)
    writer.finish()
    assert list(enc.encode(screen, [], full=True)[0].fields["coded"]) == [1280, 720]
    stream = ffprobe(tmp_path / "crop.mp4")["streams"][0]
    assert (stream["width"], stream["height"]) == (width, height)
    with av.open(str(tmp_path / "crop.mp4")) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert picture.shape == (height, width, 3)
    assert picture[-4:].mean() > 240 and picture[:-16].mean() < 15


def test_a_resize_goes_on_in_the_same_file_with_the_new_size_in_band(tmp_path):
    """The desktop resized while recording: the host's next frame is a keyframe of the new
    size; the file goes on, and a decoder shows the new size from there (cropped anew)."""
    path = tmp_path / "resize.mp4"
    writer = MP4Writer(path)
    enc = ENCODERS["h264"](W, H, {})
    enc.set_variants({PURE})
    pts = ORIGIN
    for size, count in (((W, H), 5), ((200, 150), 5)):
        if size != (W, H):
            enc.resize(*size)
        screen = np.full((size[1], size[0], 4), 90, np.uint8)
        for i in range(count):
            screen[:20, : 10 * (i + 1), :3] = 255
            for frame in enc.encode(screen, [(0, 0, size[0], size[1])], full=i == 0):
                f = frame.fields
                writer.video(frame.payload, pts, key=f["key"], width=f.get("width", 0), height=f.get("height", 0),
                             coded=tuple(f["coded"]) if "coded" in f else None)
            pts += 40_000
    writer.finish()
    with av.open(str(path)) as container:
        shapes = [frame.to_ndarray(format="rgb24").shape[:2] for frame in container.decode(video=0)]
    assert shapes == [(H, W)] * 5 + [(150, 200)] * 5
