"""Audio encoders: 48 kHz stereo s16le PCM in, one stream format's packets out.

``opus`` is libopus through PyAV (FFmpeg's wrapper: the library every browser's WebCodecs
decoder and FreeRDP's decoder read), ``lowdelay`` application, 10 ms frames, 96 kbit/s.
``pcm`` is the captured samples as they are (s16le interleaved), resampled when the
subscriber asked for another rate (``rate``: 44100 for RDP clients that take only 44.1 kHz).

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


class OpusEncoder(AudioEncoder):
    format = "opus"

    def __init__(self, options: dict[str, Any]) -> None:
        if options:
            raise ValueError(f"opus takes no options, not {sorted(options)}")
        super().__init__(options)
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = RATE
        ctx.layout = "stereo"
        ctx.format = "s16"
        ctx.bit_rate = OPUS_BITRATE
        ctx.options = {"application": "lowdelay", "frame_duration": str(FRAME_MS)}
        ctx.open()
        self.ctx = ctx
        self.frame_samples = ctx.frame_size  # 480: 10 ms
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
            self._times.append((self._next_sample, self._pending_pts))
            self._next_sample += self.frame_samples
            self._pending_pts += self.frame_samples * 1_000_000 // RATE
            for packet in self.ctx.encode(frame):
                packets.append(AudioPacket("opus", self._capture_time(packet.pts), bytes(packet),
                                           packet.duration or self.frame_samples))
        return packets

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


AUDIO_ENCODERS: dict[str, type[AudioEncoder]] = {"opus": OpusEncoder, "pcm": PcmEncoder}
