"""The desktop's sound server (compositor/sound.py): a real PulseAudio per session, as the
desktop's user, found by the session's programs, ended with the session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compositor import processes
from tests.compositor.helpers import request, start_host, stop_host
from tests.conftest import desktop_outdir, desktop_user, wait_until


@pytest.fixture(scope="module")
def host():
    h = start_host(640, 480)
    yield h
    stop_host(h)


def run_in_desktop(host, script: str, name: str) -> str:
    """Run ``script`` (sh) in the desktop as its user; its stdout and stderr."""
    out = desktop_outdir(desktop_user(), name)
    request(host, "exec", argv=["sh", "-c", f"{{ {script} ; }} > {out}/out.txt 2>&1; touch {out}/done"])
    wait_until(lambda: (out / "done").exists(), 20, 0.1, f"{name} in the desktop")
    return (out / "out.txt").read_text()


def pulse_pid(host) -> int:
    server = request(host, "status").get("sound_server")
    assert server == f"unix:{host.runtime_dir}/pulse/native"
    pids = [p for p in processes.pids_with_token(json.loads((host.runtime_dir / "host.json").read_text())["token"])
            if Path(f"/proc/{p}/exe").resolve().name == "pulseaudio"]
    assert len(pids) == 1, pids
    return pids[0]


def test_programs_in_the_desktop_reach_its_own_sound_server(host):
    info = run_in_desktop(host, "env | grep ^PULSE_; pactl info; pactl list short sinks", "pactl")
    user = desktop_user()
    assert f"PULSE_SERVER=unix:{host.runtime_dir}/pulse/native" in info
    assert f"Server String: unix:{host.runtime_dir}/pulse/native" in info
    assert "Default Sink: wrd_out" in info
    assert "Default Sample Specification: s16le 2ch 48000Hz" in info
    assert "wrd_out\tmodule-null-sink.c\ts16le 2ch 48000Hz" in info
    if user is not None:
        assert f"User Name: {user.name}" in info
        assert processes.uid_of(pulse_pid(host)) == user.uid
        assert not (Path(user.home) / ".config" / "pulse").exists()  # nothing in the home
    # no autospawn: a client that loses the server does not start another one
    conf = next(line.split("=", 1)[1] for line in info.splitlines() if line.startswith("PULSE_CLIENTCONFIG="))
    assert "autospawn = no" in Path(conf).read_text()


def test_the_server_stays_when_idle_and_refuses_to_be_told_to_exit(host):
    pid = pulse_pid(host)
    out = run_in_desktop(host, "pactl exit; echo status=$?", "exit")
    assert "status=1" in out
    assert processes.pid_alive(pid)


def test_stopping_the_session_ends_its_sound_server():
    h = start_host(640, 480)
    try:
        pid = pulse_pid(h)
        assert (h.runtime_dir / "pulse" / "native").exists()
        request(h, "stop")
        wait_until(lambda: not processes.pid_alive(h.pid), 15, message="the host to exit")
        assert not processes.pid_alive(pid)
        assert not (h.runtime_dir / "pulse").exists()
    finally:
        stop_host(h)
