"""XFixes region requests python-xlib lacks: CreateRegion, DestroyRegion, FetchRegion.

With them the host reads damage the way X compositors do: a DamageReportNonEmpty damage
object says *that* something changed (one event until it is emptied), and DamageSubtract
moves the accumulated region into an XFixes region whose rectangles one FetchRegion returns.
However fast a client draws, that is one event and one round trip per frame.
"""

from __future__ import annotations

import struct

from Xlib.ext import damage as xdamage
from Xlib.ext import xfixes
from Xlib.protocol import rq, structs
from Xlib.support import lock

from compositor.rects import Rect


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


# -- the damage read of every frame, packed once ------------------------------------------
#
# DamageSubtract(damage, None, region) and FetchRegion(region) are the same bytes every frame.
# python-xlib builds each request, and parses each reply, field by field through its generic
# structures (some 80 Python calls a frame); these send the bytes packed at start and read the
# reply's rectangles with one struct call. Replies are still matched and errors still raised by
# python-xlib's own connection code.

_RECTANGLE = struct.Struct("=hhHH")  # x, y INT16; width, height CARD16 (the client's byte order)
_REPLY_HEAD = 32  # reply header and extents, then the rectangles


class _Packed(rq.Request):
    """A request with no reply, sent as bytes packed before."""

    def __init__(self, display, binary: bytes) -> None:
        self._errorhandler = None
        self._binary = binary
        self._serial = None
        display.send_request(self, False)


class _PackedFetch(FetchRegion):
    """FetchRegion sent as bytes packed before; the reply is its rectangles. (A FetchRegion
    still: python-xlib tells requests that wait for a reply by their ``_reply``.)"""

    def __init__(self, display, binary: bytes) -> None:
        self._display = display
        self._binary = binary
        self._serial = None
        self._data = None
        self._error = None
        self._response_lock = lock.allocate_lock()
        self._display.send_request(self, True)
        self.reply()

    def _parse_response(self, data: bytes) -> None:
        # the sequence number (python-xlib matches the reply by it), the length in 4-byte units
        # after the first 32 bytes
        sequence_number, length = struct.unpack_from("=HI", data, 2)
        rects = data[_REPLY_HEAD:_REPLY_HEAD + _RECTANGLE.size * (length * 4 // _RECTANGLE.size)]
        self._data = {"sequence_number": sequence_number, "rectangles": list(_RECTANGLE.iter_unpack(rects))}


class DamageReader:
    """Moves a damage object's region into an XFixes region and fetches its rectangles, with
    requests packed once for that pair."""

    def __init__(self, display, damage: int, region: int) -> None:
        self._inner = display.display
        self._subtract = xdamage.DamageSubtract._request.to_binary(
            opcode=self._inner.get_extension_major(xdamage.extname), damage=damage, repair=0, parts=region)
        self._fetch = FetchRegion._request.to_binary(opcode=_major(display), region=region)

    def read(self) -> list[Rect]:
        _Packed(self._inner, self._subtract)
        return _PackedFetch(self._inner, self._fetch)._data["rectangles"]
