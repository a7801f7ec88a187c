"""The session's cursor image and pointer position as one client's pointer updates, sans-IO.

The session host pushes its cursor image (``messages.Cursor``) and, from a 30 Hz poll, where its
pointer is (``messages.Pointer``). ``PointerOutput`` keeps the latest of each until the client
may be written to (``take``), so a backed-up socket gets one update of each, never a queue.

A position is sent only when something other than this client's own input moved the pointer (a
program warping it, another viewer): the host's poll lags the client's moves, and echoing a
position this connection injected lately would drag the user's pointer back. Nothing is sent
before the client's first move: where the session's pointer happens to be when a client
connects is no reason to pull the user's pointer there.
"""

from __future__ import annotations

import logging
from collections import deque

from compositor import messages
from rdpfront.connection import ServerConnection
from rdpfront.pointer import pointer_from_rgba

log = logging.getLogger(__name__)

# Pointer positions this connection injected lately: the host's poll can report any of them.
INJECTED_POSITIONS_KEPT = 64


class PointerOutput:
    """Cursor image and pointer position updates waiting for one client."""

    def __init__(self, log_context: str = "") -> None:
        self._log = log_context
        self.cursor: messages.Cursor | None = None
        self.cursor_pending = False
        self.position_pending: tuple[int, int] | None = None
        self._injected: deque[tuple[int, int]] = deque(maxlen=INJECTED_POSITIONS_KEPT)
        self.positions_sent = 0

    @property
    def pending(self) -> bool:
        return self.cursor_pending or self.position_pending is not None

    def client_moved(self, x: int, y: int) -> None:
        """The client moved its pointer to ``x``, ``y`` (and this connection told the session)."""
        self._injected.append((x, y))

    def host_cursor(self, cursor: messages.Cursor) -> None:
        self.cursor = cursor
        self.cursor_pending = True

    def host_moved(self, x: int, y: int) -> None:
        """The session's pointer is at ``x``, ``y``: due to the client unless this client put it there."""
        if self._injected and (x, y) not in self._injected:
            self.position_pending = (x, y)

    def output_started(self) -> None:
        """The client takes output from now on (again): it gets the current cursor image."""
        self.cursor_pending = self.cursor is not None

    def take(self, conn: ServerConnection, width: int, height: int) -> bytes:
        """The pending updates as bytes for an active client whose screen is ``width`` x
        ``height`` (a position outside it is dropped)."""
        out = b""
        if self.cursor_pending:
            out += self._cursor_update(conn)
        if self.position_pending is not None:
            x, y = self.position_pending
            self.position_pending = None
            if 0 <= x < width and 0 <= y < height:
                log.debug("%s pointer moved in the session to %d,%d", self._log, x, y)
                out += conn.pointer_position(x, y)
                self.positions_sent += 1
        return out

    def _cursor_update(self, conn: ServerConnection) -> bytes:
        self.cursor_pending = False
        cursor = self.cursor
        if cursor is None or not conn.active:
            return b""
        try:
            if cursor.width == 0 or cursor.height == 0:
                return conn.pointer_hidden()
            return conn.pointer_image(pointer_from_rgba(cursor.width, cursor.height, cursor.xhot, cursor.yhot,
                                                        cursor.rgba))
        except Exception:
            log.exception("%s cursor update failed", self._log)
            return b""
