"""[MS-RDPEGDI 2.2.2.2] Drawing orders: the primary drawing order ScrBlt, carried in an orders
update ([MS-RDPBCGR 2.2.9.1.2.1.2] FASTPATH_UPDATETYPE_ORDERS, [2.2.9.1.1.3.1.1] slow path).

ScrBlt (screen-to-screen blit) moves pixels the client already shows: a scrolling terminal
costs one small order and the few new rows instead of a picture of the whole terminal.

Primary orders are encoded against a history both ends keep ([MS-RDPEGDI 3.1.1.1.1, 3.2.1.1]
Primary Drawing Order History): the last order type, each field's last value and the last
bounds. A field equal to its last value is left out (its bit in fieldFlags is clear), coordinates
go as one-byte deltas when all of them fit (TS_DELTA_COORDINATES), trailing zero field bytes
are left out (TS_ZERO_FIELD_BYTE_BIT0/1). Both ends reset the history when the connection is
(re)activated (FreeRDP: ``update_reset_state`` during finalization), so one
``OrderHistory`` lives per activation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError


class ControlFlags(enum.IntFlag):
    """[2.2.2.2.1.1.2] controlFlags of a primary drawing order."""

    STANDARD = 0x01
    SECONDARY = 0x02
    BOUNDS = 0x04
    TYPE_CHANGE = 0x08
    DELTA_COORDINATES = 0x10
    ZERO_BOUNDS_DELTAS = 0x20
    ZERO_FIELD_BYTE_BIT0 = 0x40
    ZERO_FIELD_BYTE_BIT1 = 0x80


class BoundsFlags(enum.IntFlag):
    """[2.2.2.2.1.1.1.4] Bounds (TS_BOUNDS) description flags."""

    LEFT = 0x01
    TOP = 0x02
    RIGHT = 0x04
    BOTTOM = 0x08
    DELTA_LEFT = 0x10
    DELTA_TOP = 0x20
    DELTA_RIGHT = 0x40
    DELTA_BOTTOM = 0x80


class OrderType(enum.IntEnum):
    """[2.2.2.2.1.1.2] orderType of the primary orders this module knows."""

    DSTBLT = 0x00
    PATBLT = 0x01
    SCRBLT = 0x02


# [MS-RDPBCGR 2.2.7.1.3] orderSupport indices (TS_NEG_*_INDEX)
NEG_SCRBLT_INDEX = 0x02
ROP_SRCCOPY = 0xCC  # [MS-RDPEGDI 2.2.2.2.1.1.1.7] ternary raster operation: copy the source
UPDATETYPE_ORDERS = 0x0000  # [MS-RDPBCGR 2.2.9.1.1.3.1] slow-path updateType


@dataclass(frozen=True)
class ScrBlt:
    """[2.2.2.2.1.1.2.7] ScrBlt (SCRBLT_ORDER): copy ``width`` x ``height`` pixels from
    ``x_src, y_src`` to ``left, top`` (the client copies as if through a temporary, so the
    areas may overlap)."""

    left: int
    top: int
    width: int
    height: int
    rop: int = ROP_SRCCOPY
    x_src: int = 0
    y_src: int = 0

    FIELD_BYTES = 1  # seven fields: one byte of fieldFlags
    # Field number (1-based, the bit in fieldFlags) -> (attribute, is a coordinate)
    FIELDS = ((1, "left", True), (2, "top", True), (3, "width", True), (4, "height", True),
              (5, "rop", False), (6, "x_src", True), (7, "y_src", True))


@dataclass(frozen=True)
class Bounds:
    """[2.2.2.2.1.1.1.4] Bounds (TS_BOUNDS): the clipping rectangle, edges inclusive."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class PrimaryOrder:
    """One decoded primary drawing order with its values resolved against the history."""

    order: ScrBlt
    bounds: Bounds | None = None


_ZERO_SCRBLT = ScrBlt(0, 0, 0, 0, 0, 0, 0)
_ZERO_BOUNDS = Bounds(0, 0, 0, 0)
_BOUND_EDGES = (("left", BoundsFlags.LEFT, BoundsFlags.DELTA_LEFT),
                ("top", BoundsFlags.TOP, BoundsFlags.DELTA_TOP),
                ("right", BoundsFlags.RIGHT, BoundsFlags.DELTA_RIGHT),
                ("bottom", BoundsFlags.BOTTOM, BoundsFlags.DELTA_BOTTOM))


