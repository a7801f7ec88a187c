"""Strangers who never log in cannot keep a user out: with 500 idle TCP connections, 200 TLS
handshakes sent a byte at a time and 50 login forms flooded with keys (``preauth_flood.py``,
its own process, from other loopback addresses), a real xfreerdp user logs in and types within
2 s of how long that takes with no one else there, and the server's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from compositor.display import Xvfb
from rdpfront.server import RdpServer, ServerSettings
from tests.compositor.helpers import start_host, stop_host
from tests.rdpfront.xfreerdp import PASSWORD, Harness, client_xvfb, close_server, typed_into_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

WIDTH, HEIGHT = 800, 600
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def host() -> Iterator:
    launched = start_host(WIDTH, HEIGHT)
    try:
        yield launched
    finally:
        stop_host(launched)


@pytest.fixture(scope="module")
def display() -> Iterator[Xvfb]:
    with client_xvfb(WIDTH, HEIGHT) as xvfb:
        yield xvfb


@pytest.fixture
async def harness(host, display, tmp_path) -> AsyncIterator[Harness]:
    async def authenticate(username: str, password: str, address: str) -> bool:
        return username == "alice" and password == PASSWORD

    async def attach(username: str, width: int, height: int) -> Path:
        return host.socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert", handshake_timeout=10.0),
                       authenticate=authenticate, attach=attach)
    port = await server.start()
    (tmp_path / "home").mkdir()
    rig = Harness(server, port, display, tmp_path / "home")
    try:
        yield rig
    finally:
        await rig.stop_clients()
        await close_server(server)


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


async def _log_in_and_type(harness: Harness, host, name: str) -> tuple[float, float]:
    """Seconds from starting xfreerdp to its first frame, and for a word typed in it to reach a
    program in the session; the client is closed afterwards."""
    started = time.monotonic()
    before = set(harness.server.connections)
    proc = await harness.client()
    deadline = started + 60
    while time.monotonic() < deadline:
        if [c for c in harness.server.connections - before if c.first_frame_at is not None]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"xfreerdp got no frame; its output:\n{harness.output(proc)[-3000:]}")
    logged_in = time.monotonic() - started

    async def type_word() -> None:
        await harness.xdotool("mousemove", "300", "300")  # the pointer over the client's window gives it the keys
        await harness.xdotool("type", "--delay", "20", "hello")
        await harness.xdotool("key", "Return")

    typing_started = time.monotonic()
    text = await typed_into_session(host, name, type_word)
    typed = time.monotonic() - typing_started
    assert text == "hello\n", f"typed {text!r}"
    await harness.stop_clients()
    return logged_in, typed


async def _loop_lag(lags: list[float]) -> None:
    """How late the server's event loop wakes a 50 ms sleep, again and again."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(0.05)
        lags.append(time.monotonic() - started - 0.05)


async def test_strangers_that_never_log_in_do_not_keep_a_user_out(harness, host) -> None:
    server = harness.server
    quiet = await _log_in_and_type(harness, host, "quiet")
    rss_before = _rss_mib()

    flood = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.rdpfront.preauth_flood", str(harness.port), "40", cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        started = json.loads(await asyncio.wait_for(flood.stdout.readline(), 60))
        assert started == {"started": True}
        lags: list[float] = []
        probe = asyncio.create_task(_loop_lag(lags))
        await asyncio.sleep(3)  # the forms are flooding, the TLS handshakes trickling
        waiting = [c for c in server.connections if c.waiting_for_login]
        assert len(waiting) <= server.settings.max_unauthenticated
        assert server.login_forms_shown() <= server.settings.max_login_forms
        loaded = await _log_in_and_type(harness, host, "loaded")
        rss_during = _rss_mib()
        probe.cancel()
        counts = json.loads(await asyncio.wait_for(flood.stdout.readline(), 60))
    finally:
        if flood.returncode is None:
            flood.kill()
        await flood.wait()
    print(f"log-in {quiet[0]:.2f} s quiet, {loaded[0]:.2f} s under the flood; typing {quiet[1]:.2f} s, "
          f"{loaded[1]:.2f} s; event loop late by {1000 * max(lags):.0f} ms at most, "
          f"{1000 * sorted(lags)[len(lags) // 2]:.1f} ms median; "
          f"server RSS {rss_before:.0f} MiB before, {rss_during:.0f} MiB during; "
          f"flood: {counts}")
    assert counts["idle_open"] == 500 and counts["slow_tls_open"] == 200  # every one reached the server
    assert counts["form_shown"] > 0 and counts["form_dropped"] > 0  # forms were reached, floods cut off
    assert loaded[0] <= quiet[0] + 2.0, "logging in took more than 2 s longer under the flood"
    assert loaded[1] <= quiet[1] + 2.0, "typing took more than 2 s longer under the flood"
    assert rss_during - rss_before < 150, "the server's memory grew by more than 150 MiB"
