"""Daphne's two housekeeping loops, run when something is due instead of on a fixed tick.

Daphne's ``Server.run`` starts ``application_checker`` (every second: reap finished application
instances, cancel those that outlive their closed connection by ``application_close_timeout``)
and ``timeout_checker`` (every 2 s: each protocol's ``check_timeouts``, which rejects slow
WebSocket handshakes, closes sockets past ``websocket_timeout``, fails slow HTTP requests and
sends WebSocket pings every ``ping_interval``). On a console with one idle viewer open, those
ticks were daphne's only work: three wake-ups a second for nothing.

Here both run on events and deadlines:

- the reaper runs when an application instance finishes, when a connection closes, and once
  more ``application_close_timeout`` after it closed (to cancel an instance that ignores it);
- the timeout check runs at the earliest deadline of the open connections: every
  ``HANDSHAKE_CHECK`` while a WebSocket is still in its handshake or an HTTP request has a
  time limit running, else at the next WebSocket ping or ``websocket_timeout``, else never.

Each check does what daphne's does (the protocols' own ``check_timeouts``); only when it runs
changes.

Twisted's ``HTTPFactory`` has a third tick: from ``startFactory`` on it refreshes a cached date
for its access log every second. Daphne gives it no access log (it logs requests itself), so
that date is never read: ``stop_log_clock`` computes it once and drops the timer.
"""

from __future__ import annotations

import asyncio
import logging
import time

from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.web.http import datetimeToLogString

log = logging.getLogger(__name__)

HANDSHAKE_CHECK = 2.0  # seconds, as daphne's own tick, while a connection is being set up
PING_INTERVAL_MIN = 60.0  # seconds between pings of an idle WebSocket
CLOSE_DEADLINE = "wrd_close_deadline"  # key of a connection's details: its reap timer


class EventDrivenChecks:
    """Mixed into daphne's ``Server`` (before it): the same checks, armed as needed."""

    _reaper_call = None
    _timeout_call = None

    # -- reaping application instances ----------------------------------------------------

    def application_checker(self) -> None:
        """Reap what is due now; re-armed by events, not by itself."""
        now = time.time()
        for protocol, details in list(self.connections.items()):
            disconnected = details.get("disconnected")
            instance = details.get("application_instance")
            if (disconnected and now - disconnected > self.application_close_timeout
                    and instance is not None and not instance.done()):
                log.warning("application instance %r for connection %r took too long to shut down and "
                            "was killed", instance, protocol)
                instance.cancel()
            if instance is not None and instance.done():
                error = None if instance.cancelled() else instance.exception()
                if isinstance(error, KeyboardInterrupt):
                    self.stop()  # the protocol asks the server to exit
                elif error is not None:
                    log.error("exception inside application: %s", error, exc_info=error)
                    if not disconnected:
                        protocol.handle_exception(error)
                del details["application_instance"]
                instance = None
            if instance is None and disconnected:
                del self.connections[protocol]

    def _reap_soon(self, delay: float = 0.0) -> None:
        reactor.callLater(delay, self.application_checker)

    def create_application(self, protocol, scope):
        queue = super().create_application(protocol, scope)
        instance = self.connections.get(protocol, {}).get("application_instance")
        if isinstance(instance, asyncio.Future):
            instance.add_done_callback(lambda _: self._finished(protocol))
        return queue

    def _finished(self, protocol) -> None:
        deadline = self.connections.get(protocol, {}).pop(CLOSE_DEADLINE, None)
        if deadline is not None and deadline.active():
            deadline.cancel()
        self._reap_soon()

    def protocol_connected(self, protocol) -> None:
        super().protocol_connected(protocol)
        self._arm_timeouts()

    def protocol_disconnected(self, protocol) -> None:
        super().protocol_disconnected(protocol)
        self._reap_soon()
        # An instance still running is cancelled once it has had its time to finish (a timer
        # its end takes back: most end at once, on the disconnect message).
        details = self.connections.get(protocol, {})
        instance = details.get("application_instance")
        if instance is not None and not instance.done() and CLOSE_DEADLINE not in details:
            details[CLOSE_DEADLINE] = reactor.callLater(self.application_close_timeout + 0.1,
                                                        self.application_checker)

    # -- timeouts and pings ---------------------------------------------------------------

    def timeout_checker(self) -> None:
        """Each connection's own timeout and ping check, then the next at the earliest deadline."""
        self._timeout_call = None
        for protocol in list(self.connections):
            protocol.check_timeouts()
        self._arm_timeouts()

    def _deadline(self, protocol, now: float) -> float | None:
        if isinstance(protocol, WebSocketProtocol):
            if protocol.state == protocol.STATE_CONNECTING:
                return now + HANDSHAKE_CHECK
            if protocol.state != protocol.STATE_OPEN:
                return None  # closing: autobahn's own close timers end it
            due = protocol.last_ping + self.ping_interval
            if self.websocket_timeout >= 0:
                due = min(due, protocol.socket_opened + self.websocket_timeout)
            return due
        if self.http_timeout:
            return now + HANDSHAKE_CHECK
        return None

    def _arm_timeouts(self) -> None:
        if not hasattr(self, "connections"):
            return
        now = time.time()
        deadlines = [d for p in self.connections if (d := self._deadline(p, now)) is not None]
        call = self._timeout_call
        if not deadlines:
            if call is not None and call.active():
                call.cancel()
            self._timeout_call = None
            return
        delay = max(min(deadlines) - now, 0.0) + 0.01  # just past the deadline
        if call is not None and call.active():
            if call.getTime() - reactor.seconds() <= delay:
                return  # an earlier check is armed already
            call.cancel()
        self._timeout_call = reactor.callLater(delay, self.timeout_checker)


def stop_log_clock(factory) -> None:
    """No per-second access-log date refresh on ``factory`` (a twisted.web ``HTTPFactory``
    without a log file, whose date nobody reads)."""
    def update_once() -> None:
        factory._logDateTime = datetimeToLogString(factory.reactor.seconds())

    factory._updateLogDateTime = update_once
    call = getattr(factory, "_logDateTimeCall", None)
    if call is not None and call.active():
        call.cancel()
    factory._logDateTimeCall = None
    update_once()
