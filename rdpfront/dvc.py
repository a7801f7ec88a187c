"""[MS-RDPEDYC] Dynamic virtual channels, carried by the static channel "drdynvc".

Every DVC PDU starts with one header byte ([2.2] ``cbId`` bits 0-1: size of ChannelId;
``Sp`` bits 2-3: command specific; ``Cmd`` bits 4-7). The server drives the channel: it sends
the Capabilities Request once the connection is active, the client answers with its version,
then the server asks for each channel by name (Create Request) and the client says whether it
has a listener for it (Create Response). Data goes in Data First (total length) + Data PDUs of
at most 1600 bytes each, one DVC PDU per static channel message.

Only what this server uses is decoded: capabilities v1-v3 (no compression is negotiated, so
compressed data is a protocol error), create, data first / data, close. Soft-Sync (v3, for
multitransport) is never asked for, so it never arrives.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

CHANNEL_NAME = "drdynvc"
MAX_PDU = 1600  # [3.1.5.1.4] a DVC PDU is at most CHANNEL_CHUNK_LENGTH bytes
MAX_MESSAGE = 4 << 20  # bound on one reassembled DVC message
MAX_NAME = 260


class Cmd(enum.IntEnum):
    CREATE = 0x01
    DATA_FIRST = 0x02
    DATA = 0x03
    CLOSE = 0x04
    CAPABILITY = 0x05
    DATA_FIRST_COMPRESSED = 0x06
    DATA_COMPRESSED = 0x07
    SOFT_SYNC_REQUEST = 0x08
    SOFT_SYNC_RESPONSE = 0x09


def _id_size_code(value: int) -> int:
    return 0 if value <= 0xFF else 1 if value <= 0xFFFF else 2


def _write_var(w: Writer, code: int, value: int) -> None:
    if code == 0:
        w.u8(value)
    elif code == 1:
        w.u16(value)
    else:
        w.u32(value)


def _read_var(r: Reader, code: int, what: str) -> int:
    if code == 0:
        return r.u8(what)
    if code == 1:
        return r.u16(what)
    if code == 2:
        return r.u32(what)
    raise RemoteProtocolError(f"DVC {what} size code 3 is reserved")


def _header(cmd: Cmd, sp: int, cb_id: int) -> int:
    return (cmd << 4) | (sp << 2) | cb_id


@dataclass(frozen=True)
class CapsRequest:
    """[2.2.1.1] DYNVC_CAPS_VERSION1/2/3 (server to client); v2+ carry four priority charges."""

    version: int = 1
    priority_charges: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass(frozen=True)
class CapsResponse:
    """[2.2.1.2] DYNVC_CAPS_RSP (client to server)."""

    version: int


@dataclass(frozen=True)
class CreateRequest:
    """[2.2.2.1] DYNVC_CREATE_REQ (server to client): open ``name`` as ``channel_id``."""

    channel_id: int
    name: str
    priority: int = 0


@dataclass(frozen=True)
class CreateResponse:
    """[2.2.2.2] DYNVC_CREATE_RSP (client to server): ``status`` is an HRESULT (>= 0: open)."""

    channel_id: int
    status: int

    @property
    def ok(self) -> bool:
        return self.status >= 0


@dataclass(frozen=True)
class DataFirst:
    """[2.2.3.1] DYNVC_DATA_FIRST: the first piece of a message of ``total_length`` bytes."""

    channel_id: int
    total_length: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Data:
    """[2.2.3.2] DYNVC_DATA: a whole message, or the next piece after a Data First."""

    channel_id: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Close:
    """[2.2.4] DYNVC_CLOSE, either direction."""

    channel_id: int


DvcPdu = CapsRequest | CapsResponse | CreateRequest | CreateResponse | DataFirst | Data | Close


def decode_dvc(data: bytes, *, from_server: bool = False) -> DvcPdu:
    """One DVC PDU (a whole drdynvc static channel message). Capabilities and Create PDUs
    differ by direction, so say which way it came: a server decodes what clients send."""
    r = Reader(data)
    header = r.u8("DVC header")
    cmd, sp, cb_id = header >> 4, (header >> 2) & 3, header & 3
    if cmd == Cmd.CAPABILITY:
        r.skip(1, "Pad")
        version = r.u16("Version")
        if version not in (1, 2, 3):
            raise RemoteProtocolError(f"DVC capabilities version {version} is not 1, 2 or 3")
        if not from_server:
            r.expect_end("DYNVC_CAPS_RSP")
            return CapsResponse(version)
        charges = (0, 0, 0, 0)
        if version >= 2:
            charges = (r.u16("PriorityCharge0"), r.u16("PriorityCharge1"),
                       r.u16("PriorityCharge2"), r.u16("PriorityCharge3"))
        r.expect_end("DYNVC_CAPS")
        return CapsRequest(version, charges)
    channel_id = _read_var(r, cb_id, "ChannelId")
    if cmd == Cmd.CREATE:
        if not from_server:
            status = r.i32("CreationStatus")
            r.expect_end("DYNVC_CREATE_RSP")
            return CreateResponse(channel_id, status)
        rest = r.rest()
        if not rest.endswith(b"\x00") or len(rest) > MAX_NAME:
            raise RemoteProtocolError("DVC Create: channel name not NUL-terminated or too long")
        try:
            name = rest[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise RemoteProtocolError("DVC Create: channel name is not ASCII") from None
        if "\x00" in name:
            raise RemoteProtocolError("DVC Create: NUL inside the channel name")
        return CreateRequest(channel_id, name, sp)
    if cmd == Cmd.DATA_FIRST:
        total = _read_var(r, sp, "Length")
        return DataFirst(channel_id, total, r.rest())
    if cmd == Cmd.DATA:
        return Data(channel_id, r.rest())
    if cmd == Cmd.CLOSE:
        r.expect_end("DYNVC_CLOSE")
        return Close(channel_id)
    if cmd in (Cmd.DATA_FIRST_COMPRESSED, Cmd.DATA_COMPRESSED):
        raise RemoteProtocolError("compressed DVC data, but DVC compression was not negotiated")
    raise RemoteProtocolError(f"unexpected DVC command {cmd:#x}")


def encode_dvc(pdu: DvcPdu) -> bytes:
    w = Writer()
    if isinstance(pdu, CapsRequest | CapsResponse):
        w.u8(_header(Cmd.CAPABILITY, 0, 0))
        w.pad(1)
        w.u16(pdu.version)
        if isinstance(pdu, CapsRequest) and pdu.version >= 2:
            for charge in pdu.priority_charges:
                w.u16(charge)
        return w.getvalue()
    if not 0 <= pdu.channel_id <= 0xFFFFFFFF:
        raise LocalProtocolError(f"DVC channel id {pdu.channel_id} out of range")
    cb_id = _id_size_code(pdu.channel_id)
    if isinstance(pdu, CreateRequest):
        name = pdu.name.encode("ascii") + b"\x00"
        if len(name) > MAX_NAME:
            raise LocalProtocolError(f"DVC channel name of {len(name)} bytes")
        w.u8(_header(Cmd.CREATE, pdu.priority & 3, cb_id))
        _write_var(w, cb_id, pdu.channel_id)
        w.write(name)
    elif isinstance(pdu, CreateResponse):
        w.u8(_header(Cmd.CREATE, 0, cb_id))
        _write_var(w, cb_id, pdu.channel_id)
        w.i32(pdu.status)
    elif isinstance(pdu, DataFirst):
        len_code = _id_size_code(pdu.total_length)
        w.u8(_header(Cmd.DATA_FIRST, len_code, cb_id))
        _write_var(w, cb_id, pdu.channel_id)
        _write_var(w, len_code, pdu.total_length)
        w.write(pdu.data)
    elif isinstance(pdu, Data):
        w.u8(_header(Cmd.DATA, 0, cb_id))
        _write_var(w, cb_id, pdu.channel_id)
        w.write(pdu.data)
    else:
        w.u8(_header(Cmd.CLOSE, 0, cb_id))
        _write_var(w, cb_id, pdu.channel_id)
    return w.getvalue()


_DATA_HEADS = {code: struct.Struct("<B" + "BHI"[code]) for code in range(3)}


def split_message(channel_id: int, message: bytes) -> list[bytes]:
    """One DVC message as encoded PDUs of at most ``MAX_PDU`` bytes ([3.1.5.1.4])."""
    if len(message) <= MAX_PDU - 5 and 0 <= channel_id <= 0xFFFFFFFF:
        # One Data PDU (a graphics frame of typing): its header packed in one call, the same
        # bytes as ``encode_dvc(Data(channel_id, message))``.
        cb_id = _id_size_code(channel_id)
        return [_DATA_HEADS[cb_id].pack((Cmd.DATA << 4) | cb_id, channel_id) + message]
    whole = encode_dvc(Data(channel_id, message))
    if len(whole) <= MAX_PDU:
        return [whole]
    first_head = len(encode_dvc(DataFirst(channel_id, len(message), b"")))
    data_head = len(encode_dvc(Data(channel_id, b"")))
    out = [encode_dvc(DataFirst(channel_id, len(message), message[:MAX_PDU - first_head]))]
    pos = MAX_PDU - first_head
    while pos < len(message):
        out.append(encode_dvc(Data(channel_id, message[pos:pos + MAX_PDU - data_head])))
        pos += MAX_PDU - data_head
    return out


class DvcReassembler:
    """Joins Data First + Data pieces into whole messages, per channel ([3.1.5.1.4])."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._partial: dict[int, tuple[int, list[bytes], int]] = {}
        self._max = max_message

    def push(self, pdu: DataFirst | Data) -> bytes | None:
        cid = pdu.channel_id
        if isinstance(pdu, DataFirst):
            if pdu.total_length > self._max:
                raise RemoteProtocolError(f"DVC message of {pdu.total_length} bytes exceeds {self._max}")
            if len(pdu.data) > pdu.total_length:
                raise RemoteProtocolError("DVC Data First carries more than its announced length")
            if len(pdu.data) == pdu.total_length:
                self._partial.pop(cid, None)
                return pdu.data
            self._partial[cid] = (pdu.total_length, [pdu.data], len(pdu.data))
            return None
        partial = self._partial.get(cid)
        if partial is None:
            return pdu.data
        total, parts, got = partial
        parts.append(pdu.data)
        got += len(pdu.data)
        if got > total:
            raise RemoteProtocolError(f"DVC pieces carry {got} bytes, more than the {total} announced")
        if got == total:
            del self._partial[cid]
            return b"".join(parts)
        self._partial[cid] = (total, parts, got)
        return None

    def pending(self, channel_id: int) -> bool:
        """Whether a message on ``channel_id`` is part way through (after its Data First)."""
        return channel_id in self._partial

    def drop(self, channel_id: int) -> None:
        self._partial.pop(channel_id, None)
