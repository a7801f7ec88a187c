"""Known tones for the audio tests: a sine WAV to play in a desktop, and the FFT that finds a
tone's frequency in what a client heard."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_tone(path: Path, freq: float, seconds: float, rate: int = 48000, amplitude: float = 0.5) -> Path:
    """A stereo s16 WAV of a sine at ``freq`` Hz."""
    t = np.arange(int(seconds * rate)) / rate
    mono = (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(mono, 2).tobytes())
    return path


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """The frequency (Hz) of the strongest FFT bin of mono ``samples`` (any scale)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def loud(samples: np.ndarray, threshold: float) -> np.ndarray:
    """``samples`` from the first one louder than ``threshold`` (in their own scale)."""
    idx = np.flatnonzero(np.abs(samples) > threshold)
    return samples[idx[0]:] if len(idx) else samples[:0]
