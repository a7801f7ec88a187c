"""[2.2.1.3] Client settings data blocks carried in the GCC Conference Create Request."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

from rdpfront.cursor import Reader, Writer, utf16z
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.gcc.user_data import DataBlockType, UserDataHeader, block_name, split_blocks


class ColorDepth(enum.IntEnum):
    """[2.2.1.3.2] highColorDepth values."""

    BPP4 = 4
    BPP8 = 8
    BPP15 = 15
    BPP16 = 16
    BPP24 = 24


class SupportedColorDepths(enum.IntFlag):
    RNS_UD_24BPP_SUPPORT = 0x0001
    RNS_UD_16BPP_SUPPORT = 0x0002
    RNS_UD_15BPP_SUPPORT = 0x0004
    RNS_UD_32BPP_SUPPORT = 0x0008


class EarlyCapabilityFlags(enum.IntFlag):
    RNS_UD_CS_SUPPORT_ERRINFO_PDU = 0x0001
    RNS_UD_CS_WANT_32BPP_SESSION = 0x0002
    RNS_UD_CS_SUPPORT_STATUSINFO_PDU = 0x0004
    RNS_UD_CS_STRONG_ASYMMETRIC_KEYS = 0x0008
    RNS_UD_CS_RELATIVE_MOUSE_INPUT = 0x0010
    RNS_UD_CS_VALID_CONNECTION_TYPE = 0x0020
    RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU = 0x0040
    RNS_UD_CS_SUPPORT_NETCHAR_AUTODETECT = 0x0080
    RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL = 0x0100
    RNS_UD_CS_SUPPORT_DYNAMIC_TIME_ZONE = 0x0200
    RNS_UD_CS_SUPPORT_HEARTBEAT_PDU = 0x0400
    RNS_UD_CS_SUPPORT_SKIP_CHANNELJOIN = 0x0800


def _fixed_string(data: bytes) -> str:
    return utf16z(data)


def _encode_fixed_utf16(text: str, size: int) -> bytes:
    raw = text.encode("utf-16-le", errors="surrogatepass")[:size]
    return raw + bytes(size - len(raw))


# [2.2.1.3.2] colorDepth / postBeta2ColorDepth: RNS_UD_COLOR_4BPP .. RNS_UD_COLOR_24BPP.
_LEGACY_COLOR_DEPTHS = {0xCA00: 4, 0xCA01: 8, 0xCA02: 15, 0xCA03: 16, 0xCA04: 24}

# Optional trailing fields of TS_UD_CS_CORE in wire order: (attribute, struct size).
_CORE_OPTIONAL = (
    ("post_beta2_color_depth", 2), ("client_product_id", 2), ("serial_number", 4),
    ("high_color_depth", 2), ("supported_color_depths", 2), ("early_capability_flags", 2),
    ("client_dig_product_id", 64), ("connection_type", 1), ("pad1octet", 1),
    ("server_selected_protocol", 4), ("desktop_physical_width", 4),
    ("desktop_physical_height", 4), ("desktop_orientation", 2), ("desktop_scale_factor", 4),
    ("device_scale_factor", 4),
)


@dataclass(frozen=True)
class ClientCoreData:
    """[2.2.1.3.2] Client Core Data (TS_UD_CS_CORE).

    The optional fields form a prefix: a field may only be present when all before it are,
    so ``encode`` writes up to the last one that is not ``None``.
    """

    version: int = 0x00080004
    desktop_width: int = 1024
    desktop_height: int = 768
    color_depth: int = 0xCA01  # RNS_UD_COLOR_8BPP
    sas_sequence: int = 0xAA03
    keyboard_layout: int = 0x409
    client_build: int = 2600
    client_name: str = ""
    keyboard_type: int = 4
    keyboard_sub_type: int = 0
    keyboard_function_key: int = 12
    ime_file_name: str = ""
    post_beta2_color_depth: int | None = None
    client_product_id: int | None = None
    serial_number: int | None = None
    high_color_depth: int | None = None
    supported_color_depths: int | None = None
    early_capability_flags: int | None = None
    client_dig_product_id: str | None = None
    connection_type: int | None = None
    pad1octet: int | None = None
    server_selected_protocol: int | None = None
    desktop_physical_width: int | None = None
    desktop_physical_height: int | None = None
    desktop_orientation: int | None = None
    desktop_scale_factor: int | None = None
    device_scale_factor: int | None = None

    BLOCK = DataBlockType.CS_CORE
    FIXED_SIZE = 128

    @classmethod
    def decode(cls, r: Reader) -> ClientCoreData:
        values: dict[str, object] = dict(
            version=r.u32("version"), desktop_width=r.u16("desktopWidth"),
            desktop_height=r.u16("desktopHeight"), color_depth=r.u16("colorDepth"),
            sas_sequence=r.u16("SASSequence"), keyboard_layout=r.u32("keyboardLayout"),
            client_build=r.u32("clientBuild"), client_name=_fixed_string(r.read(32, "clientName")),
            keyboard_type=r.u32("keyboardType"), keyboard_sub_type=r.u32("keyboardSubType"),
            keyboard_function_key=r.u32("keyboardFunctionKey"),
            ime_file_name=_fixed_string(r.read(64, "imeFileName")),
        )
        for name, size in _CORE_OPTIONAL:
            if r.remaining() < size:
                break
            if size == 64:
                values[name] = _fixed_string(r.read(64, name))
            else:
                values[name] = int.from_bytes(r.read(size, name), "little")
        r.rest()  # later revisions may append fields we do not know
        return cls(**values)  # type: ignore[arg-type]

    def _optional_present(self) -> list[tuple[str, int]]:
        present = []
        for name, size in _CORE_OPTIONAL:
            if getattr(self, name) is None:
                break
            present.append((name, size))
        return present

    def encode(self, w: Writer) -> None:
        w.u32(self.version)
        w.u16(self.desktop_width)
        w.u16(self.desktop_height)
        w.u16(self.color_depth)
        w.u16(self.sas_sequence)
        w.u32(self.keyboard_layout)
        w.u32(self.client_build)
        w.write(_encode_fixed_utf16(self.client_name, 32))
        w.u32(self.keyboard_type)
        w.u32(self.keyboard_sub_type)
        w.u32(self.keyboard_function_key)
        w.write(_encode_fixed_utf16(self.ime_file_name, 64))
        for name, size in self._optional_present():
            value = getattr(self, name)
            if size == 64:
                w.write(_encode_fixed_utf16(value, 64))
            else:
                try:
                    w.write(int(value).to_bytes(size, "little"))
                except OverflowError:
                    raise LocalProtocolError(f"{name}={value} does not fit {size} bytes") from None

    def size(self) -> int:
        return self.FIXED_SIZE + sum(size for _, size in self._optional_present())

    @property
    def bpp(self) -> int:
        """The colour depth the client wants, as [2.2.1.3.2] ranks the three fields."""
        flags = self.early_capability_flags or 0
        if flags & EarlyCapabilityFlags.RNS_UD_CS_WANT_32BPP_SESSION and (
            (self.supported_color_depths or 0) & SupportedColorDepths.RNS_UD_32BPP_SUPPORT
        ):
            return 32
        if self.high_color_depth:
            return self.high_color_depth
        legacy = self.post_beta2_color_depth if self.post_beta2_color_depth is not None else self.color_depth
        return _LEGACY_COLOR_DEPTHS.get(legacy, 8)


@dataclass(frozen=True)
class ClientSecurityData:
    """[2.2.1.3.3] Client Security Data (TS_UD_CS_SEC)."""

    encryption_methods: int = 0
    ext_encryption_methods: int = 0

    BLOCK = DataBlockType.CS_SECURITY

    @classmethod
    def decode(cls, r: Reader) -> ClientSecurityData:
        return cls(r.u32("encryptionMethods"), r.u32("extEncryptionMethods"))

    def encode(self, w: Writer) -> None:
        w.u32(self.encryption_methods)
        w.u32(self.ext_encryption_methods)

    def size(self) -> int:
        return 8


class ChannelOptions(enum.IntFlag):
    NONE = 0
    CHANNEL_OPTION_INITIALIZED = 0x80000000
    CHANNEL_OPTION_ENCRYPT_RDP = 0x40000000
    CHANNEL_OPTION_ENCRYPT_SC = 0x20000000
    CHANNEL_OPTION_ENCRYPT_CS = 0x10000000
    CHANNEL_OPTION_PRI_HIGH = 0x08000000
    CHANNEL_OPTION_PRI_MED = 0x04000000
    CHANNEL_OPTION_PRI_LOW = 0x02000000
    CHANNEL_OPTION_COMPRESS_RDP = 0x00800000
    CHANNEL_OPTION_COMPRESS = 0x00400000
    CHANNEL_OPTION_SHOW_PROTOCOL = 0x00200000
    REMOTE_CONTROL_PERSISTENT = 0x00100000


@dataclass(frozen=True)
class ChannelDef:
    """[2.2.1.3.4.1] Channel Definition Structure (CHANNEL_DEF)."""

    name: str
    options: int = 0

    @classmethod
    def decode(cls, r: Reader) -> ChannelDef:
        raw = r.read(8, "CHANNEL_DEF name")
        name = raw.split(b"\x00", 1)[0].decode("latin-1")
        return cls(name, r.u32("CHANNEL_DEF options"))

    def encode(self, w: Writer) -> None:
        raw = self.name.encode("latin-1", errors="replace")
        if len(raw) > 8:
            raise LocalProtocolError(f"channel name {self.name!r} longer than 8 characters")
        w.write(raw + bytes(8 - len(raw)))
        w.u32(self.options)

    def size(self) -> int:
        return 12


MAX_STATIC_CHANNELS = 31


@dataclass(frozen=True)
class ClientNetworkData:
    """[2.2.1.3.4] Client Network Data (TS_UD_CS_NET)."""

    channels: tuple[ChannelDef, ...] = ()

    BLOCK = DataBlockType.CS_NET

    @classmethod
    def decode(cls, r: Reader) -> ClientNetworkData:
        count = r.u32("channelCount")
        if count > MAX_STATIC_CHANNELS:
            raise RemoteProtocolError(f"{count} static channels requested, at most 31 allowed")
        return cls(tuple(ChannelDef.decode(r) for _ in range(count)))

    def encode(self, w: Writer) -> None:
        w.u32(len(self.channels))
        for channel in self.channels:
            channel.encode(w)

    def size(self) -> int:
        return 4 + 12 * len(self.channels)


@dataclass(frozen=True)
class ClientClusterData:
    """[2.2.1.3.5] Client Cluster Data (TS_UD_CS_CLUSTER)."""

    flags: int = 0
    redirected_session_id: int = 0

    BLOCK = DataBlockType.CS_CLUSTER

    @classmethod
    def decode(cls, r: Reader) -> ClientClusterData:
        return cls(r.u32("cluster flags"), r.u32("RedirectedSessionID"))

    def encode(self, w: Writer) -> None:
        w.u32(self.flags)
        w.u32(self.redirected_session_id)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class Monitor:
    """[2.2.1.3.6.1] Monitor Definition (TS_MONITOR_DEF): inclusive bounds."""

    left: int
    top: int
    right: int
    bottom: int
    flags: int = 0

    @classmethod
    def decode(cls, r: Reader) -> Monitor:
        return cls(r.i32("left"), r.i32("top"), r.i32("right"), r.i32("bottom"), r.u32("flags"))

    def encode(self, w: Writer) -> None:
        for v in (self.left, self.top, self.right, self.bottom):
            w.i32(v)
        w.u32(self.flags)

    def size(self) -> int:
        return 20


MAX_MONITORS = 16


@dataclass(frozen=True)
class ClientMonitorData:
    """[2.2.1.3.6] Client Monitor Data (TS_UD_CS_MONITOR)."""

    monitors: tuple[Monitor, ...] = ()
    flags: int = 0

    BLOCK = DataBlockType.CS_MONITOR

    @classmethod
    def decode(cls, r: Reader) -> ClientMonitorData:
        flags = r.u32("monitor flags")
        count = r.u32("monitorCount")
        if count > MAX_MONITORS:
            raise RemoteProtocolError(f"{count} monitors, at most {MAX_MONITORS} allowed")
        return cls(tuple(Monitor.decode(r) for _ in range(count)), flags)

    def encode(self, w: Writer) -> None:
        w.u32(self.flags)
        w.u32(len(self.monitors))
        for m in self.monitors:
            m.encode(w)

    def size(self) -> int:
        return 8 + 20 * len(self.monitors)


@dataclass(frozen=True)
class MonitorAttributes:
    """[2.2.1.3.10.1] Monitor Attributes (TS_MONITOR_ATTRIBUTES): physical size in mm,
    orientation in degrees, scale factors in percent."""

    physical_width: int = 0
    physical_height: int = 0
    orientation: int = 0
    desktop_scale_factor: int = 100
    device_scale_factor: int = 100

    @classmethod
    def decode(cls, r: Reader) -> MonitorAttributes:
        return cls(r.u32("physicalWidth"), r.u32("physicalHeight"), r.u32("orientation"),
                   r.u32("desktopScaleFactor"), r.u32("deviceScaleFactor"))

    def encode(self, w: Writer) -> None:
        for v in (self.physical_width, self.physical_height, self.orientation, self.desktop_scale_factor,
                  self.device_scale_factor):
            w.u32(v)

    def size(self) -> int:
        return MONITOR_ATTRIBUTES_SIZE


MONITOR_ATTRIBUTES_SIZE = 20


@dataclass(frozen=True)
class ClientMonitorExtendedData:
    """[2.2.1.3.10] Client Monitor Extended Data (TS_UD_CS_MONITOR_EX): one attribute set per
    monitor of the Client Monitor Data block, in the same order."""

    attributes: tuple[MonitorAttributes, ...] = ()
    flags: int = 0

    BLOCK = DataBlockType.CS_MONITOR_EX

    @classmethod
    def decode(cls, r: Reader) -> ClientMonitorExtendedData:
        flags = r.u32("monitor-ex flags")
        size = r.u32("monitorAttributeSize")
        if size != MONITOR_ATTRIBUTES_SIZE:
            raise RemoteProtocolError(f"monitorAttributeSize {size}, expected {MONITOR_ATTRIBUTES_SIZE}")
        count = r.u32("monitor-ex monitorCount")
        if count > MAX_MONITORS:
            raise RemoteProtocolError(f"{count} monitor attribute sets, at most {MAX_MONITORS} allowed")
        return cls(tuple(MonitorAttributes.decode(r) for _ in range(count)), flags)

    def encode(self, w: Writer) -> None:
        w.u32(self.flags)
        w.u32(MONITOR_ATTRIBUTES_SIZE)
        w.u32(len(self.attributes))
        for a in self.attributes:
            a.encode(w)

    def size(self) -> int:
        return 12 + MONITOR_ATTRIBUTES_SIZE * len(self.attributes)


@dataclass(frozen=True)
class ClientMessageChannelData:
    """[2.2.1.3.7] Client Message Channel Data (TS_UD_CS_MCS_MSGCHANNEL)."""

    flags: int = 0

    BLOCK = DataBlockType.CS_MCS_MSGCHANNEL

    @classmethod
    def decode(cls, r: Reader) -> ClientMessageChannelData:
        return cls(r.u32("msgchannel flags"))

    def encode(self, w: Writer) -> None:
        w.u32(self.flags)

    def size(self) -> int:
        return 4


_CLIENT_BLOCKS = {
    DataBlockType.CS_CORE: ("core", ClientCoreData),
    DataBlockType.CS_SECURITY: ("security", ClientSecurityData),
    DataBlockType.CS_NET: ("network", ClientNetworkData),
    DataBlockType.CS_CLUSTER: ("cluster", ClientClusterData),
    DataBlockType.CS_MONITOR: ("monitor", ClientMonitorData),
    DataBlockType.CS_MONITOR_EX: ("monitor_ex", ClientMonitorExtendedData),
    DataBlockType.CS_MCS_MSGCHANNEL: ("message_channel", ClientMessageChannelData),
}


@dataclass(frozen=True)
class ClientGccBlocks:
    """[2.2.1.3] The concatenated client data blocks of the GCC Conference Create Request.

    Blocks come in any order ([2.2.1.3]: each is identified by its header; mstsc sends core,
    cluster, security, network) and only the core block is required. Blocks this package does
    not model (multitransport, types added later, …) are kept as ``(type, body)``
    in ``other`` so they survive a round trip; a block type sent twice is refused.
    """

    core: ClientCoreData
    security: ClientSecurityData | None = None
    network: ClientNetworkData | None = None
    cluster: ClientClusterData | None = None
    monitor: ClientMonitorData | None = None
    message_channel: ClientMessageChannelData | None = None
    monitor_ex: ClientMonitorExtendedData | None = None
    other: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    # The order the blocks came in (clients differ; it carries no meaning), for exact re-encoding.
    order: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def decode_bytes(cls, data: bytes) -> ClientGccBlocks:
        found: dict[str, object] = {}
        other = []
        order = []
        for kind, body in split_blocks(data):
            if kind in order:
                raise RemoteProtocolError(f"client data block {block_name(kind)} sent twice")
            order.append(kind)
            known = _CLIENT_BLOCKS.get(kind)  # type: ignore[call-overload]
            if known is None:
                other.append((kind, body.rest()))
                continue
            name, block_cls = known
            found[name] = block_cls.decode(body)
        if "core" not in found:
            raise RemoteProtocolError("GCC client data has no core data block")
        return cls(**found, other=tuple(other), order=tuple(order))  # type: ignore[arg-type]

    @classmethod
    def decode(cls, r: Reader) -> ClientGccBlocks:
        return cls.decode_bytes(r.rest())

    def _blocks(self) -> list[tuple[int, object]]:
        """(type, block or raw body) in wire order: the decoded order first, then the rest."""
        known = {block.BLOCK: block for f in fields(self) if f.name not in ("other", "order")
                 and (block := getattr(self, f.name)) is not None}
        others = list(self.other)
        out: list[tuple[int, object]] = []
        for kind in self.order:
            if kind in known:
                out.append((kind, known.pop(kind)))
            else:
                for i, (okind, body) in enumerate(others):
                    if okind == kind:
                        out.append((kind, body))
                        del others[i]
                        break
        out += list(known.items()) + [(k, b) for k, b in others]
        return out

    def encode(self, w: Writer) -> None:
        for kind, block in self._blocks():
            if isinstance(block, bytes):
                UserDataHeader(kind, 4 + len(block)).encode(w)
                w.write(block)
            else:
                UserDataHeader(kind, 4 + block.size()).encode(w)  # type: ignore[attr-defined]
                block.encode(w)  # type: ignore[attr-defined]

    def size(self) -> int:
        return sum(4 + (len(b) if isinstance(b, bytes) else b.size()) for _, b in self._blocks())  # type: ignore[attr-defined]
