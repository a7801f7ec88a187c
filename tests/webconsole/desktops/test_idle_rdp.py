"""An idle desktop with Debian's xfreerdp attached costs its session host and `manage.py
rdpserver` nothing: not one wake-up (kernel context-switch counters, not timings), while an
account or policy change still reaches the open connection at once (pushed by the console
through Redis, webconsole/core/changes.py, instead of a recheck every few seconds).

Real parts: the rdpserver process, a Celery worker that starts the desktop, Redis, the session
host, and xfreerdp on its own Xvfb.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import psutil
import pytest
from django.contrib.auth.models import User

from tests.conftest import end_process, wait_until
from tests.idle_counters import threads, wait_quiet, work_over
from tests.rdpfront.xfreerdp import client_xvfb
from tests.webconsole.desktops.test_rdp_login import (
    client_matches_session,
    rdpserver_process,
    xfreerdp,
)
from tests.webconsole.policies.conftest import override
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

QUIET = 5.0  # seconds measured
PASSWORD = "idle-pass-1"


def _listener(port: int) -> int:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return conn.pid
    raise AssertionError(f"nothing listens on port {port}")



def test_an_idle_rdp_connection_wakes_neither_host_nor_rdp_server_and_a_policy_change_still_ends_it(
        celery_worker, redis_server, tmp_path):
    user = User.objects.create_user("idler", password=PASSWORD)
    with client_xvfb(1024, 768) as display, rdpserver_process(tmp_path) as port:
        client = xfreerdp(display, port, "idler", PASSWORD, tmp_path)
        session = None
        try:
            session = wait_until(lambda: DesktopSession.objects.filter(
                owner=user, state=DesktopState.RUNNING).first(), 60, 0.3, "the desktop to run")
            wait_until(lambda: client_matches_session(display, session), 30, 0.5,
                       "the FreeRDP window to show the session")
            pids = {"host": session.host_pid, "rdpserver": _listener(port)}
            wait_quiet(pids, 2.0, time.monotonic() + 60)
            work = work_over(pids, QUIET)
            assert work["host"].switches == 0, f"host woke up: {work} threads {threads(pids['host'])}"
            assert work["rdpserver"].switches == 0, f"rdpserver woke up: {work} threads {threads(pids['rdpserver'])}"
            assert work["host"].ticks == work["rdpserver"].ticks == 0
            assert client.poll() is None

            # Nothing polls any more: the change is pushed, and ends the connection with the reason.
            override(user, rdp_access=False)
            try:
                output = client.communicate(timeout=20)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                pytest.fail("the RDP connection outlived the policy change")
            assert "ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES" in output, output[-2000:]
        finally:
            end_process(client)
            if session is not None:
                services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))
