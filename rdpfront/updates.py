"""Output PDUs of the active session: bitmap updates, orders updates (ScrBlt) and pointer
updates, on the fast path when the client takes it ([2.2.9.1.2]), as slow-path Update / Pointer
share data PDUs otherwise ([2.2.9.1.1])."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rdpfront import wire
from rdpfront.bitmap import BitmapData
from rdpfront.cursor import Writer, encode
from rdpfront.errors import LocalProtocolError
from rdpfront.fastpath import MAX_FRAGMENT, UpdateCode, fragment_update
from rdpfront.orders import OrderHistory, ScrBlt, slow_path_orders_header
from rdpfront.pointer import CachedPointer, ColorPointer, LargePointer, PointerPosition, SystemPointer
from rdpfront.rdp.pdus import PointerData, PointerMessageType, UpdateData

# A slow-path PDU goes through MCS Send Data, whose PER length stays below 16 KiB (longer
# lengths need PER fragmentation, which clients do not expect), headers included.
SLOW_PATH_MAX_UPDATE = 0x3FFF - 64


@dataclass(frozen=True)
class UpdateWriter:
    """Update PDUs for one client: ``fastpath`` and ``max_request_size`` as it confirmed them."""

    fastpath: bool
    max_request_size: int = MAX_FRAGMENT

    def bitmap_update(self, rectangles: Iterable[BitmapData | bytes]) -> bytes:
        """Bitmap updates for these TS_BITMAP_DATA (objects or encoded bytes), split so each
        update fits the client's reassembly buffer and fragmented on the fast path."""
        encoded = [r if isinstance(r, bytes | bytearray) else encode(r) for r in rectangles]
        limit = self.max_request_size if self.fastpath else SLOW_PATH_MAX_UPDATE
        out = bytearray()
        batch: list[bytes] = []
        size = 4
        for rect in encoded:
            if 4 + len(rect) > limit:
                raise LocalProtocolError(f"one bitmap of {len(rect)} bytes exceeds the update limit {limit}")
            if batch and size + len(rect) > limit:
                out += self._update(UpdateCode.BITMAP, _bitmap_update_bytes(batch))
                batch, size = [], 4
            batch.append(bytes(rect))
            size += len(rect)
        if batch:
            out += self._update(UpdateCode.BITMAP, _bitmap_update_bytes(batch))
        return bytes(out)

    def orders_update(self, orders: Sequence[ScrBlt], history: OrderHistory) -> bytes:
        """ScrBlt orders in one or more orders updates, each within the client's reassembly
        buffer; ``history`` is the connection's primary order history (updated)."""
        limit = self.max_request_size if self.fastpath else SLOW_PATH_MAX_UPDATE
        out = bytearray()
        batch = Writer()
        count = 0
        for order in orders:
            # An order is at most 16 bytes; an update carries at most 0xFFFF of them.
            if count and (len(batch) + 16 + 8 > limit or count == 0xFFFF):
                out += self._orders(count, batch.getvalue())
                batch, count = Writer(), 0
            history.encode(batch, order)
            count += 1
        if count:
            out += self._orders(count, batch.getvalue())
        return bytes(out)

    def _orders(self, count: int, data: bytes) -> bytes:
        if self.fastpath:  # [2.2.9.1.2.1.2] TS_FP_UPDATE_ORDERS: numberOrders, orderData
            return self._update(UpdateCode.ORDERS, count.to_bytes(2, "little") + data)
        return wire.share_data(UpdateData(slow_path_orders_header(count) + data))

    def pointer_position(self, x: int, y: int) -> bytes:
        return self._pointer(UpdateCode.PTR_POSITION, PointerMessageType.POSITION, encode(PointerPosition(x, y)))

    def pointer_system(self, which: SystemPointer) -> bytes:
        if self.fastpath:
            code = UpdateCode.PTR_NULL if which == SystemPointer.SYSPTR_NULL else UpdateCode.PTR_DEFAULT
            return b"".join(fragment_update(code, b""))
        w = Writer()
        w.u32(which)
        return wire.share_data(PointerData(PointerMessageType.SYSTEM, w.getvalue()))

    def pointer_image(self, pointer: ColorPointer | LargePointer) -> bytes:
        """A colour / new (32 bpp) / large pointer; it is also cached at its ``cache_index``."""
        if isinstance(pointer, LargePointer):
            return self._pointer(UpdateCode.LARGE_POINTER, PointerMessageType.LARGE, encode(pointer))
        if pointer.xor_bpp is None:
            return self._pointer(UpdateCode.COLOR, PointerMessageType.COLOR, encode(pointer))
        return self._pointer(UpdateCode.POINTER, PointerMessageType.POINTER, encode(pointer))

    def pointer_cached(self, cache_index: int) -> bytes:
        return self._pointer(UpdateCode.CACHED, PointerMessageType.CACHED, encode(CachedPointer(cache_index)))

    def _pointer(self, code: UpdateCode, message_type: PointerMessageType, data: bytes) -> bytes:
        if self.fastpath:
            return self._update(code, data)
        return wire.share_data(PointerData(message_type, data))

    def _update(self, code: UpdateCode, data: bytes) -> bytes:
        if self.fastpath:
            return b"".join(fragment_update(code, data, MAX_FRAGMENT))
        if code != UpdateCode.BITMAP:
            raise LocalProtocolError(f"no slow-path form for update {code.name} here")
        return wire.share_data(UpdateData(data))


def _bitmap_update_bytes(rects: Sequence[bytes]) -> bytes:
    w = Writer()
    w.u16(1)  # UPDATETYPE_BITMAP
    w.u16(len(rects))
    for r in rects:
        w.write(r)
    return w.getvalue()
