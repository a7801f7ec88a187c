"""An idle desktop with a real Chromium viewer attached costs daphne and the session host
nothing: not one wake-up (kernel context-switch counters, not timings) over a quiet stretch;
and a change of the user's account still closes the open viewer, pushed by the console
(webconsole/core/changes.py) rather than polled."""

from __future__ import annotations

import time

import pytest

from tests.idle_counters import threads, wait_quiet, work_over

pytestmark = pytest.mark.timeout(240)

CONNECTED = "() => document.getElementById('wrd-viewer').dataset.state === 'connected'"
QUIET = 5.0  # seconds measured
UNUSED_SOCKETS_CLOSED = 11.0  # Chromium's unused idle socket timeout (10 s), and a second



def test_an_idle_viewer_wakes_neither_daphne_nor_the_host_and_a_sign_out_still_closes_it(
        redis_server, browser, stack):
    from harness import browser_context

    console, host = stack["console"], stack["host"]
    dave = console.add_user("dave")
    desktop = console.add_desktop(dave["id"], host)
    context = browser_context(browser, console, dave["cookie"], viewport={"width": 1100, "height": 850})
    try:
        page = context.new_page()
        page.goto(f"{console.url}/desktops/{desktop}/view")
        page.wait_for_function(CONNECTED, timeout=20000)
        # Chromium closes the page's unused spare HTTP connections 10 s after loading it: a
        # one-off the client causes, let pass before the quiet stretch is looked for.
        time.sleep(UNUSED_SOCKETS_CLOSED)
        pids = {"daphne": console.proc.pid, "host": host.pid}
        wait_quiet(pids, 3.0, time.monotonic() + 60)
        work = work_over(pids, QUIET)
        assert work["daphne"].switches == 0, f"daphne woke up: {work} threads {threads(pids['daphne'])}"
        assert work["host"].switches == 0, f"host woke up: {work} threads {threads(pids['host'])}"
        assert work["daphne"].ticks == work["host"].ticks == 0
        assert page.evaluate("document.getElementById('wrd-viewer').dataset.state") == "connected"

        console.django(f"from django.contrib.auth.models import User\n"
                       f"u = User.objects.get(pk={dave['id']}); u.set_password('another-pw'); u.save()")
        page.wait_for_function(
            "() => document.getElementById('wrd-viewer').dataset.state === 'unauthenticated'", timeout=15000)
        assert "Not signed in" in page.inner_text("#wrd-viewer")
    finally:
        context.close()
