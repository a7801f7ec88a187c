"""XFixes region requests python-xlib lacks: CreateRegion, DestroyRegion, FetchRegion.

With them the host reads damage the way X compositors do: a DamageReportNonEmpty damage
object says *that* something changed (one event until it is emptied), and DamageSubtract
moves the accumulated region into an XFixes region whose rectangles one FetchRegion returns.
However fast a client draws, that is one event and one round trip per frame.
"""

from __future__ import annotations

from Xlib.ext import xfixes
from Xlib.protocol import rq, structs

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
