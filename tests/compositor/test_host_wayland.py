"""Sessions with the Wayland compositor: Wayland apps beside X11 apps, and a compositor crash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from compositor import processes
from tests.compositor.helpers import request, screenshot, session_env, start_host, stop_host
from tests.conftest import wait_until

pytestmark = pytest.mark.skipif(shutil.which("weston-simple-shm") is None, reason="weston is not installed")


@pytest.fixture(scope="module")
def host():
    h = start_host(1024, 768, wayland=True)
    yield h
    stop_host(h)


def compositor_pids(host) -> list[int]:
    token = json.loads((host.runtime_dir / "host.json").read_text())["token"]
    return [p for p in processes.pids_with_token(token)
            if b"compositor.wayland" in Path(f"/proc/{p}/cmdline").read_bytes() and processes.pid_alive(p)]


def end_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def animates(host) -> bool:
    first = screenshot(host).astype(int)
    for _ in range(20):
        later = screenshot(host).astype(int)
        if np.abs(later - first).sum() > 0:
            return True
    return False


def test_session_serves_wayland_and_a_wayland_app_draws(host):
    status = request(host, "status").header
    assert status["wayland_display"] == "wayland-0"
    assert (host.runtime_dir / "wayland-0").exists()
    out = host.runtime_dir / "wl-env.txt"
    request(host, "exec", argv=["sh", "-c", f"echo $WAYLAND_DISPLAY > {out}"])
    wait_until(lambda: out.exists() and out.read_text().strip() == "wayland-0", 10, message="WAYLAND_DISPLAY")
    pid = request(host, "exec", argv=["weston-simple-shm"]).get("pid")
    try:
        wait_until(lambda: animates(host), 20, 0.2, "weston-simple-shm to animate on the session screen")
    finally:
        end_pid(pid)


def test_a_dead_compositor_is_restarted_and_x_apps_are_unaffected(host):
    (old,) = wait_until(lambda: compositor_pids(host), 10, message="the compositor process")
    xclock = subprocess.Popen(["xclock"], env=session_env(host), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        os.kill(old, signal.SIGKILL)
        new = wait_until(lambda: [p for p in compositor_pids(host) if p != old], 20, 0.2,
                         "a new compositor")
        assert new
        wait_until(lambda: request(host, "status").get("wayland_display") == "wayland-0", 20, 0.2,
                   "WAYLAND_DISPLAY to be served again")
        assert xclock.poll() is None  # the X11 app kept running
        pid = request(host, "exec", argv=["weston-simple-shm"]).get("pid")
        try:
            wait_until(lambda: animates(host), 20, 0.2, "a Wayland app to draw after the restart")
        finally:
            end_pid(pid)
    finally:
        xclock.terminate()
        xclock.wait()
