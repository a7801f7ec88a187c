"""Automatic reconnection end to end: Debian's xfreerdp 2.11 on its own Xvfb, through a TCP
relay (``relay.py``) that drops its connection as a network would, against the asyncio driver
and a real session host.

The client logs in through the server's login form (``/p:`` sends no password), so a client
that comes back without being asked anything can only have come back by its cookie.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import time
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from rdpfront.cursor import decode
from rdpfront.rdp.autoreconnect import ServerAutoReconnect
from rdpfront.reconnect import ReconnectHooks
from rdpfront.server import RdpConnection
from tests.compositor.helpers import session_env
from tests.rdpfront.relay import TcpRelay
from tests.rdpfront.xfreerdp import PASSWORD, Harness, run, typed_into_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

FORM_BACKGROUND = (32, 38, 46)  # the login form's screen behind its panel
COOKIE_LINE = re.compile(r"Reconnect-cookie: ([A-Za-z0-9+/=]+)")


@pytest.fixture
async def relay(rdp: Harness) -> AsyncIterator[TcpRelay]:
    relay = TcpRelay(rdp.port)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


@pytest.fixture
def logins(rdp: Harness) -> list[tuple[str, str]]:
    """Every (user, password) the server checked."""
    calls: list[tuple[str, str]] = []
    checked = rdp.server.authenticate

    async def authenticate(username: str, password: str, address: str) -> bool:
        calls.append((username, password))
        return await checked(username, password, address)

    rdp.server.authenticate = authenticate
    return calls


async def xfreerdp(rdp: Harness, port: int, *args: str, user: str = "alice"):
    """xfreerdp without a password (the login form asks), full screen, at ``port``; it prints the
    cookies it is given (``+print-reconnect-cookie``, at INFO level)."""
    # xfreerdp's log goes to stdout, which stdio buffers when it is a pipe: line-buffered here.
    return await rdp.spawn("stdbuf", "-oL", "xfreerdp", "/cert:ignore", f"/u:{user}", "/p:", f"/v:127.0.0.1:{port}",
                           "/f", "/log-level:WARN", "/log-filters:com.freerdp.core.info:INFO",
                           "+print-reconnect-cookie", *args)


async def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def live(rdp: Harness) -> list[RdpConnection]:
    return [c for c in rdp.server.connections if not c.closing]


async def corner(rdp: Harness) -> tuple[int, ...]:
    return tuple(int(v) for v in (await asyncio.to_thread(rdp.client_rgb))[5, 5])


async def log_in_through_the_form(rdp: Harness) -> RdpConnection:
    connection = await wait_for(lambda: next((c for c in live(rdp) if c.login.form is not None), None),
                                what="the login form")
    await wait_for(lambda: connection.first_frame_at is not None, what="the form's first frame")
    await rdp.xdotool("mousemove", "400", "300")
    await rdp.xdotool("type", "--delay", "30", PASSWORD)
    await rdp.xdotool("key", "Return")
    await wait_for(lambda: connection.reconnect_cookie is not None, what="the auto-reconnect cookie")
    return connection


def printed_cookies(rdp: Harness, proc) -> list[str]:
    return COOKIE_LINE.findall(rdp.output(proc))


async def test_dropped_client_comes_back_to_the_same_desktop_without_credentials(
        rdp: Harness, host, relay: TcpRelay, logins: list, tmp_path) -> None:
    proc = await xfreerdp(rdp, relay.port, "+auto-reconnect", "/auto-reconnect-max-retries:5")
    first = await log_in_through_the_form(rdp)
    await rdp.wait_pixels_match(host, tolerance=1.0)
    assert logins == [("alice", PASSWORD)] and rdp.attached == [("alice", 800, 600)]
    assert first.conn.acceptor.client_info.password == ""
    cookie = await wait_for(lambda: printed_cookies(rdp, proc), what="xfreerdp printing its cookie")
    assert decode(ServerAutoReconnect, base64.b64decode(cookie[0])).logon_id == first.reconnect_cookie

    # The network drops; while the client is away the desktop changes, so what it shows after
    # coming back can only have come over the new connection.
    relay.hold()
    accepted = relay.accepted
    assert relay.cut() == 1
    await wait_for(lambda: relay.accepted > accepted, what="the client reconnecting to the relay")
    await run("xsetroot", "-solid", "#2a6f4e", env=session_env(host))
    relay.release()

    second = await wait_for(lambda: next((c for c in live(rdp) if c.reconnected and c.host is not None), None),
                            what="the reconnected connection")
    started = time.monotonic()
    diff = await rdp.wait_pixels_match(host, tolerance=1.0)
    shot = tmp_path / "client-after-reconnect.png"
    Image.fromarray(await asyncio.to_thread(rdp.client_rgb)).save(shot)
    assert await corner(rdp) != FORM_BACKGROUND
    assert second is not first and second.conn.acceptor.client_info.password == ""
    assert second.login.form is None and second.output.source().name != "LOGIN_FORM"
    assert logins == [("alice", PASSWORD)]  # no password was checked again
    assert rdp.attached == [("alice", 800, 600)]  # the same desktop, not found or started anew
    assert second.bridge.desktop_path == first.bridge.desktop_path == host.socket_path
    assert first.reconnect_cookie not in rdp.server.reconnects.store  # used up
    # A fresh cookie for the new connection, which xfreerdp printed too.
    await wait_for(lambda: second.reconnect_cookie is not None, what="a fresh cookie")
    assert second.reconnect_cookie != first.reconnect_cookie
    await wait_for(lambda: len(printed_cookies(rdp, proc)) == 2, what="xfreerdp printing the fresh cookie")

    async def type_text() -> None:
        await rdp.xdotool("mousemove", "300", "300")
        await rdp.xdotool("type", "--delay", "40", "back again")
        await rdp.xdotool("key", "Return")
    assert await typed_into_session(host, "typed-after-reconnect.txt", type_text) == "back again\n"
    await run("xsetroot", "-solid", "black", env=session_env(host))
    assert proc.returncode is None
    print(f"reconnected; pixels matched {time.monotonic() - started:.2f} s later, mean difference {diff:.3f}; "
          f"the client's screen: {shot}")


async def test_a_client_back_before_the_server_noticed_the_drop_replaces_its_old_connection(
        rdp: Harness, host, relay: TcpRelay, caplog) -> None:
    """Only the client's side of the connection is reset: the server still holds the old one,
    open and silent (a network gone away). The client comes back with its cookie, and the old
    connection is ended rather than left to its write timeout."""
    proc = await xfreerdp(rdp, relay.port, "+auto-reconnect", "/auto-reconnect-max-retries:5")
    first = await log_in_through_the_form(rdp)
    await wait_for(lambda: printed_cookies(rdp, proc), what="xfreerdp printing its cookie")
    cut_at = time.monotonic()
    assert relay.cut(server_notices=False) == 1
    second = await wait_for(lambda: next((c for c in live(rdp) if c.reconnected and c.host is not None), None),
                            what="the reconnected connection")
    await wait_for(lambda: second.first_frame_at is not None and "active" in second.milestones, what="a frame")
    print(f"after the drop: reconnection accepted {second.accepted_at - cut_at:.2f} s, active "
          f"{second.milestones['active'] - cut_at:.2f} s, first frame {second.first_frame_at - cut_at:.2f} s")
    await wait_for(lambda: first not in rdp.server.connections, timeout=5, what="the old connection to end")
    assert f"{first.name} closing: its client is back as {second.name} (auto-reconnect)" in caplog.text
    assert live(rdp) == [second]
    await run("xsetroot", "-solid", "#6f2a4e", env=session_env(host))
    await rdp.wait_pixels_match(host, tolerance=1.0)
    await run("xsetroot", "-solid", "black", env=session_env(host))


async def test_cookies_rotate_while_connected_and_the_latest_brings_the_client_back(
        rdp: Harness, relay: TcpRelay) -> None:
    """An open connection gets a new cookie every ``reconnect_rotation`` seconds (Windows: each
    hour), the one before dying; xfreerdp keeps the latest and comes back with it."""
    rdp.server.settings.reconnect_rotation = 0.5
    proc = await xfreerdp(rdp, relay.port, "+auto-reconnect", "/auto-reconnect-max-retries:5")
    first = await log_in_through_the_form(rdp)
    await wait_for(lambda: len(printed_cookies(rdp, proc)) >= 3, what="rotations")
    rdp.server.settings.reconnect_rotation = 3600  # from the next one on
    await asyncio.sleep(1.0)  # the rotation already due lands

    def latest() -> int:
        return decode(ServerAutoReconnect, base64.b64decode(printed_cookies(rdp, proc)[-1])).logon_id
    await wait_for(lambda: latest() == first.reconnect_cookie, timeout=5, what="the client to hold the latest")
    cookies = printed_cookies(rdp, proc)
    assert len(cookies) >= 3 and len({*cookies}) == len(cookies)  # a new one each time
    assert len(rdp.server.reconnects.store) == 1  # the ones before died
    relay.cut()
    second = await wait_for(lambda: next((c for c in live(rdp) if c.reconnected and c.host is not None), None),
                            what="the reconnected connection")
    assert second.login.form is None


async def stop(rdp: Harness, proc) -> str:
    proc.terminate()
    await proc.wait()
    return await rdp.finished_output(proc)


def altered(cookie: str) -> str:
    """The cookie with one bit of its random changed: its holder answers with another verifier."""
    raw = bytearray(base64.b64decode(cookie))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("case", ["replayed", "expired", "wrong-verifier", "other-user"])
async def test_a_bad_cookie_is_refused_and_the_login_form_asks(rdp: Harness, case: str, caplog) -> None:
    """xfreerdp's ``/reconnect-cookie`` hands a connection the cookie another one was given;
    each bad use of it is refused with a log line and an audit event, and the client gets the
    login form as if it had sent no cookie."""
    audited: list[tuple[str, str, str]] = []

    async def audit(action: str, username: str, address: str, path, reason: str) -> None:
        audited.append((action, username, reason))

    rdp.server.reconnects.hooks = ReconnectHooks(audit=audit)
    first = await xfreerdp(rdp, rdp.port)
    await log_in_through_the_form(rdp)
    (cookie,) = await wait_for(lambda: printed_cookies(rdp, first), what="xfreerdp printing its cookie")
    if case == "expired":  # counted from the end of the connection it was given to
        rdp.server.reconnects.store.lifetime = 0.2
    await stop(rdp, first)
    await wait_for(lambda: not live(rdp), what="the first connection to end")
    user = "alice"
    if case == "replayed":  # taken once (straight to the desktop), then refused
        taker = await xfreerdp(rdp, rdp.port, f"/reconnect-cookie:{cookie}")
        await wait_for(lambda: any(c.reconnected and c.host is not None for c in live(rdp)), what="the reconnection")
        await stop(rdp, taker)
        await wait_for(lambda: not live(rdp), what="the reconnection to end")
        reason = "already used (replayed)"
    elif case == "expired":
        await asyncio.sleep(0.5)
        reason = "expired"
    elif case == "wrong-verifier":
        cookie = altered(cookie)
        reason = "wrong security verifier"
    else:
        user = "bob"
        reason = "issued to a client named 'alice', this one names 'bob'"
    proc = await xfreerdp(rdp, rdp.port, f"/reconnect-cookie:{cookie}", user=user)
    connection = await wait_for(lambda: next((c for c in live(rdp) if c.login.form is not None), None),
                                what="the login form")
    await wait_for(lambda: connection.first_frame_at is not None, what="the form's first frame")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and await corner(rdp) != FORM_BACKGROUND:
        await asyncio.sleep(0.1)
    assert await corner(rdp) == FORM_BACKGROUND
    assert not connection.reconnected and connection.host is None and connection.login.username == user
    assert f"refused (client user={user!r}): {reason}" in caplog.text
    action, username, audited_reason = audited[-1]
    assert (action, username) == ("rdp.reconnect_refused", "alice") and audited_reason.startswith(reason)
    await stop(rdp, proc)
