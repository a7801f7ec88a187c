"""Tones and a recorder for the microphone tests: a program in the desktop (``parec`` from the
default source, started through the host's ``exec``) records, the test reads the samples and
measures the tone by FFT."""

from __future__ import annotations

import os
import signal
import subprocess
import wave
from pathlib import Path

import numpy as np

from compositor import processes
from tests.compositor.helpers import request
from tests.conftest import desktop_outdir, desktop_user, end_process, wait_until

RATE = 48000


def sine(freq: float, seconds: float, *, rate: int = RATE, amplitude: float = 0.5, channels: int = 1) -> bytes:
    """s16le PCM of a sine, ``channels`` interleaved copies."""
    t = np.arange(int(seconds * rate)) / rate
    mono = (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2")
    return np.repeat(mono, channels).tobytes()


def write_wav(path: Path, freq: float, seconds: float, *, rate: int = RATE, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(sine(freq, seconds, rate=rate, channels=channels))
    return path


def tone(samples: np.ndarray, *, rate: int = RATE, threshold: float = 0.05) -> tuple[float, float]:
    """(dominant frequency in Hz, seconds of sound) of the samples louder than ``threshold``
    (a fraction of full scale) in windows of 10 ms: the recording's silence is left out."""
    x = samples.astype(np.float64) / 32768
    window = rate // 100
    frames = x[:len(x) // window * window].reshape(-1, window)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > threshold
    if not loud.any():
        return 0.0, 0.0
    sound = frames[loud].reshape(-1)
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(len(sound))))
    peak = int(np.argmax(spectrum))
    # Parabolic interpolation between the bins around the peak.
    if 0 < peak < len(spectrum) - 1:
        a, b, c = np.log(spectrum[peak - 1:peak + 2] + 1e-12)
        peak += 0.5 * (a - c) / (a - 2 * b + c)
    return peak * rate / len(sound), loud.sum() * window / rate


class Recorder:
    """``parec`` in the desktop, recording its default source as raw s16le 48 kHz mono."""

    def __init__(self, host, name: str, user=None) -> None:
        """``user``: the desktop's account (the default test desktops' if not given)."""
        self.host = host
        self.out = desktop_outdir(user if user is not None else desktop_user(), name)
        self.path = self.out / "rec.raw"
        reply = request(host, "exec", argv=[
            "sh", "-c", f"pactl get-default-source > {self.out}/source.txt; "
            f"exec parec --raw --format=s16le --rate={RATE} --channels=1 --latency-msec=20 > {self.path}"])
        self.pid = reply.get("pid")
        # Recording: silence from the source's clock is already arriving.
        wait_until(lambda: self.path.exists() and self.path.stat().st_size > RATE // 5, 15, 0.05,
                   "parec to record the default source")

    @property
    def default_source(self) -> str:
        return (self.out / "source.txt").read_text().strip()

    def samples(self) -> np.ndarray:
        return np.fromfile(self.path, dtype="<i2")

    def stop(self) -> np.ndarray:
        if processes.pid_alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            wait_until(lambda: not processes.pid_alive(self.pid), 10, 0.05, "parec to end")
        return self.samples()


class ClientPulse:
    """A PulseAudio of the client's side (the machine an RDP client runs on): its default
    source is the monitor of a null sink into which ``pacat`` plays a tone, so a client that
    records its default microphone captures that tone."""

    def __init__(self, workdir: Path, freq: float, seconds: float = 30.0) -> None:
        self.dir = workdir / "client-pulse"
        self.dir.mkdir(mode=0o700)
        socket = self.dir / "native"
        script = self.dir / "default.pa"
        script.write_text(
            f"load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n"
            f"load-module module-null-sink sink_name=tone rate={RATE} channels=1\n"
            "set-default-source tone.monitor\n")
        self.env = {"PULSE_SERVER": f"unix:{socket}", "PULSE_RUNTIME_PATH": str(self.dir),
                    "PULSE_STATE_PATH": str(self.dir), "PULSE_COOKIE": str(self.dir / "cookie"),
                    "XDG_CONFIG_HOME": str(self.dir / "config")}
        (self.dir / "client.conf").write_text("autospawn = no\n")
        self.env["PULSE_CLIENTCONFIG"] = str(self.dir / "client.conf")
        env = dict(os.environ, **self.env, HOME=str(self.dir))
        self.daemon = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--system=no", "--use-pid-file=no", "-n", "-F", str(script),
             "--exit-idle-time=-1", "--realtime=no", "--high-priority=no", "--log-target=stderr",
             "--log-level=error"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.player: subprocess.Popen | None = None
        try:
            wait_until(lambda: socket.exists(), 10, 0.05, "the client's PulseAudio")
            (self.dir / "tone.raw").write_bytes(sine(freq, seconds))
            with open(self.dir / "tone.raw", "rb") as raw:
                self.player = subprocess.Popen(
                    ["pacat", "--playback", "--raw", "--format=s16le", f"--rate={RATE}", "--channels=1",
                     "--device=tone", "--latency-msec=50"], env=env, stdin=raw,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for proc in (self.player, self.daemon):
            if proc is not None:
                end_process(proc)
