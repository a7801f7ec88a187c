"""Audio encoders: 48 kHz stereo s16le PCM in, one stream format's packets out.

``opus`` is libopus through PyAV (FFmpeg's wrapper: the library every browser's WebCodecs
decoder and FreeRDP's decoder read), ``lowdelay`` application, 10 ms frames, 96 kbit/s.
``pcm`` is the captured samples as they are (s16le interleaved), resampled when the
subscriber asked for another rate (``rate``: 44100 for RDP clients that take only 44.1 kHz).
``aac`` is AAC-LC by FFmpeg's own encoder through PyAV, 48 kHz stereo, 128 kbit/s, each
1024-sample frame with its ADTS header (what FreeRDP's rdpsnd decodes as WAVE_FORMAT_AAC_MS:
it opens FFmpeg's AAC decoder without extradata, so each packet carries its own header).

An encoder takes any number of bytes with the capture time of their first sample and returns
``AudioPacket``s, each with the capture time of its first sample (``pts``, µs of the host's
monotonic clock, the video frames' clock).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import av
import numpy as np

RATE = 48000
CHANNELS = 2
SAMPLE_BYTES = 2 * CHANNELS
FRAME_MS = 10
OPUS_BITRATE = 96000
AAC_BITRATE = 128000
ADTS_HEADER = 7  # bytes, without CRC (protection_absent 1), as ``adts_header`` writes it
ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
PCM_RATES = (48000, 44100)


@dataclass
class AudioPacket:
    codec: str
    pts: int  # µs, host monotonic clock: capture time of the first sample
    payload: bytes
    samples: int  # per channel, at the packet's own rate


class AudioEncoder:
    """Base class: ``format``, ``encode`` and ``close``."""

    format: ClassVar[str]

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def encode(self, pcm: bytes, pts: int) -> list[AudioPacket]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FramedEncoder(AudioEncoder):
    """A codec of fixed-size frames through PyAV: ``_open`` returns the opened context."""

    def __init__(self, options: dict[str, Any]) -> None:
        if options:
            raise ValueError(f"{self.format} takes no options, not {sorted(options)}")
        super().__init__(options)
        self.ctx = self._open()
        self.frame_samples = self.ctx.frame_size
        self._pending = b""
        self._pending_pts = 0
        self._next_sample = 0  # the encoder's sample counter (its pts)
        self._times: deque[tuple[int, int]] = deque(maxlen=64)  # (encoder pts, capture µs)

    def encode(self, pcm: bytes, pts: int) -> list[AudioPacket]:
        if not self._pending:
            self._pending_pts = pts
        self._pending += pcm
        frame_bytes = self.frame_samples * SAMPLE_BYTES
        packets: list[AudioPacket] = []
        while len(self._pending) >= frame_bytes:
            chunk, self._pending = self._pending[:frame_bytes], self._pending[frame_bytes:]
            samples = np.frombuffer(chunk, dtype="<i2").reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
            frame.sample_rate = RATE
            frame.pts = self._next_sample
            if self.ctx.format.name != "s16":
                frame = self._convert(frame)
            self._times.append((self._next_sample, self._pending_pts))
            self._next_sample += self.frame_samples
            self._pending_pts += self.frame_samples * 1_000_000 // RATE
            for packet in self.ctx.encode(frame):
                packets.append(AudioPacket(self.format, self._capture_time(packet.pts), self._payload(bytes(packet)),
                                           packet.duration or self.frame_samples))
        return packets

    def _open(self) -> av.CodecContext:
        raise NotImplementedError

    def _convert(self, frame: av.AudioFrame) -> av.AudioFrame:
        return frame

    def _payload(self, packet: bytes) -> bytes:
        return packet

    def _capture_time(self, packet_pts: int | None) -> int:
        """The capture time of the packet's first sample, from the frame it was made of."""
        if packet_pts is None or not self._times:
            return self._times[-1][1] if self._times else 0
        for sample, captured in reversed(self._times):
            if sample <= packet_pts:
                return captured + (packet_pts - sample) * 1_000_000 // RATE
        sample, captured = self._times[0]
        return captured - (sample - packet_pts) * 1_000_000 // RATE

    def close(self) -> None:
        self.ctx = None


