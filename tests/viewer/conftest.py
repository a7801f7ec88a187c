from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

from tests.conftest import desktop_outdir, desktop_user

NEEDS = ("Xvfb", "xterm", "xauth", "xev")


def _missing() -> list[str]:
    missing = [b for b in NEEDS if shutil.which(b) is None]
    if not Path(harness.CHROMIUM).exists():
        missing.append("chromium")
    return missing


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A session host, the console with alice (owner), bob (another user), and alice's desktop."""
    if missing := _missing():
        pytest.skip(f"not installed: {', '.join(missing)}")
    workdir = tmp_path_factory.mktemp("viewer")
    user = desktop_user("viewer")
    host = harness.start_host(workdir, width=1024, height=768, user=user)
    console = harness.Console(workdir)
    try:
        console.setup()
        alice = console.add_user("alice")
        bob = console.add_user("bob")
        desktop = console.add_desktop(alice["id"], host)
        console.start()
        yield {"host": host, "console": console, "alice": alice, "bob": bob, "desktop": desktop,
               "workdir": workdir, "outdir": desktop_outdir(user, "viewer")}
    finally:
        console.close()
        host.close()


@pytest.fixture(scope="module")
def browser(stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = harness.launch_chromium(p)
        try:
            yield b
        finally:
            b.close()
