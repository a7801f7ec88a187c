"""[MS-RDPEFS] PDUs (rdpfront/rdpdr.py) and the "rdpdr" channel plug-in.

- one table both ways: the bytes decode to the PDU, the PDU encodes to the bytes;
- hypothesis round trips of every PDU and information class, and a fuzz run over every
  parser (random and mutated inputs raise only ``RemoteProtocolError``; whatever decodes
  encodes and decodes again to the same PDU);
- the channel against a scripted client: the handshake, devices other than file systems
  refused, bounded drives, completions that answer nothing or the wrong device.
"""

from __future__ import annotations

import functools
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdpfront import events, rdpdr
from rdpfront.channels.drives import MAX_DRIVES, DriveChannel
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

from .helpers import connected

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
names = st.text(max_size=20).filter(lambda t: "\x00" not in t and t.encode("utf-16-le", "surrogatepass")
                                    and not any(0xD800 <= ord(c) <= 0xDFFF for c in t))
dos_names = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=7)


def H(component: int, packet: int) -> bytes:
    return struct.pack("<HH", component, packet)


CORE = rdpdr.RDPDR_CTYP_CORE
P = rdpdr.PacketId
# (decoder, bytes, PDU): written from the spec's layouts, not from the encoder.
TABLE = [
    ("server", H(CORE, P.PAKID_CORE_SERVER_ANNOUNCE) + struct.pack("<HHI", 1, 12, 7), rdpdr.ServerAnnounce(1, 12, 7)),
    ("client", H(CORE, P.PAKID_CORE_CLIENTID_CONFIRM) + struct.pack("<HHI", 1, 12, 7),
     rdpdr.ClientAnnounceReply(1, 12, 7)),
    ("client", H(CORE, P.PAKID_CORE_CLIENT_NAME) + struct.pack("<III", 1, 0, 8) + "pcx".encode("utf-16-le") + b"\0\0",
     rdpdr.ClientName("pcx")),
    ("server", H(CORE, P.PAKID_CORE_USER_LOGGEDON), rdpdr.UserLoggedOn()),
    ("server", H(CORE, P.PAKID_CORE_DEVICE_REPLY) + struct.pack("<II", 3, 0xC00000BB),
     rdpdr.DeviceReply(3, 0xC00000BB)),
    ("client", H(CORE, P.PAKID_CORE_DEVICELIST_ANNOUNCE) + struct.pack("<III", 1, 8, 2) + b"SHARE\0\0\0"
     + struct.pack("<I", 6) + b"share\0", rdpdr.DeviceListAnnounce((rdpdr.DeviceAnnounce(8, 2, "SHARE", b"share\0"),))),
    ("client", H(CORE, P.PAKID_CORE_DEVICELIST_REMOVE) + struct.pack("<III", 2, 4, 5),
     rdpdr.DeviceListRemove((4, 5))),
    ("client", H(CORE, P.PAKID_CORE_CLIENT_CAPABILITY) + struct.pack("<HH", 1, 0) + struct.pack("<HHI", 4, 8, 2),
     rdpdr.ClientCapabilities((rdpdr.Capability(4, 2),))),
    ("client", H(CORE, P.PAKID_CORE_DEVICE_IOCOMPLETION) + struct.pack("<III", 2, 9, 0) + struct.pack("<IB", 5, 1),
     rdpdr.IoCompletion(2, 9, 0, struct.pack("<IB", 5, 1))),
    ("server", H(CORE, P.PAKID_CORE_DEVICE_IOREQUEST) + struct.pack("<IIIII", 2, 0, 9, 3, 0)
     + struct.pack("<IQ", 4096, 65536) + bytes(20), rdpdr.IoRequest(2, 0, 9, rdpdr.ReadRequest(4096, 65536))),
    ("server", H(CORE, P.PAKID_CORE_DEVICE_IOREQUEST) + struct.pack("<IIIII", 2, 0, 1, 0, 0)
     + struct.pack("<IQIIIII", 0x80000000, 0, 0, 7, 1, 0x40, 6) + "\\a".encode("utf-16-le") + b"\0\0",
     rdpdr.IoRequest(2, 0, 1, rdpdr.CreateRequest(0x80000000, 1, 0x40, "\\a", 0, 7, 0))),
    ("server", H(CORE, P.PAKID_CORE_DEVICE_IOREQUEST) + struct.pack("<IIIII", 2, 5, 1, 0x0C, 1)
     + struct.pack("<IBI", 1, 1, 6) + bytes(23) + "\\*".encode("utf-16-le") + b"\0\0",
     rdpdr.IoRequest(2, 5, 1, rdpdr.QueryDirectoryRequest(1, True, "\\*"))),
]


