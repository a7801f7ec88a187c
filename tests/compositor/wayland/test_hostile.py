"""Hostile clients are disconnected; the compositor and other clients keep running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.compositor.wayland.conftest import Session

HOSTILE = Path(__file__).with_name("hostile_client.py")


def _run_hostile(session: Session, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HOSTILE), mode], env=session.client_env, capture_output=True,
                          timeout=30)


def test_shrunk_shm_file_is_a_protocol_error_and_compositor_survives(session: Session, need) -> None:
    need("weston-simple-shm")
    witness = session.spawn(["weston-simple-shm"])
    _, x, y, w, h = session.wait_window("simple-shm")
    result = _run_hostile(session, "shrink")
    assert result.returncode == 0, result
    assert b"result error=71" in result.stdout  # EPROTO: a protocol error, not a hang-up
    assert b"error accessing SHM buffer" in result.stderr
    assert session.compositor is not None and session.compositor.poll() is None
    # The other client still animates.
    a = session.screen()[y:y + h, x:x + w]
    time.sleep(0.2)
    assert not np.array_equal(a, session.screen()[y:y + h, x:x + w])
    assert witness.poll() is None


@pytest.mark.parametrize(("mode", "stderr"), [
    ("destroyed", b"invalid object"),
    ("flood", b""),  # the compositor drops a client that never reads its events
    ("oversize", b"too large"),
    ("bad_stride", b"invalid"),
])
def test_bad_requests_and_floods_disconnect_only_that_client(session: Session, mode: str, stderr: bytes) -> None:
    result = _run_hostile(session, mode)
    assert result.returncode == 0, result
    assert stderr in result.stderr
    assert session.compositor is not None and session.compositor.poll() is None
    # A new client is served normally afterwards.
    check = _run_hostile(session, "shrink")
    assert b"result error=71" in check.stdout