def _fits_i8(v: int) -> bool:
    return -128 <= v <= 127


def _check_coord(name: str, v: int) -> None:
    if not -0x8000 <= v <= 0x7FFF:
        raise LocalProtocolError(f"{name} {v} does not fit a signed 16-bit coordinate")


def _read_i8(r: Reader, what: str) -> int:
    v = r.u8(what)
    return v - 256 if v > 127 else v


@dataclass
class OrderHistory:
    """[3.1.1.1.1] Primary Drawing Order History of one direction of one activation. The
    encoder and the decoder each keep one; they stay equal as long as every order encoded is
    decoded in turn. The order type starts as PatBlt ([3.2.1.1]); the encoder always names the
    type of its first order, so a client that starts elsewhere (FreeRDP zeroes it) agrees."""

    order_type: OrderType | None = None  # None: not named yet on this activation
    scrblt: ScrBlt = _ZERO_SCRBLT
    bounds: Bounds = _ZERO_BOUNDS

    # ---- encoding ------------------------------------------------------------------------

    def encode(self, w: Writer, order: ScrBlt, bounds: Bounds | None = None) -> None:
        """Write ``order`` (clipped to ``bounds`` if given) as a primary drawing order with
        only the fields that differ from the history, and update the history."""
        for f in fields(order):
            _check_coord(f.name, getattr(order, f.name))
        if not 0 <= order.rop <= 0xFF:
            raise LocalProtocolError(f"rop {order.rop} is not a byte")
        prev = self.scrblt
        present = [(no, name, coord) for no, name, coord in ScrBlt.FIELDS
                   if getattr(order, name) != getattr(prev, name)]
        field_flags = sum(1 << (no - 1) for no, _, _ in present)
        deltas = [getattr(order, name) - getattr(prev, name) for _, name, coord in present if coord]
        delta = bool(deltas) and all(_fits_i8(d) for d in deltas)
        control = ControlFlags.STANDARD
        if self.order_type != OrderType.SCRBLT:
            control |= ControlFlags.TYPE_CHANGE
        if delta:
            control |= ControlFlags.DELTA_COORDINATES
        if field_flags == 0:
            control |= ControlFlags.ZERO_FIELD_BYTE_BIT0  # the one field byte is zero: left out
        bounds_bytes = b""
        if bounds is not None:
            control |= ControlFlags.BOUNDS
            bounds_bytes = self._bounds_bytes(bounds)
            if not bounds_bytes:
                control |= ControlFlags.ZERO_BOUNDS_DELTAS
        w.u8(control)
        if control & ControlFlags.TYPE_CHANGE:
            w.u8(OrderType.SCRBLT)
        if field_flags:
            w.u8(field_flags)
        w.write(bounds_bytes)
        for _, name, coord in present:
            value = getattr(order, name)
            if not coord:
                w.u8(value)
            elif delta:
                w.u8((value - getattr(prev, name)) & 0xFF)
            else:
                w.i16(value)
        self.order_type = OrderType.SCRBLT
        self.scrblt = order

    def _bounds_bytes(self, bounds: Bounds) -> bytes:
        """[2.2.2.2.1.1.1.4] The bounds description against the last bounds; empty when all
        four edges are the same (TS_ZERO_BOUNDS_DELTAS then says so)."""
        flags = 0
        body = Writer()
        for name, absolute, relative in _BOUND_EDGES:
            value, last = getattr(bounds, name), getattr(self.bounds, name)
            _check_coord(f"bounds {name}", value)
            if value == last:
                continue
            if _fits_i8(value - last):
                flags |= relative
                body.u8((value - last) & 0xFF)
            else:
                flags |= absolute
                body.i16(value)
        self.bounds = bounds
        if not flags:
            return b""
        return bytes([flags]) + body.getvalue()

    # ---- decoding ------------------------------------------------------------------------

    def decode(self, r: Reader) -> PrimaryOrder:
        """Read one primary drawing order and update the history. Anything but a ScrBlt (or a
        secondary / alternate secondary order) is the peer's error here."""
        control = r.u8("controlFlags")
        if not control & ControlFlags.STANDARD or control & ControlFlags.SECONDARY:
            raise RemoteProtocolError(f"not a primary drawing order: controlFlags 0x{control:02x}")
        order_type = r.u8("orderType") if control & ControlFlags.TYPE_CHANGE else self.order_type
        if order_type is None:
            order_type = OrderType.PATBLT
        if order_type != OrderType.SCRBLT:
            raise RemoteProtocolError(f"primary order type 0x{order_type:02x} is not supported")
        zero_bytes = ((control >> 6) & 1) + 2 * ((control >> 7) & 1)
        if zero_bytes > ScrBlt.FIELD_BYTES:
            raise RemoteProtocolError(f"{zero_bytes} zero field bytes of a {ScrBlt.FIELD_BYTES}-byte fieldFlags")
        field_flags = r.u8("fieldFlags") if zero_bytes < ScrBlt.FIELD_BYTES else 0
        if field_flags & 0x80:
            raise RemoteProtocolError(f"ScrBlt fieldFlags 0x{field_flags:02x} names an eighth field")
        bounds = None
        if control & ControlFlags.BOUNDS:
            if not control & ControlFlags.ZERO_BOUNDS_DELTAS:
                self.bounds = self._read_bounds(r)
            bounds = self.bounds
        elif control & ControlFlags.ZERO_BOUNDS_DELTAS:
            raise RemoteProtocolError("TS_ZERO_BOUNDS_DELTAS without TS_BOUNDS")
        delta = bool(control & ControlFlags.DELTA_COORDINATES)
        values = {}
        for no, name, coord in ScrBlt.FIELDS:
            last = getattr(self.scrblt, name)
            if not field_flags & (1 << (no - 1)):
                values[name] = last
            elif not coord:
                values[name] = r.u8(name)
            elif delta:
                values[name] = last + _read_i8(r, name)
            else:
                values[name] = r.i16(name)
        self.scrblt = ScrBlt(**values)
        self.order_type = OrderType.SCRBLT
        return PrimaryOrder(self.scrblt, bounds)

    def _read_bounds(self, r: Reader) -> Bounds:
        flags = r.u8("bounds flags")
        edges = {}
        for name, absolute, relative in _BOUND_EDGES:
            last = getattr(self.bounds, name)
            if flags & absolute:
                edges[name] = r.i16(f"bounds {name}")
            elif flags & relative:
                edges[name] = last + _read_i8(r, f"bounds {name}")
            else:
                edges[name] = last
        return Bounds(**edges)


