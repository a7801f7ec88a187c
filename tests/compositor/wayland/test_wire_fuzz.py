"""The compositor's request handling fuzzed over its real socket (``wire_fuzz.py``): at least
10,000 requests (``WRD_FUZZ_INPUTS``) handled, from clients that bind every global and then
send random and mutated requests with a sync every few. The compositor must stay up, answer
every sync of a client that broke no rule (a hang fails the sync's timeout), log no
traceback, and still serve a well-behaved client afterwards. Only requests the compositor
had handled by a sync it answered are counted (those after a protocol error never reach it)."""

from __future__ import annotations

import os
import random
import time

from tests.compositor.wayland.conftest import Session
from tests.compositor.wayland.wire_fuzz import WireClient

INPUTS = int(os.environ.get("WRD_FUZZ_INPUTS", "10000"))
REQUESTS_PER_CLIENT = 40
SYNC_EVERY = 4


def test_random_requests_never_take_the_compositor_down(session: Session, need) -> None:
    need("weston-simple-shm")
    path = str(session.runtime / "wayland-0")
    rng = random.Random(0xF022)
    handled = clients = disconnected = 0
    started = time.monotonic()
    while handled < INPUTS:
        client = WireClient(path, rng)
        try:
            assert client.bind_globals(), "the compositor dropped a client that only bound its globals"
            try:
                for i in range(REQUESTS_PER_CLIENT):
                    client.random_request()
                    if i % SYNC_EVERY == SYNC_EVERY - 1 and client.sync() is None:  # a hang: TimeoutError
                        disconnected += 1
                        break
            except (BrokenPipeError, ConnectionResetError):
                disconnected += 1
        finally:
            handled += client.answered
            clients += 1
            client.close()
        assert session.compositor is not None and session.compositor.poll() is None, \
            f"the compositor exited after {handled} requests; log:\n{session.log_text()[-3000:]}"
    seconds = time.monotonic() - started
    print(f"wayland: {handled} requests handled from {clients} clients ({disconnected} disconnected for a "
          f"protocol error) in {seconds:.1f} s, 0 crashes")
    assert "Traceback" not in session.log_text(), session.log_text()[-3000:]
    witness = session.spawn(["weston-simple-shm"])
    session.wait_window("simple-shm")
    assert witness.poll() is None
