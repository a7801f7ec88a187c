"""Auto-reconnect cookies: the store's rules (bound, single use, expiring after the connection,
dying with the desktop), the server's checks and audit events, and the bridge taking a client
back to its desktop, both ends in memory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compositor import messages
from rdpfront import events
from rdpfront.bridge import Background, Bridge, LoginTimer
from rdpfront.login_flow import Authenticate, Connect
from rdpfront.rdp.autoreconnect import ClientAutoReconnect, LogonInfoExtended, ServerAutoReconnect, logon_info_extended
from rdpfront.rdp.client_info import ExtendedInfo
from rdpfront.rdp.pdus import DemandActive, SaveSessionInfo, SessionInfoType
from rdpfront.reconnect import (
    CookieRefused,
    CookieStore,
    IssueCookie,
    ReconnectHooks,
    Reconnects,
    RedeemCookie,
    Ticket,
)
from rdpfront.settings import ServerSettings

from .helpers import MemoryClient
from .test_properties import PROFILE

DESKTOP = Path("/run/wrd/alice/host.sock")
OTHER_DESKTOP = Path("/run/wrd/bob/host.sock")


def issue(store: CookieStore, *, now: float = 0.0, username: str = "alice", client: str = "alice",
          path: Path = DESKTOP) -> ServerAutoReconnect:
    return store.issue(username=username, client_username=client, client_domain="", path=path, stamp="s1", now=now)


def redeem(store: CookieStore, answer: ClientAutoReconnect, *, now: float = 1.0, client: str = "alice") -> Ticket:
    return store.redeem(answer, client_username=client, client_domain="", now=now)


# ---- the store -------------------------------------------------------------------------------

def test_a_cookie_is_taken_once_for_the_desktop_it_was_issued_for() -> None:
    store = CookieStore()
    cookie = issue(store)
    assert len(cookie.random_bits) == 16 and cookie.logon_id != 0
    assert cookie.logon_id in store
    ticket = redeem(store, ClientAutoReconnect.answering(cookie))
    assert (ticket.username, ticket.path, ticket.stamp) == ("alice", DESKTOP, "s1")
    assert cookie.logon_id not in store
    with pytest.raises(CookieRefused, match=r"already used \(replayed\)"):
        redeem(store, ClientAutoReconnect.answering(cookie))
    assert len(store) == 0


def test_a_wrong_verifier_uses_the_cookie_up() -> None:
    store = CookieStore()
    cookie = issue(store)
    with pytest.raises(CookieRefused, match="wrong security verifier") as refused:
        redeem(store, ClientAutoReconnect(cookie.logon_id, bytes(16)))
    assert refused.value.ticket is not None and refused.value.ticket.username == "alice"
    with pytest.raises(CookieRefused, match="already used"):  # the right answer comes too late
        redeem(store, ClientAutoReconnect.answering(cookie))


def test_unknown_logon_id() -> None:
    with pytest.raises(CookieRefused, match="unknown logon id") as refused:
        redeem(CookieStore(), ClientAutoReconnect(1234, bytes(16)))
    assert refused.value.ticket is None


def test_a_cookie_lasts_while_its_connection_does_then_lifetime_seconds() -> None:
    store = CookieStore(lifetime=60)
    kept, expired, purged = issue(store), issue(store), issue(store)
    # Still connected an hour later: the cookie holds (a half-open TCP connection the server
    # has not noticed is the usual dropped client).
    assert redeem(store, ClientAutoReconnect.answering(kept), now=3600).username == "alice"
    store.released(expired.logon_id, now=100)
    store.released(expired.logon_id, now=150)  # released once only
    with pytest.raises(CookieRefused, match="expired 0 s ago"):
        redeem(store, ClientAutoReconnect.answering(expired), now=160)
    store.released(purged.logon_id, now=100)
    issue(store, now=200)  # purges what has expired
    assert len(store) == 1
    with pytest.raises(CookieRefused, match=r"^expired$"):
        redeem(store, ClientAutoReconnect.answering(purged), now=200)


def test_released_cookie_within_its_lifetime() -> None:
    store = CookieStore(lifetime=60)
    cookie = issue(store)
    store.released(cookie.logon_id, now=100)
    assert redeem(store, ClientAutoReconnect.answering(cookie), now=159.9).path == DESKTOP


def test_bound_to_the_client_infos_identity() -> None:
    store = CookieStore()
    cookie = issue(store, client="alice")
    with pytest.raises(CookieRefused, match="issued to a client named 'alice', this one names 'bob'"):
        redeem(store, ClientAutoReconnect.answering(cookie), client="bob")
    other = issue(store, client="alice")
    with pytest.raises(CookieRefused, match="names 'alice'"):  # the domain counts too
        store.redeem(ClientAutoReconnect.answering(other), client_username="alice", client_domain="EVIL", now=1)


def test_cookies_die_with_their_desktop() -> None:
    store = CookieStore()
    gone, also_gone, kept = issue(store), issue(store), issue(store, path=OTHER_DESKTOP, username="bob", client="bob")
    assert store.forget_desktop(DESKTOP) == 2 and store.forget_desktop(DESKTOP) == 0
    for cookie in (gone, also_gone):
        with pytest.raises(CookieRefused, match="its desktop ended"):
            redeem(store, ClientAutoReconnect.answering(cookie))
    assert redeem(store, ClientAutoReconnect.answering(kept), client="bob").username == "bob"


def test_logon_ids_are_unique_and_random_bits_fresh() -> None:
    store = CookieStore()
    cookies = [issue(store) for _ in range(200)]
    assert len({c.logon_id for c in cookies}) == 200 and len({c.random_bits for c in cookies}) == 200


def test_a_colliding_logon_id_is_drawn_again() -> None:
    draws = iter([b"\x01\x00\x00\x00", bytes(16), b"\x00\x00\x00\x00", b"\x01\x00\x00\x00", b"\x02\x00\x00\x00",
                  bytes(range(16))])
    store = CookieStore(random_bytes=lambda n: next(draws))
    assert issue(store).logon_id == 1
    assert issue(store).logon_id == 2  # 0 and the taken 1 were drawn first


# ---- the server's checks ---------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reconnects(*, running: bool = True, stamps: dict[str, str | None] | None = None,
               fail: bool = False) -> tuple[Reconnects, list, Clock]:
    audited: list[tuple[str, str, str, Path | None, str]] = []
    stamps = {"alice": "s1"} if stamps is None else stamps
    clock = Clock()

    async def resume_desktop(username: str, path: Path) -> bool:
        if fail:
            raise RuntimeError("database is down")
        return running

    async def audit(action: str, username: str, address: str, path: Path | None, reason: str) -> None:
        audited.append((action, username, address, path, reason))

    async def account_stamp(username: str) -> str | None:
        return stamps.get(username)

    server = Reconnects(lifetime=60, account_stamp=account_stamp,
                        hooks=ReconnectHooks(resume_desktop=resume_desktop, audit=audit), clock=clock)
    return server, audited, clock


async def issued(server: Reconnects) -> ServerAutoReconnect:
    return await server.issue(IssueCookie("alice", "alice", "", DESKTOP))


def redeem_request(cookie: ServerAutoReconnect, client: str = "alice") -> RedeemCookie:
    return RedeemCookie(ClientAutoReconnect.answering(cookie), client, "")


async def test_a_good_answer_is_audited_and_gives_the_ticket(caplog) -> None:
    caplog.set_level(logging.INFO)
    server, audited, _ = reconnects()
    cookie = await issued(server)
    ticket = await server.redeem(redeem_request(cookie), address="10.0.0.7", log_context="rdp[c]")
    assert ticket is not None and ticket.path == DESKTOP and ticket.stamp == "s1"
    assert audited == [("rdp.reconnect", "alice", "10.0.0.7", DESKTOP, "")]
    assert f"rdp[c] auto-reconnect cookie {cookie.logon_id:08x} taken: user=alice" in caplog.text


@pytest.mark.parametrize(("options", "reason"), [
    ({"running": False}, "its desktop is no longer running"),
    ({"stamps": {"alice": "s2"}}, "the account was deactivated or given a new password since"),
    ({"stamps": {}}, "the account was deactivated or given a new password since"),
    ({"fail": True}, "its desktop or account could not be checked"),
])
async def test_the_desktop_and_the_account_are_checked_again(options: dict, reason: str, caplog) -> None:
    server, audited, _ = reconnects()
    cookie = await issued(server)
    checked, audited, _ = reconnects(**options)
    checked.store = server.store
    assert await checked.redeem(redeem_request(cookie), address="10.0.0.7", log_context="rdp[c]") is None
    assert audited == [("rdp.reconnect_refused", "alice", "10.0.0.7", DESKTOP, reason)]
    assert f"rdp[c] auto-reconnect cookie {cookie.logon_id:08x} refused (client user='alice'): {reason}" in caplog.text
    assert await server.redeem(redeem_request(cookie), address="10.0.0.7") is None  # used up all the same


async def test_refusal_of_an_unknown_cookie_is_audited_under_the_client_infos_name() -> None:
    server, audited, _ = reconnects()
    answer = ClientAutoReconnect(77, bytes(16))
    assert await server.redeem(RedeemCookie(answer, "mallory", ""), address="10.0.0.9") is None
    assert audited == [("rdp.reconnect_refused", "mallory", "10.0.0.9", None, "unknown logon id")]


async def test_expiry_runs_on_the_servers_clock_from_the_connections_end() -> None:
    server, audited, clock = reconnects()
    cookie = await issued(server)
    clock.now = 1000.0
    server.released(cookie.logon_id)
    server.released(None)  # a connection that never got one
    clock.now = 1061.0
    assert await server.redeem(redeem_request(cookie), address="a") is None
    assert audited[-1][4] == "expired 1 s ago"


async def test_a_failing_audit_does_not_stop_the_reconnection(caplog) -> None:
    async def audit(*args: object) -> None:
        raise RuntimeError("no database")

    server = Reconnects(hooks=ReconnectHooks(audit=audit))
    cookie = await server.issue(IssueCookie("alice", "alice", "", Path(__file__)))  # its socket: a file that exists
    assert await server.redeem(redeem_request(cookie), address="a", log_context="rdp[c]") is not None
    assert "rdp[c] audit of rdp.reconnect failed" in caplog.text


async def test_without_a_console_a_desktop_runs_while_its_socket_is_there(tmp_path: Path) -> None:
    server = Reconnects()
    cookie = await server.issue(IssueCookie("alice", "alice", "", tmp_path / "gone.sock"))
    assert await server.redeem(redeem_request(cookie), address="a") is None


def test_desktop_ended_drops_its_cookies(caplog) -> None:
    caplog.set_level(logging.INFO)
    server = Reconnects()
    server.store.issue(username="a", client_username="a", client_domain="", path=DESKTOP, stamp=None, now=0)
    server.desktop_ended(DESKTOP, "rdp[c]")
    server.desktop_ended(DESKTOP, "rdp[c]")
    assert len(server.store) == 0 and caplog.text.count("auto-reconnect cookie(s) dropped") == 1


# ---- the bridge, both ends in memory -----------------------------------------------------------

def extended(answer: ClientAutoReconnect | None) -> ExtendedInfo:
    return ExtendedInfo(time_zone=bytes(172), session_id=0, performance_flags=0,
                        tail=answer.client_info_tail() if answer is not None else b"\x00\x00")


class Driver:
    """The driver's part with a real cookie store (``Reconnects`` is async; the store is what
    decides), every await answered at once; ``authenticated`` is what a password check says."""

    def __init__(self, bridge: Bridge, store: CookieStore, *, authenticated: bool = True) -> None:
        self.bridge, self.store, self.authenticated = bridge, store, authenticated
        self.done: list[object] = []
        self.refused: list[str] = []
        self.attached = 0

    def receive(self, events_) -> None:
        for event in events_:
            self.carry_out(self.bridge.receive(event))

    def carry_out(self, requests: list) -> None:
        while requests:
            request, *requests = requests
            requests = self._answer(request) + requests

    def _answer(self, request: object) -> list:
        bridge = self.bridge
        match request:
            case RedeemCookie(answer=answer, client_username=user, client_domain=domain):
                try:
                    ticket = self.store.redeem(answer, client_username=user, client_domain=domain, now=1.0)
                except CookieRefused as exc:
                    self.refused.append(exc.reason)
                    ticket = None
                return bridge.reconnect_checked(ticket)
            case IssueCookie(username=user, client_username=client, client_domain=domain, path=path):
                cookie = self.store.issue(username=user, client_username=client, client_domain=domain, path=path,
                                          stamp=None, now=0.0)
                self.done.append(cookie)
                return bridge.cookie_issued(cookie)
            case Authenticate():
                return bridge.authenticated(self.authenticated)
            case Background(request=inner):
                return self._answer(inner)
            case messages.Request():
                return []
        if type(request).__name__ == "Attach":
            self.attached += 1
            return bridge.attached(DESKTOP)
        if isinstance(request, Connect):
            bridge.output.subscription()
            bridge.output.attach(messages.SubscribeReply(1, 800, 600))
            return bridge.connected()
        self.done.append(request)
        return []


def session_infos(client: MemoryClient) -> list[SaveSessionInfo]:
    return [p for p in client.received if isinstance(p, SaveSessionInfo)]


def connect(store: CookieStore, *, password: str = "secret", answer: ClientAutoReconnect | None = None,
            username: str = "alice", authenticated: bool = True) -> tuple[MemoryClient, Bridge, Driver]:
    bridge = Bridge(ServerSettings())
    client = MemoryClient(server=bridge.conn)
    driver = Driver(bridge, store, authenticated=authenticated)
    client.connect(username=username, password=password, extended=extended(answer), accept=False)
    driver.receive(bridge.conn.events())
    demand = next((p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive)), None)
    if demand is not None:
        client.finish(demand)
        driver.receive(bridge.conn.events())
        client.pump(bridge.data_to_send())
    return client, bridge, driver


def test_logged_in_client_gets_a_cookie_after_activation_then_comes_back_with_it() -> None:
    store = CookieStore()
    client, bridge, driver = connect(store)
    (cookie,) = [c for c in driver.done if isinstance(c, ServerAutoReconnect)]
    logon, logon_extended = session_infos(client)
    assert logon.info_type == SessionInfoType.INFOTYPE_LOGON  # the first, at activation
    assert logon_info_extended(logon_extended) == LogonInfoExtended(cookie)
    assert driver.attached == 1

    # The client comes back on a new connection with its answer and no password.
    again, bridge2, driver2 = connect(store, password="", answer=ClientAutoReconnect.answering(cookie))
    assert driver2.refused == [] and driver2.attached == 0  # no Attach: the cookie's desktop
    assert bridge2.login.username == "alice" and bridge2.login.form is None
    assert bridge2.desktop_path == DESKTOP and bridge2.conn.active
    (fresh,) = [c for c in driver2.done if isinstance(c, ServerAutoReconnect)]
    assert fresh.logon_id != cookie.logon_id
    assert logon_info_extended(session_infos(again)[-1]) == LogonInfoExtended(fresh)
    assert not any(isinstance(r, Authenticate) for r in driver2.done)


def test_a_refused_cookie_falls_back_to_the_client_infos_password() -> None:
    store = CookieStore()
    _, _, driver = connect(store, answer=ClientAutoReconnect(5, bytes(16)))
    assert driver.refused == ["unknown logon id"] and driver.attached == 1  # logged in by its password


def test_a_refused_cookie_without_a_password_gets_the_login_form() -> None:
    store = CookieStore()
    cookie = issue(store, client="alice")
    client, bridge, driver = connect(store, password="", answer=ClientAutoReconnect.answering(cookie),
                                     username="bob")
    assert driver.refused == ["issued to a client named 'alice', this one names 'bob'"]
    assert bridge.login.form is not None and bridge.login.form.username == "bob" and driver.attached == 0
    assert bridge.conn.active and len(session_infos(client)) == 1  # no cookie for a form still asking


def test_no_cookie_when_the_server_has_auto_reconnect_off() -> None:
    bridge = Bridge(ServerSettings(auto_reconnect=False))
    client = MemoryClient(server=bridge.conn)
    store = CookieStore()
    cookie = issue(store)
    driver = Driver(bridge, store)
    client.connect(password="secret", extended=extended(ClientAutoReconnect.answering(cookie)), accept=False)
    driver.receive(bridge.conn.events())
    client.finish(next(p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive)))
    driver.receive(bridge.conn.events())
    client.pump(bridge.data_to_send())
    assert driver.attached == 1 and len(store) == 1  # the answer was not even looked at
    assert not [c for c in driver.done if isinstance(c, ServerAutoReconnect)]
    assert [p.info_type for p in session_infos(client)] == [SessionInfoType.INFOTYPE_LOGON]


def test_the_form_login_gets_its_cookie_once_the_desktop_is_entered() -> None:
    store = CookieStore()
    client, bridge, driver = connect(store, password="")
    assert bridge.login.form is not None and not [c for c in driver.done if isinstance(c, ServerAutoReconnect)]
    assert any(isinstance(r, LoginTimer) for r in driver.done)
    for char in "secret":
        driver.receive([events.UnicodeEvent(ord(char), True)])
    driver.receive([events.KeyboardEvent(0x1C, False, True)])  # Enter
    assert bridge.login.form is None and driver.attached == 1
    client.pump(bridge.data_to_send())
    (cookie,) = [c for c in driver.done if isinstance(c, ServerAutoReconnect)]
    assert logon_info_extended(session_infos(client)[-1]) == LogonInfoExtended(cookie)
    assert store.redeem(ClientAutoReconnect.answering(cookie), client_username="alice", client_domain="",
                        now=1).username == "alice"


async def test_no_cookie_when_the_account_cannot_be_read(caplog) -> None:
    async def account_stamp(username: str) -> str | None:
        raise RuntimeError("database is down")

    server = Reconnects(account_stamp=account_stamp)
    assert await server.issue(IssueCookie("alice", "alice", "", DESKTOP), log_context="rdp[c]") is None
    assert len(server.store) == 0
    assert "rdp[c] no auto-reconnect cookie: the account of user=alice could not be read" in caplog.text


# ---- properties of the store ----------------------------------------------------------------------

OPS = st.lists(st.tuples(st.sampled_from(["issue", "release", "redeem", "redeem-wrong", "redeem-other", "tick",
                                          "desktop-ended"]),
                         st.integers(0, 7)), max_size=60)


@PROFILE
@given(ops=OPS)
def test_each_cookie_opens_its_desktop_at_most_once_and_only_to_its_answer(ops) -> None:
    """Whatever happens in whatever order: a redemption succeeds only with the right answer from
    the client it was issued to, within its lifetime, while its desktop runs, once per cookie."""
    store = CookieStore(lifetime=10)
    now = 0.0
    issued: list[ServerAutoReconnect] = []
    paths: dict[int, Path] = {}
    released_at: dict[int, float] = {}
    dead: set[int] = set()  # taken, answered wrongly, or their desktop ended
    for op, k in ops:
        path = DESKTOP if k % 2 else OTHER_DESKTOP
        if op == "issue":
            issued.append(issue(store, now=now, path=path))
            paths[issued[-1].logon_id] = path
            continue
        if op == "tick":
            now += k * 3
            continue
        if op == "desktop-ended":
            store.forget_desktop(path)
            dead.update(i for i, p in paths.items() if p == path)
            continue
        if not issued:
            continue
        cookie = issued[k % len(issued)]
        if op == "release":
            store.released(cookie.logon_id, now)
            released_at.setdefault(cookie.logon_id, now)
            continue
        answer = (ClientAutoReconnect(cookie.logon_id, bytes(16)) if op == "redeem-wrong"
                  else ClientAutoReconnect.answering(cookie))
        try:
            ticket = redeem(store, answer, now=now, client="mallory" if op == "redeem-other" else "alice")
        except CookieRefused:
            dead.add(cookie.logon_id)  # any answer naming it uses it up
            continue
        assert op == "redeem" and cookie.logon_id not in dead
        assert cookie.logon_id not in released_at or now < released_at[cookie.logon_id] + 10
        assert ticket.cookie == cookie and ticket.path == paths[cookie.logon_id]
        dead.add(cookie.logon_id)


def test_a_new_connection_to_a_desktop_ends_the_cookies_of_its_ended_connections() -> None:
    """Windows flushes a session's cookie whenever a client connects to it ([1.3.1.5]); here a
    desktop may have several clients at once, so only the cookies of connections that ended go."""
    store = CookieStore(lifetime=60)
    ended, still_open, elsewhere = issue(store), issue(store), issue(store, path=OTHER_DESKTOP)
    store.released(ended.logon_id, now=1)
    store.released(elsewhere.logon_id, now=1)
    issue(store, now=2)  # another client on DESKTOP
    with pytest.raises(CookieRefused, match="a newer connection to its desktop came since"):
        redeem(store, ClientAutoReconnect.answering(ended), now=3)
    assert redeem(store, ClientAutoReconnect.answering(still_open), now=3).path == DESKTOP
    assert redeem(store, ClientAutoReconnect.answering(elsewhere), now=3).path == OTHER_DESKTOP


def test_a_rotated_cookie_replaces_the_one_before() -> None:
    store = CookieStore()
    old = issue(store)
    new = store.issue(username="alice", client_username="alice", client_domain="", path=DESKTOP, stamp="s1",
                      now=3600, replaces=old.logon_id)
    assert len(store) == 1
    with pytest.raises(CookieRefused, match="replaced by a newer cookie"):
        redeem(store, ClientAutoReconnect.answering(old))
    assert redeem(store, ClientAutoReconnect.answering(new)).cookie == new


def test_cookie_rotation_is_asked_only_of_a_connection_that_has_one() -> None:
    store = CookieStore()
    _, bridge, _ = connect(store)
    (rotation,) = bridge.cookie_rotation()
    assert rotation == IssueCookie("alice", "alice", "", DESKTOP)
    _, form_bridge, _ = connect(store, password="")  # still at the login form
    assert form_bridge.cookie_rotation() == []
