"""[MS-RDPEFS] File System Virtual Channel Extension PDUs (static channel "rdpdr").

Every PDU starts with an ``RDPDR_HEADER`` (component, packet id). ``decode_client`` reads what a
client sends (announce reply, name, capabilities, device list announce/remove, I/O
completions); the server's PDUs encode. An I/O completion's body depends on the request it
answers, so ``IoCompletion`` keeps it raw and ``decode_response(major, body)`` reads it once the
request is known. Information classes used by the drive relay ([MS-FSCC 2.4, 2.5]) are here
too, as small dataclasses with the same decode/encode/size shape.

Strings from the client are bounded; anything truncated, oversized or inconsistent raises
``RemoteProtocolError``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

CHANNEL_NAME = "rdpdr"
MAX_DEVICES = 256  # in one Device List Announce
MAX_DEVICE_DATA = 4096  # bytes of one device's DeviceData
MAX_PATH_BYTES = 2 * 1024 + 2  # a UTF-16 path of up to 1024 units and its terminator
MAX_CAPABILITIES = 16
MAX_COMPUTER_NAME = 512  # bytes

RDPDR_CTYP_CORE = 0x4472
RDPDR_CTYP_PRN = 0x5052


class PacketId(enum.IntEnum):
    PAKID_CORE_SERVER_ANNOUNCE = 0x496E
    PAKID_CORE_CLIENTID_CONFIRM = 0x4343
    PAKID_CORE_CLIENT_NAME = 0x434E
    PAKID_CORE_DEVICELIST_ANNOUNCE = 0x4441
    PAKID_CORE_DEVICE_REPLY = 0x6472
    PAKID_CORE_DEVICE_IOREQUEST = 0x4952
    PAKID_CORE_DEVICE_IOCOMPLETION = 0x4943
    PAKID_CORE_SERVER_CAPABILITY = 0x5350
    PAKID_CORE_CLIENT_CAPABILITY = 0x4350
    PAKID_CORE_DEVICELIST_REMOVE = 0x444D
    PAKID_PRN_CACHE_DATA = 0x5043
    PAKID_CORE_USER_LOGGEDON = 0x554C
    PAKID_PRN_USING_XPS = 0x5543


class DeviceType(enum.IntEnum):
    RDPDR_DTYP_SERIAL = 0x01
    RDPDR_DTYP_PARALLEL = 0x02
    RDPDR_DTYP_PRINT = 0x04
    RDPDR_DTYP_FILESYSTEM = 0x08
    RDPDR_DTYP_SMARTCARD = 0x20


class CapabilityType(enum.IntEnum):
    CAP_GENERAL_TYPE = 1
    CAP_PRINTER_TYPE = 2
    CAP_PORT_TYPE = 3
    CAP_DRIVE_TYPE = 4
    CAP_SMARTCARD_TYPE = 5


class MajorFunction(enum.IntEnum):
    IRP_MJ_CREATE = 0x00
    IRP_MJ_CLOSE = 0x02
    IRP_MJ_READ = 0x03
    IRP_MJ_WRITE = 0x04
    IRP_MJ_QUERY_INFORMATION = 0x05
    IRP_MJ_SET_INFORMATION = 0x06
    IRP_MJ_QUERY_VOLUME_INFORMATION = 0x0A
    IRP_MJ_SET_VOLUME_INFORMATION = 0x0B
    IRP_MJ_DIRECTORY_CONTROL = 0x0C
    IRP_MJ_DEVICE_CONTROL = 0x0E
    IRP_MJ_LOCK_CONTROL = 0x11


IRP_MN_QUERY_DIRECTORY = 0x01


class NtStatus(enum.IntEnum):
    STATUS_SUCCESS = 0x00000000
    STATUS_NO_MORE_FILES = 0x80000006
    STATUS_UNSUCCESSFUL = 0xC0000001
    STATUS_NOT_IMPLEMENTED = 0xC0000002
    STATUS_INVALID_PARAMETER = 0xC000000D
    STATUS_NO_SUCH_DEVICE = 0xC000000E
    STATUS_NO_SUCH_FILE = 0xC000000F
    STATUS_END_OF_FILE = 0xC0000011
    STATUS_ACCESS_DENIED = 0xC0000022
    STATUS_OBJECT_NAME_INVALID = 0xC0000033
    STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
    STATUS_OBJECT_NAME_COLLISION = 0xC0000035
    STATUS_OBJECT_PATH_NOT_FOUND = 0xC000003A
    STATUS_SHARING_VIOLATION = 0xC0000043
    STATUS_DISK_FULL = 0xC000007F
    STATUS_FILE_IS_A_DIRECTORY = 0xC00000BA
    STATUS_NOT_SUPPORTED = 0xC00000BB
    STATUS_DIRECTORY_NOT_EMPTY = 0xC0000101
    STATUS_NOT_A_DIRECTORY = 0xC0000103
    STATUS_CANNOT_DELETE = 0xC0000121


# [MS-SMB2 2.2.13] / [MS-FSCC] access, disposition and option flags of a Create request.
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
FILE_READ_DATA = 0x00000001
FILE_WRITE_DATA = 0x00000002
FILE_APPEND_DATA = 0x00000004
FILE_READ_ATTRIBUTES = 0x00000080
FILE_WRITE_ATTRIBUTES = 0x00000100
DELETE = 0x00010000
SYNCHRONIZE = 0x00100000
FILE_SHARE_READ = 0x1
FILE_SHARE_WRITE = 0x2
FILE_SHARE_DELETE = 0x4


class Disposition(enum.IntEnum):
    FILE_SUPERSEDE = 0
    FILE_OPEN = 1
    FILE_CREATE = 2
    FILE_OPEN_IF = 3
    FILE_OVERWRITE = 4
    FILE_OVERWRITE_IF = 5


FILE_DIRECTORY_FILE = 0x00000001
FILE_SYNCHRONOUS_IO_NONALERT = 0x00000020
FILE_NON_DIRECTORY_FILE = 0x00000040
FILE_ATTRIBUTE_READONLY = 0x00000001
FILE_ATTRIBUTE_DIRECTORY = 0x00000010
FILE_ATTRIBUTE_NORMAL = 0x00000080


class FileInfoClass(enum.IntEnum):
    """[MS-FSCC 2.4] file information classes used here."""

    FileDirectoryInformation = 1
    FileBasicInformation = 4
    FileStandardInformation = 5
    FileRenameInformation = 10
    FileDispositionInformation = 13
    FileEndOfFileInformation = 20


class FsInfoClass(enum.IntEnum):
    """[MS-FSCC 2.5] file system information classes used here."""

    FileFsFullSizeInformation = 7


GENERAL_CAPABILITY_VERSION_02 = 2
DRIVE_CAPABILITY_VERSION_02 = 2
RDPDR_USER_LOGGEDON_PDU = 0x00000004
RDPDR_DEVICE_REMOVE_PDUS = 0x00000001
RDPDR_CLIENT_DISPLAY_NAME_PDU = 0x00000002
ENABLE_ASYNCIO = 0x00000001
IO_CODE1_ALL = 0x0000FFFF  # every I/O request type the general capability can name


def _read_utf16z(r: Reader, n: int, what: str) -> str:
    """``n`` bytes of UTF-16LE with an optional terminating NUL; refused if badly formed."""
    if n % 2:
        raise RemoteProtocolError(f"{what}: odd UTF-16 length {n}")
    data = r.read(n, what)
    try:
        text = data.decode("utf-16-le")
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"{what}: not UTF-16") from None
    return text[:-1] if text.endswith("\x00") else text


def utf16z(text: str) -> bytes:
    try:
        return text.encode("utf-16-le") + b"\x00\x00"
    except UnicodeEncodeError:
        raise LocalProtocolError("text is not Unicode (a lone surrogate)") from None


@dataclass(frozen=True)
class Header:
    """[2.2.1.1] Shared Header (RDPDR_HEADER)."""

    component: int
    packet_id: int

    @classmethod
    def decode(cls, r: Reader) -> Header:
        return cls(r.u16("RDPDR_HEADER.Component"), r.u16("RDPDR_HEADER.PacketId"))

    def encode(self, w: Writer) -> None:
        w.u16(self.component)
        w.u16(self.packet_id)

    def size(self) -> int:
        return 4


class RdpdrPdu:
    """A PDU with a core header: ``PACKET_ID`` names it; ``body_*`` are what follows the header."""

    PACKET_ID: ClassVar[PacketId]

    @classmethod
    def decode_body(cls, r: Reader) -> RdpdrPdu:
        raise NotImplementedError

    def encode_body(self, w: Writer) -> None:
        raise NotImplementedError

    def body_size(self) -> int:
        raise NotImplementedError

    def encode(self, w: Writer) -> None:
        Header(RDPDR_CTYP_CORE, self.PACKET_ID).encode(w)
        self.encode_body(w)

    def size(self) -> int:
        return 4 + self.body_size()

    def to_bytes(self) -> bytes:
        w = Writer()
        self.encode(w)
        if len(w) != self.size():
            raise LocalProtocolError(f"{type(self).__name__}: size() {self.size()} but encoded {len(w)}")
        return w.getvalue()


@dataclass(frozen=True)
class _Announce(RdpdrPdu):
    version_major: int
    version_minor: int
    client_id: int

    @classmethod
    def decode_body(cls, r: Reader) -> _Announce:
        return cls(r.u16("VersionMajor"), r.u16("VersionMinor"), r.u32("ClientId"))

    def encode_body(self, w: Writer) -> None:
        w.u16(self.version_major)
        w.u16(self.version_minor)
        w.u32(self.client_id)

    def body_size(self) -> int:
        return 8


@dataclass(frozen=True)
class ServerAnnounce(_Announce):
    """[2.2.2.2] Server Announce Request (DR_CORE_SERVER_ANNOUNCE_REQ)."""

    PACKET_ID = PacketId.PAKID_CORE_SERVER_ANNOUNCE
    version_major: int = 1
    version_minor: int = 0x000C
    client_id: int = 1


@dataclass(frozen=True)
class ClientAnnounceReply(_Announce):
    """[2.2.2.3] Client Announce Reply (DR_CORE_CLIENT_ANNOUNCE_RSP)."""

    PACKET_ID = PacketId.PAKID_CORE_CLIENTID_CONFIRM


@dataclass(frozen=True)
class ServerClientIdConfirm(_Announce):
    """[2.2.2.6] Server Client ID Confirm (DR_CORE_SERVER_CLIENTID_CONFIRM)."""

    PACKET_ID = PacketId.PAKID_CORE_CLIENTID_CONFIRM


@dataclass(frozen=True)
class ClientName(RdpdrPdu):
    """[2.2.2.4] Client Name Request (DR_CORE_CLIENT_NAME_REQ)."""

    PACKET_ID = PacketId.PAKID_CORE_CLIENT_NAME
    computer_name: str
    unicode: bool = True

    @classmethod
    def decode_body(cls, r: Reader) -> ClientName:
        unicode = r.u32("UnicodeFlag") & 1
        r.u32("CodePage")
        n = r.u32("ComputerNameLen")
        if n > MAX_COMPUTER_NAME:
            raise RemoteProtocolError(f"client name of {n} bytes is over {MAX_COMPUTER_NAME}")
        if unicode:
            name = _read_utf16z(r, n, "ComputerName")
        else:
            name = r.read(n, "ComputerName").split(b"\x00", 1)[0].decode("ascii", "replace")
        return cls(name, bool(unicode))

    def _name(self) -> bytes:
        if self.unicode:
            return utf16z(self.computer_name)
        try:
            return self.computer_name.encode("ascii") + b"\x00"
        except UnicodeEncodeError:
            raise LocalProtocolError("an ASCII client name that is not ASCII") from None

    def encode_body(self, w: Writer) -> None:
        name = self._name()
        w.u32(1 if self.unicode else 0)
        w.u32(0)
        w.u32(len(name))
        w.write(name)

    def body_size(self) -> int:
        return 12 + len(self._name())


@dataclass(frozen=True)
class Capability:
    """[2.2.1.2] a CAPABILITY_HEADER and its data: the General set is read into fields, the
    others (printer, port, drive, smart card) carry nothing but their version."""

    cap_type: int
    version: int
    data: bytes = b""

    @classmethod
    def decode(cls, r: Reader) -> Capability:
        cap_type, length = r.u16("CapabilityType"), r.u16("CapabilityLength")
        if length < 8:
            raise RemoteProtocolError(f"capability length {length} is shorter than its header")
        version = r.u32("Version")
        return cls(cap_type, version, r.read(length - 8, "capability data"))

    def encode(self, w: Writer) -> None:
        w.u16(self.cap_type)
        if 8 + len(self.data) > 0xFFFF:
            raise LocalProtocolError("capability too long")
        w.u16(8 + len(self.data))
        w.u32(self.version)
        w.write(self.data)

    def size(self) -> int:
        return 8 + len(self.data)


@dataclass(frozen=True)
class GeneralCapability:
    """[2.2.2.7.1] General Capability Set (GENERAL_CAPS_SET), version 2."""

    os_type: int = 0
    os_version: int = 0
    protocol_major: int = 1
    protocol_minor: int = 0x000C
    io_code1: int = IO_CODE1_ALL
    extended_pdu: int = RDPDR_DEVICE_REMOVE_PDUS | RDPDR_CLIENT_DISPLAY_NAME_PDU | RDPDR_USER_LOGGEDON_PDU
    extra_flags1: int = 0
    special_type_device_cap: int = 0

    @classmethod
    def from_capability(cls, cap: Capability) -> GeneralCapability:
        r = Reader(cap.data)
        os_type, os_version = r.u32("osType"), r.u32("osVersion")
        major, minor = r.u16("protocolMajorVersion"), r.u16("protocolMinorVersion")
        io_code1 = r.u32("ioCode1")
        r.u32("ioCode2")
        extended_pdu, extra_flags1 = r.u32("extendedPDU"), r.u32("extraFlags1")
        r.u32("extraFlags2")
        special = r.u32("SpecialTypeDeviceCap") if r.remaining() >= 4 else 0
        return cls(os_type, os_version, major, minor, io_code1, extended_pdu, extra_flags1, special)

    def capability(self) -> Capability:
        w = Writer()
        for value in (self.os_type, self.os_version):
            w.u32(value)
        w.u16(self.protocol_major)
        w.u16(self.protocol_minor)
        for value in (self.io_code1, 0, self.extended_pdu, self.extra_flags1, 0, self.special_type_device_cap):
            w.u32(value)
        return Capability(CapabilityType.CAP_GENERAL_TYPE, GENERAL_CAPABILITY_VERSION_02, w.getvalue())


@dataclass(frozen=True)
class _Capabilities(RdpdrPdu):
    capabilities: tuple[Capability, ...]

    @classmethod
    def decode_body(cls, r: Reader) -> _Capabilities:
        n = r.u16("numCapabilities")
        r.skip(2)
        if n > MAX_CAPABILITIES:
            raise RemoteProtocolError(f"{n} capability sets is over {MAX_CAPABILITIES}")
        return cls(tuple(Capability.decode(r) for _ in range(n)))

    def encode_body(self, w: Writer) -> None:
        w.u16(len(self.capabilities))
        w.pad(2)
        for cap in self.capabilities:
            cap.encode(w)

    def body_size(self) -> int:
        return 4 + sum(c.size() for c in self.capabilities)

    def find(self, cap_type: int) -> Capability | None:
        return next((c for c in self.capabilities if c.cap_type == cap_type), None)


@dataclass(frozen=True)
class ServerCapabilities(_Capabilities):
    """[2.2.2.7] Server Core Capability Request (DR_CORE_CAPABILITY_REQ)."""

    PACKET_ID = PacketId.PAKID_CORE_SERVER_CAPABILITY

    @classmethod
    def ours(cls) -> ServerCapabilities:
        """General (v2) and Drive (v2): the server offers file systems only."""
        return cls((GeneralCapability().capability(),
                    Capability(CapabilityType.CAP_DRIVE_TYPE, DRIVE_CAPABILITY_VERSION_02)))


@dataclass(frozen=True)
class ClientCapabilities(_Capabilities):
    """[2.2.2.8] Client Core Capability Response (DR_CORE_CAPABILITY_RSP)."""

    PACKET_ID = PacketId.PAKID_CORE_CLIENT_CAPABILITY


@dataclass(frozen=True)
class UserLoggedOn(RdpdrPdu):
    """[2.2.2.5] Server User Logged On (DR_CORE_USER_LOGGEDON)."""

    PACKET_ID = PacketId.PAKID_CORE_USER_LOGGEDON

    @classmethod
    def decode_body(cls, r: Reader) -> UserLoggedOn:
        return cls()

    def encode_body(self, w: Writer) -> None:
        pass

    def body_size(self) -> int:
        return 0


@dataclass(frozen=True)
class DeviceAnnounce:
    """[2.2.1.3] Device Announce Header (DEVICE_ANNOUNCE)."""

    device_type: int
    device_id: int
    dos_name: str  # PreferredDosName: up to 7 ASCII characters and a NUL
    data: bytes = b""

    @classmethod
    def decode(cls, r: Reader) -> DeviceAnnounce:
        device_type, device_id = r.u32("DeviceType"), r.u32("DeviceId")
        raw = r.read(8, "PreferredDosName").split(b"\x00", 1)[0]
        n = r.u32("DeviceDataLength")
        if n > MAX_DEVICE_DATA:
            raise RemoteProtocolError(f"device data of {n} bytes is over {MAX_DEVICE_DATA}")
        return cls(device_type, device_id, raw.decode("latin-1"), r.read(n, "DeviceData"))

    def encode(self, w: Writer) -> None:
        w.u32(self.device_type)
        w.u32(self.device_id)
        try:
            name = self.dos_name.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError("a DOS name that is not Latin-1") from None
        if len(name) > 7 or b"\x00" in name:
            raise LocalProtocolError(f"DOS name {self.dos_name!r} does not fit in 7 bytes")
        w.write(name.ljust(8, b"\x00"))
        w.u32(len(self.data))
        w.write(self.data)

    def size(self) -> int:
        return 20 + len(self.data)

    @property
    def display_name(self) -> str:
        """The drive's name: DeviceData's full name when it holds one (UTF-8 or UTF-16, as
        clients differ), else the DOS name."""
        data = self.data.rstrip(b"\x00")
        # A NUL inside the name means UTF-16 (FreeRDP sends UTF-8, Windows clients UTF-16);
        # the last UTF-16 unit may have ended in a zero byte that the strip took.
        try:
            if b"\x00" in data:
                text = (data + b"\x00" * (len(data) % 2)).decode("utf-16-le").split("\x00", 1)[0]
            else:
                text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if text and text.isprintable():
            return text
        return self.dos_name


@dataclass(frozen=True)
class DeviceListAnnounce(RdpdrPdu):
    """[2.2.2.9] Client Device List Announce Request (DR_CORE_DEVICELIST_ANNOUNCE_REQ)."""

    PACKET_ID = PacketId.PAKID_CORE_DEVICELIST_ANNOUNCE
    devices: tuple[DeviceAnnounce, ...]

    @classmethod
    def decode_body(cls, r: Reader) -> DeviceListAnnounce:
        n = r.u32("DeviceCount")
        if n > MAX_DEVICES:
            raise RemoteProtocolError(f"{n} devices announced at once, over {MAX_DEVICES}")
        return cls(tuple(DeviceAnnounce.decode(r) for _ in range(n)))

    def encode_body(self, w: Writer) -> None:
        w.u32(len(self.devices))
        for device in self.devices:
            device.encode(w)

    def body_size(self) -> int:
        return 4 + sum(d.size() for d in self.devices)


@dataclass(frozen=True)
class DeviceListRemove(RdpdrPdu):
    """[2.2.3.2] Client Drive Device List Remove (DR_DEVICELIST_REMOVE)."""

    PACKET_ID = PacketId.PAKID_CORE_DEVICELIST_REMOVE
    device_ids: tuple[int, ...]

    @classmethod
    def decode_body(cls, r: Reader) -> DeviceListRemove:
        n = r.u32("DeviceCount")
        if n > MAX_DEVICES:
            raise RemoteProtocolError(f"{n} devices removed at once, over {MAX_DEVICES}")
        return cls(tuple(r.u32("DeviceId") for _ in range(n)))

    def encode_body(self, w: Writer) -> None:
        w.u32(len(self.device_ids))
        for device_id in self.device_ids:
            w.u32(device_id)

    def body_size(self) -> int:
        return 4 + 4 * len(self.device_ids)


@dataclass(frozen=True)
class DeviceReply(RdpdrPdu):
    """[2.2.2.1] Server Device Announce Response (DR_CORE_DEVICE_ANNOUNCE_RSP)."""

    PACKET_ID = PacketId.PAKID_CORE_DEVICE_REPLY
    device_id: int
    result: int

    @classmethod
    def decode_body(cls, r: Reader) -> DeviceReply:
        return cls(r.u32("DeviceId"), r.u32("ResultCode"))

    def encode_body(self, w: Writer) -> None:
        w.u32(self.device_id)
        w.u32(self.result)

    def body_size(self) -> int:
        return 8


# -- I/O requests (server → client) ----------------------------------------------------------


class IoBody:
    """What follows a DR_DEVICE_IOREQUEST's fixed part for one major function."""

    MAJOR: ClassVar[MajorFunction]
    MINOR: ClassVar[int] = 0

    @classmethod
    def decode(cls, r: Reader) -> IoBody:
        raise NotImplementedError

    def encode(self, w: Writer) -> None:
        raise NotImplementedError

    def size(self) -> int:
        raise NotImplementedError