@dataclass(frozen=True)
class OrdersUpdate:
    """[MS-RDPBCGR 2.2.9.1.2.1.2] Fast-Path Orders Update (TS_FP_UPDATE_ORDERS): numberOrders
    and the orders. Encoded and decoded against a fresh history unless one is given."""

    orders: tuple[PrimaryOrder, ...]

    @classmethod
    def decode(cls, r: Reader, history: OrderHistory | None = None) -> OrdersUpdate:
        history = OrderHistory() if history is None else history
        count = r.u16("numberOrders")
        return cls(tuple(history.decode(r) for _ in range(count)))

    def encode(self, w: Writer, history: OrderHistory | None = None) -> None:
        history = OrderHistory() if history is None else history
        if len(self.orders) > 0xFFFF:
            raise LocalProtocolError(f"{len(self.orders)} orders in one update")
        w.u16(len(self.orders))
        for order in self.orders:
            history.encode(w, order.order, order.bounds)

    def size(self) -> int:
        w = Writer()
        self.encode(w)
        return len(w)


def slow_path_orders_header(count: int) -> bytes:
    """[MS-RDPBCGR 2.2.9.1.1.3.1.1] TS_UPDATE_ORDERS_PDU_DATA before orderData: updateType,
    pad2OctetsA, numberOrders, pad2OctetsB."""
    w = Writer()
    w.u16(UPDATETYPE_ORDERS)
    w.pad(2)
    w.u16(count)
    w.pad(2)
    return w.getvalue()