@pytest.mark.parametrize(("side", "data", "pdu"), TABLE, ids=[type(p).__name__ for _, _, p in TABLE])
def test_table_both_ways(side, data, pdu):
    decode = rdpdr.decode_server if side == "server" else rdpdr.decode_client
    assert decode(data) == pdu
    assert pdu.to_bytes() == data


def test_device_names_from_either_kind_of_client():
    assert rdpdr.DeviceAnnounce(8, 1, "SHARE", b"share\0").display_name == "share"  # FreeRDP: UTF-8
    assert rdpdr.DeviceAnnounce(8, 1, "C", "Données".encode("utf-16-le") + b"\0\0").display_name == "Données"
    assert rdpdr.DeviceAnnounce(8, 1, "C", b"").display_name == "C"
    assert rdpdr.DeviceAnnounce(8, 1, "C", b"\xff\xfe\x00").display_name == "C"  # not a name: the DOS name


def test_response_bodies_by_function():
    assert rdpdr.decode_response(rdpdr.MajorFunction.IRP_MJ_CREATE, struct.pack("<IB", 7, 2)) == \
        rdpdr.CreateResponse(7, 2)
    assert rdpdr.decode_response(rdpdr.MajorFunction.IRP_MJ_READ, struct.pack("<I", 3) + b"abc") == \
        rdpdr.LengthResponse(3, b"abc")
    assert rdpdr.decode_response(rdpdr.MajorFunction.IRP_MJ_WRITE, struct.pack("<IB", 3, 0)).length == 3
    assert rdpdr.decode_response(rdpdr.MajorFunction.IRP_MJ_CLOSE, bytes(5)) is None
    with pytest.raises(RemoteProtocolError):  # a read claiming more data than it carries
        rdpdr.decode_response(rdpdr.MajorFunction.IRP_MJ_READ, struct.pack("<I", 4) + b"abc")


def test_times():
    assert rdpdr.nt_time_to_ns(rdpdr.NT_EPOCH_OFFSET + 10) == 1000
    assert rdpdr.nt_time_to_ns(0) == 0  # before 1970: the epoch
    assert rdpdr.nt_time_to_ns(2**64 - 1) == rdpdr.MAX_NT_TIME
    assert rdpdr.ns_to_nt_time(1000) == rdpdr.NT_EPOCH_OFFSET + 10


# -- round trips ----------------------------------------------------------------------------

capabilities = st.builds(rdpdr.Capability, u16, u32, st.binary(max_size=40))
devices = st.builds(rdpdr.DeviceAnnounce, u32, u32, dos_names, st.binary(max_size=40))
io_bodies = st.one_of(
    st.builds(rdpdr.CreateRequest, u32, u32, u32, names, u32, u32, u64),
    st.just(rdpdr.CloseRequest()),
    st.builds(rdpdr.ReadRequest, u32, u64),
    st.builds(rdpdr.WriteRequest, u64, st.binary(max_size=64)),
    st.builds(rdpdr.QueryInformationRequest, u32, st.binary(max_size=40)),
    st.builds(rdpdr.SetInformationRequest, u32, st.binary(max_size=40)),
    st.builds(rdpdr.QueryVolumeRequest, u32, st.binary(max_size=40)),
    st.builds(rdpdr.QueryDirectoryRequest, u32, st.booleans(), names),
)
client_pdus = st.one_of(
    st.builds(rdpdr.ClientAnnounceReply, u16, u16, u32),
    st.builds(rdpdr.ClientName, names, st.just(True)),
    st.builds(rdpdr.ClientName, st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=15),
              st.just(False)),
    st.builds(rdpdr.ClientCapabilities, st.lists(capabilities, max_size=4).map(tuple)),
    st.builds(rdpdr.DeviceListAnnounce, st.lists(devices, max_size=4).map(tuple)),
    st.builds(rdpdr.DeviceListRemove, st.lists(u32, max_size=8).map(tuple)),
    st.builds(rdpdr.IoCompletion, u32, u32, u32, st.binary(max_size=40)),
)
server_pdus = st.one_of(
    st.builds(rdpdr.ServerAnnounce, u16, u16, u32),
    st.builds(rdpdr.ServerClientIdConfirm, u16, u16, u32),
    st.builds(rdpdr.ServerCapabilities, st.lists(capabilities, max_size=4).map(tuple)),
    st.just(rdpdr.UserLoggedOn()),
    st.builds(rdpdr.DeviceReply, u32, u32),
    st.builds(rdpdr.IoRequest, u32, u32, u32, io_bodies),
)
infos = st.one_of(
    st.builds(rdpdr.BasicInformation, u64, u64, u64, u64, u32),
    st.builds(rdpdr.StandardInformation, u64, u64, u32, st.booleans(), st.booleans()),
    st.builds(rdpdr.DirectoryInformation, names, u64, u32, u64, u64, u64, u64, u64),
    st.builds(rdpdr.FullSizeInformation, u64, u64, u64, u32, u32),
    st.builds(rdpdr.RenameInformation, names, st.booleans()),
)


