"""[2.2.6.1] Static virtual channels: Channel PDU Header (CHANNEL_PDU_HEADER), chunking of
outgoing messages and reassembly of incoming ones ([3.1.5.2])."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError

CHANNEL_CHUNK_LENGTH = 1600
# What the server's Virtual Channel Capability allows the client to send in one chunk
# ([MS-RDPBCGR 2.2.7.1.10] VCChunkSize, at most CHANNEL_CHUNK_MAX_LENGTH): a file read
# through rdpdr comes back 4x faster in 16 KiB chunks than in 1600-byte ones.
CLIENT_CHUNK_LENGTH = 16256
MAX_CHANNEL_MESSAGE = 4 << 20  # bound on one reassembled message (a plug-in may set its own)


class ChannelFlags(enum.IntFlag):
    NONE = 0
    FIRST = 0x00000001
    LAST = 0x00000002
    SHOW_PROTOCOL = 0x00000010
    SUSPEND = 0x00000020
    RESUME = 0x00000040
    SHADOW_PERSISTENT = 0x00000080
    PACKET_COMPRESSED = 0x00200000
    PACKET_AT_FRONT = 0x00400000
    PACKET_FLUSHED = 0x00800000


@dataclass(frozen=True)
class ChannelPdu:
    """[2.2.6.1.1] Channel PDU Header (CHANNEL_PDU_HEADER) and one chunk of the message."""

    total_length: int
    flags: int
    chunk: bytes = field(repr=False)

    @classmethod
    def decode(cls, r: Reader) -> ChannelPdu:
        total = r.u32("CHANNEL_PDU_HEADER length")
        flags = r.u32("CHANNEL_PDU_HEADER flags")
        return cls(total, flags, r.rest())

    def encode(self, w: Writer) -> None:
        w.u32(self.total_length)
        w.u32(self.flags)
        w.write(self.chunk)

    def size(self) -> int:
        return 8 + len(self.chunk)


def chunk_message(data: bytes, chunk_size: int = CHANNEL_CHUNK_LENGTH, extra_flags: int = 0) -> list[bytes]:
    """Split one channel message into encoded ChannelPdus (each a Send Data payload)."""
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        flags = extra_flags
        if i == 0:
            flags |= ChannelFlags.FIRST
        if i == len(chunks) - 1:
            flags |= ChannelFlags.LAST
        w = Writer()
        ChannelPdu(len(data), flags, chunk).encode(w)
        out.append(w.getvalue())
    return out


class ChannelReassembler:
    """Joins the chunks of one channel into whole messages ([3.1.5.2.2])."""

    def __init__(self, max_message: int = MAX_CHANNEL_MESSAGE) -> None:
        self._parts: list[bytes] | None = None
        self._expected = 0
        self._got = 0
        self._max = max_message

    @property
    def pending(self) -> bool:
        """Whether a message is part way through (its first chunk came, its last not yet)."""
        return self._parts is not None

    def push(self, pdu: ChannelPdu) -> bytes | None:
        if pdu.flags & ChannelFlags.PACKET_COMPRESSED:
            raise RemoteProtocolError("compressed virtual channel data, but compression was not negotiated")
        if pdu.flags & ChannelFlags.FIRST:
            if pdu.total_length > self._max:
                raise RemoteProtocolError(f"channel message of {pdu.total_length} bytes exceeds {self._max}")
            self._parts, self._expected, self._got = [], pdu.total_length, 0
        elif self._parts is None:
            raise RemoteProtocolError("channel chunk without CHANNEL_FLAG_FIRST before it")
        self._parts.append(pdu.chunk)
        self._got += len(pdu.chunk)
        if self._got > self._expected:
            raise RemoteProtocolError(
                f"channel chunks carry {self._got} bytes, more than the {self._expected} announced")
        if pdu.flags & ChannelFlags.LAST:
            data = b"".join(self._parts)
            self._parts = None
            return data
        return None