class OpusEncoder(FramedEncoder):
    format = "opus"

    def _open(self) -> av.CodecContext:
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = RATE
        ctx.layout = "stereo"
        ctx.format = "s16"
        ctx.bit_rate = OPUS_BITRATE
        ctx.options = {"application": "lowdelay", "frame_duration": str(FRAME_MS)}
        ctx.open()
        return ctx  # frame_size 480: 10 ms


class AacEncoder(FramedEncoder):
    """AAC-LC, 1024-sample frames (21.3 ms) in ADTS; FFmpeg's encoder wants planar floats."""

    format = "aac"

    def _open(self) -> av.CodecContext:
        ctx = av.CodecContext.create("aac", "w")
        ctx.sample_rate = RATE
        ctx.layout = "stereo"
        ctx.format = "fltp"
        ctx.bit_rate = AAC_BITRATE
        ctx.open()
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        return ctx

    def _convert(self, frame: av.AudioFrame) -> av.AudioFrame:
        (converted,) = self._resampler.resample(frame)  # s16 → fltp at one rate: sample for sample
        converted.pts = frame.pts
        return converted

    def _payload(self, packet: bytes) -> bytes:
        return adts_header(len(packet), RATE, CHANNELS) + packet


def adts_header(payload: int, rate: int, channels: int) -> bytes:
    """The 7-byte ADTS header (ISO 14496-3 1.A.2.2: MPEG-4, no CRC, AAC-LC) of one raw frame."""
    length = payload + ADTS_HEADER
    if length >= 1 << 13:
        raise ValueError(f"an AAC frame of {payload} bytes does not fit an ADTS header")
    profile = 1  # audio object type 2 (LC) minus one
    index = ADTS_RATES.index(rate)
    return bytes((0xFF, 0xF1, (profile << 6) | (index << 2) | (channels >> 2),
                  ((channels & 3) << 6) | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC))


def adts_payload(packet: bytes) -> bytes:
    """The raw AAC frame of one ADTS frame (``adts_header``'s, or one with a CRC): its header
    checked and cut. ValueError for anything else."""
    if len(packet) < ADTS_HEADER or packet[0] != 0xFF or packet[1] & 0xF0 != 0xF0:
        raise ValueError("an AAC packet without its ADTS header")
    header = ADTS_HEADER if packet[1] & 1 else ADTS_HEADER + 2  # protection_absent 0: a CRC follows
    length = (packet[3] & 3) << 11 | packet[4] << 3 | packet[5] >> 5
    if length != len(packet) or len(packet) <= header:
        raise ValueError(f"an ADTS frame of {len(packet)} bytes that says {length}")
    return packet[header:]


class PcmEncoder(AudioEncoder):
    """Raw s16le stereo, at 48 kHz or resampled to ``rate``; packets of 10 ms."""

    format = "pcm"

    def __init__(self, options: dict[str, Any]) -> None:
        unknown = set(options) - {"rate"}
        if unknown:
            raise ValueError(f"pcm takes only the option rate, not {sorted(unknown)}")
        rate = options.get("rate", RATE)
        if rate not in PCM_RATES:
            raise ValueError(f"pcm option rate must be one of {list(PCM_RATES)}, not {rate!r}")
        super().__init__(options)
        self.rate = rate
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=rate) if rate != RATE else None
        self._pending = b""
        self._pending_pts = 0

    def encode(self, pcm: bytes, pts: int) -> list[AudioPacket]:
        if self._resampler is not None:
            frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16",
                                               layout="stereo")
            frame.sample_rate = RATE
            pcm = b"".join(bytes(f.to_ndarray().tobytes()) for f in self._resampler.resample(frame))
        if not self._pending:
            self._pending_pts = pts
        self._pending += pcm
        frame_bytes = self.rate * FRAME_MS // 1000 * SAMPLE_BYTES
        packets = []
        while len(self._pending) >= frame_bytes:
            chunk, self._pending = self._pending[:frame_bytes], self._pending[frame_bytes:]
            packets.append(AudioPacket("pcm", self._pending_pts, chunk, len(chunk) // SAMPLE_BYTES))
            self._pending_pts += FRAME_MS * 1000
        return packets


AUDIO_ENCODERS: dict[str, type[AudioEncoder]] = {"opus": OpusEncoder, "aac": AacEncoder, "pcm": PcmEncoder}