@SETTINGS
@given(client_pdus)
def test_client_pdus_round_trip(pdu):
    assert rdpdr.decode_client(pdu.to_bytes()) == pdu


@SETTINGS
@given(server_pdus)
def test_server_pdus_round_trip(pdu):
    assert rdpdr.decode_server(pdu.to_bytes()) == pdu


@SETTINGS
@given(infos)
def test_information_classes_round_trip(info):
    w = Writer()
    info.encode(w)
    assert len(w) == info.size()
    r = Reader(w.getvalue())
    assert type(info).decode(r) == info
    r.expect_end(type(info).__name__)


@SETTINGS
@given(st.integers(0, 2**64 - 1))
def test_general_capability_round_trip(io_code1):
    general = rdpdr.GeneralCapability(io_code1=io_code1 & 0xFFFFFFFF, special_type_device_cap=3)
    cap = general.capability()
    assert rdpdr.GeneralCapability.from_capability(rdpdr.decode_client(
        rdpdr.ClientCapabilities((cap,)).to_bytes()).capabilities[0]) == general


# -- fuzz -----------------------------------------------------------------------------------

def _info_parser(cls):
    def parse(data: bytes):
        return cls.decode(Reader(data))
    return parse


PARSERS = {
    "client": rdpdr.decode_client,
    "server": rdpdr.decode_server,
    **{f"response-{m.name}": functools.partial(rdpdr.decode_response, m) for m in rdpdr.MajorFunction},
    **{f"info-{cls.__name__}": _info_parser(cls) for cls in (
        rdpdr.BasicInformation, rdpdr.StandardInformation, rdpdr.DirectoryInformation, rdpdr.FullSizeInformation,
        rdpdr.RenameInformation)},
}


def _reencode(parser: str, pdu) -> bytes | None:
    if isinstance(pdu, rdpdr.RdpdrPdu):
        return pdu.to_bytes()
    return None


def _check(parser: str, data: bytes) -> None:
    try:
        pdu = PARSERS[parser](data)
    except RemoteProtocolError:
        return
    try:
        again = _reencode(parser, pdu)
    except LocalProtocolError:
        return  # a decoded value the encoder cannot write back (a name too long for its field)
    if again is not None:
        assert PARSERS[parser](again) == pdu


@SETTINGS
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=200))
def test_random_bytes_raise_only_remote_errors(parser, data):
    _check(parser, data)


