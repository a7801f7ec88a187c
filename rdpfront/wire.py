"""The server's MCS ids and the framing both the acceptor and the active session write and read:
Send Data Indications on the I/O channel and on static channels, share control and share data
PDUs, the polite ending (Set Error Info, Disconnect Provider Ultimatum)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from rdpfront import events, mcs, x224
from rdpfront.cursor import Reader, encode
from rdpfront.rdp.pdus import DeactivateAll, DemandActive, SetErrorInfo, ShareControlPdu, ShareDataPdu
from rdpfront.svc import CHANNEL_CHUNK_LENGTH, ChannelFlags, chunk_message

IO_CHANNEL_ID = 1003
SERVER_USER_ID = 1002  # the server's own MCS initiator and share source (0x03EA)
SHARE_ID = 0x000103EA
RNS_UD_CS_SUPPORT_ERRINFO_PDU = 0x0001


def user_channel_id(static_channels: Iterable[int]) -> int:
    """The client's user channel: the first MCS id after the I/O channel and the static
    channels given to it (1007 in MS-RDPBCGR 4.1's three-channel example; FreeRDP's server and
    Windows count the same way). A fixed 1007 would be a static channel's id too for a client
    with four or more static channels (rdesktop 1.9 asks for five)."""
    return max((IO_CHANNEL_ID, *static_channels)) + 1


def io_data(data: bytes) -> bytes:
    """``data`` on the I/O channel, in an MCS Send Data Indication inside an X.224 Data TPDU."""
    return x224.data_frame(encode(mcs.SendDataIndication(SERVER_USER_ID, IO_CHANNEL_ID, data)))


def share_control(body: DemandActive | DeactivateAll) -> bytes:
    return io_data(encode(ShareControlPdu(SERVER_USER_ID, body)))


def share_data(body: object) -> bytes:
    return io_data(encode(ShareControlPdu(SERVER_USER_ID, ShareDataPdu(SHARE_ID, body))))  # type: ignore[arg-type]


# TPKT, X.224 Data, MCS Send Data Indication (choice, initiator, channel, priority and
# segmentation) of a static channel message that fits one chunk: ``channel_data``'s fast path.
_ONE_CHUNK_HEAD = struct.Struct(">BBH3sBHHB")
_ONE_CHUNK_FLAGS = ChannelFlags.FIRST | ChannelFlags.LAST | ChannelFlags.SHOW_PROTOCOL
_CHANNEL_HEAD = struct.Struct("<II")  # CHANNEL_PDU_HEADER: length, flags


def channel_data(channel_id: int, message: bytes) -> bytes:
    """One static virtual channel message, chunked ([3.1.5.2.1])."""
    if len(message) <= CHANNEL_CHUNK_LENGTH and 0 <= channel_id <= 0xFFFF:
        # One chunk: every header packed in two calls, the same bytes as the general path.
        body = 8 + len(message)  # CHANNEL_PDU_HEADER and the chunk: the MCS user data
        per_length = bytes((body,)) if body < 0x80 else bytes((0x80 | body >> 8, body & 0xFF))
        return b"".join((_ONE_CHUNK_HEAD.pack(3, 0, 13 + len(per_length) + body, x224.X224_DATA_HEADER,
                                              mcs.DomainMcsPdu.SEND_DATA_INDICATION << 2,
                                              SERVER_USER_ID - mcs.MCS_BASE_CHANNEL_ID, channel_id, 0x70),
                         per_length, _CHANNEL_HEAD.pack(len(message), _ONE_CHUNK_FLAGS), message))
    out = bytearray()
    for chunk in chunk_message(message, CHANNEL_CHUNK_LENGTH, ChannelFlags.SHOW_PROTOCOL):
        out += x224.data_frame(encode(mcs.SendDataIndication(SERVER_USER_ID, channel_id, chunk)))
    return bytes(out)


def parting(early_capability_flags: int, error_info: int | None) -> bytes:
    """Set Error Info (only to clients that said they understand it, [3.3.5.7.1]) and the MCS
    Disconnect Provider Ultimatum."""
    out = b""
    if error_info is not None and early_capability_flags & RNS_UD_CS_SUPPORT_ERRINFO_PDU:
        out += share_data(SetErrorInfo(error_info))
    return out + x224.data_frame(encode(mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.PROVIDER_INITIATED)))


@dataclass(frozen=True)
class PeerDisconnect:
    """The client ended the connection at the protocol level (X.224 DR or MCS ultimatum)."""

    reason: str


def is_disconnect_request(frame: bytes) -> bool:
    return len(frame) > 5 and frame[5] & 0xF0 == x224.TpduCode.DISCONNECT_REQUEST


def read_domain_pdu(frame: bytes) -> mcs.DomainPdu | PeerDisconnect:
    """An X.224 Data TPDU's MCS domain PDU, or the client's way of saying goodbye."""
    if is_disconnect_request(frame):
        x224.DisconnectRequest.decode(Reader(frame))
        return PeerDisconnect("client sent X.224 Disconnect Request")
    pdu = mcs.decode_domain_pdu(Reader(x224.data_payload(frame)))
    if isinstance(pdu, mcs.DisconnectProviderUltimatum):
        return PeerDisconnect(f"client sent MCS disconnect ({pdu.reason.name})")
    return pdu


class SansIoOutput:
    """What a sans-IO layer produced: events for the driver and bytes for the peer, each handed
    over once by its reader."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._events: list[events.Event] = []

    def events(self) -> list[events.Event]:
        out, self._events = self._events, []
        return out

    def data_to_send(self) -> bytes:
        if not self._out:  # the usual case: asked after every event and frame
            return b""
        out = bytes(self._out)
        self._out.clear()
        return out
