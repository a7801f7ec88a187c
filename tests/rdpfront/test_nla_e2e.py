"""NLA end to end with the real xfreerdp 2.11 on its own Xvfb, the window read back as pixels:
``/sec:nla`` and the default (which offers NLA) log in through CredSSP, ``/sec:tls`` still
works, a server that requires NLA refuses ``/sec:tls``; a console user logs in through Django
(the stored NT hash, the login throttle, the audit log), a wrong password is refused and
counted like the other doors', a user without a stored hash is told what to do."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rdpfront.server import RdpServer, ServerSettings
from rdpfront.x224 import SecurityProtocol
from tests.rdpfront.xfreerdp import Harness, harness_for, start_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]


def _server_factory(host, client_display, tmp_path):
    async def make(nla: str) -> AsyncIterator[Harness]:
        server, port = await start_server(tmp_path, host.socket_path, nla=nla)
        return harness_for(server, port, client_display, tmp_path)
    return make


async def _logged_in(rdp: Harness, host, *args: str) -> SecurityProtocol:
    await rdp.client(*args)
    await rdp.wait_first_frame()
    await rdp.wait_pixels_match(host, tolerance=1.0)
    (connection,) = rdp.server.connections
    return connection.conn.acceptor.selected_protocol


@pytest.mark.parametrize(("args", "protocol"), [(("/sec:nla",), SecurityProtocol.HYBRID),
                                                ((), SecurityProtocol.HYBRID),
                                                (("/sec:tls",), SecurityProtocol.SSL)],
                         ids=["sec-nla", "default", "sec-tls"])
async def test_nla_offered(host, client_display, tmp_path, args: tuple[str, ...], protocol: SecurityProtocol) -> None:
    async with await _server_factory(host, client_display, tmp_path)("offer") as rdp:
        assert await _logged_in(rdp, host, *args) == protocol
        (connection,) = rdp.server.connections
        assert connection.authenticated and connection.login.username == "alice"
        if protocol == SecurityProtocol.HYBRID:
            assert "nla" in connection.milestones


async def test_wrong_password_is_refused_by_nla(host, client_display, tmp_path, caplog) -> None:
    async with await _server_factory(host, client_display, tmp_path)("offer") as rdp:
        proc = await rdp.client("/sec:nla", password="wrong")
        await asyncio.wait_for(proc.wait(), 20)
        output = await rdp.finished_output(proc)
    assert proc.returncode != 0
    assert "ERRCONNECT_LOGON_FAILURE" in output
    assert "NLA login refused: FAILED" in caplog.text


async def test_a_server_requiring_nla_refuses_tls(host, client_display, tmp_path) -> None:
    async with await _server_factory(host, client_display, tmp_path)("require") as rdp:
        proc = await rdp.client("/sec:tls")
        await asyncio.wait_for(proc.wait(), 20)
        output = await rdp.finished_output(proc)
        assert proc.returncode != 0
        assert "HYBRID_REQUIRED_BY_SERVER" in output or "ERRCONNECT_SECURITY_NEGO_CONNECT_FAILED" in output
        assert await _logged_in(rdp, host, "/sec:nla") == SecurityProtocol.HYBRID


# ---- a console user, through Django ------------------------------------------------------------

CONSOLE_PASSWORD = "console-pass-123"


@pytest.fixture
async def console_rdp(host, client_display, tmp_path) -> AsyncIterator[Harness]:
    """The server as ``manage.py rdpserver`` wires it (console logins, NLA offered), attaching
    every user to the test's session host."""
    from webconsole.desktops import rdp, rdp_nla

    async def attach(username: str, width: int, height: int) -> Path:
        return host.socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert", nla="offer"), authenticate=rdp.authenticate,
                       authenticate_nla=rdp_nla.authenticate_nla, attach=attach, account_stamp=rdp.account_stamp)
    port = await server.start()
    async with harness_for(server, port, client_display, tmp_path) as harness:
        yield harness


def _create_user(name: str, *, with_hash: bool = True):
    from django.contrib.auth.models import User

    from webconsole.accounts.models import NtHash

    user = User.objects.create_user(name, password=CONSOLE_PASSWORD)
    if not with_hash:  # as a user created before NLA existed
        NtHash.objects.filter(user=user).delete()
    return user


