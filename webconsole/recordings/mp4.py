"""Fragmented MP4 from the session host's H.264 access units and AAC (or Opus) packets,
remuxed with PyAV (libavformat's ``mp4`` muxer): no picture or sound is decoded or encoded again.

The file is *fragmented* (``empty_moov``: the track headers first, then a ``moof``+``mdat``
pair about every ``FRAGMENT_SECONDS``), so it is valid and playable up to its last fragment
while it is still being written (the output is flushed after every packet), and a recorder
that dies leaves a file that plays up to where it stopped. ``finish()`` writes the last
fragment. While the screen does not change, ``still()`` adds an all-skip picture now and
then (``still.py``), so that the last change reaches the file. The file is never rewritten
afterwards, so a player reading it while it grows keeps valid byte offsets; Chromium and
ffprobe read the fragments' times for the duration and seek in it as it is.

Time: every packet carries ``pts`` in microseconds of the host's monotonic clock (one clock
for every stream of a session), so picture and sound line up by it. The first video packet
(a keyframe: the muxer drops everything before it) is time zero; the video track counts in
90 kHz ticks, the sound track in 48 kHz samples. Sound captured before the first picture is
dropped.

H.264 comes as Annex B access units with SPS/PPS in front of every IDR (the encoder's
``repeat-headers``); the track's ``avcC`` is built from the first keyframe's parameter sets
(PyAV's ``extract_extradata``, libavformat's ``avcC`` writer), and the muxer turns the packets
into length-prefixed NAL units. No encoder is opened for the video track.

AAC packets (the host's ``aac`` stream, what recordings use: H.264 + AAC-LC in MP4 plays in
every browser and player, and it is the encode the desktop's RDP clients already share) are
one 1024-sample AAC-LC frame of 48 kHz stereo behind a 7-byte ADTS header each; the header
is taken off (MP4 samples are raw frames) and the track's ``esds`` AudioSpecificConfig comes
from FFmpeg's AAC encoder context, opened for that and never fed. Opus packets are one 20 ms
(or shorter) frame of 48 kHz stereo each; the track's ``dOps`` is made from an ``OpusHead``
written here (RFC 7845 5.1).
"""

from __future__ import annotations

import logging
import struct
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from compositor.encoders import h264_syntax
from compositor.encoders.audio import adts_payload
from webconsole.recordings.still import StillMaker

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)
AUDIO_TIME_BASE = Fraction(1, 48_000)
MAX_INTERLEAVE_US = 500_000
FRAGMENT_SECONDS = 1.0
OPUS_PRE_SKIP = 312  # libopus's look-ahead at 48 kHz: what its encoder reports as initial padding
NAL_PPS = 8
STILL_AFTER_US = 1_500_000  # no change for this long: a still picture pushes the last one out
MAX_STILL_US = 12 * 3600 * 1_000_000  # the longest a last picture may be held (under 2^32 90 kHz ticks)


AUDIO_CODECS = ("aac", "opus")