@SETTINGS
@given(client_pdus | server_pdus, st.data())
def test_mutated_pdus_raise_only_remote_errors(pdu, data):
    raw = bytearray(pdu.to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        if raw and data.draw(st.booleans()):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        else:
            raw = raw[:data.draw(st.integers(0, len(raw)))]
    for parser in ("client", "server"):
        _check(parser, bytes(raw))


def test_fuzz_run():
    """Seeded random and mutated inputs for every parser."""
    rng = random.Random(1)
    seeds = [pdu.to_bytes() for _, _, pdu in TABLE]
    for _ in range(3000):
        parser = rng.choice(sorted(PARSERS))
        if rng.random() < 0.5:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[:rng.randint(0, len(data))]
            data = bytes(data)
        else:
            data = rng.randbytes(rng.randint(0, 80))
        _check(parser, data)


# -- the channel against a scripted client -----------------------------------------------------


def _rdpdr_client():
    client = connected(channels=("rdpdr",))
    client.server.events()
    return client


def _received(client, cls):
    return [p for p in client.pump() if isinstance(p, cls)]


def _handshake(client) -> DriveChannel:
    client.pump()
    (announce,) = [p for p in client.received if isinstance(p, rdpdr.ServerAnnounce)]
    client.send_rdpdr(rdpdr.ClientAnnounceReply(1, 12, announce.client_id))
    client.send_rdpdr(rdpdr.ClientName("scripted"))
    got = client.pump()
    assert any(isinstance(p, rdpdr.ServerCapabilities) for p in got)
    assert rdpdr.ServerClientIdConfirm(1, 12, announce.client_id) in got
    caps = next(p for p in got if isinstance(p, rdpdr.ServerCapabilities))
    assert caps.find(rdpdr.CapabilityType.CAP_DRIVE_TYPE) is not None
    client.send_rdpdr(rdpdr.ClientCapabilities((rdpdr.GeneralCapability().capability(),
                                                rdpdr.Capability(rdpdr.CapabilityType.CAP_DRIVE_TYPE, 2))))
    assert _received(client, rdpdr.UserLoggedOn) == [rdpdr.UserLoggedOn()]
    channel = client.server.channel("rdpdr")
    assert isinstance(channel, DriveChannel) and channel.available
    return channel


def test_handshake_and_devices():
    client = _rdpdr_client()
    _handshake(client)
    client.send_rdpdr(rdpdr.DeviceListAnnounce((
        rdpdr.DeviceAnnounce(rdpdr.DeviceType.RDPDR_DTYP_FILESYSTEM, 1, "SHARE", b"share\0"),
        rdpdr.DeviceAnnounce(rdpdr.DeviceType.RDPDR_DTYP_PRINT, 2, "PRN1", b""),
        rdpdr.DeviceAnnounce(rdpdr.DeviceType.RDPDR_DTYP_SMARTCARD, 3, "SCARD", b""),
    )))
    replies = _received(client, rdpdr.DeviceReply)
    assert replies == [rdpdr.DeviceReply(1, rdpdr.NtStatus.STATUS_SUCCESS),
                       rdpdr.DeviceReply(2, rdpdr.NtStatus.STATUS_NOT_SUPPORTED),
                       rdpdr.DeviceReply(3, rdpdr.NtStatus.STATUS_NOT_SUPPORTED)]
    assert client.server.events() == [events.DriveAnnounced(1, "share")]
    client.send_rdpdr(rdpdr.DeviceListRemove((1, 99)))
    assert client.server.events() == [events.DriveRemoved(1)]


def test_drives_are_bounded_and_announced_once():
    client = _rdpdr_client()
    _handshake(client)
    fs = rdpdr.DeviceType.RDPDR_DTYP_FILESYSTEM
    client.send_rdpdr(rdpdr.DeviceListAnnounce(tuple(
        rdpdr.DeviceAnnounce(fs, i, f"D{i}", b"") for i in range(MAX_DRIVES + 2))))
    client.send_rdpdr(rdpdr.DeviceListAnnounce((rdpdr.DeviceAnnounce(fs, 0, "D0", b""),)))
    replies = _received(client, rdpdr.DeviceReply)
    ok = [r for r in replies if r.result == rdpdr.NtStatus.STATUS_SUCCESS]
    assert len(ok) == MAX_DRIVES and len(replies) == MAX_DRIVES + 3
    assert len(client.server.events()) == MAX_DRIVES
    assert not client.server.closed


def test_completions_that_answer_nothing_or_the_wrong_device():
    client = _rdpdr_client()
    channel = _handshake(client)
    fs = rdpdr.DeviceType.RDPDR_DTYP_FILESYSTEM
    client.send_rdpdr(rdpdr.DeviceListAnnounce((rdpdr.DeviceAnnounce(fs, 1, "A", b""),
                                                rdpdr.DeviceAnnounce(fs, 2, "B", b""))))
    client.pump()
    client.server.events()
    # Nothing outstanding: dropped, the connection goes on.
    client.send_rdpdr(rdpdr.IoCompletion(1, 77, 0, struct.pack("<IB", 5, 1)))
    assert client.server.events() == [] and not client.server.closed
    # The wrong device, an unreadable body, then a good one.
    first, data = channel.request(1, 0, rdpdr.ReadRequest(10, 0))
    second, _ = channel.request(1, 0, rdpdr.ReadRequest(10, 0))
    third, _ = channel.request(2, 0, rdpdr.CreateRequest(rdpdr.GENERIC_READ, 1, 0, "\\x"))
    client.send_rdpdr(rdpdr.IoCompletion(2, first, 0, struct.pack("<I", 1) + b"x"))
    client.send_rdpdr(rdpdr.IoCompletion(1, second, 0, struct.pack("<I", 100) + b"short"))
    client.send_rdpdr(rdpdr.IoCompletion(2, third, 0, struct.pack("<IB", 42, 1)))
    done = client.server.events()
    assert done == [events.DriveIoCompleted(first, rdpdr.NtStatus.STATUS_UNSUCCESSFUL),
                    events.DriveIoCompleted(second, rdpdr.NtStatus.STATUS_UNSUCCESSFUL),
                    events.DriveIoCompleted(third, 0, rdpdr.CreateResponse(42, 1))]
    assert done[2].response == rdpdr.CreateResponse(42, 1)
    # Requests only for a drive the client announced.
    with pytest.raises(LocalProtocolError):
        channel.request(9, 0, rdpdr.CloseRequest())


def test_malformed_message_closes_only_that_connection():
    client = _rdpdr_client()
    _handshake(client)
    other = _rdpdr_client()
    with pytest.raises(RemoteProtocolError):
        client.send_rdpdr(H(CORE, P.PAKID_CORE_DEVICELIST_ANNOUNCE) + struct.pack("<I", 100000))
    assert client.server.closed
    _handshake(other)
    assert not other.server.closed
