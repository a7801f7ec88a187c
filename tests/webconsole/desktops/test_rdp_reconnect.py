"""RDP auto-reconnect through the product: ``manage.py rdpserver`` with the console's hooks, a
Celery worker that starts the desktop, and Debian's xfreerdp whose connection a TCP relay
resets; the client comes back to the same desktop by its cookie, and the audit log says so."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from django.contrib.auth.models import User

from compositor.client import BlockingHostClient
from tests.conftest import end_process, wait_until
from tests.rdpfront.relay import RelayThread
from tests.webconsole.desktops.test_rdp_login import (  # noqa: F401 (fixtures)
    client_display,
    client_matches_session,
    rdpserver,
    xfreerdp,
)
from webconsole.audit.models import AuditEvent
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed")
@pytest.mark.django_db(transaction=True)
def test_a_dropped_client_is_back_on_its_desktop_by_its_cookie(rdpserver, client_display, tmp_path):  # noqa: F811
    user = User.objects.create_user("arcuser", password="arc-pass-123")
    log_path = tmp_path / "rdpserver.log"
    session = None
    with RelayThread(rdpserver) as relay:
        # TLS security: under NLA the client proves its password again instead (docs/rdp-server.md).
        client = xfreerdp(client_display, relay.port, "arcuser", "arc-pass-123", tmp_path, "/sec:tls",
                          "+auto-reconnect", "/auto-reconnect-max-retries:5")
        try:
            session = wait_until(lambda: DesktopSession.objects.filter(
                owner=user, state=DesktopState.RUNNING).first(), 60, 0.3, "the desktop to run")
            wait_until(lambda: client_matches_session(client_display, session), 30, 0.5,
                       "the FreeRDP window to show the session")
            issued = wait_until(lambda: re.search(r"auto-reconnect cookie (\w+) issued user=arcuser",
                                                  log_path.read_text()), 20, 0.2, "a cookie")
            time.sleep(2.0)  # the cookie, sent after activation, reaches the client well within this
            assert relay.cut() == 1
            wait_until(lambda: f"auto-reconnect cookie {issued[1]} taken: user=arcuser" in log_path.read_text(),
                       30, 0.2, "the client to come back with its cookie")
            # The desktop changes after the drop: the client shows it over its new connection.
            with BlockingHostClient(session.socket_path) as host:
                host.request("exec", argv=["xsetroot", "-solid", "#5a2d82"])
            wait_until(lambda: client_matches_session(client_display, session), 30, 0.5,
                       "the reconnected FreeRDP window to show the session")
            assert client.poll() is None
            assert [s.pk for s in DesktopSession.objects.filter(owner=user)] == [session.pk]
            event = AuditEvent.objects.get(action="rdp.reconnect")
            assert (event.actor_id, event.actor_name, event.address) == (user.pk, "arcuser", "127.0.0.1")
            assert (event.target_type, event.target_id) == ("desktop", str(session.pk))
            assert not AuditEvent.objects.filter(action="rdp.reconnect_refused").exists()
            # The reconnected connection was given a fresh cookie of its own.
            assert len(re.findall(r"auto-reconnect cookie \w+ issued user=arcuser", log_path.read_text())) == 2
        finally:
            end_process(client)
            if session is not None:
                services.desktop_stop(session=DesktopSession.objects.get(pk=session.pk))
