"""The session's audio streams: the desktop's output recorded once, encoded once per format.

Audio is a stream like video: a front end subscribes to ``opus``, ``aac`` (RDP clients that
decode it) or ``pcm`` with the usual ``subscribe`` request and gets ``frame`` pushes (``codec``,
``pts``, one packet as payload).
Every subscriber of one (format, options) shares one encoder (``AudioGroup``), as for video.

A subscriber that can decode more than one compressed format says so with the option
``accept`` (the other formats, e.g. a browser asking for ``opus`` with ``accept: ["aac"]``), so
that one encode serves both front ends: it joins a running encoder of any format it accepts, and
when a subscriber that takes only one format starts an encoder of that format, the subscribers
of other encoders that accept it move onto it (their frames' ``codec`` changes; the encoders
left without subscribers end). An RDP client that decodes AAC and not Opus and a browser that
decodes both then share the one AAC encoder, whoever came first.

While somebody subscribes and some program plays to the desktop's sink, ``parec`` (a client of
the desktop's sound server, run as the desktop's user with the session's token) records the
null sink's monitor as 48 kHz stereo s16le with a 10 ms fragment. Whether a program plays comes
from the sound server's own events (``PlaybackWatch``: ``pactl subscribe``, which sleeps until
something changes), so a listener on a quiet desktop costs no recording, no encoding and no
wake-ups; the first ~50 ms of a sound that starts while nothing played are lost to the
recorder's start.

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
from compositor.sound import CHANNELS, MONITOR, RATE, SINK, SoundServer

if TYPE_CHECKING:
    from compositor.encoders.audio import AudioEncoder, AudioPacket
    from compositor.host import Connection

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line

FORMATS = ("opus", "aac", "pcm")
SHAREABLE = ("opus", "aac")  # formats without options, which ``accept`` may name
CAPTURE_LATENCY_MS = 10
READ_SIZE = RATE * CHANNELS * 2 * CAPTURE_LATENCY_MS // 1000  # bytes of one fragment
PTS_SLACK_US = 40_000  # a read this close to where the last one ended continues it
SILENCE_TAIL = 20  # silent 10 ms chunks still sent after sound (the decoders' tails play out)


def accepted_formats(fmt: str, accept: Any) -> tuple[str, ...]:
    """The formats a subscriber asking for ``fmt`` decodes: ``fmt`` first, then those of its
    ``accept`` option (a list of ``SHAREABLE`` formats). ValueError for anything else."""
    if accept is None:
        return (fmt,)
    if fmt not in SHAREABLE:
        raise ValueError(f"accept: only {', '.join(SHAREABLE)} subscribers may take another format, not {fmt}")
    if not isinstance(accept, list) or len(accept) > len(SHAREABLE) or not all(a in SHAREABLE for a in accept):
        raise ValueError(f"accept: a list of formats among {', '.join(SHAREABLE)}, not {accept!r:.60}")
    return (fmt, *(a for a in accept if a != fmt))


def _read_output(proc: subprocess.Popen, size: int) -> bytes | None:
    """What a child watched with ``add_reader`` wrote: None when nothing is there yet, b""
    when its output ended."""
    try:
        return os.read(proc.stdout.fileno(), size)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _end_watched(proc: subprocess.Popen) -> None:
    """Stop watching a child's output, end the child, close the pipe."""
    with contextlib.suppress(ValueError, OSError):
        asyncio.get_running_loop().remove_reader(proc.stdout.fileno())
    processes.end(proc, timeout=1.0)
    proc.stdout.close()


