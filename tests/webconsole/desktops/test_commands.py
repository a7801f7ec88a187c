"""`manage.py desktop …` run as a real process, against a real worker, as an operator would."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from PIL import Image

from tests.conftest import ROOT, session_home, session_process_env, wait_until
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


def manage(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = session_process_env(DJANGO_SETTINGS_MODULE="webconsole.config.django.test",
                              DATABASE_URL=f"sqlite:///{settings.DATABASES['default']['NAME']}")
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_desktop_command_lifecycle(celery_worker, tmp_path):
    User.objects.create_user("carol", password="pw")
    started = manage("desktop", "start", "--user", "carol", "--size", "800x600", "--wait")
    assert started.returncode == 0, started.stderr
    desktop_id = int(started.stdout.strip())
    session = DesktopSession.objects.get(pk=desktop_id)
    try:
        assert session.state == DesktopState.RUNNING
        listing = manage("desktop", "list")
        assert f"{desktop_id}" in listing.stdout and "carol" in listing.stdout and "800x600" in listing.stdout
        assert f"{session.unix_user}({session.uid})" in listing.stdout  # who it runs as
        assert "MiB/" in listing.stdout  # memory used / limit, from its cgroup

        marker = session_home(session) / "exec-marker"
        ran = manage("desktop", "exec", str(desktop_id), "--", "sh", "-c", f"echo $DISPLAY > {marker}")
        assert ran.returncode == 0, ran.stderr
        wait_until(lambda: marker.exists() and marker.read_text().strip() == session.display, 10,
                   message="exec'd program's output")

        shot = tmp_path / "shot.png"
        before = manage("desktop", "screenshot", str(desktop_id), str(shot))
        assert before.returncode == 0, before.stderr
        image_before = np.asarray(Image.open(shot).convert("L"), dtype=int)
        assert image_before.shape == (600, 800)

        typed = manage("desktop", "input", str(desktop_id), "--text", "echo typed-by-command")
        assert typed.returncode == 0, typed.stderr

        def screen_changed():
            manage("desktop", "screenshot", str(desktop_id), str(shot))
            return np.abs(np.asarray(Image.open(shot).convert("L"), dtype=int) - image_before).sum() > 0

        wait_until(screen_changed, 20, 0.5, "typed text to change the screen")

        resized = manage("desktop", "resize", str(desktop_id), "1024x700")
        assert resized.returncode == 0 and "1024x700" in resized.stdout
    finally:
        stopped = manage("desktop", "stop", str(desktop_id), "--wait")
    assert stopped.returncode == 0, stopped.stderr
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED


@pytest.mark.parametrize(("args", "message"), [
    (("desktop", "start", "--user", "nobody"), "no user named 'nobody'"),
    (("desktop", "start", "--user", "dave", "--size", "9x9"), "outside the allowed range"),
    (("desktop", "start", "--user", "dave", "--size", "big"), "size must look like"),
    (("desktop", "screenshot", "424242", "/tmp/x.png"), "no desktop 424242"),
    (("desktop", "stop", "424242"), "no desktop 424242"),
    (("desktop", "exec", "424242", "--", "true"), "no desktop 424242"),
])
def test_desktop_command_errors_are_clear(args, message):
    User.objects.create_user("dave", password="pw")
    result = manage(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_input_into_a_stopped_desktop_fails_cleanly():
    user = User.objects.create_user("erin", password="pw")
    session = DesktopSession.objects.create(owner=user, width=800, height=600, node="testnode",
                                            state=DesktopState.STOPPED)
    result = manage("desktop", "input", str(session.pk), "--text", "x")
    assert result.returncode != 0 and "is stopped, not running" in result.stderr
