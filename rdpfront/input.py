"""[2.2.8.1.1.3 / 2.2.8.1.2] Input events, slow-path (TS_INPUT_PDU_DATA) and fast-path
(TS_FP_INPUT_PDU). One dataclass per event; each knows both encodings."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError


class KeyboardFlags(enum.IntFlag):
    """[2.2.8.1.1.3.1.1.1] keyboardFlags (slow-path)."""

    NONE = 0
    KBDFLAGS_EXTENDED = 0x0100
    KBDFLAGS_EXTENDED1 = 0x0200
    KBDFLAGS_DOWN = 0x4000
    KBDFLAGS_RELEASE = 0x8000


class FastPathKeyboardFlags(enum.IntFlag):
    """[2.2.8.1.2.2.1] eventFlags of fast-path keyboard events."""

    NONE = 0
    RELEASE = 0x01
    EXTENDED = 0x02
    EXTENDED1 = 0x04


class PointerFlags(enum.IntFlag):
    """[2.2.8.1.1.3.1.1.3] pointerFlags (TS_POINTER_EVENT)."""

    NONE = 0
    WHEEL_NEGATIVE = 0x0100
    WHEEL = 0x0200
    HWHEEL = 0x0400
    MOVE = 0x0800
    BUTTON1 = 0x1000  # left
    BUTTON2 = 0x2000  # right
    BUTTON3 = 0x4000  # middle
    DOWN = 0x8000


WHEEL_ROTATION_MASK = 0x01FF


class ExtendedPointerFlags(enum.IntFlag):
    """[2.2.8.1.1.3.1.1.4] pointerFlags (TS_POINTERX_EVENT)."""

    NONE = 0
    BUTTON1 = 0x0001
    BUTTON2 = 0x0002
    DOWN = 0x8000


class SyncToggleFlags(enum.IntFlag):
    """[2.2.8.1.1.3.1.1.5] toggleFlags."""

    NONE = 0
    SCROLL_LOCK = 0x1
    NUM_LOCK = 0x2
    CAPS_LOCK = 0x4
    KANA_LOCK = 0x8


class SlowPathEventType(enum.IntEnum):
    SYNC = 0x0000
    UNUSED = 0x0002
    SCANCODE = 0x0004
    UNICODE = 0x0005
    MOUSE = 0x8001
    MOUSEX = 0x8002
    MOUSEREL = 0x8004


class FastPathEventCode(enum.IntEnum):
    SCANCODE = 0x0
    MOUSE = 0x1
    MOUSEX = 0x2
    SYNC = 0x3
    UNICODE = 0x4
    RELMOUSE = 0x5
    QOE_TIMESTAMP = 0x6


@dataclass(frozen=True)
class ScancodeEvent:
    """[2.2.8.1.1.3.1.1.1] Keyboard Event (TS_KEYBOARD_EVENT) / [2.2.8.1.2.2.1] fast-path."""

    key_code: int
    extended: bool = False
    extended1: bool = False
    release: bool = False

    SLOW: ClassVar[int] = SlowPathEventType.SCANCODE
    FAST: ClassVar[int] = FastPathEventCode.SCANCODE

    @classmethod
    def decode_slow(cls, r: Reader) -> ScancodeEvent:
        flags = r.u16("keyboardFlags")
        code = r.u16("keyCode")
        r.skip(2, "pad2Octets")
        return cls(code & 0xFF, bool(flags & KeyboardFlags.KBDFLAGS_EXTENDED),
                   bool(flags & KeyboardFlags.KBDFLAGS_EXTENDED1), bool(flags & KeyboardFlags.KBDFLAGS_RELEASE))

    def encode_slow(self, w: Writer) -> None:
        flags = ((KeyboardFlags.KBDFLAGS_EXTENDED if self.extended else 0)
                 | (KeyboardFlags.KBDFLAGS_EXTENDED1 if self.extended1 else 0)
                 | (KeyboardFlags.KBDFLAGS_RELEASE if self.release else 0))
        w.u16(flags)
        w.u16(self.key_code)
        w.pad(2)

    @classmethod
    def decode_fast(cls, r: Reader, flags: int) -> ScancodeEvent:
        return cls(r.u8("keyCode"), bool(flags & FastPathKeyboardFlags.EXTENDED),
                   bool(flags & FastPathKeyboardFlags.EXTENDED1), bool(flags & FastPathKeyboardFlags.RELEASE))

    def fast_flags(self) -> int:
        return ((FastPathKeyboardFlags.EXTENDED if self.extended else 0)
                | (FastPathKeyboardFlags.EXTENDED1 if self.extended1 else 0)
                | (FastPathKeyboardFlags.RELEASE if self.release else 0))

    def encode_fast(self, w: Writer) -> None:
        w.u8(self.key_code)

    def fast_size(self) -> int:
        return 1


@dataclass(frozen=True)
class UnicodeKeyEvent:
    """[2.2.8.1.1.3.1.1.2] Unicode Keyboard Event (TS_UNICODE_KEYBOARD_EVENT) / [2.2.8.1.2.2.2]."""

    code_unit: int  # one UTF-16 code unit
    release: bool = False

    SLOW: ClassVar[int] = SlowPathEventType.UNICODE
    FAST: ClassVar[int] = FastPathEventCode.UNICODE

    @classmethod
    def decode_slow(cls, r: Reader) -> UnicodeKeyEvent:
        flags = r.u16("keyboardFlags")
        code = r.u16("unicodeCode")
        r.skip(2, "pad2Octets")
        return cls(code, bool(flags & KeyboardFlags.KBDFLAGS_RELEASE))

    def encode_slow(self, w: Writer) -> None:
        w.u16(KeyboardFlags.KBDFLAGS_RELEASE if self.release else 0)
        w.u16(self.code_unit)
        w.pad(2)

    @classmethod
    def decode_fast(cls, r: Reader, flags: int) -> UnicodeKeyEvent:
        return cls(r.u16("unicodeCode"), bool(flags & FastPathKeyboardFlags.RELEASE))

    def fast_flags(self) -> int:
        return FastPathKeyboardFlags.RELEASE if self.release else 0

    def encode_fast(self, w: Writer) -> None:
        w.u16(self.code_unit)

    def fast_size(self) -> int:
        return 2


@dataclass(frozen=True)
class PointerEvent:
    """[2.2.8.1.1.3.1.1.3] Mouse Event (TS_POINTER_EVENT) / [2.2.8.1.2.2.3] fast-path."""

    flags: int
    x: int
    y: int

    SLOW: ClassVar[int] = SlowPathEventType.MOUSE
    FAST: ClassVar[int] = FastPathEventCode.MOUSE

    @classmethod
    def decode_slow(cls, r: Reader) -> PointerEvent:
        return cls(r.u16("pointerFlags"), r.u16("xPos"), r.u16("yPos"))

    def encode_slow(self, w: Writer) -> None:
        w.u16(self.flags)
        w.u16(self.x)
        w.u16(self.y)

    @classmethod
    def decode_fast(cls, r: Reader, flags: int) -> PointerEvent:
        return cls.decode_slow(r)

    def fast_flags(self) -> int:
        return 0

    encode_fast = encode_slow

    def fast_size(self) -> int:
        return 6

    @property
    def wheel_delta(self) -> int:
        """Signed wheel rotation (positive = away from the user / to the right)."""
        value = self.flags & WHEEL_ROTATION_MASK
        return value - 0x200 if value & 0x100 else value


@dataclass(frozen=True)
class ExtendedPointerEvent:
    """[2.2.8.1.1.3.1.1.4] Extended Mouse Event (TS_POINTERX_EVENT) / [2.2.8.1.2.2.4] fast-path."""

    flags: int
    x: int
    y: int

    SLOW: ClassVar[int] = SlowPathEventType.MOUSEX
    FAST: ClassVar[int] = FastPathEventCode.MOUSEX

    decode_slow = classmethod(PointerEvent.decode_slow.__func__)  # type: ignore[attr-defined]
    encode_slow = PointerEvent.encode_slow
    decode_fast = classmethod(PointerEvent.decode_fast.__func__)  # type: ignore[attr-defined]
    fast_flags = PointerEvent.fast_flags
    encode_fast = PointerEvent.encode_slow
    fast_size = PointerEvent.fast_size


@dataclass(frozen=True)
class RelativePointerEvent:
    """[2.2.8.1.1.3.1.1.6] Relative Mouse Event (TS_POINTERREL_EVENT) / [2.2.8.1.2.2.7]."""

    flags: int
    dx: int
    dy: int

    SLOW: ClassVar[int] = SlowPathEventType.MOUSEREL
    FAST: ClassVar[int] = FastPathEventCode.RELMOUSE

    @classmethod
    def decode_slow(cls, r: Reader) -> RelativePointerEvent:
        return cls(r.u16("pointerFlags"), r.i16("xDelta"), r.i16("yDelta"))

    def encode_slow(self, w: Writer) -> None:
        w.u16(self.flags)
        w.i16(self.dx)
        w.i16(self.dy)

    @classmethod
    def decode_fast(cls, r: Reader, flags: int) -> RelativePointerEvent:
        return cls.decode_slow(r)

    def fast_flags(self) -> int:
        return 0

    encode_fast = encode_slow

    def fast_size(self) -> int:
        return 6


@dataclass(frozen=True)
class SyncEvent:
    """[2.2.8.1.1.3.1.1.5] Synchronize Event (TS_SYNC_EVENT) / [2.2.8.1.2.2.5] fast-path."""

    toggle_flags: int

    SLOW: ClassVar[int] = SlowPathEventType.SYNC
    FAST: ClassVar[int] = FastPathEventCode.SYNC

    @classmethod
    def decode_slow(cls, r: Reader) -> SyncEvent:
        r.skip(2, "pad2Octets")
        return cls(r.u32("toggleFlags"))

    def encode_slow(self, w: Writer) -> None:
        w.pad(2)
        w.u32(self.toggle_flags)

    @classmethod
    def decode_fast(cls, r: Reader, flags: int) -> SyncEvent:
        return cls(flags)

    def fast_flags(self) -> int:
        if self.toggle_flags > 0x1F:
            raise LocalProtocolError("fast-path sync carries only 5 toggle bits")
        return self.toggle_flags

    def encode_fast(self, w: Writer) -> None:
        pass

    def fast_size(self) -> int:
        return 0


@dataclass(frozen=True)
class UnusedEvent:
    """[2.2.8.1.1.3.1.1.7] Unused Event (TS_UNUSED_EVENT): six ignored bytes."""

    SLOW: ClassVar[int] = SlowPathEventType.UNUSED

    @classmethod
    def decode_slow(cls, r: Reader) -> UnusedEvent:
        r.skip(6, "TS_UNUSED_EVENT")
        return cls()

    def encode_slow(self, w: Writer) -> None:
        w.pad(6)


@dataclass(frozen=True)
class QoeTimestampEvent:
    """[2.2.8.1.2.2.6] Quality of Experience Timestamp Event (TS_FP_QOETIMESTAMP_EVENT)."""

    timestamp: int

    FAST: ClassVar[int] = FastPathEventCode.QOE_TIMESTAMP

    @classmethod
    def decode_fast(cls, r: Reader, flags: int) -> QoeTimestampEvent:
        return cls(r.u32("timestamp"))

    def fast_flags(self) -> int:
        return 0

    def encode_fast(self, w: Writer) -> None:
        w.u32(self.timestamp)

    def fast_size(self) -> int:
        return 4


InputEvent = (ScancodeEvent | UnicodeKeyEvent | PointerEvent | ExtendedPointerEvent
              | RelativePointerEvent | SyncEvent | UnusedEvent | QoeTimestampEvent)

_SLOW = {c.SLOW: c for c in (ScancodeEvent, UnicodeKeyEvent, PointerEvent, ExtendedPointerEvent,
                             RelativePointerEvent, SyncEvent, UnusedEvent)}
_FAST = {c.FAST: c for c in (ScancodeEvent, UnicodeKeyEvent, PointerEvent, ExtendedPointerEvent,
                             RelativePointerEvent, SyncEvent, QoeTimestampEvent)}

MAX_SLOW_PATH_EVENTS = 4096


@dataclass(frozen=True)
class InputPdu:
    """[2.2.8.1.1.3.1] Input Event PDU Data (TS_INPUT_PDU_DATA); event times are kept."""

    events: tuple[tuple[int, InputEvent], ...]  # (eventTime, event)

    @classmethod
    def decode(cls, r: Reader) -> InputPdu:
        count = r.u16("numEvents")
        r.skip(2, "pad2Octets")
        events = []
        for _ in range(count):
            time = r.u32("eventTime")
            kind = r.u16("messageType")
            cls_ = _SLOW.get(kind)
            if cls_ is None:
                raise RemoteProtocolError(f"unknown slow-path input messageType 0x{kind:04x}")
            events.append((time, cls_.decode_slow(r)))
        return cls(tuple(events))

    def encode(self, w: Writer) -> None:
        w.u16(len(self.events))
        w.pad(2)
        for time, event in self.events:
            w.u32(time)
            w.u16(event.SLOW)  # type: ignore[union-attr]
            event.encode_slow(w)  # type: ignore[union-attr]

    def size(self) -> int:
        return 4 + 12 * len(self.events)


class FastPathInputFlags(enum.IntFlag):
    NONE = 0
    SECURE_CHECKSUM = 0x1
    ENCRYPTED = 0x2


@dataclass(frozen=True)
class FastPathInput:
    """[2.2.8.1.2] Fast-Path Input Event PDU (TS_FP_INPUT_PDU), unencrypted (TLS carries it)."""

    events: tuple[InputEvent, ...]

    @classmethod
    def decode(cls, r: Reader) -> FastPathInput:
        header = r.u8("fpInputHeader")
        if header & 0x3:
            raise RemoteProtocolError("fast-path input header action is not FASTPATH_INPUT_ACTION_FASTPATH")
        if (header >> 6) & FastPathInputFlags.ENCRYPTED:
            raise RemoteProtocolError("encrypted fast-path input but Standard RDP Security is not in use")
        first = r.u8("fast-path length")
        length = (((first & 0x7F) << 8) | r.u8("fast-path length")) if first & 0x80 else first
        header_len = 3 if first & 0x80 else 2
        body = r.sub(length - header_len, "fast-path input PDU") if length >= header_len else None
        if body is None:
            raise RemoteProtocolError(f"fast-path input length {length} shorter than its header")
        count = (header >> 2) & 0xF
        if count == 0:
            count = body.u8("numEvents")
        events = []
        for _ in range(count):
            event_header = body.u8("eventHeader")
            code, flags = event_header >> 5, event_header & 0x1F
            cls_ = _FAST.get(code)
            if cls_ is None:
                raise RemoteProtocolError(f"unknown fast-path input eventCode {code}")
            events.append(cls_.decode_fast(body, flags))
        body.expect_end("fast-path input events")
        return cls(tuple(events))

    def _body_size(self) -> int:
        n = sum(1 + e.fast_size() for e in self.events)  # type: ignore[union-attr]
        return n + (1 if not 1 <= len(self.events) <= 15 else 0)  # numEvents as its own byte

    def size(self) -> int:
        body = self._body_size()
        return body + (2 if body + 2 <= 0x7F else 3)

    def encode(self, w: Writer) -> None:
        count = len(self.events)
        if count > 255:
            raise LocalProtocolError("fast-path input carries at most 255 events")
        w.u8((count if count <= 15 else 0) << 2)  # 0: the count follows in its own byte
        total = self.size()
        if total <= 0x7F:
            w.u8(total)
        else:
            w.u16be(total | 0x8000)
        if not 1 <= count <= 15:
            w.u8(count)
        for e in self.events:
            w.u8((e.FAST << 5) | e.fast_flags())  # type: ignore[union-attr]
            e.encode_fast(w)  # type: ignore[union-attr]
