"""[T.125] MCS PDUs used by RDP: BER connect PDUs and PER domain PDUs (MS-RDPBCGR 2.2.1.3-2.2.1.9).

Channel and user ids on the wire are offsets from 1001 (``MCS_BASE_CHANNEL_ID``) where
T.125 defines them as ``UserId``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront import ber, per
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError

MCS_BASE_CHANNEL_ID = 1001
MCS_CONNECT_INITIAL = 101
MCS_CONNECT_RESPONSE = 102


class DomainMcsPdu(enum.IntEnum):
    """[T.125 section 7, part 10] DomainMCSPDU CHOICE indices."""

    PLUMB_DOMAIN_INDICATION = 0
    ERECT_DOMAIN_REQUEST = 1
    DISCONNECT_PROVIDER_ULTIMATUM = 8
    ATTACH_USER_REQUEST = 10
    ATTACH_USER_CONFIRM = 11
    DETACH_USER_REQUEST = 12
    CHANNEL_JOIN_REQUEST = 14
    CHANNEL_JOIN_CONFIRM = 15
    SEND_DATA_REQUEST = 25
    SEND_DATA_INDICATION = 26


class DisconnectReason(enum.IntEnum):
    """[T.125] Reason of the Disconnect Provider Ultimatum."""

    DOMAIN_DISCONNECTED = 0
    PROVIDER_INITIATED = 1
    TOKEN_PURGED = 2
    USER_REQUESTED = 3
    CHANNEL_PURGED = 4


class ConnectResult(enum.IntEnum):
    RT_SUCCESSFUL = 0
    RT_UNSPECIFIED_FAILURE = 14


@dataclass(frozen=True)
class DomainParameters:
    """[T.125 section 7, part 1] DomainParameters (a BER SEQUENCE of eight INTEGERs)."""

    max_channel_ids: int = 34
    max_user_ids: int = 2
    max_token_ids: int = 0
    num_priorities: int = 1
    min_throughput: int = 0
    max_height: int = 1
    max_mcs_pdu_size: int = 0xFFFF
    protocol_version: int = 2

    def _values(self) -> tuple[int, ...]:
        return (self.max_channel_ids, self.max_user_ids, self.max_token_ids, self.num_priorities,
                self.min_throughput, self.max_height, self.max_mcs_pdu_size, self.protocol_version)

    @classmethod
    def decode(cls, r: Reader) -> DomainParameters:
        length = ber.read_tag(r, ber.Tag.SEQUENCE)
        sub = r.sub(length, "DomainParameters")
        values = [ber.read_integer(sub) for _ in range(8)]
        return cls(*values)

    def _content_size(self) -> int:
        return sum(ber.integer_size(v) for v in self._values())

    def encode(self, w: Writer) -> None:
        ber.write_tag(w, ber.Tag.SEQUENCE, self._content_size())
        for v in self._values():
            ber.write_integer(w, v)

    def size(self) -> int:
        n = self._content_size()
        return 1 + ber.length_size(n) + n


@dataclass(frozen=True)
class ConnectInitial:
    """[T.125 section 7, part 2] MCS Connect-Initial (MS-RDPBCGR 2.2.1.3 mcsCi); user_data is the GCC PDU."""

    user_data: bytes
    target: DomainParameters = DomainParameters()
    minimum: DomainParameters = DomainParameters(1, 1, 1, 1, 0, 1, 0x420, 2)
    maximum: DomainParameters = DomainParameters(0xFFFF, 0xFC17, 0xFFFF, 1, 0, 1, 0xFFFF, 2)
    calling_domain_selector: bytes = b"\x01"
    called_domain_selector: bytes = b"\x01"
    upward_flag: bool = True

    @classmethod
    def decode(cls, r: Reader) -> ConnectInitial:
        length = ber.read_application_tag(r, MCS_CONNECT_INITIAL)
        s = r.sub(length, "MCS Connect-Initial")
        calling = ber.read_octet_string(s)
        called = ber.read_octet_string(s)
        upward = ber.read_boolean(s)
        target = DomainParameters.decode(s)
        minimum = DomainParameters.decode(s)
        maximum = DomainParameters.decode(s)
        user_data = ber.read_octet_string(s)
        return cls(user_data, target, minimum, maximum, calling, called, upward)

    def _content_size(self) -> int:
        return (ber.octet_string_size(len(self.calling_domain_selector))
                + ber.octet_string_size(len(self.called_domain_selector)) + 3
                + self.target.size() + self.minimum.size() + self.maximum.size()
                + ber.octet_string_size(len(self.user_data)))

    def encode(self, w: Writer) -> None:
        ber.write_application_tag(w, MCS_CONNECT_INITIAL, self._content_size())
        ber.write_octet_string(w, self.calling_domain_selector)
        ber.write_octet_string(w, self.called_domain_selector)
        ber.write_boolean(w, self.upward_flag)
        self.target.encode(w)
        self.minimum.encode(w)
        self.maximum.encode(w)
        ber.write_octet_string(w, self.user_data)

    def size(self) -> int:
        n = self._content_size()
        return ber.application_tag_size(MCS_CONNECT_INITIAL, n) + n


@dataclass(frozen=True)
class ConnectResponse:
    """[T.125 section 7, part 2] MCS Connect-Response (MS-RDPBCGR 2.2.1.4 mcsCrsp); user_data is GCC."""

    user_data: bytes
    result: int = ConnectResult.RT_SUCCESSFUL
    called_connect_id: int = 0
    domain_parameters: DomainParameters = DomainParameters(34, 3, 0, 1, 0, 1, 0xFFF8, 2)

    @classmethod
    def decode(cls, r: Reader) -> ConnectResponse:
        length = ber.read_application_tag(r, MCS_CONNECT_RESPONSE)
        s = r.sub(length, "MCS Connect-Response")
        result = ber.read_enumerated(s)
        connect_id = ber.read_integer(s)
        params = DomainParameters.decode(s)
        user_data = ber.read_octet_string(s)
        return cls(user_data, result, connect_id, params)

    def _content_size(self) -> int:
        return (3 + ber.integer_size(self.called_connect_id) + self.domain_parameters.size()
                + ber.octet_string_size(len(self.user_data)))

    def encode(self, w: Writer) -> None:
        ber.write_application_tag(w, MCS_CONNECT_RESPONSE, self._content_size())
        ber.write_enumerated(w, self.result)
        ber.write_integer(w, self.called_connect_id)
        self.domain_parameters.encode(w)
        ber.write_octet_string(w, self.user_data)

    def size(self) -> int:
        n = self._content_size()
        return ber.application_tag_size(MCS_CONNECT_RESPONSE, n) + n


class _DomainPdu:
    """Shared ``decode`` of the PER domain PDUs: the choice byte, then the body."""

    CHOICE: DomainMcsPdu

    @classmethod
    def decode(cls, r: Reader):  # type: ignore[no-untyped-def]
        first = r.u8("DomainMCSPDU choice")
        if first >> 2 != cls.CHOICE:
            raise RemoteProtocolError(f"expected MCS {cls.CHOICE.name}, got choice {first >> 2}")
        return cls.decode_body(r)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ErectDomainRequest(_DomainPdu):
    """[T.125 11.8] Erect Domain Request (MS-RDPBCGR 2.2.1.5)."""

    sub_height: int = 0
    sub_interval: int = 0

    CHOICE = DomainMcsPdu.ERECT_DOMAIN_REQUEST

    @classmethod
    def decode_body(cls, r: Reader) -> ErectDomainRequest:
        return cls(per.read_integer(r), per.read_integer(r))

    def encode(self, w: Writer) -> None:
        w.u8(DomainMcsPdu.ERECT_DOMAIN_REQUEST << 2)
        per.write_integer(w, self.sub_height)
        per.write_integer(w, self.sub_interval)

    def size(self) -> int:
        return 1 + per.integer_size(self.sub_height) + per.integer_size(self.sub_interval)


@dataclass(frozen=True)
class AttachUserRequest(_DomainPdu):
    """[T.125 11.17] Attach User Request (MS-RDPBCGR 2.2.1.6)."""

    CHOICE = DomainMcsPdu.ATTACH_USER_REQUEST

    @classmethod
    def decode_body(cls, r: Reader) -> AttachUserRequest:
        return cls()

    def encode(self, w: Writer) -> None:
        w.u8(DomainMcsPdu.ATTACH_USER_REQUEST << 2)

    def size(self) -> int:
        return 1


@dataclass(frozen=True)
class AttachUserConfirm(_DomainPdu):
    """[T.125 11.18] Attach User Confirm (MS-RDPBCGR 2.2.1.7), with the initiator present."""

    initiator: int
    result: int = 0

    CHOICE = DomainMcsPdu.ATTACH_USER_CONFIRM

    @classmethod
    def decode_body(cls, r: Reader) -> AttachUserConfirm:
        result = r.u8("AttachUserConfirm result")
        return cls(per.read_integer16(r, MCS_BASE_CHANNEL_ID), result)

    def encode(self, w: Writer) -> None:
        w.u8((DomainMcsPdu.ATTACH_USER_CONFIRM << 2) | 0x2)
        w.u8(self.result)
        per.write_integer16(w, self.initiator, MCS_BASE_CHANNEL_ID)

    def size(self) -> int:
        return 4


@dataclass(frozen=True)
class ChannelJoinRequest(_DomainPdu):
    """[T.125 11.21] Channel Join Request (MS-RDPBCGR 2.2.1.8)."""

    initiator: int
    channel_id: int

    CHOICE = DomainMcsPdu.CHANNEL_JOIN_REQUEST

    @classmethod
    def decode_body(cls, r: Reader) -> ChannelJoinRequest:
        return cls(per.read_integer16(r, MCS_BASE_CHANNEL_ID), per.read_integer16(r))

    def encode(self, w: Writer) -> None:
        w.u8(DomainMcsPdu.CHANNEL_JOIN_REQUEST << 2)
        per.write_integer16(w, self.initiator, MCS_BASE_CHANNEL_ID)
        per.write_integer16(w, self.channel_id)

    def size(self) -> int:
        return 5


@dataclass(frozen=True)
class ChannelJoinConfirm(_DomainPdu):
    """[T.125 11.22] Channel Join Confirm (MS-RDPBCGR 2.2.1.9), with channelId present."""

    initiator: int
    requested: int
    channel_id: int
    result: int = 0

    CHOICE = DomainMcsPdu.CHANNEL_JOIN_CONFIRM

    @classmethod
    def decode_body(cls, r: Reader) -> ChannelJoinConfirm:
        result = r.u8("ChannelJoinConfirm result")
        initiator = per.read_integer16(r, MCS_BASE_CHANNEL_ID)
        requested = per.read_integer16(r)
        channel_id = per.read_integer16(r) if r.remaining() >= 2 else requested
        return cls(initiator, requested, channel_id, result)

    def encode(self, w: Writer) -> None:
        w.u8((DomainMcsPdu.CHANNEL_JOIN_CONFIRM << 2) | 0x2)
        w.u8(self.result)
        per.write_integer16(w, self.initiator, MCS_BASE_CHANNEL_ID)
        per.write_integer16(w, self.requested)
        per.write_integer16(w, self.channel_id)

    def size(self) -> int:
        return 8


@dataclass(frozen=True)
class SendDataRequest(_DomainPdu):
    """[T.125 11.32] Send Data Request (client to server; MS-RDPBCGR 2.2.1.11 mcsSDrq)."""

    initiator: int
    channel_id: int
    data: bytes = field(repr=False)

    CHOICE = DomainMcsPdu.SEND_DATA_REQUEST

    @classmethod
    def decode_body(cls, r: Reader) -> SendDataRequest:
        initiator = per.read_integer16(r, MCS_BASE_CHANNEL_ID)
        channel_id = per.read_integer16(r)
        r.skip(1, "dataPriority/segmentation")
        length = per.read_length(r)
        return cls(initiator, channel_id, r.read(length, "MCS user data"))

    def encode(self, w: Writer) -> None:
        w.u8(self.CHOICE << 2)
        per.write_integer16(w, self.initiator, MCS_BASE_CHANNEL_ID)
        per.write_integer16(w, self.channel_id)
        w.u8(0x70)  # priority high, segmentation begin|end
        per.write_length(w, len(self.data))
        w.write(self.data)

    def size(self) -> int:
        return 6 + per.length_size(len(self.data)) + len(self.data)


@dataclass(frozen=True)
class SendDataIndication(SendDataRequest):
    """[T.125 11.33] Send Data Indication (server to client; MS-RDPBCGR 2.2.1.14 mcsSDin)."""

    CHOICE = DomainMcsPdu.SEND_DATA_INDICATION


@dataclass(frozen=True)
class DisconnectProviderUltimatum:
    """[T.125 11.15] Disconnect Provider Ultimatum (MS-RDPBCGR 2.2.2.3): the reason spans two bytes."""

    reason: DisconnectReason = DisconnectReason.USER_REQUESTED

    @classmethod
    def decode(cls, r: Reader) -> DisconnectProviderUltimatum:
        first = r.u8("DomainMCSPDU choice")
        if first >> 2 != DomainMcsPdu.DISCONNECT_PROVIDER_ULTIMATUM:
            raise RemoteProtocolError("expected MCS Disconnect Provider Ultimatum")
        return cls.decode_body(r, first)

    @classmethod
    def decode_body(cls, r: Reader, first: int) -> DisconnectProviderUltimatum:
        second = r.u8("DPUm reason")
        value = ((first & 0x1) << 1) | (second >> 7)
        try:
            return cls(DisconnectReason(value))
        except ValueError:
            raise RemoteProtocolError(f"unknown MCS disconnect reason {value}") from None

    def encode(self, w: Writer) -> None:
        w.u8((DomainMcsPdu.DISCONNECT_PROVIDER_ULTIMATUM << 2) | (self.reason >> 1))
        w.u8((self.reason & 1) << 7)

    def size(self) -> int:
        return 2


DomainPdu = (ErectDomainRequest | AttachUserRequest | AttachUserConfirm | ChannelJoinRequest
             | ChannelJoinConfirm | SendDataRequest | SendDataIndication | DisconnectProviderUltimatum)

_BODIES = {
    DomainMcsPdu.ERECT_DOMAIN_REQUEST: ErectDomainRequest,
    DomainMcsPdu.ATTACH_USER_REQUEST: AttachUserRequest,
    DomainMcsPdu.ATTACH_USER_CONFIRM: AttachUserConfirm,
    DomainMcsPdu.CHANNEL_JOIN_REQUEST: ChannelJoinRequest,
    DomainMcsPdu.CHANNEL_JOIN_CONFIRM: ChannelJoinConfirm,
    DomainMcsPdu.SEND_DATA_REQUEST: SendDataRequest,
    DomainMcsPdu.SEND_DATA_INDICATION: SendDataIndication,
}


def decode_domain_pdu(r: Reader) -> DomainPdu:
    """[T.125 section 7, part 10] Decode one PER-encoded DomainMCSPDU."""
    first = r.u8("DomainMCSPDU choice")
    choice = first >> 2
    if choice == DomainMcsPdu.DISCONNECT_PROVIDER_ULTIMATUM:
        return DisconnectProviderUltimatum.decode_body(r, first)
    body = _BODIES.get(choice)  # type: ignore[call-overload]
    if body is None:
        raise RemoteProtocolError(f"unsupported MCS domain PDU choice {choice}")
    return body.decode_body(r)


