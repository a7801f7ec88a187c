"""A recording asked for in the console is launched by the real Celery worker on the desktop's
node, runs detached from it, and writes an H.264 MP4 of the desktop."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from compositor import processes
from compositor.client import BlockingHostClient
from tests.conftest import session_process_env, wait_until
from webconsole.desktops import services as desktop_services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.recordings import services
from webconsole.recordings.models import Recording, RecordingState

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")]


@pytest.fixture(autouse=True)
def session_home(monkeypatch):
    monkeypatch.setenv("HOME", session_process_env()["HOME"])


def test_recording_through_the_worker(celery_worker):
    alice = User.objects.create_user("alice", password="pw")
    admin = User.objects.create_user("admin", password="pw", is_staff=True)
    desktop = desktop_services.desktop_create(user=alice, width=800, height=600)
    try:
        wait_until(lambda: DesktopSession.objects.get(pk=desktop.pk).state == DesktopState.RUNNING, 40, 0.2,
                   "the desktop to run")
        desktop.refresh_from_db()
        recording = services.recording_start(desktop=desktop, user=admin)  # enqueued on commit
        wait_until(lambda: Recording.objects.get(pk=recording.pk).origin_us is not None, 40, 0.2,
                   "the worker's recorder to write the first picture")
        recording.refresh_from_db()
        assert services.recorder_alive(recording)
        parent = int(Path(f"/proc/{recording.recorder_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert parent != celery_worker.pid, "the recorder is not the worker's child"
        with BlockingHostClient(desktop.socket_path) as host:
            for word in ("echo recorded ", "through the worker\n"):
                host.request("input", events=[{"t": "move", "x": 100, "y": 100}, {"t": "text", "text": word}])
        wait_until(lambda: Recording.objects.get(pk=recording.pk).duration > 2.0, 20, 0.2, "two seconds recorded")
        services.recording_stop(recording=recording, user=admin)
        wait_until(lambda: Recording.objects.get(pk=recording.pk).state != RecordingState.RECORDING, 20, 0.2,
                   "the recorder to finish")
        recording.refresh_from_db()
        assert recording.state == RecordingState.FINISHED, recording.error
        wait_until(lambda: not processes.pid_alive(recording.recorder_pid), 10, 0.1, "the recorder to exit")
        info = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration",
             "-of", "json", str(recording.path)], capture_output=True, text=True, timeout=30, check=True).stdout)
        video = [s for s in info["streams"] if "width" in s]  # the sound's track has no size
        assert [(s["codec_name"], s["width"], s["height"]) for s in video] == [("h264", 800, 600)]
        assert abs(float(info["format"]["duration"]) - recording.duration) < 0.5
    finally:
        desktop_services.desktop_stop(session=DesktopSession.objects.get(pk=desktop.pk))
