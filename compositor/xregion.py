"""XFixes region requests python-xlib lacks: CreateRegion, DestroyRegion, FetchRegion.

With them the host reads damage the way X compositors do: a DamageReportNonEmpty damage
object says *that* something changed (one event until it is emptied), and DamageSubtract
moves the accumulated region into an XFixes region whose rectangles one FetchRegion returns.
However fast a client draws, that is one event and one round trip per frame. The damage
object has an X connection of its own (``DamageConnection``), read without python-xlib.
"""

from __future__ import annotations

import logging
import socket
import struct

from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import damage as xdamage
from Xlib.ext import xfixes
from Xlib.protocol import request as xrequest
from Xlib.protocol import rq, structs

from compositor.rects import Rect

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line


class CreateRegion(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"), rq.Opcode(5), rq.RequestLength(),
        rq.Card32("region"),
        rq.List("rectangles", structs.Rectangle),
    )


class DestroyRegion(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(10), rq.RequestLength(), rq.Card32("region"))


class FetchRegion(rq.ReplyRequest):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(19), rq.RequestLength(), rq.Card32("region"))
    _reply = rq.Struct(
        rq.ReplyCode(), rq.Pad(1), rq.Card16("sequence_number"), rq.ReplyLength(),
        rq.Object("extents", structs.Rectangle), rq.Pad(16),
        rq.List("rectangles", structs.Rectangle),
    )


def _major(display) -> int:
    return display.display.get_extension_major(xfixes.extname)


def create_region(display) -> int:
    region = display.display.allocate_resource_id()
    CreateRegion(display=display.display, opcode=_major(display), region=region, rectangles=[])
    return region


def destroy_region(display, region: int) -> None:
    DestroyRegion(display=display.display, opcode=_major(display), region=region)
    display.display.free_resource_id(region)


def fetch_region(display, region: int) -> list[Rect]:
    reply = FetchRegion(display=display.display, opcode=_major(display), region=region)
    return [(r.x, r.y, r.width, r.height) for r in reply.rectangles]


# -- the damage connection -----------------------------------------------------------------
#
# The damage object lives on an X connection of its own, which python-xlib sets up and then
# hands over: DamageSubtract and FetchRegion are the same bytes every frame (packed once), and
# the events and the reply are read straight off the socket and cut with ``DamageWire``. On the
# host's main connection every damage event went through python-xlib's generic event parsing
# and a select() poll, and every reply through its send/receive loop (selects, locks, request
# queues): some 150 Python calls a frame. Only the damage object's events come on this
# connection (and the few the X server sends every client, MappingNotify), so its parsing is
# short.

_RECTANGLE = struct.Struct("=hhHH")  # x, y INT16; width, height CARD16 (the client's byte order)
_POINTER = struct.Struct("=hh")  # a QueryPointer reply's root-x, root-y (INT16) at offset 16
_HEAD = struct.Struct("=BBHI")  # kind (0 error, 1 reply, else event), detail, sequence, length
_GENERIC_EVENT = 35
RECEIVE_SIZE = 65536

# What DamageWire.next_item gives: (kind, sequence number, the whole packet)
ERROR, REPLY, DAMAGE_NOTIFY, OTHER_EVENT = range(4)


