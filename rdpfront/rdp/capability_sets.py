"""[2.2.7] Capability sets (TS_CAPS_SET) of the Demand Active / Confirm Active PDUs.

Each modelled set decodes and encodes its body; the header (type, length) is written by
``encode_capability``. Sets this server has no use for stay ``RawCapability``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from rdpfront.cursor import Reader, Writer, utf16z
from rdpfront.errors import RemoteProtocolError


class CapabilityType(enum.IntEnum):
    GENERAL = 1
    BITMAP = 2
    ORDER = 3
    BITMAP_CACHE = 4
    CONTROL = 5
    ACTIVATION = 7
    POINTER = 8
    SHARE = 9
    COLOR_CACHE = 10
    SOUND = 12
    INPUT = 13
    FONT = 14
    BRUSH = 15
    GLYPH_CACHE = 16
    OFFSCREEN_CACHE = 17
    BITMAP_CACHE_HOST_SUPPORT = 18
    BITMAP_CACHE_V2 = 19
    VIRTUAL_CHANNEL = 20
    DRAW_NINE_GRID_CACHE = 21
    DRAW_GDI_PLUS = 22
    RAIL = 23
    WINDOW = 24
    DESKTOP_COMPOSITION = 25
    MULTIFRAGMENT_UPDATE = 26
    LARGE_POINTER = 27
    SURFACE_COMMANDS = 28
    BITMAP_CODECS = 29
    FRAME_ACKNOWLEDGE = 30


class GeneralExtraFlags(enum.IntFlag):
    NONE = 0
    FASTPATH_OUTPUT_SUPPORTED = 0x0001
    LONG_CREDENTIALS_SUPPORTED = 0x0004
    AUTORECONNECT_SUPPORTED = 0x0008
    ENC_SALTED_CHECKSUM = 0x0010
    NO_BITMAP_COMPRESSION_HDR = 0x0400


class InputFlags(enum.IntFlag):
    NONE = 0
    INPUT_FLAG_SCANCODES = 0x0001
    INPUT_FLAG_MOUSEX = 0x0004
    INPUT_FLAG_FASTPATH_INPUT = 0x0008
    INPUT_FLAG_UNICODE = 0x0010
    INPUT_FLAG_FASTPATH_INPUT2 = 0x0020
    INPUT_FLAG_UNUSED1 = 0x0040
    INPUT_FLAG_MOUSE_RELATIVE = 0x0080
    TS_INPUT_FLAG_MOUSE_HWHEEL = 0x0100
    TS_INPUT_FLAG_QOE_TIMESTAMPS = 0x0200


@dataclass(frozen=True)
class GeneralCapability:
    """[2.2.7.1.1] General Capability Set (TS_GENERAL_CAPABILITYSET)."""

    os_major_type: int = 0
    os_minor_type: int = 0
    extra_flags: int = 0
    refresh_rect_support: bool = False
    suppress_output_support: bool = False
    protocol_version: int = 0x0200

    TYPE: ClassVar[CapabilityType] = CapabilityType.GENERAL

    @classmethod
    def decode(cls, r: Reader) -> GeneralCapability:
        major = r.u16("osMajorType")
        minor = r.u16("osMinorType")
        version = r.u16("protocolVersion")
        r.skip(2, "pad2octetsA")
        r.u16("generalCompressionTypes")
        extra = r.u16("extraFlags")
        r.skip(6, "updateCapabilityFlag/remoteUnshareFlag/generalCompressionLevel")
        refresh = suppress = 0
        if r.remaining() >= 2:
            refresh = r.u8("refreshRectSupport")
            suppress = r.u8("suppressOutputSupport")
        return cls(major, minor, extra, bool(refresh), bool(suppress), version)

    def encode(self, w: Writer) -> None:
        w.u16(self.os_major_type)
        w.u16(self.os_minor_type)
        w.u16(self.protocol_version)
        w.pad(4)
        w.u16(self.extra_flags)
        w.pad(6)
        w.u8(int(self.refresh_rect_support))
        w.u8(int(self.suppress_output_support))

    def size(self) -> int:
        return 20


@dataclass(frozen=True)
class BitmapCapability:
    """[2.2.7.1.2] Bitmap Capability Set (TS_BITMAP_CAPABILITYSET)."""

    preferred_bits_per_pixel: int = 32
    desktop_width: int = 1024
    desktop_height: int = 768
    desktop_resize_flag: bool = True
    drawing_flags: int = 0

    TYPE: ClassVar[CapabilityType] = CapabilityType.BITMAP

    @classmethod
    def decode(cls, r: Reader) -> BitmapCapability:
        bpp = r.u16("preferredBitsPerPixel")
        r.skip(6, "receive1/4/8BitPerPixel")
        width = r.u16("desktopWidth")
        height = r.u16("desktopHeight")
        r.skip(2, "pad2octets")
        resize = r.u16("desktopResizeFlag")
        r.u16("bitmapCompressionFlag")
        r.u8("highColorFlags")
        drawing = r.u8("drawingFlags")
        r.skip(4, "multipleRectangleSupport/pad2octetsB")
        return cls(bpp, width, height, bool(resize), drawing)

    def encode(self, w: Writer) -> None:
        w.u16(self.preferred_bits_per_pixel)
        w.u16(1)
        w.u16(1)
        w.u16(1)
        w.u16(self.desktop_width)
        w.u16(self.desktop_height)
        w.pad(2)
        w.u16(int(self.desktop_resize_flag))
        w.u16(1)  # bitmapCompressionFlag: MUST be TRUE
        w.u8(0)
        w.u8(self.drawing_flags)
        w.u16(1)  # multipleRectangleSupport: MUST be TRUE
        w.pad(2)

    def size(self) -> int:
        return 24


@dataclass(frozen=True)
class OrderCapability:
    """[2.2.7.1.3] Order Capability Set (TS_ORDER_CAPABILITYSET). The server's names the
    orders it sends: ScrBlt only (TS_NEG_SCRBLT_INDEX), to clients whose own set has it."""

    # TS_NEGOTIATEORDERSUPPORT | TS_ZEROBOUNDSDELTASSUPPORT | TS_COLORINDEXSUPPORT
    order_flags: int = 0x002A
    order_support: bytes = field(default=bytes(2) + b"\x01" + bytes(29), repr=False)
    order_support_ex_flags: int = 0
    desktop_save_size: int = 0
    text_ansi_code_page: int = 0

    TYPE: ClassVar[CapabilityType] = CapabilityType.ORDER

    @classmethod
    def decode(cls, r: Reader) -> OrderCapability:
        r.skip(16 + 4 + 2 + 2 + 2 + 2 + 2, "terminalDescriptor..numberFonts")
        flags = r.u16("orderFlags")
        support = r.read(32, "orderSupport")
        r.u16("textFlags")
        ex = r.u16("orderSupportExFlags")
        r.skip(4, "pad4octetsB")
        save = r.u32("desktopSaveSize")
        r.skip(4, "pad2octetsC/D")
        code_page = r.u16("textANSICodePage")
        r.skip(2, "pad2octetsE")
        return cls(flags, support, ex, save, code_page)

    def encode(self, w: Writer) -> None:
        w.pad(16 + 4)
        w.u16(1)  # desktopSaveXGranularity
        w.u16(20)  # desktopSaveYGranularity
        w.pad(2)
        w.u16(1)  # maximumOrderLevel
        w.u16(0)  # numberFonts
        w.u16(self.order_flags)
        w.write(self.order_support)
        w.u16(0)
        w.u16(self.order_support_ex_flags)
        w.pad(4)
        w.u32(self.desktop_save_size)
        w.pad(4)
        w.u16(self.text_ansi_code_page)
        w.pad(2)

    def size(self) -> int:
        return 84


@dataclass(frozen=True)
class PointerCapability:
    """[2.2.7.1.5] Pointer Capability Set (TS_POINTER_CAPABILITYSET)."""

    color_pointer_cache_size: int = 25
    pointer_cache_size: int | None = 25

    TYPE: ClassVar[CapabilityType] = CapabilityType.POINTER

    @classmethod
    def decode(cls, r: Reader) -> PointerCapability:
        r.u16("colorPointerFlag")
        color = r.u16("colorPointerCacheSize")
        cache = r.u16("pointerCacheSize") if r.remaining() >= 2 else None
        return cls(color, cache)

    def encode(self, w: Writer) -> None:
        w.u16(1)
        w.u16(self.color_pointer_cache_size)
        if self.pointer_cache_size is not None:
            w.u16(self.pointer_cache_size)

    def size(self) -> int:
        return 4 if self.pointer_cache_size is None else 6


@dataclass(frozen=True)
class InputCapability:
    """[2.2.7.1.6] Input Capability Set (TS_INPUT_CAPABILITYSET)."""

    input_flags: int = 0
    keyboard_layout: int = 0
    keyboard_type: int = 0
    keyboard_sub_type: int = 0
    keyboard_function_key: int = 0
    ime_file_name: str = ""

    TYPE: ClassVar[CapabilityType] = CapabilityType.INPUT

    @classmethod
    def decode(cls, r: Reader) -> InputCapability:
        flags = r.u16("inputFlags")
        r.skip(2, "pad2octetsA")
        values = [r.u32("keyboard field") for _ in range(4)]
        ime = utf16z(r.read(64, "imeFileName")) if r.remaining() >= 64 else ""
        return cls(flags, *values, ime)

    def encode(self, w: Writer) -> None:
        w.u16(self.input_flags)
        w.pad(2)
        for v in (self.keyboard_layout, self.keyboard_type, self.keyboard_sub_type, self.keyboard_function_key):
            w.u32(v)
        raw = self.ime_file_name.encode("utf-16-le", errors="surrogatepass")[:64]
        w.write(raw + bytes(64 - len(raw)))

    def size(self) -> int:
        return 84


@dataclass(frozen=True)
class VirtualChannelCapability:
    """[2.2.7.1.10] Virtual Channel Capability Set (TS_VIRTUALCHANNEL_CAPABILITYSET)."""

    flags: int = 0
    chunk_size: int | None = None

    TYPE: ClassVar[CapabilityType] = CapabilityType.VIRTUAL_CHANNEL

    @classmethod
    def decode(cls, r: Reader) -> VirtualChannelCapability:
        flags = r.u32("VCflags")
        return cls(flags, r.u32("VCChunkSize") if r.remaining() >= 4 else None)

    def encode(self, w: Writer) -> None:
        w.u32(self.flags)
        if self.chunk_size is not None:
            w.u32(self.chunk_size)

    def size(self) -> int:
        return 4 if self.chunk_size is None else 8


@dataclass(frozen=True)
class ShareCapability:
    """[2.2.7.2.4] Share Capability Set (TS_SHARE_CAPABILITYSET)."""

    node_id: int = 0

    TYPE: ClassVar[CapabilityType] = CapabilityType.SHARE

    @classmethod
    def decode(cls, r: Reader) -> ShareCapability:
        node = r.u16("nodeId")
        r.skip(2, "pad2octets")
        return cls(node)

    def encode(self, w: Writer) -> None:
        w.u16(self.node_id)
        w.pad(2)

    def size(self) -> int:
        return 4


@dataclass(frozen=True)
class FontCapability:
    """[2.2.7.2.5] Font Capability Set (TS_FONT_CAPABILITYSET)."""

    font_support_flags: int = 0x0001  # FONTSUPPORT_FONTLIST

    TYPE: ClassVar[CapabilityType] = CapabilityType.FONT

    @classmethod
    def decode(cls, r: Reader) -> FontCapability:
        flags = r.u16("fontSupportFlags") if r.remaining() >= 2 else 0
        r.rest()
        return cls(flags)

    def encode(self, w: Writer) -> None:
        w.u16(self.font_support_flags)
        w.pad(2)

    def size(self) -> int:
        return 4


@dataclass(frozen=True)
class MultifragmentUpdateCapability:
    """[2.2.7.2.6] Multifragment Update Capability Set (TS_MULTIFRAGMENTUPDATE_CAPABILITYSET)."""

    max_request_size: int = 0

    TYPE: ClassVar[CapabilityType] = CapabilityType.MULTIFRAGMENT_UPDATE

    @classmethod
    def decode(cls, r: Reader) -> MultifragmentUpdateCapability:
        return cls(r.u32("MaxRequestSize"))

    def encode(self, w: Writer) -> None:
        w.u32(self.max_request_size)

    def size(self) -> int:
        return 4


class LargePointerFlags(enum.IntFlag):
    NONE = 0
    LARGE_POINTER_FLAG_96x96 = 0x1
    LARGE_POINTER_FLAG_384x384 = 0x2


@dataclass(frozen=True)
class LargePointerCapability:
    """[2.2.7.2.7] Large Pointer Capability Set (TS_LARGE_POINTER_CAPABILITYSET)."""

    flags: int = LargePointerFlags.LARGE_POINTER_FLAG_96x96

    TYPE: ClassVar[CapabilityType] = CapabilityType.LARGE_POINTER

    @classmethod
    def decode(cls, r: Reader) -> LargePointerCapability:
        return cls(r.u16("largePointerSupportFlags"))

    def encode(self, w: Writer) -> None:
        w.u16(self.flags)

    def size(self) -> int:
        return 2


class SurfaceCommandFlags(enum.IntFlag):
    NONE = 0
    SURFCMDS_SET_SURFACE_BITS = 0x02
    SURFCMDS_FRAME_MARKER = 0x10
    SURFCMDS_STREAM_SURFACE_BITS = 0x40


@dataclass(frozen=True)
class SurfaceCommandsCapability:
    """[2.2.7.2.9] Surface Commands Capability Set (TS_SURFCMDS_CAPABILITYSET)."""

    cmd_flags: int = 0

    TYPE: ClassVar[CapabilityType] = CapabilityType.SURFACE_COMMANDS

    @classmethod
    def decode(cls, r: Reader) -> SurfaceCommandsCapability:
        flags = r.u32("cmdFlags")
        r.skip(4, "reserved")
        return cls(flags)

    def encode(self, w: Writer) -> None:
        w.u32(self.cmd_flags)
        w.pad(4)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class BitmapCodec:
    """[2.2.7.2.10.1.1] Bitmap Codec (TS_BITMAPCODEC)."""

    guid: bytes
    codec_id: int
    properties: bytes = b""

    @classmethod
    def decode(cls, r: Reader) -> BitmapCodec:
        guid = r.read(16, "codecGUID")
        codec_id = r.u8("codecID")
        return cls(guid, codec_id, r.read(r.u16("codecPropertiesLength"), "codecProperties"))

    def encode(self, w: Writer) -> None:
        w.write(self.guid)
        w.u8(self.codec_id)
        w.u16(len(self.properties))
        w.write(self.properties)

    def size(self) -> int:
        return 19 + len(self.properties)


@dataclass(frozen=True)
class BitmapCodecsCapability:
    """[2.2.7.2.10] Bitmap Codecs Capability Set (TS_BITMAPCODECS_CAPABILITYSET)."""

    codecs: tuple[BitmapCodec, ...] = ()

    TYPE: ClassVar[CapabilityType] = CapabilityType.BITMAP_CODECS

    @classmethod
    def decode(cls, r: Reader) -> BitmapCodecsCapability:
        count = r.u8("bitmapCodecCount")
        return cls(tuple(BitmapCodec.decode(r) for _ in range(count)))

    def encode(self, w: Writer) -> None:
        w.u8(len(self.codecs))
        for c in self.codecs:
            c.encode(w)

    def size(self) -> int:
        return 1 + sum(c.size() for c in self.codecs)


@dataclass(frozen=True)
class FrameAcknowledgeCapability:
    """[MS-RDPRFX 2.2.1.3] Frame Acknowledge Capability Set (TS_FRAME_ACKNOWLEDGE_CAPABILITYSET)."""

    max_unacknowledged_frame_count: int = 2

    TYPE: ClassVar[CapabilityType] = CapabilityType.FRAME_ACKNOWLEDGE

    @classmethod
    def decode(cls, r: Reader) -> FrameAcknowledgeCapability:
        return cls(r.u32("maxUnacknowledgedFrameCount"))

    def encode(self, w: Writer) -> None:
        w.u32(self.max_unacknowledged_frame_count)

    def size(self) -> int:
        return 4


@dataclass(frozen=True)
class RawCapability:
    """[2.2.1.13.1.1.1] Capability Set (TS_CAPS_SET) of a type this package does not model."""

    type: int
    data: bytes = field(repr=False)

    def encode(self, w: Writer) -> None:
        w.write(self.data)

    def size(self) -> int:
        return len(self.data)


Capability = (GeneralCapability | BitmapCapability | OrderCapability | PointerCapability
              | InputCapability | VirtualChannelCapability | ShareCapability | FontCapability
              | MultifragmentUpdateCapability | LargePointerCapability | SurfaceCommandsCapability
              | BitmapCodecsCapability | FrameAcknowledgeCapability | RawCapability)

_MODELLED: dict[int, type] = {c.TYPE: c for c in (
    GeneralCapability, BitmapCapability, OrderCapability, PointerCapability, InputCapability,
    VirtualChannelCapability, ShareCapability, FontCapability, MultifragmentUpdateCapability,
    LargePointerCapability, SurfaceCommandsCapability, BitmapCodecsCapability,
    FrameAcknowledgeCapability)}


def capability_type(cap: Capability) -> int:
    return cap.type if isinstance(cap, RawCapability) else cap.TYPE


def decode_capability(r: Reader) -> Capability:
    """[2.2.1.13.1.1.1] One TS_CAPS_SET: type, length (with the 4-byte header), body.

    The length bounds the set: a set of a type this package does not model, or a modelled set
    whose body is too short or malformed for its structure, is kept as ``RawCapability`` (the
    acceptor logs it and goes on without it); padding after a modelled set's fields is dropped.
    """
    kind = r.u16("capabilitySetType")
    length = r.u16("lengthCapability")
    if length < 4:
        raise RemoteProtocolError(f"capability set {kind} with length {length} < 4")
    body = r.sub(length - 4, f"capability set {kind}")
    cls = _MODELLED.get(kind)
    if cls is None:
        return RawCapability(kind, body.rest())
    start = body.pos
    try:
        cap = cls.decode(body)
    except RemoteProtocolError:
        body.pos = start
        return RawCapability(kind, body.rest())
    body.rest()  # clients pad some sets; the extra bytes carry nothing
    return cap


def is_modelled(kind: int) -> bool:
    """Whether this package decodes capability sets of type ``kind`` (a ``RawCapability`` of
    such a type was malformed)."""
    return kind in _MODELLED


def encode_capability(w: Writer, cap: Capability) -> None:
    w.u16(capability_type(cap))
    w.u16(4 + cap.size())
    cap.encode(w)


def capability_size(cap: Capability) -> int:
    return 4 + cap.size()


MAX_CAPABILITY_SETS = 64


def decode_capabilities(r: Reader) -> tuple[Capability, ...]:
    count = r.u16("numberCapabilities")
    if count > MAX_CAPABILITY_SETS:
        raise RemoteProtocolError(f"{count} capability sets, at most {MAX_CAPABILITY_SETS} accepted")
    r.skip(2, "pad2Octets")
    return tuple(decode_capability(r) for _ in range(count))


def encode_capabilities(w: Writer, caps: tuple[Capability, ...]) -> None:
    w.u16(len(caps))
    w.pad(2)
    for cap in caps:
        encode_capability(w, cap)


def capabilities_size(caps: tuple[Capability, ...]) -> int:
    return 4 + sum(capability_size(c) for c in caps)
