"""The session's audio streams: the desktop's output recorded once, encoded once per format.

Audio is a stream like video: a front end subscribes to ``opus``, ``aac`` (RDP clients that
decode it) or ``pcm`` with the usual ``subscribe`` request and gets ``frame`` pushes (``codec``,
``pts``, one packet as payload).
Every subscriber of one (format, options) shares one encoder (``AudioGroup``), as for video.

While somebody subscribes, ``parec`` (a client of the desktop's sound server, run as the
desktop's user with the session's token) records the null sink's monitor as 48 kHz stereo
s16le with a 10 ms fragment; with no subscriber nothing records or encodes.

Audio frames are not flow-controlled by acknowledgements: a listener that falls behind loses
the oldest audio rather than delaying the rest (its connection's send buffer is bounded by the
host, and each front end keeps its own bounded queue). Digital silence is not sent: after
``SILENCE_TAIL`` silent frames the stream pauses until sound comes again, so a quiet desktop
costs no bandwidth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compositor import messages, processes
from compositor.encoders import options_key
from compositor.sound import CHANNELS, MONITOR, RATE, SoundServer

if TYPE_CHECKING:
    from compositor.encoders.audio import AudioEncoder, AudioPacket
    from compositor.host import Connection

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line

FORMATS = ("opus", "aac", "pcm")
CAPTURE_LATENCY_MS = 10
READ_SIZE = RATE * CHANNELS * 2 * CAPTURE_LATENCY_MS // 1000  # bytes of one fragment
PTS_SLACK_US = 40_000  # a read this close to where the last one ended continues it
SILENCE_TAIL = 20  # silent 10 ms chunks still sent after sound (the decoders' tails play out)


@dataclass(eq=False)
class AudioSubscription:
    conn: Connection
    stream: int
    group: AudioGroup
    sent_seq: int = 0
    acked_seq: int = 0  # not used for pacing; kept so front ends may acknowledge audio as video


@dataclass(eq=False)
class AudioGroup:
    fmt: str
    options: dict[str, Any]
    encoder: AudioEncoder
    subscribers: list[AudioSubscription] = field(default_factory=list)
    packets: int = 0


class AudioStreams:
    """Every audio stream of one session. ``env()`` is the session's environment (the recorder
    is one of its processes, found by its token)."""

    def __init__(self, sound: SoundServer, *, session: str, env: Callable[[], dict[str, str]],
                 cwd: os.PathLike) -> None:
        self.sound = sound
        self.session = session
        self.groups: dict[tuple, AudioGroup] = {}
        self._env = env
        self._cwd = cwd
        self._recorder: subprocess.Popen | None = None
        self._silent_run = SILENCE_TAIL
        self._next_pts = 0  # µs: where the last read ended on the capture clock
        self.captured_bytes = 0

    @staticmethod
    def handles(fmt: str) -> bool:
        return fmt in FORMATS

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(self, conn: Connection, fmt: str, options: dict[str, Any], stream: int) -> AudioSubscription:
        """A new audio stream for ``conn``. ValueError for a bad format or option, or when the
        desktop has no sound server."""
        from compositor.encoders.audio import AUDIO_ENCODERS  # PyAV is loaded on first need

        if not self.sound.running:
            raise ValueError("the desktop has no sound server")
        key = (fmt, options_key(options))
        group = self.groups.get(key)
        if group is None:
            group = AudioGroup(fmt, options, AUDIO_ENCODERS[fmt](dict(options)))
            self.groups[key] = group
            log.info("audio encoder started format=%s options=%s session=%s", fmt, options, self.session)
        sub = AudioSubscription(conn, stream, group)
        group.subscribers.append(sub)
        self._start_recorder()
        return sub

    def unsubscribe(self, sub: AudioSubscription) -> None:
        group = sub.group
        if sub in group.subscribers:
            group.subscribers.remove(sub)
        if not group.subscribers:
            group.encoder.close()
            self.groups = {k: g for k, g in self.groups.items() if g is not group}
            log.info("audio encoder ended format=%s session=%s", group.fmt, self.session)
        if not self.groups:
            self._stop_recorder()

    def acknowledge(self, sub: AudioSubscription, seq: int) -> None:
        if sub.acked_seq < seq <= sub.sent_seq:
            sub.acked_seq = seq

    def status(self) -> list[dict[str, Any]]:
        """One entry per audio encoder, in the form of the video encoders' status."""
        return [{"format": g.fmt, "subscribers": len(g.subscribers), "keyframes": 0, "catch_ups": 0}
                for g in self.groups.values()]

    def close(self) -> None:
        self._stop_recorder()
        for group in self.groups.values():
            group.encoder.close()
        self.groups = {}

    # -- the recorder ---------------------------------------------------------------------

    def _start_recorder(self) -> None:
        if self._recorder is not None and self._recorder.poll() is None:
            return
        binary = shutil.which("parec")
        if binary is None:
            raise ValueError("parec (pulseaudio-utils) is not installed: no audio capture")
        argv = [binary, "--raw", "--format=s16le", f"--rate={RATE}", f"--channels={CHANNELS}",
                f"--latency-msec={CAPTURE_LATENCY_MS}", f"--device={MONITOR}", f"--server={self.sound.server}",
                "--client-name=wrd-capture", "--stream-name=desktop output"]
        proc = processes.spawn(argv, self._env(), self._cwd, stdout=subprocess.PIPE, stderr=None)
        os.set_blocking(proc.stdout.fileno(), False)
        self._recorder = proc
        self._silent_run = SILENCE_TAIL
        asyncio.get_running_loop().add_reader(proc.stdout.fileno(), self._on_readable)
        log.info("audio capture started pid=%d session=%s", proc.pid, self.session)

    def _stop_recorder(self) -> None:
        proc, self._recorder = self._recorder, None
        if proc is None:
            return
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(proc.stdout.fileno())
        processes.end(proc, timeout=1.0)
        proc.stdout.close()
        log.info("audio capture ended session=%s", self.session)

    def _on_readable(self) -> None:
        proc = self._recorder
        if proc is None:
            return
        now = time.monotonic()
        try:
            data = os.read(proc.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            log.warning("audio capture ended by itself status=%s session=%s", proc.poll(), self.session)
            self._stop_recorder()
            if self.groups and self.sound.running:
                asyncio.get_running_loop().call_later(1.0, self._restart)
            return
        self.captured_bytes += len(data)
        # The last byte read was recorded about now: the first one a read's length earlier.
        duration = len(data) * 1_000_000 // (RATE * CHANNELS * 2)
        pts = int(now * 1_000_000) - duration
        # Reads come late by the scheduler's whims: a read that follows on from the last keeps
        # the sample clock (continuous, increasing pts); a gap (a restart, silence) re-anchors.
        if abs(pts - self._next_pts) < PTS_SLACK_US:
            pts = self._next_pts
        self._next_pts = pts + duration
        if not any(data):
            if self._silent_run >= SILENCE_TAIL:
                return
            self._silent_run += 1
        else:
            self._silent_run = 0
        for group in list(self.groups.values()):
            try:
                packets = group.encoder.encode(data, pts)
            except Exception:
                log.exception("audio encoder %s failed session=%s", group.fmt, self.session)
                continue
            for packet in packets:
                self._send(group, packet)

    def _restart(self) -> None:
        if self.groups and self._recorder is None and self.sound.running:
            with contextlib.suppress(ValueError):
                self._start_recorder()

    def _send(self, group: AudioGroup, packet: AudioPacket) -> None:
        """One packet to every subscriber of the group: its header encoded once."""
        group.packets += 1
        header, payload = messages.Frame(stream=0, seq=0, codec=packet.codec, pts=packet.pts,
                                         payload=packet.payload).encode()
        for sub in group.subscribers:
            sub.sent_seq += 1
            sub.conn.send_frame(header, payload, sub.stream, sub.sent_seq)
