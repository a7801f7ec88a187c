"""The desktop's microphone: audio the front ends send (``messages.Microphone``) becomes a
source of the desktop's sound server that its programs record from (docs/microphone.md).

The desktop's sound server (compositor/sound.py, reached through the session's
``PULSE_SERVER``) loads at its start (``source_lines``) a null sink ``wrd-microphone-input``
(48 kHz mono s16le) and a ``module-remap-source`` over its monitor named ``wrd-microphone``,
the default source. The null sink
runs on the server's clock, so the source is a real one: programs read silence from it while
no audio comes, and the front ends' audio when it does. The audio goes in through one
``pacat --playback`` into that sink, fed through a pipe the host writes without blocking.

Bounds: ``Pacer`` admits a stream at most ``SLACK`` seconds ahead of real time (a token
bucket over the host's monotonic clock; a stream that fell behind may catch up, never more than
``CAPACITY`` seconds ahead); what comes faster is dropped and logged once per burst. pacat's own
buffer is ``LATENCY_MS``, and the pipe to it holds at most 64 KiB (0.7 s); a write it cannot
take is dropped too, never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import time
from collections.abc import Callable, Mapping

from compositor import processes
from compositor.messages import MICROPHONE_CHANNELS, MICROPHONE_RATE

log = logging.getLogger(__name__)

SOURCE = "wrd-microphone"
SINK = "wrd-microphone-input"
BYTES_PER_SECOND = MICROPHONE_RATE * MICROPHONE_CHANNELS * 2
SLACK = 0.5  # seconds of audio a stream may run ahead of real time
CAPACITY = 1.0  # seconds of credit a stream behind real time may catch up with (then ahead at most this)
LATENCY_MS = 60
HOLD = 1.0  # seconds a sender keeps the microphone after its last audio


def source_lines() -> list[str]:
    """The sound server's start-up script lines (compositor/sound.py) that make the source and
    make it the default one."""
    return [
        f"load-module module-null-sink sink_name={SINK} format=s16le rate={MICROPHONE_RATE} "
        f"channels={MICROPHONE_CHANNELS} sink_properties=device.description=WRD-microphone-input",
        f"load-module module-remap-source source_name={SOURCE} master={SINK}.monitor "
        f"channels={MICROPHONE_CHANNELS} source_properties=device.description=WRD-microphone",
        f"set-default-source {SOURCE}",
    ]


class Pacer:
    """How much of what arrives to keep: a token bucket filled at ``rate`` bytes a second.
    A stream starts with ``slack`` seconds of audio in hand, so it can run at most that far
    ahead of real time; a stream that stalls (a late network, a busy machine) gains credit
    while it is behind, up to ``capacity`` seconds, so its backlog still plays. Time is passed
    in (seconds of a monotonic clock)."""

    def __init__(self, rate: int = BYTES_PER_SECOND, slack: float = SLACK, capacity: float = CAPACITY) -> None:
        self.rate = rate
        self.slack = int(rate * slack)
        self.capacity = int(rate * max(capacity, slack))
        self.tokens = float(self.slack)
        self.at: float | None = None
        self.dropped = 0  # bytes dropped in the current burst (0: not dropping)
        self.dropped_total = 0

    def restart(self, now: float) -> None:
        """A new stream (another sender, or after a pause): ``slack`` in hand again."""
        self.tokens = float(self.slack)
        self.at = now

    def admit(self, nbytes: int, now: float) -> int:
        """Bytes of ``nbytes`` to keep (whole samples, from the start)."""
        if self.at is not None:
            self.tokens = min(float(self.capacity), self.tokens + (now - self.at) * self.rate)
        self.at = now
        keep = min(nbytes, int(self.tokens)) & ~1
        self.tokens -= keep
        return keep


class Microphone:
    """The desktop's microphone source, fed by ``feed``. ``env`` gives the session's
    environment (``PULSE_SERVER`` and what the sound server's clients need)."""

    def __init__(self, env: Callable[[], Mapping[str, str]], *, session: str = "", cwd: str = "/") -> None:
        self._env = env
        self.session = session
        self.cwd = cwd
        self.pacer = Pacer()
        self._pacat: subprocess.Popen | None = None
        self._unavailable_logged = False
        self.owner: object | None = None  # who is speaking (a control connection)
        self._owner_at = 0.0
        self._refused: set[int] = set()  # ids of senders told once that the microphone is taken
        self.received = 0
        self.written = 0

    @property
    def ready(self) -> bool:
        """The sound server runs, with the source its start-up script loaded (``source_lines``)."""
        return bool(self._env().get("PULSE_SERVER"))

    # -- audio in -----------------------------------------------------------------------------

    def feed(self, pcm: bytes, now: float | None = None, *, sender: object = None) -> int:
        """Audio for the source (s16le, 48 kHz, mono) from ``sender``; the bytes kept. One
        sender at a time has the microphone, until it has sent nothing for ``HOLD`` seconds:
        two streams interleaved would be noise, so the others' audio is dropped meanwhile."""
        now = time.monotonic() if now is None else now
        self.received += len(pcm)
        if sender is not self.owner and self.owner is not None and now - self._owner_at < HOLD:
            if id(sender) not in self._refused:
                self._refused.add(id(sender))
                log.info("microphone audio dropped: another connection is sending session=%s", self.session)
            return 0
        if sender is not self.owner or now - self._owner_at > HOLD:
            self.owner = sender
            self._refused.clear()
            self.pacer.restart(now)
        self._owner_at = now
        keep = self.pacer.admit(len(pcm), now)
        if keep < len(pcm):
            self._dropped(len(pcm) - keep, "faster than real time")
        elif self.pacer.dropped:
            log.info("microphone audio flows again after %d bytes dropped session=%s", self.pacer.dropped,
                     self.session)
            self.pacer.dropped = 0
        if not keep:
            return 0
        if not self.ready:
            if not self._unavailable_logged:
                self._unavailable_logged = True
                log.info("microphone audio dropped: the desktop has no sound server session=%s", self.session)
            return 0
        return self._write(pcm[:keep])

    def release(self, sender: object) -> None:
        """``sender`` is gone: the next sender has the microphone at once."""
        if self.owner is sender:
            self.owner = None

    def _dropped(self, nbytes: int, why: str) -> None:
        if not self.pacer.dropped:
            log.warning("microphone audio dropped: %s (kept %.1f s ahead at most) session=%s", why, SLACK,
                        self.session)
        self.pacer.dropped += nbytes
        self.pacer.dropped_total += nbytes

    def _write(self, pcm: bytes) -> int:
        pacat = self._player()
        if pacat is None or pacat.stdin is None:
            return 0
        try:
            written = os.write(pacat.stdin.fileno(), pcm)
        except BlockingIOError:
            written = 0
        except (BrokenPipeError, OSError) as exc:
            log.info("microphone player ended (%s) session=%s", exc, self.session)
            self._stop_player()
            return 0
        if written < len(pcm):
            self._dropped(len(pcm) - written, "the sound server does not take it")
        self.written += written
        return written

    def _player(self) -> subprocess.Popen | None:
        if self._pacat is not None and self._pacat.poll() is not None:
            self._stop_player()
        if self._pacat is None:
            argv = ["pacat", "--playback", "--raw", "--format=s16le", f"--rate={MICROPHONE_RATE}",
                    f"--channels={MICROPHONE_CHANNELS}", f"--device={SINK}", f"--latency-msec={LATENCY_MS}",
                    "--client-name=WRD microphone", "--stream-name=microphone"]
            try:
                self._pacat = subprocess.Popen(argv, env=dict(self._env()), cwd=self.cwd, stdin=subprocess.PIPE,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                               start_new_session=True)
            except OSError as exc:
                log.warning("microphone player not started: %s session=%s", exc, self.session)
                return None
            os.set_blocking(self._pacat.stdin.fileno(), False)  # type: ignore[union-attr]
        return self._pacat

    def _stop_player(self) -> None:
        pacat, self._pacat = self._pacat, None
        if pacat is not None:
            if pacat.stdin is not None:
                with contextlib.suppress(OSError):
                    pacat.stdin.close()
            processes.end(pacat, timeout=1.0)

    async def close(self) -> None:
        if self.received:
            log.info("microphone: %d bytes received, %d written, %d dropped session=%s", self.received, self.written,
                     self.pacer.dropped_total, self.session)
        await asyncio.to_thread(self._stop_player)
