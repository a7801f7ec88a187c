"""Running shell commands inside a test desktop (as its user, in its mount namespace, where
``~/Drives`` is mounted) and reading what they printed."""

from __future__ import annotations

import asyncio
import shlex
import time
import uuid
from pathlib import Path

from compositor import messages
from compositor.client import BlockingHostClient
from compositor.launcher import LaunchedHost
from tests.conftest import desktop_outdir, desktop_user


def _exec(host: LaunchedHost, argv: list[str]) -> None:
    with BlockingHostClient(host.socket_path) as client:
        client.call(messages.Exec(tuple(argv)))


async def session_sh(host: LaunchedHost, script: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``sh -c script`` in the desktop; its exit status and output (stdout and stderr)."""
    outdir = desktop_outdir(desktop_user(), "drive")
    tag = uuid.uuid4().hex[:8]
    out, status = outdir / f"{tag}.out", outdir / f"{tag}.status"
    wrapped = f"( {script} ) > {shlex.quote(str(out))} 2>&1; echo $? > {shlex.quote(str(status))}.tmp; " \
              f"mv {shlex.quote(str(status))}.tmp {shlex.quote(str(status))}"
    await asyncio.to_thread(_exec, host, ["sh", "-c", wrapped])
    deadline = time.monotonic() + timeout
    while not status.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the desktop's command did not finish within {timeout:g} s: {script}")
        await asyncio.sleep(0.05)
    return int(status.read_text()), out.read_text(errors="replace")


async def wait_in_session(host: LaunchedHost, script: str, timeout: float = 20.0) -> str:
    """Run ``script`` until it succeeds; its output."""
    deadline = time.monotonic() + timeout
    while True:
        code, output = await session_sh(host, script)
        if code == 0:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f"{script!r} kept failing: {output}")
        await asyncio.sleep(0.3)


def drives_dir(host: LaunchedHost) -> Path:
    return Path(host.home) / "Drives"