@pytest.mark.django_db(transaction=True)
async def test_a_console_user_logs_in_with_nla_and_guesses_are_throttled(console_rdp: Harness, host, settings,
                                                                        caplog) -> None:
    from asgiref.sync import sync_to_async
    from axes.models import AccessFailureLog

    from webconsole.audit.models import AuditEvent

    settings.AXES_FAILURE_LIMIT = 3  # few clients to reach the lockout
    await sync_to_async(_create_user)("nlauser")

    proc = await console_rdp.client("/sec:nla", user="nlauser", password=CONSOLE_PASSWORD)
    await console_rdp.wait_first_frame()
    await console_rdp.wait_pixels_match(host, tolerance=1.0)
    (connection,) = console_rdp.server.connections
    assert connection.conn.acceptor.selected_protocol == SecurityProtocol.HYBRID
    assert connection.login.username == "nlauser"
    await console_rdp.stop_clients()
    assert proc.returncode is not None

    for n in range(settings.AXES_FAILURE_LIMIT):
        wrong = await console_rdp.client("/sec:nla", user="nlauser", password=f"guess-{n}")
        await asyncio.wait_for(wrong.wait(), 30)
        output = await console_rdp.finished_output(wrong)
        # the guess that reaches the limit is already answered as a lockout
        assert "ERRCONNECT_LOGON_FAILURE" in output or "ERRCONNECT_ACCOUNT_LOCKED_OUT" in output
    locked = await console_rdp.client("/sec:nla", user="nlauser", password=CONSOLE_PASSWORD)
    await asyncio.wait_for(locked.wait(), 60)
    assert "ERRCONNECT_ACCOUNT_LOCKED_OUT" in await console_rdp.finished_output(locked)
    assert "rdp login throttled user='nlauser' address=127.0.0.1 (NLA)" in caplog.text
    failures = await sync_to_async(AccessFailureLog.objects.filter(username="nlauser", path_info="rdp-nla").count)()
    assert failures >= settings.AXES_FAILURE_LIMIT
    actions = await sync_to_async(lambda: list(AuditEvent.objects.filter(actor_name="nlauser")
                                               .values_list("action", flat=True)))()
    assert actions.count("login.success") == 1 and actions.count("login.failed") >= settings.AXES_FAILURE_LIMIT


@pytest.mark.django_db(transaction=True)
async def test_a_user_without_a_stored_hash_is_told_what_to_do(console_rdp: Harness, host, caplog) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(_create_user)("oldtimer", with_hash=False)
    proc = await console_rdp.client("/sec:nla", user="oldtimer", password=CONSOLE_PASSWORD)
    await asyncio.wait_for(proc.wait(), 30)
    assert "ERRCONNECT_PASSWORD_MUST_CHANGE" in await console_rdp.finished_output(proc)
    assert "no NT hash is stored for this user" in caplog.text
    assert "log in once on the web console" in caplog.text
    # without NLA the password still works, and that login stores the hash: NLA works next time
    await console_rdp.client("/sec:tls", user="oldtimer", password=CONSOLE_PASSWORD)
    await console_rdp.wait_first_frame()
    await console_rdp.stop_clients()
    await asyncio.sleep(0.5)
    await console_rdp.client("/sec:nla", user="oldtimer", password=CONSOLE_PASSWORD)
    for _ in range(200):
        if any(c.conn.acceptor.selected_protocol == SecurityProtocol.HYBRID and c.first_frame_at
               for c in console_rdp.server.connections):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("NLA did not log the user in after a TLS login stored the hash")



def _hostile_nla_client(port: int, payload: bytes) -> bytes:
    """A client that asks for NLA, does TLS, sends ``payload`` as its first CredSSP message and
    returns what the server answered before closing (blocking: run it in a thread)."""
    import socket
    import ssl

    from rdpfront import x224
    from rdpfront.cursor import encode

    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(encode(x224.ConnectionRequest(b"Cookie: mstshash=eve",
                                                  x224.NegotiationRequest(SecurityProtocol.HYBRID))))
        raw.recv(4096)  # the Connection Confirm selecting HYBRID
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with ctx.wrap_socket(raw) as tls:
            tls.sendall(payload)
            answer = b""
            try:
                while chunk := tls.recv(4096):
                    answer += chunk
            except (ssl.SSLError, ConnectionError):
                pass
            return answer


@pytest.mark.parametrize("payload", [b"\x30\x03\x02\x01\x06", b"\x30\x82\xff\xff" + b"\x00" * 64,
                                     b"\x30\x11\xa0\x03\x02\x01\x06\xa1\x0a\x30\x08\x30\x06\xa0\x04\x04\x02NT"],
                         ids=["no-version", "oversized", "not-ntlm"])
async def test_malformed_nla_is_refused_and_others_are_untouched(host, client_display, tmp_path, caplog,
                                                                 payload: bytes) -> None:
    async with await _server_factory(host, client_display, tmp_path)("offer") as rdp:
        await _logged_in(rdp, host, "/sec:nla")
        answer = await asyncio.to_thread(_hostile_nla_client, rdp.port, payload)
        assert answer == b""  # closed without a word: nothing to tell a peer that broke the protocol
        assert "closing: peer protocol error: NLA: " in caplog.text
        for _ in range(100):  # the hostile one is gone, alice's stays
            if len(rdp.server.connections) == 1:
                break
            await asyncio.sleep(0.05)
        (connection,) = rdp.server.connections
        assert connection.conn.active
        await rdp.xdotool("mousemove", "10", "10")
        await rdp.wait_pixels_match(host, tolerance=1.0)
