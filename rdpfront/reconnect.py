"""Automatic reconnection ([MS-RDPBCGR 1.3.1.5, 5.5]): a client whose network dropped comes
back to the same desktop without the password.

Once a client is logged in and its desktop connected, the server gives it a cookie
(``IssueCookie`` -> a Save Session Info PDU with ``rdp.autoreconnect.ServerAutoReconnect``).
When its next Client Info PDU carries the answer (``ClientAutoReconnect``), the driver asks
``Reconnects.redeem`` (``RedeemCookie``); a good answer connects the client to the desktop the
cookie was issued for, without ``authenticate`` or ``attach``; any other is refused with a log
line and an audit event, and the login goes on as if no cookie had come (the Client Info's
password, or the login form).

A cookie (``Ticket``) is bound to the account that logged in, to the desktop (its session
host's socket), and to the Client Info's user name and domain of the connection it was issued
to. It is taken once: the first answer naming its logon id consumes it, right or wrong. It
lasts as long as its connection and ``lifetime`` seconds after the connection ended; it dies
with its desktop (the desktop ended, or the console no longer has it running), with a change to
the account (deactivated, new password), and, once its own connection has ended, with a newer
connection to its desktop. Each connection that logs in, a reconnected one too, gets a
fresh cookie, and a new one every ``rotation`` seconds (the old one dies).

``CookieStore`` is sans-IO (the time comes in as ``now``); ``Reconnects`` is the server's, with
the clock and the console's hooks. The store lives in the RDP server's memory: a restart of the
server forgets every cookie, and those clients log in again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rdpfront.errors import RemoteProtocolError
from rdpfront.rdp.autoreconnect import ClientAutoReconnect, ServerAutoReconnect
from rdpfront.rdp.client_info import ClientInfo

log = logging.getLogger(__name__)

RECONNECT_LIFETIME = 300.0  # seconds a cookie outlives its connection
RECONNECT_ROTATION = 3600.0  # seconds between new cookies for a connection, as Windows does ([1.3.1.5])
GONE_REMEMBERED = 4096  # logon ids of consumed and expired cookies kept, to say which in the log


def client_cookie(info: ClientInfo, log_context: str = "") -> ClientAutoReconnect | None:
    """The Client Info's auto-reconnect packet, if it sent a well-formed one (a malformed one
    is logged and skipped: the login goes on without it)."""
    if info.extended is None:
        return None
    try:
        raw = info.extended.auto_reconnect_cookie()
        return ClientAutoReconnect.from_bytes(raw) if raw is not None else None
    except RemoteProtocolError as exc:
        log.warning("%s malformed auto-reconnect cookie skipped: %s", log_context, exc)
        return None


@dataclass
class Ticket:
    """One cookie given out, and what it is bound to."""

    cookie: ServerAutoReconnect
    username: str  # the account logged in
    client_username: str  # the Client Info's identity on the connection it was issued to
    client_domain: str
    path: Path  # the desktop's session host socket
    stamp: str | None = field(default=None, repr=False)  # the account's stamp when issued
    expires_at: float | None = None  # None while its connection is open

    @property
    def logon_id(self) -> int:
        return self.cookie.logon_id


class CookieRefused(Exception):
    """Why a client's auto-reconnect answer was not taken; ``ticket`` when it named one."""

    def __init__(self, reason: str, ticket: Ticket | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ticket = ticket


class CookieStore:
    """The cookies given out, by logon id. Sans-IO: every call that needs the time gets it."""

    def __init__(self, lifetime: float = RECONNECT_LIFETIME,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.lifetime = lifetime
        self._random_bytes = random_bytes
        self._tickets: dict[int, Ticket] = {}
        self._gone: OrderedDict[int, str] = OrderedDict()  # logon id -> why it is no longer taken

    def __len__(self) -> int:
        return len(self._tickets)

    def __contains__(self, logon_id: object) -> bool:
        """A cookie of this logon id is given out and not yet used up."""
        return logon_id in self._tickets

    def issue(self, *, username: str, client_username: str, client_domain: str, path: str | Path,
              stamp: str | None, now: float, replaces: int | None = None) -> ServerAutoReconnect:
        """A cookie for a connection now on the desktop at ``path``. As Windows flushes a
        session's cookie whenever a client connects to it ([1.3.1.5]), the cookies of that
        desktop's connections that have ended die here (those of connections still open stay:
        a desktop here may have several clients at once). ``replaces``: the cookie this
        connection held until now (a rotation), which dies too."""
        self._purge(now)
        if replaces is not None and self._tickets.pop(replaces, None) is not None:
            self._forget(replaces, "replaced by a newer cookie")
        for old in [i for i, t in self._tickets.items() if t.path == Path(path) and t.expires_at is not None]:
            del self._tickets[old]
            self._forget(old, "a newer connection to its desktop came since")
        logon_id = 0
        while logon_id == 0 or logon_id in self._tickets:
            logon_id = int.from_bytes(self._random_bytes(4), "little")
        cookie = ServerAutoReconnect(logon_id, self._random_bytes(16))
        self._tickets[logon_id] = Ticket(cookie, username, client_username, client_domain, Path(path), stamp)
        return cookie

    def released(self, logon_id: int, now: float) -> None:
        """The connection the cookie was issued to ended: from now it lasts ``lifetime``."""
        ticket = self._tickets.get(logon_id)
        if ticket is not None and ticket.expires_at is None:
            ticket.expires_at = now + self.lifetime

    def redeem(self, answer: ClientAutoReconnect, *, client_username: str, client_domain: str,
               now: float) -> Ticket:
        """The ticket ``answer`` is good for, consumed; else ``CookieRefused``."""
        ticket = self._tickets.pop(answer.logon_id, None)
        if ticket is None:
            raise CookieRefused(self._gone.get(answer.logon_id, "unknown logon id"))
        self._forget(answer.logon_id, "already used (replayed)")
        if not ticket.cookie.answers(answer):
            raise CookieRefused("wrong security verifier", ticket)
        if ticket.expires_at is not None and now >= ticket.expires_at:
            raise CookieRefused(f"expired {now - ticket.expires_at:.0f} s ago", ticket)
        if (client_username, client_domain) != (ticket.client_username, ticket.client_domain):
            raise CookieRefused(f"issued to a client named {ticket.client_username!r}, "
                                f"this one names {client_username!r}", ticket)
        self._purge(now)
        return ticket

    def forget_desktop(self, path: str | Path) -> int:
        """The desktop at ``path`` ended: its cookies die with it. How many there were."""
        gone = [i for i, t in self._tickets.items() if t.path == Path(path)]
        for logon_id in gone:
            del self._tickets[logon_id]
            self._forget(logon_id, "its desktop ended")
        return len(gone)

    def _purge(self, now: float) -> None:
        for logon_id in [i for i, t in self._tickets.items() if t.expires_at is not None and now >= t.expires_at]:
            del self._tickets[logon_id]
            self._forget(logon_id, "expired")

    def _forget(self, logon_id: int, why: str) -> None:
        self._gone[logon_id] = why
        while len(self._gone) > GONE_REMEMBERED:
            self._gone.popitem(last=False)


# ---- requests of the bridge, carried out by the driver -------------------------------------

@dataclass(frozen=True)
class RedeemCookie:
    """The Client Info carried an auto-reconnect answer: ``Reconnects.redeem`` it, then
    ``Bridge.reconnect_checked(ticket or None)``."""

    answer: ClientAutoReconnect
    client_username: str
    client_domain: str


@dataclass(frozen=True)
class IssueCookie:
    """The client is logged in, its desktop connected: ``Reconnects.issue`` a cookie, then
    ``Bridge.cookie_issued(cookie)``."""

    username: str
    client_username: str
    client_domain: str
    path: str | Path


# ---- the server's side ------------------------------------------------------------------------

# (user name, host socket path) -> is that the user's desktop, still running (and it counts as
# used now)
ResumeDesktop = Callable[[str, Path], Awaitable[bool]]
# (action, user name, client address, host socket path or None, reason) -> recorded
AuditReconnect = Callable[[str, str, str, Path | None, str], Awaitable[None]]
AccountStamp = Callable[[str], Awaitable[str | None]]


async def _socket_exists(username: str, path: Path) -> bool:
    return path.exists()


@dataclass(frozen=True)
class ReconnectHooks:
    """What the console tells the RDP server about reconnections: whether a desktop still runs
    for its user (without a console: its socket is still there), and where audit events go."""

    resume_desktop: ResumeDesktop = _socket_exists
    audit: AuditReconnect | None = None


class Reconnects:
    """The server's cookie store, its clock, and the console's say in each reconnection."""

    def __init__(self, *, lifetime: float = RECONNECT_LIFETIME,
                 account_stamp: AccountStamp | None = None, hooks: ReconnectHooks | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = CookieStore(lifetime)
        self.hooks = hooks or ReconnectHooks()
        self._account_stamp = account_stamp
        self._clock = clock

    async def issue(self, request: IssueCookie, *, replaces: int | None = None,
                    log_context: str = "") -> ServerAutoReconnect | None:
        """A cookie for the client (in place of ``replaces``, the one it held), or None when the
        account's stamp cannot be read now (the client then has no new cookie: a dropped
        connection logs in again)."""
        try:
            stamp = await self._stamp(request.username)
        except Exception:
            log.exception("%s no auto-reconnect cookie: the account of user=%s could not be read", log_context,
                          request.username)
            return None
        cookie = self.store.issue(username=request.username, client_username=request.client_username,
                                  client_domain=request.client_domain, path=request.path, stamp=stamp,
                                  now=self._clock(), replaces=replaces)
        log.info("%s auto-reconnect cookie %08x issued user=%s host=%s", log_context, cookie.logon_id,
                 request.username, request.path)
        return cookie

    async def redeem(self, request: RedeemCookie, *, address: str, log_context: str = "") -> Ticket | None:
        """The ticket when the client may go back to its desktop without a password, else None
        (logged and audited)."""
        ticket = None
        try:
            ticket = self.store.redeem(request.answer, client_username=request.client_username,
                                       client_domain=request.client_domain, now=self._clock())
            await self._still_valid(ticket)
        except CookieRefused as refused:
            ticket = refused.ticket or ticket
            log.warning("%s auto-reconnect cookie %08x refused (client user=%r): %s; normal login follows",
                        log_context, request.answer.logon_id, request.client_username, refused.reason)
            await self._audit("rdp.reconnect_refused", ticket.username if ticket else request.client_username,
                              address, ticket.path if ticket else None, refused.reason, log_context)
            return None
        log.info("%s auto-reconnect cookie %08x taken: user=%s host=%s", log_context, ticket.logon_id,
                 ticket.username, ticket.path)
        await self._audit("rdp.reconnect", ticket.username, address, ticket.path, "", log_context)
        return ticket

    async def _still_valid(self, ticket: Ticket) -> None:
        try:
            running = await self.hooks.resume_desktop(ticket.username, ticket.path)
            stamp = await self._stamp(ticket.username)
        except Exception:
            log.exception("checking auto-reconnect cookie %08x failed", ticket.logon_id)
            raise CookieRefused("its desktop or account could not be checked", ticket) from None
        if not running:
            raise CookieRefused("its desktop is no longer running", ticket)
        if stamp != ticket.stamp:
            raise CookieRefused("the account was deactivated or given a new password since", ticket)

    async def _stamp(self, username: str) -> str | None:
        return await self._account_stamp(username) if self._account_stamp is not None else None

    async def _audit(self, action: str, username: str, address: str, path: Path | None, reason: str,
                     log_context: str) -> None:
        if self.hooks.audit is None:
            return
        try:
            await self.hooks.audit(action, username, address, path, reason)
        except Exception:
            log.exception("%s audit of %s failed", log_context, action)

    def released(self, logon_id: int | None) -> None:
        """The connection holding cookie ``logon_id`` ended."""
        if logon_id is not None:
            self.store.released(logon_id, self._clock())

    def desktop_ended(self, path: str | Path, log_context: str = "") -> None:
        if count := self.store.forget_desktop(path):
            log.info("%s desktop at %s ended: %d auto-reconnect cookie(s) dropped", log_context, path, count)
