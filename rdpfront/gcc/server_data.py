"""[2.2.1.4] Server settings data blocks carried in the GCC Conference Create Response."""

from __future__ import annotations

from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError
from rdpfront.gcc.user_data import DataBlockType, UserDataHeader, split_blocks


@dataclass(frozen=True)
class ServerCoreData:
    """[2.2.1.4.2] Server Core Data (TS_UD_SC_CORE)."""

    version: int = 0x00080004
    client_requested_protocols: int | None = None
    early_capability_flags: int | None = None

    BLOCK = DataBlockType.SC_CORE

    @classmethod
    def decode(cls, r: Reader) -> ServerCoreData:
        version = r.u32("version")
        requested = r.u32("clientRequestedProtocols") if r.remaining() >= 4 else None
        flags = r.u32("earlyCapabilityFlags") if requested is not None and r.remaining() >= 4 else None
        r.rest()
        return cls(version, requested, flags)

    def encode(self, w: Writer) -> None:
        w.u32(self.version)
        if self.client_requested_protocols is not None:
            w.u32(self.client_requested_protocols)
            if self.early_capability_flags is not None:
                w.u32(self.early_capability_flags)

    def size(self) -> int:
        if self.client_requested_protocols is None:
            return 4
        return 8 if self.early_capability_flags is None else 12


@dataclass(frozen=True)
class ServerSecurityData:
    """[2.2.1.4.3] Server Security Data (TS_UD_SC_SEC1).

    With Enhanced RDP Security both method and level are 0 and nothing follows; this
    package never offers Standard RDP Security, so the random and certificate are not modelled.
    """

    encryption_method: int = 0
    encryption_level: int = 0

    BLOCK = DataBlockType.SC_SECURITY

    @classmethod
    def decode(cls, r: Reader) -> ServerSecurityData:
        method = r.u32("encryptionMethod")
        level = r.u32("encryptionLevel")
        if method or level:
            raise RemoteProtocolError("Standard RDP Security (server random/certificate) is not supported")
        r.rest()
        return cls(method, level)

    def encode(self, w: Writer) -> None:
        w.u32(self.encryption_method)
        w.u32(self.encryption_level)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class ServerNetworkData:
    """[2.2.1.4.4] Server Network Data (TS_UD_SC_NET): the I/O channel and one id per client channel."""

    io_channel: int = 1003
    channel_ids: tuple[int, ...] = ()

    BLOCK = DataBlockType.SC_NET

    @classmethod
    def decode(cls, r: Reader) -> ServerNetworkData:
        io_channel = r.u16("MCSChannelId")
        count = r.u16("channelCount")
        ids = tuple(r.u16("channelIdArray") for _ in range(count))
        if count % 2:
            r.skip(2, "channelIdArray padding")
        return cls(io_channel, ids)

    def encode(self, w: Writer) -> None:
        w.u16(self.io_channel)
        w.u16(len(self.channel_ids))
        for cid in self.channel_ids:
            w.u16(cid)
        if len(self.channel_ids) % 2:
            w.u16(0)

    def size(self) -> int:
        n = len(self.channel_ids)
        return 4 + 2 * (n + n % 2)


@dataclass(frozen=True)
class ServerMessageChannelData:
    """[2.2.1.4.5] Server Message Channel Data (TS_UD_SC_MCS_MSGCHANNEL)."""

    channel_id: int

    BLOCK = DataBlockType.SC_MCS_MSGCHANNEL

    @classmethod
    def decode(cls, r: Reader) -> ServerMessageChannelData:
        return cls(r.u16("MCSChannelID"))

    def encode(self, w: Writer) -> None:
        w.u16(self.channel_id)

    def size(self) -> int:
        return 2


@dataclass(frozen=True)
class ServerGccBlocks:
    """[2.2.1.4] The concatenated server data blocks of the GCC Conference Create Response."""

    core: ServerCoreData
    network: ServerNetworkData
    security: ServerSecurityData = ServerSecurityData()
    message_channel: ServerMessageChannelData | None = None

    @classmethod
    def decode_bytes(cls, data: bytes) -> ServerGccBlocks:
        found: dict[str, object] = {}
        names = {DataBlockType.SC_CORE: ("core", ServerCoreData),
                 DataBlockType.SC_SECURITY: ("security", ServerSecurityData),
                 DataBlockType.SC_NET: ("network", ServerNetworkData),
                 DataBlockType.SC_MCS_MSGCHANNEL: ("message_channel", ServerMessageChannelData)}
        for kind, body in split_blocks(data):
            known = names.get(kind)  # type: ignore[call-overload]
            if known is not None:
                found[known[0]] = known[1].decode(body)
        if "core" not in found or "network" not in found:
            raise RemoteProtocolError("GCC server data lacks its core or network block")
        return cls(**found)  # type: ignore[arg-type]

    @classmethod
    def decode(cls, r: Reader) -> ServerGccBlocks:
        return cls.decode_bytes(r.rest())

    def _blocks(self) -> list:
        # [2.2.1.4]'s order, which Windows and FreeRDP keep: aardwolf reads the security block
        # as if the random and certificate lengths always followed (they do not under TLS), so
        # it loses whatever block comes after that one.
        blocks: list = [self.core, self.network, self.security]
        if self.message_channel is not None:
            blocks.append(self.message_channel)
        return blocks

    def encode(self, w: Writer) -> None:
        for block in self._blocks():
            UserDataHeader(block.BLOCK, 4 + block.size()).encode(w)
            block.encode(w)

    def size(self) -> int:
        return sum(4 + b.size() for b in self._blocks())
