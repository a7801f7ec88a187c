"""The recorder: a subscriber of one desktop's session host, like the front ends, writing what
it receives into an MP4 (``mp4.MP4Writer``) without decoding or encoding anything.

It subscribes to the desktop's shared H.264 stream with the browser's shared options (so it
joins the encoder browsers and RDP clients already use: no second encode) and the variant
``images="h264"``: every update comes as H.264, none as lossless images or copies, which an
MP4 cannot carry (compositor/encoders/h264.py, ``PURE``). Sound, the host's ``aac`` stream,
is a second subscription; a host without a sound server refuses it with an error reply and
the recording is picture only.

What the host sends is untrusted (the desktop's user can take over their own host): frames
pass through the typed protocol's checks, a frame that is not H.264 is dropped with a log
line, the file stops growing at ``max_bytes``, and a packet the muxer refuses ends the
recording with a clear error rather than anything else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from compositor import messages
from compositor.client import HostClient, HostError
from compositor.encoders.h264 import PURE
from webconsole.recordings.mp4 import MP4Writer

log = logging.getLogger(__name__)

VIDEO_FORMAT = "h264"
VIDEO_OPTIONS = {"images": PURE}  # the shared ("balanced") stream's options, and the pure variant
# AAC: the desktop's RDP clients take it and browsers accept it, so a recorded desktop keeps
# one sound encode for everybody (docs/audio.md); H.264 + AAC in MP4 plays everywhere.
AUDIO_FORMAT = "aac"
WINDOW = 32  # frames in flight: the recorder acknowledges each as soon as it is written
PROGRESS_SECONDS = 2.0


@dataclass
class Progress:
    size: int
    duration: float
    has_audio: bool
    video_packets: int
    audio_packets: int
    origin_us: int | None  # the host-clock time (µs) of the file's time zero
    origin_wall: float | None  # the same moment as a unix time


@dataclass
class Outcome:
    progress: Progress
    reason: str  # why it ended: "stopped", "desktop ended", "size limit", or an error
    failed: bool = False


class Recorder:
    def __init__(self, socket_path: Path, path: Path, *, label: str = "",
                 on_progress: Callable[[Progress], None] | None = None, max_bytes: int = 0) -> None:
        self.socket_path = Path(socket_path)
        self.path = Path(path)
        self.label = label
        self.on_progress = on_progress
        self.max_bytes = max_bytes
        self.writer: MP4Writer | None = None
        self.video_stream: int | None = None
        self.audio_stream: int | None = None
        self.dropped: dict[str, int] = {}
        self._host: HostClient | None = None
        self._done = asyncio.Event()
        self._reason = ""
        self._failed = False

    def progress(self) -> Progress:
        w = self.writer
        size = self.path.stat().st_size if self.path.exists() else 0
        return Progress(size=size, duration=w.duration if w else 0.0, has_audio=self.audio_stream is not None,
                        video_packets=w.video_packets if w else 0, audio_packets=w.audio_packets if w else 0,
                        origin_us=w.origin_us if w else None, origin_wall=self._origin_wall())

    def _origin_wall(self) -> float | None:
        if self.writer is None or self.writer.origin_us is None:
            return None
        return time.time() - (time.monotonic_ns() // 1000 - self.writer.origin_us) / 1_000_000

    def _end(self, reason: str, *, failed: bool = False) -> None:
        if not self._done.is_set():
            self._reason, self._failed = reason, failed
            self._done.set()

    async def run(self, stop: asyncio.Event) -> Outcome:
        """Record until ``stop`` is set, the desktop ends, or something fails."""
        host = HostClient(on_event=self._event)
        try:
            await host.connect(self.socket_path)
        except HostError as exc:
            return Outcome(self.progress(), f"cannot reach the desktop: {exc}", failed=True)
        self._host = host
        try:
            await self._subscribe(host)
        except HostError as exc:
            await host.close()
            return Outcome(self.progress(), f"the desktop refused the video stream: {exc}", failed=True)
        stopper = asyncio.create_task(stop.wait())
        closed = asyncio.create_task(host.closed.wait())
        done = asyncio.create_task(self._done.wait())
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.wait({stopper, closed, done}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                self._end("stopped")
            elif host.closed.is_set():
                self._end("desktop ended")
        finally:
            for task in (stopper, closed, done, ticker):
                task.cancel()
            await host.close()
            if self.writer is not None:
                try:
                    self.writer.finish(time.monotonic_ns() // 1000)
                except (av.FFmpegError, OSError) as exc:
                    self._end(f"could not finish the file: {exc}", failed=True)
        progress = self.progress()
        if self.on_progress is not None:
            self.on_progress(progress)
        if self.writer is None or not self.writer.video_packets:
            return Outcome(progress, self._reason or "no picture received", failed=True)
        return Outcome(progress, self._reason, failed=self._failed)

    async def _subscribe(self, host: HostClient) -> None:
        def audio_subscribed(reply: messages.SubscribeReply) -> None:
            self.audio_stream = reply.stream

        try:
            await host.call(messages.Subscribe(format=AUDIO_FORMAT, options={}, window=WINDOW),
                            on_reply=audio_subscribed)
        except HostError as exc:
            log.info("recording %s without sound: the desktop has no %s stream (%s)", self.label, AUDIO_FORMAT, exc)
        self.writer = MP4Writer(self.path, audio=AUDIO_FORMAT if self.audio_stream is not None else None)

        def video_subscribed(reply: messages.SubscribeReply) -> None:
            self.video_stream = reply.stream

        await host.call(messages.Subscribe(format=VIDEO_FORMAT, options=VIDEO_OPTIONS, window=WINDOW),
                        on_reply=video_subscribed)
        log.info("recording %s: video stream %s, audio stream %s, to %s", self.label, self.video_stream,
                 self.audio_stream, self.path)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            if self.writer is not None and self.writer.started and not self._done.is_set():
                try:
                    self.writer.still(time.monotonic_ns() // 1000)
                except (av.FFmpegError, ValueError, OSError) as exc:
                    log.warning("recording %s: could not add a still picture (%s): ended", self.label, exc)
                    self._end(f"could not write: {exc}", failed=True)
            progress = self.progress()
            if self.max_bytes and progress.size >= self.max_bytes:
                log.warning("recording %s reached its size limit (%d bytes): ended", self.label, self.max_bytes)
                self._end("size limit")
            if self.on_progress is not None:
                self.on_progress(progress)

    def _event(self, push: messages.Push) -> None:
        if isinstance(push, messages.Bye):
            self._end("desktop ended")
            return
        if not isinstance(push, messages.Frame) or self.writer is None or self._done.is_set():
            return
        if push.stream not in (self.video_stream, self.audio_stream):
            return
        assert self._host is not None
        try:
            self._host.send(messages.Ack(stream=push.stream, seq=push.seq))
        except HostError:
            return  # the connection is going; run() sees it closed
        if push.pts is None:
            self._drop("frames without pts")
            return
        try:
            if push.stream == self.video_stream:
                if push.codec != "h264":
                    self._drop(f"{push.codec} frames")
                    return
                self.writer.video(push.payload, push.pts, key=bool(push.key), width=push.width or 0,
                                  height=push.height or 0, coded=push.coded)
            elif push.codec in (None, AUDIO_FORMAT):
                self.writer.audio(push.payload, push.pts)
        except (av.FFmpegError, ValueError, OSError) as exc:
            log.warning("recording %s: the muxer refused a packet from the desktop (%s): ended", self.label, exc)
            self._end(f"bad packet from the desktop: {exc}", failed=True)

    def _drop(self, what: str) -> None:
        if what not in self.dropped:
            log.warning("recording %s: dropping %s (not part of an MP4)", self.label, what)
        self.dropped[what] = self.dropped.get(what, 0) + 1


async def record(socket_path: Path, path: Path, *, stop: asyncio.Event, label: str = "",
                 on_progress: Callable[[Progress], None] | None = None, max_bytes: int = 0) -> Outcome:
    started = time.monotonic()
    outcome = await Recorder(socket_path, path, label=label, on_progress=on_progress,
                             max_bytes=max_bytes).run(stop)
    log.info("recording %s ended after %.1f s (%s): %d bytes, %.1f s of picture", label,
             time.monotonic() - started, outcome.reason, outcome.progress.size, outcome.progress.duration)
    return outcome


def main(argv: list[str] | None = None) -> None:
    """``python -m webconsole.recordings.recorder SOCKET OUT.mp4 [--seconds N]``: record a
    host socket into a file without the console (benchmarks, operators' checks); SIGTERM or
    SIGINT finish the file."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("socket", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: at a signal)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def run() -> Outcome:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.seconds > 0:
            loop.call_later(args.seconds, stop.set)
        return await record(args.socket, args.output, stop=stop, label=str(args.output))

    outcome = asyncio.run(run())
    raise SystemExit(1 if outcome.failed else 0)


if __name__ == "__main__":
    main()