def _read_path(r: Reader) -> str:
    n = r.u32("PathLength")
    if n > MAX_PATH_BYTES:
        raise RemoteProtocolError(f"path of {n} bytes is over {MAX_PATH_BYTES}")
    return _read_utf16z(r, n, "Path")


def _path_bytes(path: str) -> bytes:
    return utf16z(path) if path else b""


@dataclass(frozen=True)
class CreateRequest(IoBody):
    """[2.2.1.4.1] Device Create Request (DR_CREATE_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_CREATE
    desired_access: int
    disposition: int
    options: int
    path: str
    attributes: int = 0
    shared_access: int = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
    allocation_size: int = 0

    @classmethod
    def decode(cls, r: Reader) -> CreateRequest:
        access, alloc, attributes = r.u32("DesiredAccess"), r.u64("AllocationSize"), r.u32("FileAttributes")
        shared, disposition, options = r.u32("SharedAccess"), r.u32("CreateDisposition"), r.u32("CreateOptions")
        return cls(access, disposition, options, _read_path(r), attributes, shared, alloc)

    def encode(self, w: Writer) -> None:
        w.u32(self.desired_access)
        w.u64(self.allocation_size)
        w.u32(self.attributes)
        w.u32(self.shared_access)
        w.u32(self.disposition)
        w.u32(self.options)
        path = _path_bytes(self.path)
        w.u32(len(path))
        w.write(path)

    def size(self) -> int:
        return 32 + len(_path_bytes(self.path))


@dataclass(frozen=True)
class CloseRequest(IoBody):
    """[2.2.1.4.2] Device Close Request (DR_CLOSE_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_CLOSE

    @classmethod
    def decode(cls, r: Reader) -> CloseRequest:
        r.skip(32)
        return cls()

    def encode(self, w: Writer) -> None:
        w.pad(32)

    def size(self) -> int:
        return 32


@dataclass(frozen=True)
class ReadRequest(IoBody):
    """[2.2.1.4.3] Device Read Request (DR_READ_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_READ
    length: int
    offset: int

    @classmethod
    def decode(cls, r: Reader) -> ReadRequest:
        length, offset = r.u32("Length"), r.u64("Offset")
        r.skip(20)
        return cls(length, offset)

    def encode(self, w: Writer) -> None:
        w.u32(self.length)
        w.u64(self.offset)
        w.pad(20)

    def size(self) -> int:
        return 32


@dataclass(frozen=True)
class WriteRequest(IoBody):
    """[2.2.1.4.4] Device Write Request (DR_WRITE_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_WRITE
    offset: int
    data: bytes = field(repr=False)

    @classmethod
    def decode(cls, r: Reader) -> WriteRequest:
        length, offset = r.u32("Length"), r.u64("Offset")
        r.skip(20)
        return cls(offset, r.read(length, "WriteData"))

    def encode(self, w: Writer) -> None:
        w.u32(len(self.data))
        w.u64(self.offset)
        w.pad(20)
        w.write(self.data)

    def size(self) -> int:
        return 32 + len(self.data)


@dataclass(frozen=True)
class _InfoRequest(IoBody):
    """The shape shared by Query/Set (Volume) Information: class, length, 24 bytes, buffer."""

    info_class: int
    buffer: bytes = b""

    @classmethod
    def decode(cls, r: Reader) -> _InfoRequest:
        info_class, length = r.u32("FsInformationClass"), r.u32("Length")
        r.skip(24)
        return cls(info_class, r.read(length, "information buffer"))

    def encode(self, w: Writer) -> None:
        w.u32(self.info_class)
        w.u32(len(self.buffer))
        w.pad(24)
        w.write(self.buffer)

    def size(self) -> int:
        return 32 + len(self.buffer)


@dataclass(frozen=True)
class QueryInformationRequest(_InfoRequest):
    """[2.2.3.3.8] Server Drive Query Information Request (DR_DRIVE_QUERY_INFORMATION_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_QUERY_INFORMATION


@dataclass(frozen=True)
class SetInformationRequest(_InfoRequest):
    """[2.2.3.3.9] Server Drive Set Information Request (DR_DRIVE_SET_INFORMATION_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_SET_INFORMATION


@dataclass(frozen=True)
class QueryVolumeRequest(_InfoRequest):
    """[2.2.3.3.6] Server Drive Query Volume Information Request (DR_DRIVE_QUERY_VOLUME_INFORMATION_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_QUERY_VOLUME_INFORMATION


@dataclass(frozen=True)
class QueryDirectoryRequest(IoBody):
    """[2.2.3.3.10] Server Drive Query Directory Request (DR_DRIVE_QUERY_DIRECTORY_REQ)."""

    MAJOR = MajorFunction.IRP_MJ_DIRECTORY_CONTROL
    MINOR = IRP_MN_QUERY_DIRECTORY
    info_class: int
    initial: bool
    path: str = ""

    @classmethod
    def decode(cls, r: Reader) -> QueryDirectoryRequest:
        info_class, initial = r.u32("FsInformationClass"), r.u8("InitialQuery")
        n = r.u32("PathLength")
        r.skip(23)
        if n > MAX_PATH_BYTES:
            raise RemoteProtocolError(f"path of {n} bytes is over {MAX_PATH_BYTES}")
        return cls(info_class, bool(initial), _read_utf16z(r, n, "Path"))

    def encode(self, w: Writer) -> None:
        path = _path_bytes(self.path)
        w.u32(self.info_class)
        w.u8(1 if self.initial else 0)
        w.u32(len(path))
        w.pad(23)
        w.write(path)

    def size(self) -> int:
        return 32 + len(_path_bytes(self.path))


IO_BODIES: dict[tuple[int, int], type[IoBody]] = {
    (c.MAJOR, c.MINOR): c for c in (CreateRequest, CloseRequest, ReadRequest, WriteRequest, QueryInformationRequest,
                                    SetInformationRequest, QueryVolumeRequest, QueryDirectoryRequest)}


@dataclass(frozen=True)
class IoRequest(RdpdrPdu):
    """[2.2.1.4] Device I/O Request (DR_DEVICE_IOREQUEST) with its function's body."""

    PACKET_ID = PacketId.PAKID_CORE_DEVICE_IOREQUEST
    device_id: int
    file_id: int
    completion_id: int
    body: IoBody

    @classmethod
    def decode_body(cls, r: Reader) -> IoRequest:
        device_id, file_id, completion_id = r.u32("DeviceId"), r.u32("FileId"), r.u32("CompletionId")
        major, minor = r.u32("MajorFunction"), r.u32("MinorFunction")
        body_cls = IO_BODIES.get((major, minor if major == MajorFunction.IRP_MJ_DIRECTORY_CONTROL else 0))
        if body_cls is None:
            raise RemoteProtocolError(f"I/O request of function {major:#x}/{minor:#x} is not read here")
        return cls(device_id, file_id, completion_id, body_cls.decode(r))

    def encode_body(self, w: Writer) -> None:
        w.u32(self.device_id)
        w.u32(self.file_id)
        w.u32(self.completion_id)
        w.u32(self.body.MAJOR)
        w.u32(self.body.MINOR)
        self.body.encode(w)

    def body_size(self) -> int:
        return 20 + self.body.size()


# -- I/O completions (client → server) -------------------------------------------------------


@dataclass(frozen=True)
class IoCompletion(RdpdrPdu):
    """[2.2.1.5] Device I/O Response (DR_DEVICE_IOCOMPLETION); ``body`` is read by
    ``decode_response`` for the request it answers."""

    PACKET_ID = PacketId.PAKID_CORE_DEVICE_IOCOMPLETION
    device_id: int
    completion_id: int
    status: int
    body: bytes = field(default=b"", repr=False)

    @classmethod
    def decode_body(cls, r: Reader) -> IoCompletion:
        return cls(r.u32("DeviceId"), r.u32("CompletionId"), r.u32("IoStatus"), r.rest())

    def encode_body(self, w: Writer) -> None:
        w.u32(self.device_id)
        w.u32(self.completion_id)
        w.u32(self.status)
        w.write(self.body)

    def body_size(self) -> int:
        return 12 + len(self.body)


@dataclass(frozen=True)
class CreateResponse:
    """[2.2.1.5.1] Device Create Response (DR_CREATE_RSP)."""

    file_id: int
    information: int = 0

    @classmethod
    def decode(cls, r: Reader) -> CreateResponse:
        file_id = r.u32("FileId")
        return cls(file_id, r.u8("Information") if r.remaining() else 0)

    def encode(self, w: Writer) -> None:
        w.u32(self.file_id)
        w.u8(self.information)

    def size(self) -> int:
        return 5


@dataclass(frozen=True)
class LengthResponse:
    """The responses that are a Length and a buffer of it: Read (2.2.1.5.3), Query
    Information (2.2.3.4.8), Query Volume Information (2.2.3.4.6), Query Directory (2.2.3.4.10);
    for Write (2.2.1.5.4) and Set Information (2.2.3.4.9) ``data`` is empty and ``length`` the
    count. A padding byte some clients add after an empty buffer is ignored."""

    length: int
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def decode_buffer(cls, r: Reader) -> LengthResponse:
        n = r.u32("Length")
        return cls(n, r.read(n, "response buffer"))

    @classmethod
    def decode_count(cls, r: Reader) -> LengthResponse:
        return cls(r.u32("Length"))

    def encode(self, w: Writer) -> None:
        w.u32(self.length)
        w.write(self.data)

    def size(self) -> int:
        return 4 + len(self.data)


def decode_response(major: int, body: bytes) -> CreateResponse | LengthResponse | None:
    """The body of a successful completion of a request of function ``major``."""
    r = Reader(body)
    if major == MajorFunction.IRP_MJ_CREATE:
        return CreateResponse.decode(r)
    if major == MajorFunction.IRP_MJ_CLOSE:
        return None
    if major in (MajorFunction.IRP_MJ_WRITE, MajorFunction.IRP_MJ_SET_INFORMATION,
                 MajorFunction.IRP_MJ_SET_VOLUME_INFORMATION):
        return LengthResponse.decode_count(r)
    return LengthResponse.decode_buffer(r)


CLIENT_PDUS: dict[int, type[RdpdrPdu]] = {c.PACKET_ID: c for c in (
    ClientAnnounceReply, ClientName, ClientCapabilities, DeviceListAnnounce, DeviceListRemove, IoCompletion)}
SERVER_PDUS: dict[int, type[RdpdrPdu]] = {c.PACKET_ID: c for c in (
    ServerAnnounce, ServerClientIdConfirm, ServerCapabilities, UserLoggedOn, DeviceReply, IoRequest)}


@dataclass(frozen=True)
class OtherPdu:
    """A PDU this server does not read (printer components, packets of no interest)."""

    component: int
    packet_id: int


def decode_client(data: bytes) -> RdpdrPdu | OtherPdu:
    """One whole message of the channel, as a client sends it."""
    return _decode(data, CLIENT_PDUS)


def decode_server(data: bytes) -> RdpdrPdu | OtherPdu:
    """One whole message as the server sends it (for tests and scripted clients)."""
    return _decode(data, SERVER_PDUS)


def _decode(data: bytes, table: dict[int, type[RdpdrPdu]]) -> RdpdrPdu | OtherPdu:
    r = Reader(data)
    header = Header.decode(r)
    cls = table.get(header.packet_id) if header.component == RDPDR_CTYP_CORE else None
    if cls is None:
        return OtherPdu(header.component, header.packet_id)
    pdu = cls.decode_body(r)
    if isinstance(pdu, IoCompletion | DeviceListAnnounce | ClientName | ClientCapabilities):
        return pdu  # clients may add padding after these
    r.expect_end(cls.__name__)
    return pdu


# -- information classes ([MS-FSCC]) -------------------------------------------------------

NT_EPOCH_OFFSET = 116444736000000000  # 100 ns units from 1601-01-01 to 1970-01-01
MAX_NT_TIME = 2**63 - 1


def nt_time_to_ns(value: int) -> int:
    """An NT time (100 ns since 1601) as ns since the Unix epoch, clamped at the epoch."""
    return min(MAX_NT_TIME, max(0, value - NT_EPOCH_OFFSET) * 100)


def ns_to_nt_time(ns: int) -> int:
    return min(MAX_NT_TIME, max(0, ns // 100 + NT_EPOCH_OFFSET))


@dataclass(frozen=True)
class BasicInformation:
    """[MS-FSCC 2.4.7] FileBasicInformation (times in NT units; 0: leave unchanged on set)."""

    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    change_time: int = 0
    attributes: int = 0

    @classmethod
    def decode(cls, r: Reader) -> BasicInformation:
        times = [r.u64("time") for _ in range(4)]
        attributes = r.u32("FileAttributes")
        if r.remaining() >= 4:  # Reserved: FreeRDP leaves it out
            r.skip(4)
        return cls(*times, attributes)

    def encode(self, w: Writer) -> None:
        for value in (self.creation_time, self.last_access_time, self.last_write_time, self.change_time):
            w.u64(value)
        w.u32(self.attributes)
        w.pad(4)

    def size(self) -> int:
        return 40


@dataclass(frozen=True)
class StandardInformation:
    """[MS-FSCC 2.4.41] FileStandardInformation."""

    allocation_size: int
    end_of_file: int
    links: int = 1
    delete_pending: bool = False
    directory: bool = False

    @classmethod
    def decode(cls, r: Reader) -> StandardInformation:
        alloc, eof, links = r.u64("AllocationSize"), r.u64("EndOfFile"), r.u32("NumberOfLinks")
        info = cls(alloc, eof, links, bool(r.u8("DeletePending")), bool(r.u8("Directory")))
        if r.remaining() >= 2:  # Reserved: FreeRDP leaves it out
            r.skip(2)
        return info

    def encode(self, w: Writer) -> None:
        w.u64(self.allocation_size)
        w.u64(self.end_of_file)
        w.u32(self.links)
        w.u8(int(self.delete_pending))
        w.u8(int(self.directory))
        w.pad(2)

    def size(self) -> int:
        return 24


@dataclass(frozen=True)
class DirectoryInformation:
    """[MS-FSCC 2.4.10] FileDirectoryInformation: one entry (clients answer one per query)."""

    name: str
    end_of_file: int = 0
    attributes: int = 0
    last_write_time: int = 0
    last_access_time: int = 0
    creation_time: int = 0
    change_time: int = 0
    allocation_size: int = 0

    MAX_NAME_BYTES: ClassVar[int] = 2 * 1024

    @classmethod
    def decode(cls, r: Reader) -> DirectoryInformation:
        r.u32("NextEntryOffset")
        r.u32("FileIndex")
        creation, access, write, change = (r.u64("time") for _ in range(4))
        eof, alloc, attributes, n = r.u64("EndOfFile"), r.u64("AllocationSize"), r.u32("FileAttributes"), \
            r.u32("FileNameLength")
        if n > cls.MAX_NAME_BYTES:
            raise RemoteProtocolError(f"file name of {n} bytes is over {cls.MAX_NAME_BYTES}")
        name = _read_utf16z(r, n, "FileName")
        return cls(name, eof, attributes, write, access, creation, change, alloc)

    def encode(self, w: Writer) -> None:
        name = self.name.encode("utf-16-le", errors="surrogatepass")
        w.u32(0)
        w.u32(0)
        for value in (self.creation_time, self.last_access_time, self.last_write_time, self.change_time,
                      self.end_of_file, self.allocation_size):
            w.u64(value)
        w.u32(self.attributes)
        w.u32(len(name))
        w.write(name)

    def size(self) -> int:
        return 64 + len(self.name.encode("utf-16-le", errors="surrogatepass"))


@dataclass(frozen=True)
class FullSizeInformation:
    """[MS-FSCC 2.5.4] FileFsFullSizeInformation."""

    total_units: int
    caller_available_units: int
    available_units: int
    sectors_per_unit: int
    bytes_per_sector: int

    @classmethod
    def decode(cls, r: Reader) -> FullSizeInformation:
        return cls(r.u64("TotalAllocationUnits"), r.u64("CallerAvailableAllocationUnits"),
                   r.u64("ActualAvailableAllocationUnits"), r.u32("SectorsPerAllocationUnit"),
                   r.u32("BytesPerSector"))

    def encode(self, w: Writer) -> None:
        w.u64(self.total_units)
        w.u64(self.caller_available_units)
        w.u64(self.available_units)
        w.u32(self.sectors_per_unit)
        w.u32(self.bytes_per_sector)

    def size(self) -> int:
        return 32


@dataclass(frozen=True)
class RenameInformation:
    """[MS-RDPEFS 2.2.3.3.9.1] RDP_FILE_RENAME_INFORMATION."""

    target: str
    replace: bool = False

    @classmethod
    def decode(cls, r: Reader) -> RenameInformation:
        replace = bool(r.u8("ReplaceIfExists"))
        r.u8("RootDirectory")
        n = r.u32("FileNameLength")
        if n > MAX_PATH_BYTES:
            raise RemoteProtocolError(f"file name of {n} bytes is over {MAX_PATH_BYTES}")
        return cls(_read_utf16z(r, n, "FileName"), replace)

    def encode(self, w: Writer) -> None:
        name = utf16z(self.target)
        w.u8(int(self.replace))
        w.u8(0)
        w.u32(len(name))
        w.write(name)

    def size(self) -> int:
        return 6 + len(utf16z(self.target))


def info_bytes(info: BasicInformation | RenameInformation | StandardInformation | FullSizeInformation
               | DirectoryInformation) -> bytes:
    w = Writer()
    info.encode(w)
    return w.getvalue()


def end_of_file_bytes(size: int) -> bytes:
    """[MS-FSCC 2.4.13] FileEndOfFileInformation."""
    w = Writer()
    w.u64(size)
    return w.getvalue()


def disposition_bytes() -> bytes:
    """[MS-FSCC 2.4.11] FileDispositionInformation with DeletePending set."""
    return b"\x01"
