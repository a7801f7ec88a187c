"""A viewer whose desktop's session host dies (kill -9) is told at once: the page leaves the
connected state (reconnecting), and shows the stopped state once the desktop is marked so.
Runs last in its own module: it ends the module's host."""

from __future__ import annotations

import os
import signal

from test_viewer_e2e import close_page, open_viewer

from webconsole.viewer.protocol import CloseCode


def test_every_close_code_is_one_a_server_may_send():
    """RFC 6455 leaves servers 1000 and the application's 4000-4999 (Daphne refuses others)."""
    assert all(code == 1000 or 4000 <= code <= 4999 for code in CloseCode)


def test_a_killed_host_is_seen_by_its_viewer(browser, stack):
    page = open_viewer(browser, stack)
    try:
        os.kill(stack["host"].pid, signal.SIGKILL)
        page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state !== 'connected'",
                               timeout=10000)
        stack["console"].set_state(stack["desktop"], "failed")
        page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'stopped'", timeout=20000)
    finally:
        close_page(page)
