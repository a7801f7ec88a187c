"""``manage.py record <recording id>``: the recorder process of one recording.

Launched by ``recordings.services.recording_launch`` with ``--detach`` (it forks, the child
starts its own session and the parent prints the child's pid and exits, so the recorder is
nobody's child: a worker restart leaves it running). SIGTERM or SIGINT finish the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webconsole.recordings import services
from webconsole.recordings.models import Recording, RecordingState
from webconsole.recordings.recorder import Progress, record

log = logging.getLogger("webconsole.recordings.recorder")


class Command(BaseCommand):
    help = "Record a desktop into the recording's MP4 file (the recorder process)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("recording", type=int)
        parser.add_argument("--detach", action="store_true", help="fork into the background, print its pid")
        parser.add_argument("--log-file", help="append the recorder's log lines here")

    def handle(self, *args, recording: int, detach: bool, log_file: str | None, **options) -> None:
        rec = Recording.objects.select_related("desktop").filter(pk=recording).first()
        if rec is None or rec.state != RecordingState.RECORDING:
            raise CommandError(f"no recording {recording} waiting to be recorded")
        socket_path = rec.desktop.socket_path
        if socket_path is None:
            raise CommandError(f"desktop {rec.desktop_id} has no session host")
        path = services.recordings_dir() / rec.file
        if detach:
            self._detach()
        if log_file:
            handler = logging.FileHandler(log_file)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            logging.getLogger().addHandler(handler)
            logging.getLogger().setLevel(logging.INFO)
        from django.db import connections

        connections.close_all()  # opened before the fork; this process opens its own
        asyncio.run(self._record(rec, socket_path, path))

    @staticmethod
    def _detach() -> None:
        sys.stdout.flush()
        pid = os.fork()
        if pid:
            os.write(1, f"{pid}\n".encode())
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)

    async def _record(self, rec: Recording, socket_path, path) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        label = f"{rec.pk} desktop={rec.desktop_id}"

        def progress(p: Progress) -> None:  # database writes off the event loop
            loop.run_in_executor(None, lambda: services.recording_progress(
                recording_id=rec.pk, size=p.size, duration=p.duration, has_audio=p.has_audio,
                origin_us=p.origin_us, origin_wall=p.origin_wall))

        outcome = await record(socket_path, path, stop=stop, label=label, on_progress=progress,
                               max_bytes=settings.WRD_RECORDING_MAX_BYTES)
        p = outcome.progress
        await asyncio.to_thread(services.recording_finish, recording_id=rec.pk, size=p.size, duration=p.duration,
                                has_audio=p.has_audio, error=outcome.reason if outcome.failed else "",
                                failed=outcome.failed, origin_us=p.origin_us)