@dataclass(eq=False)
class AudioSubscription:
    conn: Connection
    stream: int
    group: AudioGroup
    accept: tuple[str, ...] = ()  # other formats this subscriber decodes (the ``accept`` option)
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
        self.playback = PlaybackWatch(sound, session=session, env=env, cwd=cwd, on_change=self._capture_as_needed)

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
        options = dict(options)
        accept = accepted_formats(fmt, options.pop("accept", None))
        if shutil.which("parec") is None:
            raise ValueError("parec (pulseaudio-utils) is not installed: no audio capture")
        group = self.groups.get((fmt, options_key(options)))
        if group is None and not options:
            group = next((g for g in self.groups.values() if g.fmt in accept and not g.options), None)
        started = group is None
        if group is None:
            group = AudioGroup(fmt, options, AUDIO_ENCODERS[fmt](dict(options)))
            self.groups[(fmt, options_key(options))] = group
            log.info("audio encoder started format=%s options=%s session=%s", fmt, options, self.session)
        sub = AudioSubscription(conn, stream, group, accept)
        group.subscribers.append(sub)
        if started and not options:
            self._gather(group)
        self.playback.start()
        self._capture_as_needed()
        return sub

    def _gather(self, group: AudioGroup) -> None:
        """Move onto the new ``group`` every subscriber of another encoder that accepts its
        format; the encoders this empties end."""
        for other in [g for g in self.groups.values() if g is not group]:
            movers = [sub for sub in other.subscribers if group.fmt in sub.accept]
            for sub in movers:
                other.subscribers.remove(sub)
                sub.group = group
                group.subscribers.append(sub)
            if movers:
                log.info("audio subscribers moved from %s to %s count=%d session=%s", other.fmt, group.fmt,
                         len(movers), self.session)
                self._end_if_unused(other)

    def _end_if_unused(self, group: AudioGroup) -> None:
        if not group.subscribers:
            group.encoder.close()
            self.groups = {k: g for k, g in self.groups.items() if g is not group}
            log.info("audio encoder ended format=%s session=%s", group.fmt, self.session)

    def unsubscribe(self, sub: AudioSubscription) -> None:
        group = sub.group
        if sub in group.subscribers:
            group.subscribers.remove(sub)
        self._end_if_unused(group)
        if not self.groups:
            self.playback.stop()
            self._stop_recorder()

    def acknowledge(self, sub: AudioSubscription, seq: int) -> None:
        if sub.acked_seq < seq <= sub.sent_seq:
            sub.acked_seq = seq

    def status(self) -> list[dict[str, Any]]:
        """One entry per audio encoder, in the form of the video encoders' status."""
        return [{"format": g.fmt, "subscribers": len(g.subscribers), "keyframes": 0, "catch_ups": 0}
                for g in self.groups.values()]

    def close(self) -> None:
        self.playback.stop()
        self._stop_recorder()
        for group in self.groups.values():
            group.encoder.close()
        self.groups = {}

    # -- the recorder ---------------------------------------------------------------------

    def _capture_as_needed(self) -> None:
        """Record while somebody listens and something plays; otherwise stop recording."""
        if self.groups and self.playback.playing and self.sound.running:
            with contextlib.suppress(ValueError):
                self._start_recorder()
        else:
            self._stop_recorder()

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
        _end_watched(proc)
        log.info("audio capture ended session=%s", self.session)

    def _on_readable(self) -> None:
        proc = self._recorder
        if proc is None:
            return
        now = time.monotonic()
        if (data := _read_output(proc, 1 << 16)) is None:
            return
        if not data:
            log.warning("audio capture ended by itself status=%s session=%s", proc.poll(), self.session)
            self._stop_recorder()
            if self.groups and self.playback.playing and self.sound.running:
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
        if self._recorder is None:
            self._capture_as_needed()

    def _send(self, group: AudioGroup, packet: AudioPacket) -> None:
        """One packet to every subscriber of the group: its header encoded once."""
        group.packets += 1
        header, payload = messages.Frame(stream=0, seq=0, codec=packet.codec, pts=packet.pts,
                                         payload=packet.payload).encode()
        for sub in group.subscribers:
            sub.sent_seq += 1
            sub.conn.send_frame(header, payload, sub.stream, sub.sent_seq)