def opus_head(channels: int = 2, sample_rate: int = 48_000, pre_skip: int = OPUS_PRE_SKIP) -> bytes:
    """RFC 7845 5.1 identification header: version 1, mapping family 0 (mono or stereo)."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, sample_rate, 0, 0)


def parameter_sets(access_unit: bytes) -> bytes | None:
    """The SPS and PPS NAL units of an Annex B access unit, with start codes; None if absent."""
    sps = pps = None
    for start, end in h264_syntax.nal_units(access_unit):
        kind = access_unit[start] & 0x1F
        if kind == h264_syntax.NAL_SPS and sps is None:
            sps = access_unit[start:end]
        elif kind == NAL_PPS and pps is None:
            pps = access_unit[start:end]
    if sps is None or pps is None:
        return None
    return b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps


class MP4Writer:
    """One recording's file. ``video(access_unit, pts_us, key=, width=, height=)`` and
    ``audio(packet, pts_us)`` in any interleaving, then ``finish()``. ``audio``: the sound
    track's codec (``aac`` or ``opus``), None for none. Not thread-safe."""

    def __init__(self, path: Path, *, audio: str | None = None, fragment_seconds: float = FRAGMENT_SECONDS) -> None:
        if audio is not None and audio not in AUDIO_CODECS:
            raise ValueError(f"no {audio} sound track in MP4 here; {', '.join(AUDIO_CODECS)}")
        self.path = Path(path)
        self.with_audio = audio
        self.fragment_seconds = fragment_seconds
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.AudioStream | None = None
        self.origin_us: int | None = None  # pts of the first video packet: time zero
        self._last_video = -1  # ticks of the last video packet's dts
        self._last_audio = -1
        self.last_us = 0  # microseconds since the origin of the latest packet written
        self.video_packets = 0
        self.audio_packets = 0
        self.width = self.height = 0
        # The latest video packet waits for the next one, which says how long it shows (its
        # MP4 sample duration); ``finish`` gives the last one the time up to the end.
        self._held: av.Packet | None = None
        self._crop: BitStreamFilterContext | None = None
        self._stills: StillMaker | None = None  # for the current coded video sequence
        self._still_count = 0  # stills since its IDR: the host's pictures are renumbered by this
        self._frame_num = 0  # of the latest picture written
        self.stills = 0
        self._coded: tuple = ()

    @property
    def started(self) -> bool:
        return self._container is not None

    @property
    def duration(self) -> float:
        """Seconds from the first picture to the latest packet written."""
        return self.last_us / 1_000_000

    def _open(self, key_unit: bytes, width: int, height: int, coded: tuple[int, int]) -> None:
        if parameter_sets(key_unit) is None:
            raise ValueError("a keyframe without SPS/PPS cannot start a recording")
        movflags = "empty_moov+default_base_moof+separate_moof"
        # A silent desktop sends no sound: the muxer must not hold pictures back waiting for
        # sound to interleave them with (its default waits up to 10 s), or the growing file lags.
        container = av.open(str(self.path), "w", format="mp4", options={
            "movflags": movflags, "flush_packets": "1", "frag_duration": str(int(self.fragment_seconds * 1_000_000)),
            "max_interleave_delta": str(MAX_INTERLEAVE_US)})
        # A stream without a codec context: nothing is opened to encode. PyAV takes the
        # track's parameter sets from the first packet (a keyframe with SPS/PPS in front).
        video = container.add_mux_stream("h264", width=width, height=height)
        video.time_base = VIDEO_TIME_BASE
        self._video = video
        self._set_crop(width, height, coded)
        if self.with_audio == "aac":
            # The track's AudioSpecificConfig is what FFmpeg's AAC encoder context writes as
            # its extradata when the muxer opens it (it is never fed).
            audio = container.add_stream("aac", rate=48_000)
            audio.layout = "stereo"
            audio.time_base = AUDIO_TIME_BASE
            self._audio = audio
        elif self.with_audio == "opus":
            # Opus needs its OpusHead as the stream's extradata, which only a codec context
            # carries here: libopus's encoder context is created for that and never fed.
            audio = container.add_stream("opus", rate=48_000)
            audio.codec_context.extradata = opus_head()
            audio.time_base = AUDIO_TIME_BASE
            self._audio = audio
        self._container = container
        self.width, self.height = width, height

    def _set_crop(self, width: int, height: int, coded: tuple[int, int]) -> None:
        """Crop the coded picture (padded to 16 by the encoder, no cropping in its SPS) to the
        visible size, by rewriting the SPS's frame cropping (``h264_metadata``: the slices pass
        untouched). Crop units are 2 pixels in 4:2:0, so an odd visible edge keeps one more."""
        right = max(0, coded[0] - (width + (width & 1)))
        bottom = max(0, coded[1] - (height + (height & 1)))
        self._crop = None
        if right or bottom:
            self._crop = BitStreamFilterContext(f"h264_metadata=crop_right={right}:crop_bottom={bottom}",
                                                in_stream=self._video)
        self._coded = (coded, width, height)

    def video(self, access_unit: bytes, pts_us: int, *, key: bool, width: int = 0, height: int = 0,
              coded: tuple[int, int] | None = None) -> bool:
        """Write one H.264 access unit; False (dropped) before the first keyframe. Keyframes
        say the visible ``width``/``height`` and the ``coded`` picture size (default: the same)."""
        if key:
            coded = coded or (width, height)
        if self._container is None:
            if not key:
                return False
            self._open(access_unit, width, height, coded)
            self.origin_us = pts_us
        elif key and (coded, width, height) != self._coded:
            self._set_crop(width, height, coded)  # a resize: the new SPS comes in band
        if key:
            self._stills, self._frame_num = StillMaker.for_keyframe(access_unit), 0
            self._still_count = 0
        elif self._stills is not None:
            access_unit = self._stills.shifted(access_unit, self._still_count)  # BitstreamError: a ValueError
            self._frame_num = self._stills.frame_num(access_unit) or 0
        self._mux_video(access_unit, pts_us, key)
        return True

    def still(self, now_us: int) -> bool:
        """Add a still picture (``still.py``) when nothing changed for ``STILL_AFTER_US``, so
        that the last change reaches the file while the screen stays as it is."""
        if (self._stills is None or self._held is None or self.origin_us is None
                or now_us - self.origin_us - self.last_us < STILL_AFTER_US):
            return False
        self._frame_num += 1
        self._still_count += 1
        self._mux_video(self._stills.still(self._frame_num), now_us, False)
        self.stills += 1
        return True

    def _mux_video(self, access_unit: bytes, pts_us: int, key: bool) -> None:
        assert self._video is not None and self.origin_us is not None
        ticks = max(self._last_video + 1, round((pts_us - self.origin_us) * 90_000 / 1_000_000))
        packet = av.Packet(access_unit)
        packet.stream = self._video
        packet.time_base = VIDEO_TIME_BASE
        packet.pts = packet.dts = ticks
        packet.is_keyframe = key
        if self._crop is not None:
            (packet,) = self._crop.filter(packet)  # one access unit in, one out
            packet.stream = self._video
            packet.time_base = VIDEO_TIME_BASE
        self._write_held(ticks)
        self._held = packet
        self._last_video = ticks
        self.video_packets += 1
        self.last_us = max(self.last_us, pts_us - self.origin_us)

    def audio(self, packet_bytes: bytes, pts_us: int) -> bool:
        """Write one sound packet (an ADTS frame for ``aac``, an Opus packet for ``opus``);
        False (dropped) without an audio track or before the first picture. ValueError for an
        AAC packet that is not one ADTS frame."""
        if self._audio is None or self.origin_us is None or pts_us < self.origin_us:
            return False
        assert self._container is not None
        if self.with_audio == "aac":
            packet_bytes = adts_payload(packet_bytes)
        samples = max(self._last_audio + 1, round((pts_us - self.origin_us) * 48_000 / 1_000_000))
        packet = av.Packet(packet_bytes)
        packet.stream = self._audio
        packet.time_base = AUDIO_TIME_BASE
        packet.pts = packet.dts = samples
        self._container.mux(packet)
        self._last_audio = samples
        self.audio_packets += 1
        self.last_us = max(self.last_us, pts_us - self.origin_us)
        return True

    def _write_held(self, until_ticks: int) -> None:
        if self._held is not None and self._container is not None:
            self._held.duration = max(1, until_ticks - self._held.pts)
            self._container.mux(self._held)
            self._held = None

    def finish(self, end_us: int | None = None) -> None:
        """Write what is left and close the file (a recording with no keyframe leaves none).
        ``end_us`` (host clock): when the recording ended, so that the last picture lasts
        until then and the file's duration is the time recorded."""
        if self._container is not None:
            if end_us is not None and self.origin_us is not None:
                # At most MAX_STILL_US past the last packet: an MP4 sample lasts < 2^32 ticks
                # (a host whose pts are not of this clock must not break the file).
                self.last_us = max(self.last_us, min(end_us - self.origin_us, self.last_us + MAX_STILL_US))
            end_ticks = round(self.last_us * 90_000 / 1_000_000)
            self._write_held(max(end_ticks, self._last_video + 1))
            self._container.close()
            self._container = None
