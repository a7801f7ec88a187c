"""[T.124 / MS-RDPBCGR 2.2.1.3.1-2.2.1.4] GCC Conference Create Request / Response in their
ConnectData wrapper, PER-encoded, carrying the RDP settings data blocks as user data."""

from __future__ import annotations

from dataclasses import dataclass, field

from rdpfront import per
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import RemoteProtocolError

T124_02_98_OID = b"\x00\x14\x7c\x00\x01"  # { itu-t(0) recommendation(0) t(20) t124(124) version(0) 1 }
H221_CLIENT_KEY = b"Duca"
H221_SERVER_KEY = b"McDn"


def _read_connect_data(r: Reader) -> Reader:
    """T.124 ConnectData: key (object identifier t124), then the connectPDU OCTET STRING."""
    if r.u8("ConnectData key choice") != 0:
        raise RemoteProtocolError("GCC ConnectData key is not an object identifier")
    if per.read_object_identifier(r) != T124_02_98_OID:
        raise RemoteProtocolError("GCC ConnectData key is not T.124 02/98")
    per.read_length(r)  # connectPDU length: not trusted; the blocks carry their own lengths
    return r


def _write_connect_data(w: Writer, pdu_length: int) -> None:
    w.u8(0)
    per.write_object_identifier(w, T124_02_98_OID)
    per.write_length(w, pdu_length)


@dataclass(frozen=True)
class ConferenceCreateRequest:
    """[T.124 8.7] ConferenceCreateRequest in ConnectData (MS-RDPBCGR 2.2.1.3 gccCCrq)."""

    user_data: bytes = field(repr=False)

    @classmethod
    def decode(cls, r: Reader) -> ConferenceCreateRequest:
        _read_connect_data(r)
        if r.u8("ConnectGCCPDU choice") != 0:
            raise RemoteProtocolError("GCC PDU is not a ConferenceCreateRequest")
        r.u8("ConferenceCreateRequest optional fields")
        per.read_numeric_string(r, 1)  # conferenceName
        r.skip(1, "ConferenceCreateRequest padding")
        if r.u8("userData set count") != 1:
            raise RemoteProtocolError("GCC userData must hold exactly one set")
        if r.u8("userData key choice") & 0xC0 != 0xC0:
            raise RemoteProtocolError("GCC userData key is not h221NonStandard")
        if per.read_octet_string(r, 4) != H221_CLIENT_KEY:
            raise RemoteProtocolError("GCC client userData key is not 'Duca'")
        length = per.read_length(r)
        return cls(r.read(length, "GCC client user data"))

    def _body_size(self) -> int:
        return 14 + len(self.user_data)  # as Windows writes it (MS-RDPBCGR 4.1.3)

    def encode(self, w: Writer) -> None:
        _write_connect_data(w, self._body_size())
        w.write(b"\x00\x08\x00\x10\x00\x01\xc0\x00")  # choice, optionals, name "1", pad, 1 set, h221
        w.write(H221_CLIENT_KEY)
        per.write_length(w, len(self.user_data))
        w.write(self.user_data)

    def size(self) -> int:
        n = self._body_size()
        return 7 + per.length_size(n) + 12 + per.length_size(len(self.user_data)) + len(self.user_data)


@dataclass(frozen=True)
class ConferenceCreateResponse:
    """[T.124 8.7] ConferenceCreateResponse in ConnectData (MS-RDPBCGR 2.2.1.4 gccCCrsp)."""

    user_data: bytes = field(repr=False)
    node_id: int = 0x79F3
    tag: int = 1

    @classmethod
    def decode(cls, r: Reader) -> ConferenceCreateResponse:
        _read_connect_data(r)
        if r.u8("ConnectGCCPDU choice") != 0x14:
            raise RemoteProtocolError("GCC PDU is not a ConferenceCreateResponse")
        node_id = per.read_integer16(r, 1001)
        tag = per.read_integer(r)
        r.u8("ConferenceCreateResponse result")
        if r.u8("userData set count") != 1:
            raise RemoteProtocolError("GCC userData must hold exactly one set")
        if r.u8("userData key choice") & 0xC0 != 0xC0:
            raise RemoteProtocolError("GCC userData key is not h221NonStandard")
        if per.read_octet_string(r, 4) != H221_SERVER_KEY:
            raise RemoteProtocolError("GCC server userData key is not 'McDn'")
        length = per.read_length(r)
        return cls(r.read(length, "GCC server user data"), node_id, tag)

    def _body_size(self) -> int:
        # What Windows writes (MS-RDPBCGR 4.1.4): user data length + 14, whatever the length
        # prefixes take.
        return 14 + len(self.user_data)

    def encode(self, w: Writer) -> None:
        _write_connect_data(w, self._body_size())
        w.u8(0x14)
        per.write_integer16(w, self.node_id, 1001)
        per.write_integer(w, self.tag)
        w.u8(0)  # result: success
        w.u8(1)  # one userData set
        w.u8(0xC0)  # h221NonStandard
        per.write_octet_string(w, H221_SERVER_KEY, 4)
        per.write_length(w, len(self.user_data))
        w.write(self.user_data)

    def size(self) -> int:
        n = self._body_size()
        return (7 + per.length_size(n) + 11 + per.integer_size(self.tag)
                + per.length_size(len(self.user_data)) + len(self.user_data))
