"""[2.2.1.3.1] User Data Header (TS_UD_HEADER) and the data block types."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError


class DataBlockType(enum.IntEnum):
    CS_CORE = 0xC001
    CS_SECURITY = 0xC002
    CS_NET = 0xC003
    CS_CLUSTER = 0xC004
    CS_MONITOR = 0xC005
    CS_MCS_MSGCHANNEL = 0xC006
    CS_MONITOR_EX = 0xC008
    CS_MULTITRANSPORT = 0xC00A
    SC_CORE = 0x0C01
    SC_SECURITY = 0x0C02
    SC_NET = 0x0C03
    SC_MCS_MSGCHANNEL = 0x0C04
    SC_MULTITRANSPORT = 0x0C08


def block_name(kind: int) -> str:
    """``CS_CORE`` for a known type, ``0xc0ff`` for one this package has no name for."""
    try:
        return DataBlockType(kind).name
    except ValueError:
        return f"0x{kind:04x}"


@dataclass(frozen=True)
class UserDataHeader:
    """[2.2.1.3.1] User Data Header (TS_UD_HEADER): type, length including the header."""

    type: int
    length: int

    @classmethod
    def decode(cls, r: Reader) -> UserDataHeader:
        kind = r.u16("TS_UD_HEADER type")
        length = r.u16("TS_UD_HEADER length")
        if length < 4:
            raise RemoteProtocolError(f"settings data block 0x{kind:04x} with length {length} < 4")
        return cls(kind, length)

    def encode(self, w: Writer) -> None:
        w.u16(self.type)
        w.u16(self.length)

    def size(self) -> int:
        return 4


def split_blocks(data: bytes) -> list[tuple[int, Reader]]:
    """Cut concatenated settings data blocks into ``(type, reader over the block body)``."""
    r = Reader(data)
    blocks = []
    while r.remaining():
        header = UserDataHeader.decode(r)
        blocks.append((header.type, r.sub(header.length - 4, f"data block 0x{header.type:04x}")))
    return blocks