class PlaybackWatch:
    """Whether any program plays to the desktop's sink (``SINK``), kept from the sound server's
    events while ``start``ed: ``pactl subscribe`` prints a line per change, and each batch of
    lines about sink inputs or sinks leads to one ``pactl list short`` of both, whose answer
    says which inputs play to ``SINK`` (the microphone's feeder plays to a sink of its own).
    ``on_change`` is called when the answer flips."""

    def __init__(self, sound: SoundServer, *, session: str, env: Callable[[], dict[str, str]], cwd: os.PathLike,
                 on_change: Callable[[], None]) -> None:
        self.sound = sound
        self.session = session
        self.playing = False
        self._env = env
        self._cwd = cwd
        self._on_change = on_change
        self._events: subprocess.Popen | None = None
        self._pending = b""
        self._refresh_task: asyncio.Task | None = None
        self._again = False

    def start(self) -> None:
        if self._events is not None and self._events.poll() is None:
            return
        binary = shutil.which("pactl")
        if binary is None:
            log.warning("pactl (pulseaudio-utils) is not installed: audio recorded whenever somebody listens")
            self._set(True)
            return
        proc = processes.spawn([binary, f"--server={self.sound.server}", "subscribe"], self._env(), self._cwd,
                               stdout=subprocess.PIPE)
        os.set_blocking(proc.stdout.fileno(), False)
        self._events = proc
        asyncio.get_running_loop().add_reader(proc.stdout.fileno(), self._on_readable)
        self._refresh()  # what plays already; changes from now on come as events

    def stop(self) -> None:
        proc, self._events = self._events, None
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            self._refresh_task = None
        self.playing = False
        if proc is not None:
            _end_watched(proc)

    def _on_readable(self) -> None:
        proc = self._events
        if proc is None:
            return
        if (data := _read_output(proc, 1 << 14)) is None:
            return
        if not data:
            log.warning("sound server events ended status=%s session=%s", proc.poll(), self.session)
            self.stop()
            if self.sound.running:
                asyncio.get_running_loop().call_later(1.0, self._resume)
            return
        *lines, self._pending = (self._pending + data).split(b"\n")
        if any(b" on sink-input " in line or b" on sink " in line for line in lines):
            self._refresh()

    def _resume(self) -> None:
        if self._events is None and self.sound.running:
            self.start()
            self._on_change()

    def _refresh(self) -> None:
        if self._refresh_task is not None and not self._refresh_task.done():
            self._again = True  # one more listing once this one is read
            return
        self._refresh_task = asyncio.get_running_loop().create_task(self._list())

    async def _list(self) -> None:
        while True:
            self._again = False
            try:
                sinks, inputs = await asyncio.to_thread(self._query)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("could not list the sound server's sink inputs: %s", exc)
                return
            self._set(playing_to(SINK, sinks=sinks, inputs=inputs))
            if not self._again:
                return

    def _query(self) -> tuple[str, str]:
        def pactl(*args: str) -> str:
            return subprocess.run(["pactl", f"--server={self.sound.server}", "list", "short", *args],
                                  env=self._env(), cwd=self._cwd, capture_output=True, text=True, timeout=5,
                                  check=True).stdout

        return pactl("sinks"), pactl("sink-inputs")

    def _set(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            log.info("desktop sound %s session=%s", "playing" if playing else "quiet", self.session)
            self._on_change()


def playing_to(sink: str, *, sinks: str, inputs: str) -> bool:
    """Whether ``pactl list short sink-inputs`` (``inputs``) has an input on the sink named
    ``sink`` in ``pactl list short sinks`` (``sinks``); both tab-separated, index first."""
    index = next((cols[0] for cols in (line.split("\t") for line in sinks.splitlines())
                  if len(cols) > 1 and cols[1] == sink), None)
    return index is not None and any(
        len(cols) > 1 and cols[1] == index for cols in (line.split("\t") for line in inputs.splitlines()))