class DamageWire:
    """The X server's bytes on the damage connection cut into errors, replies and events
    (sans-IO: ``receive_data``, then ``next_item`` until it gives None)."""

    def __init__(self, damage_notify: int, data: bytes = b"") -> None:
        self._damage_notify = damage_notify  # DAMAGE's first event code
        self._buffer = bytearray(data)
        self._start = 0

    def receive_data(self, data: bytes) -> None:
        if self._start == len(self._buffer):
            self._buffer = bytearray(data)
        else:  # the rest of an unfinished packet: what was handed out goes
            del self._buffer[:self._start]
            self._buffer += data
        self._start = 0

    def next_item(self) -> tuple[int, int, bytes] | None:
        """The next whole error, reply or event (its kind, sequence number and bytes), or None
        until more data is received."""
        buffer, start = self._buffer, self._start
        if len(buffer) - start < 32:
            return None
        code, _, sequence, length = _HEAD.unpack_from(buffer, start)
        if code == 1 or code & 0x7F == _GENERIC_EVENT:  # a reply or generic event: 32 + 4 * length bytes
            size = 32 + 4 * length
            if len(buffer) - start < size:
                return None
        else:
            size = 32
        self._start = start + size
        packet = bytes(buffer[start:start + size])
        if code == 0:
            return ERROR, sequence, packet
        if code == 1:
            return REPLY, sequence, packet
        return (DAMAGE_NOTIFY if code & 0x7F == self._damage_notify else OTHER_EVENT), sequence, packet

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out."""
        return len(self._buffer) - self._start


def region_rectangles(reply: bytes) -> list[Rect]:
    """The rectangles of a FetchRegion reply (after its header and extents, 8 bytes each)."""
    return list(_RECTANGLE.iter_unpack(reply[32:32 + _RECTANGLE.size * ((len(reply) - 32) // _RECTANGLE.size)]))


class DamageConnection:
    """An X connection of its own for the screen's damage: a DamageReportNonEmpty damage object
    on the root window, its events (``receive``) and the read of what it holds (``read``); the
    pointer position is read on it too (``query_pointer``), the same way. Raises a
    ``capture.CONNECTION_LOST`` error when the X server is gone."""

    def __init__(self, display_name: str) -> None:
        x = xdisplay.Display(display_name)
        try:
            x.damage_query_version()
            x.xfixes_query_version()
            damage_notify = x.query_extension(xdamage.extname).first_event + xdamage.DamageNotifyCode
            root = x.screen().root
            damage = root.damage_create(xdamage.DamageReportNonEmpty)
            region = create_region(x)
            inner = x.display
            self._requests = xdamage.DamageSubtract._request.to_binary(
                opcode=inner.get_extension_major(xdamage.extname), damage=damage, repair=0, parts=region) \
                + FetchRegion._request.to_binary(opcode=_major(x), region=region)
            self._query_pointer = xrequest.QueryPointer._request.to_binary(window=root.id)
            x.sync()
        except BaseException:
            x.close()
            raise
        # From here on python-xlib sends and reads nothing, and its Display (~170 KB of Python
        # objects, its copies of the extensions' classes) is let go: the requests this sends are
        # numbered on from its count, and what it read past its last reply is parsed here.
        self._socket = inner.socket
        self._serial = inner.request_serial  # the next request's sequence number
        self._wire = DamageWire(damage_notify, bytes(inner.data_recv))
        self._error_classes = inner.error_classes  # error code -> python-xlib's class for it
        self.notified = any(type(e).__name__ == "DamageNotify" for e in inner.event_queue)

    def fileno(self) -> int:
        return self._socket.fileno()

    def close(self) -> None:
        """Close the connection (the X server frees the damage object and the region)."""
        self._socket.close()

    def receive(self) -> bool:
        """Read what has arrived without waiting (the descriptor signalled); True if a damage
        event came (also in ``notified``, which the caller resets)."""
        self._receive(socket.MSG_DONTWAIT)
        self._take_events()
        return self.notified

    def read(self) -> list[Rect]:
        """DamageSubtract into the region and FetchRegion: what changed since the last read (the
        damage object is empty again and will report the next change). Damage events read while
        waiting for the reply set ``notified``."""
        return region_rectangles(self._round_trip(self._requests, 2))

    def query_pointer(self) -> tuple[int, int]:
        """Where the pointer is on the screen (QueryPointer of the root window)."""
        return _POINTER.unpack_from(self._round_trip(self._query_pointer, 1), 16)

    def _round_trip(self, requests: bytes, count: int) -> bytes:
        """Send ``count`` requests packed in ``requests`` and wait for the reply to the last."""
        last = (self._serial + count - 1) & 0xFFFF
        self._serial = (self._serial + count) & 0xFFFF
        self._socket.sendall(requests)
        while True:
            item = self._wire.next_item()
            if item is None:
                self._receive(0)
                continue
            kind, sequence, packet = item
            if kind == REPLY:
                if sequence != last:
                    raise RuntimeError(f"X reply for request {sequence} on the damage connection, expected {last}")
                self._take_events()
                return packet
            if kind == ERROR and sequence == last:
                raise self._error_classes.get(packet[1], xerror.XError)(None, packet)
            self._take(kind, packet)

    def _receive(self, flags: int) -> None:
        try:
            data = self._socket.recv(RECEIVE_SIZE, flags)
        except BlockingIOError:
            return
        if not data:
            raise xerror.ConnectionClosedError("server")
        self._wire.receive_data(data)

    def _take_events(self) -> None:
        while (item := self._wire.next_item()) is not None:
            if item[0] == REPLY:
                raise RuntimeError(f"X reply for request {item[1]} on the damage connection, none expected")
            self._take(item[0], item[2])

    def _take(self, kind: int, packet: bytes) -> None:
        if kind == DAMAGE_NOTIFY:
            self.notified = True
        elif kind == ERROR:  # of a request with no reply: python-xlib's default handler would print it
            log.warning("X error on the damage connection: code %d, request %d.%d", packet[1], packet[10],
                        struct.unpack_from("=H", packet, 8)[0])
