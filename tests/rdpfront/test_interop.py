"""Every legal encoding real clients use is accepted: BER INTEGERs and lengths of the MCS
Connect Initial as mstsc (MS-RDPBCGR 4.1.3), FreeRDP 2.11 and rdesktop 1.9 write them, GCC
client data blocks in any order, with optional ones absent and unknown ones skipped,
capability sets and PDU types the server does not know, and a real rdesktop connection
replayed. What is malformed is still refused, as the peer's fault."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import ber, cliprdr, events, mcs, per, x224
from rdpfront.acceptor import WaitCredentials
from rdpfront.connection import ServerConnection
from rdpfront.cursor import Reader, Writer, decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.gcc import (
    ChannelDef,
    ClientClusterData,
    ClientCoreData,
    ClientGccBlocks,
    ClientNetworkData,
    ClientSecurityData,
    ConferenceCreateRequest,
    DataBlockType,
    ServerCoreData,
    ServerGccBlocks,
    ServerNetworkData,
)
from rdpfront.input import ScancodeEvent
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.client_info import ClientInfo, InfoFlags
from rdpfront.rdp.headers import BasicSecurityHeader, SecurityFlags
from rdpfront.rdp.pdus import (
    ConfirmActive,
    Control,
    ControlAction,
    FontList,
    FontMap,
    RawControl,
    RawData,
    Rectangle16,
    RefreshRect,
    ShareControlPdu,
    ShareDataPdu,
    Synchronize,
)
from rdpfront.session import Active

from .helpers import CLIENT_CORE, MemoryClient, client_confirm_caps
from .vectors import load_frames, load_hex

H = bytes.fromhex


# ---- BER ([X.690]) ----------------------------------------------------------------------

@pytest.mark.parametrize(("data", "value"), [
    (H("020122"), 34),  # mstsc, FreeRDP: one octet
    (H("02020022"), 34),  # rdesktop: always two octets
    (H("0202ffff"), 65535),  # mstsc (4.1.3) maxMCSPDUsize: -1 in strict two's complement
    (H("020300ffff"), 65535),  # FreeRDP, IronRDP, Windows' own answer (4.1.4)
    (H("0202fc17"), 64535),  # mstsc maxUserIds
    (H("020300fc17"), 64535),
    (H("020204 20"), 1056),
    (H("0201ff"), 255),
    (H("020100"), 0),
    (H("02020000"), 0),
    (H("0204ffffffff"), 0xFFFFFFFF),
    (H("02080102030405060708"), 0x0102030405060708),
    (H("020900ffffffffffffffff"), 2**64 - 1),
    (H("02810100"), 0),  # a long-form length
])
def test_ber_integers_of_every_width_and_sign_convention(data: bytes, value: int) -> None:
    r = Reader(data)
    assert ber.read_integer(r) == value
    assert r.remaining() == 0


@pytest.mark.parametrize(("data", "error"), [
    (H("0200"), "0 octets"),
    (H("020a00000000000000000001"), "10 octets"),
    (H("02090100000000000000 00"), "wider than 64 bits"),
    (H("0202ff"), "truncated"),
    (H("030100"), "expected BER INTEGER"),
    (H("0280"), "indefinite"),
    (H("028500000000 01"), "5 octets"),
])
def test_ber_integers_that_are_malformed(data: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        ber.read_integer(Reader(data))


@pytest.mark.parametrize(("value", "data"), [
    (0, H("020100")), (0x7F, H("02017f")), (0x80, H("02020080")), (34, H("020122")),
    (0xFFFF, H("020300ffff")), (0xFFF8, H("020300fff8")), (2**64 - 1, H("020900ffffffffffffffff")),
])
def test_ber_integers_are_written_as_der(value: int, data: bytes) -> None:
    w = Writer()
    ber.write_integer(w, value)
    assert w.getvalue() == data
    assert ber.integer_size(value) == len(data)


@pytest.mark.parametrize("value", [-1, 2**64])
def test_ber_integer_out_of_range_is_our_error(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        ber.write_integer(Writer(), value)


@pytest.mark.parametrize(("data", "length"), [
    (H("05"), 5), (H("7f"), 127), (H("8105"), 5), (H("8180"), 128), (H("820005"), 5), (H("820100"), 256),
    (H("8300000a"), 10), (H("84000000ff"), 255),
])
def test_ber_lengths_short_long_and_non_minimal(data: bytes, length: int) -> None:
    assert ber.read_length(Reader(data)) == length


@given(value=st.integers(0, 2**64 - 1), pad=st.integers(0, 8))
def test_ber_integer_round_trip_with_any_leading_zeros(value: int, pad: int) -> None:
    w = Writer()
    ber.write_integer(w, value)
    der = w.getvalue()
    assert ber.read_integer(Reader(der)) == value
    content = der[2:]
    padded = bytes(pad) + content
    if len(padded) <= ber.MAX_INTEGER_OCTETS:
        assert ber.read_integer(Reader(bytes((0x02, len(padded))) + padded)) == value


@given(value=st.integers(0, 2**64 - 1))
def test_ber_integer_content_read_as_unsigned(value: int) -> None:
    """Whatever octets a client sends, the INTEGER is their unsigned value: no negative ever."""
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    assert ber.read_integer(Reader(bytes((0x02, len(raw))) + raw)) == value


@given(length=st.integers(0, 2**32 - 1), extra=st.integers(0, 3))
def test_ber_length_round_trip_in_any_long_form(length: int, extra: int) -> None:
    octets = max(1, (length.bit_length() + 7) // 8) + extra
    if octets > ber.MAX_LENGTH_OCTETS:
        return
    assert ber.read_length(Reader(bytes((0x80 | octets,)) + length.to_bytes(octets, "big"))) == length


@given(data=st.binary(max_size=16))
def test_ber_any_bytes_read_or_are_the_peers_fault(data: bytes) -> None:
    for read in (ber.read_integer, ber.read_length):
        try:
            value = read(Reader(data))
        except RemoteProtocolError:
            continue
        assert 0 <= value < 2**64


# ---- the MCS Connect Initial of three clients ----------------------------------------

def _connect_initial(frame: bytes) -> tuple[mcs.ConnectInitial, ClientGccBlocks, bytes]:
    ci = decode(mcs.ConnectInitial, x224.data_payload(frame))
    client_data = decode(ConferenceCreateRequest, ci.user_data).user_data
    return ci, ClientGccBlocks.decode_bytes(client_data), client_data


def _rdesktop_frames() -> list[bytes]:
    return load_frames("rdesktop-1.9/connection.hex")


MSTSC_MAXIMUM = mcs.DomainParameters(65535, 64535, 65535, 1, 0, 1, 65535, 2)


@pytest.mark.parametrize("frame", [
    load_hex("spec/4.1.3-mcs-connect-initial.hex"),
    load_hex("freerdp-2.11/02-mcs-connect-initial.hex"),
    _rdesktop_frames()[1],
], ids=["mstsc-4.1.3", "freerdp-2.11", "rdesktop-1.9"])
def test_connect_initial_of_every_client(frame: bytes) -> None:
    ci, blocks, client_data = _connect_initial(frame)
    assert ci.target == mcs.DomainParameters()  # 34 channels, 2 users, ..., 65535, version 2
    assert ci.minimum == mcs.DomainParameters(1, 1, 1, 1, 0, 1, 1056, 2)
    assert ci.maximum == MSTSC_MAXIMUM
    assert encode(blocks) == client_data  # the blocks in the client's order
    again = decode(mcs.ConnectInitial, encode(ci))  # written back as DER, same meaning
    assert again == ci


def test_mstsc_blocks_come_core_cluster_security_network() -> None:
    _, blocks, _ = _connect_initial(load_hex("spec/4.1.3-mcs-connect-initial.hex"))
    assert blocks.order == (DataBlockType.CS_CORE, DataBlockType.CS_CLUSTER, DataBlockType.CS_SECURITY,
                            DataBlockType.CS_NET)
    assert (blocks.core.client_name, blocks.core.desktop_width, blocks.core.bpp) == ("ELTONS-DEV2", 1280, 24)
    assert [c.name for c in blocks.network.channels] == ["rdpdr", "cliprdr", "rdpsnd"]
    assert blocks.security == ClientSecurityData(0x1B, 0)


def test_connect_initial_with_long_form_lengths_and_padded_integers() -> None:
    """The same PDU written as loosely as BER allows: every length in the long form with an
    extra octet, every INTEGER with a leading 0x00."""
    ci, _, _ = _connect_initial(load_hex("spec/4.1.3-mcs-connect-initial.hex"))

    def loose_params(p: mcs.DomainParameters) -> bytes:
        body = b"".join(b"\x02\x83\x00\x00\x05" + v.to_bytes(5, "big") for v in p._values())
        return b"\x30\x82" + len(body).to_bytes(2, "big") + body

    body = (b"\x04\x81\x01\x01" + b"\x04\x81\x01\x01" + b"\x01\x81\x01\xff" + loose_params(ci.target)
            + loose_params(ci.minimum) + loose_params(ci.maximum)
            + b"\x04\x84" + len(ci.user_data).to_bytes(4, "big") + ci.user_data)
    loose = b"\x7f\x65\x84" + len(body).to_bytes(4, "big") + body
    assert decode(mcs.ConnectInitial, loose) == ci


# ---- PER ([X.691]) ------------------------------------------------------------------

def test_rdesktop_erect_domain_request() -> None:
    """rdesktop writes subHeight and subInterval as bare u16s: a length-0 integer (0), a
    one-octet integer (0) and a byte the server never reads; both fields are ignored."""
    frame = _rdesktop_frames()[2]
    assert x224.data_payload(frame) == H("0400010001")
    assert isinstance(mcs.decode_domain_pdu(Reader(x224.data_payload(frame))), mcs.ErectDomainRequest)
    assert per.read_integer(Reader(H("00"))) == 0


# ---- a real rdesktop 1.9 connection, replayed ----------------------------------------

def test_rdesktop_connection_replayed_reaches_active_and_types() -> None:
    frames = _rdesktop_frames()
    server = ServerConnection()
    out = []
    for i, frame in enumerate(frames):
        server.receive_data(frame)
        if i == 0:
            assert server.reached_security_upgrade()
            server.security_upgrade_done()
        if isinstance(server.state, WaitCredentials):
            server.accept_credentials()
        out.append(server.data_to_send())
    assert isinstance(server.state, Active)
    attach = mcs.decode_domain_pdu(Reader(x224.data_payload(out[3])))
    assert attach == mcs.AttachUserConfirm(1009)  # after the five static channels 1004..1008
    joined = [mcs.decode_domain_pdu(Reader(x224.data_payload(o))) for o in out[4:11]]
    assert [j.result for j in joined] == [0] * 7
    evs = server.events()
    creds = next(e for e in evs if isinstance(e, events.Credentials))
    assert (creds.username, creds.desktop_width, creds.desktop_height) == ("alice", 800, 600)
    assert next(e for e in evs if isinstance(e, events.Activated)).bpp == 24
    keys = [e for e in evs if isinstance(e, events.KeyboardEvent)]
    assert [(k.scancode, k.down) for k in keys] == [(0x1E, True), (0x1E, False), (0x30, True), (0x30, False)]
    assert events.MouseEvent(300, 300) in evs
    assert server.session.accepted.channels == {1004: "cliprdr", 1005: "rdpsnd", 1006: "snddbg", 1007: "rdpdr",
                                                1008: "drdynvc"}


# ---- GCC client data blocks ---------------------------------------------------------

def _blocks(*pairs: tuple[int, bytes]) -> bytes:
    return b"".join(kind.to_bytes(2, "little") + (4 + len(body)).to_bytes(2, "little") + body for kind, body in pairs)


CORE = (DataBlockType.CS_CORE, encode(CLIENT_CORE))
SECURITY = (DataBlockType.CS_SECURITY, encode(ClientSecurityData()))
NETWORK = (DataBlockType.CS_NET, encode(ClientNetworkData((ChannelDef("cliprdr", 0xC0000000),))))
CLUSTER = (DataBlockType.CS_CLUSTER, encode(ClientClusterData(0xD)))
UNKNOWN = (0xC0FF, b"future")


@pytest.mark.parametrize("pairs", [
    (CORE, SECURITY, NETWORK),
    (NETWORK, SECURITY, CORE),
    (CLUSTER, NETWORK, CORE, SECURITY),
    (UNKNOWN, CORE, (DataBlockType.CS_MULTITRANSPORT, H("00000000")), NETWORK),
], ids=["usual", "reversed", "cluster-first", "unknown-blocks"])
def test_client_blocks_in_any_order_are_accepted(pairs, caplog) -> None:
    data = _blocks(*pairs)
    blocks = ClientGccBlocks.decode_bytes(data)
    assert blocks.core == CLIENT_CORE
    assert encode(blocks) == data
    client = MemoryClient()
    with caplog.at_level(logging.INFO, logger="rdpfront.acceptor"):
        client.connect(channels=("cliprdr",), client_data=data)
    assert isinstance(client.server.state, Active)
    assert client.channel_ids == {"cliprdr": 1004}
    assert ("client data block 0xc0ff (6 bytes) not used: skipped" in caplog.text) == (UNKNOWN in pairs)


def test_only_the_core_block_is_required() -> None:
    client = MemoryClient()
    client.connect(channels=(), client_data=_blocks(CORE))
    assert isinstance(client.server.state, Active)
    assert client.user_id == 1004  # no static channels: the user channel follows the I/O channel


@pytest.mark.parametrize(("pairs", "error"), [
    ((CORE, SECURITY, CORE), "CS_CORE sent twice"),
    ((CORE, UNKNOWN, UNKNOWN), "0xc0ff sent twice"),
    ((SECURITY, NETWORK), "no core data block"),
    ((CORE, (DataBlockType.CS_SECURITY, b"\x00\x00")), "truncated"),
])
def test_client_blocks_that_are_refused(pairs, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        ClientGccBlocks.decode_bytes(_blocks(*pairs))
    client = MemoryClient()
    with pytest.raises(RemoteProtocolError, match=error):
        client.connect(channels=(), client_data=_blocks(*pairs))


def test_a_block_length_past_the_data_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        ClientGccBlocks.decode_bytes(_blocks(CORE) + H("02c0ff00") + bytes(8))
    with pytest.raises(RemoteProtocolError, match="length 2 < 4"):
        ClientGccBlocks.decode_bytes(_blocks(CORE) + H("02c00200"))


# ---- client core data: optional fields and early capability flags ---------------------

def test_core_data_cut_inside_an_optional_field_keeps_the_whole_ones() -> None:
    full = encode(CLIENT_CORE)
    cut = full[:128 + 2 + 2 + 4 + 2 + 2 + 2 + 1]  # one byte into clientDigProductId
    core = decode(ClientCoreData, cut)
    assert core.early_capability_flags == CLIENT_CORE.early_capability_flags
    assert core.client_dig_product_id is None
    assert decode(ClientCoreData, full[:128]).post_beta2_color_depth is None


def test_unknown_early_capability_flags_are_kept_and_errinfo_is_honoured() -> None:
    flags = 0xF001  # RNS_UD_CS_SUPPORT_ERRINFO_PDU and bits no revision defines yet
    core = decode(ClientCoreData, encode(ClientCoreData(
        post_beta2_color_depth=0xCA01, client_product_id=1, serial_number=0, high_color_depth=16,
        supported_color_depths=0x2, early_capability_flags=flags)))
    assert core.early_capability_flags == flags and core.bpp == 16
    client = MemoryClient()
    client.connect(accept=False, early_flags=flags)
    client.server.reject_credentials()
    client.pump()
    assert any(type(p).__name__ == "SetErrorInfo" for p in client.received)


@pytest.mark.parametrize(("core", "bpp"), [
    (ClientCoreData(color_depth=0xCA03), 16),
    (ClientCoreData(color_depth=0xCA01, post_beta2_color_depth=0xCA04), 24),
    (ClientCoreData(post_beta2_color_depth=0xCA02, client_product_id=1, serial_number=0, high_color_depth=15), 15),
    (ClientCoreData(post_beta2_color_depth=0xCA01, client_product_id=1, serial_number=0, high_color_depth=24,
                    supported_color_depths=0x8, early_capability_flags=0x2), 32),
    (ClientCoreData(post_beta2_color_depth=0xCA01, client_product_id=1, serial_number=0, high_color_depth=24,
                    supported_color_depths=0x1, early_capability_flags=0x2), 24),  # wants 32, cannot
    (ClientCoreData(color_depth=0x1234), 8),
])
def test_colour_depth_as_the_three_fields_rank(core: ClientCoreData, bpp: int) -> None:
    assert core.bpp == bpp


# ---- capability sets ------------------------------------------------------------------

def _confirm(*extra: caps.Capability) -> tuple[caps.Capability, ...]:
    return (*client_confirm_caps(), *extra)


def test_unknown_and_malformed_capability_sets_are_ignored_with_a_log_line(caplog) -> None:
    client = MemoryClient()
    client.connect(accept=False)
    client._accept_credentials()
    confirm = tuple(c for c in client_confirm_caps() if not isinstance(c, caps.InputCapability))
    with caplog.at_level(logging.INFO, logger="rdpfront.acceptor"):
        client.finish(capabilities=(*confirm, caps.RawCapability(0x99, b"\x01\x02\x03"),
                                    caps.RawCapability(caps.CapabilityType.INPUT, b"\x01\x00")))
    assert isinstance(client.server.state, Active)
    assert "capability set of unknown type 153 (3 bytes): ignored" in caplog.text
    assert "capability set INPUT malformed (2 bytes): ignored" in caplog.text


def test_a_malformed_general_capability_set_refuses_the_client() -> None:
    client = MemoryClient()
    client.connect(accept=False)
    client._accept_credentials()
    confirm = tuple(c for c in client_confirm_caps() if not isinstance(c, caps.GeneralCapability))
    with pytest.raises(RemoteProtocolError, match="lacks the General"):
        client.finish(capabilities=(*confirm, caps.RawCapability(caps.CapabilityType.GENERAL, b"\x01")))


@pytest.mark.parametrize(("data", "expected"), [
    (H("0d00 0600 0100"), caps.RawCapability(caps.CapabilityType.INPUT, H("0100"))),  # short
    (H("0e00 0a00 0100 0000 ffff"), caps.FontCapability(1)),  # padded
    (H("9900 0500 07"), caps.RawCapability(0x99, H("07"))),  # unknown, odd length
    (H("1c00 0800 5200 0000"), caps.RawCapability(caps.CapabilityType.SURFACE_COMMANDS, H("52000000"))),
])
def test_capability_set_lengths_bound_each_set(data: bytes, expected: caps.Capability) -> None:
    r = Reader(data + H("abcd"))
    assert caps.decode_capability(r) == expected
    assert r.remaining() == 2  # the next set starts where the length says


@pytest.mark.parametrize(("data", "error"), [(H("0d00 0200"), "length 2 < 4"), (H("0d00 5800 00"), "truncated")])
def test_capability_set_lengths_that_are_refused(data: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        caps.decode_capability(Reader(data))


# ---- PDU types the server does not know --------------------------------------------------

def test_unknown_share_data_and_control_pdu_types_are_ignored_with_a_log_line(caplog) -> None:
    client = MemoryClient()
    client.connect()
    client.server.events()
    with caplog.at_level(logging.INFO, logger="rdpfront.session"):
        client.send_share_data(RawData(0x7F, b"new"))
        client.send_io(encode(ShareControlPdu(client.user_id, RawControl(0xB, b"??"))))
        client.send_input(ScancodeEvent(0x1E))
    assert isinstance(client.server.state, Active)
    assert "share data PDU of unknown type 127 (3 bytes) ignored" in caplog.text
    assert "share control PDU of type 11 (2 bytes) ignored" in caplog.text
    assert client.server.events() == [events.KeyboardEvent(0x1E, False, True)]


def test_unknown_share_control_pdu_during_the_sequence_is_ignored(caplog) -> None:
    client = MemoryClient()
    client.connect(accept=False)
    client._accept_credentials()
    client.pump()
    with caplog.at_level(logging.INFO, logger="rdpfront.acceptor"):
        client.send_io(encode(ShareControlPdu(client.user_id, RawControl(0xC, b""))))
    client.finish(demand=client.received[-1])
    assert isinstance(client.server.state, Active)
    assert "share control PDU of type 12 (0 bytes) ignored" in caplog.text


# ---- the clipboard of a client that sends no capabilities -------------------------------

def test_clipboard_short_format_names_and_no_request_storm() -> None:
    """rdesktop 1.9: no Clipboard Capabilities, short format names, and after an empty
    answer the same Format List again. The repeat is acknowledged, not asked for again."""
    client = MemoryClient()
    client._clip_caps_sent = True  # this client never sends them
    client.connect()
    server = client.server
    server.events()
    offer = cliprdr.FormatList((cliprdr.Format(cliprdr.CF_UNICODETEXT),), long_names=False)
    client.send_clipboard(offer)
    assert server.events() == [events.ClipboardOffer(True, (cliprdr.CF_UNICODETEXT,))]
    client.pump(server.clipboard_request_text())
    client.send_clipboard(cliprdr.FormatDataResponse(b"", ok=True))
    assert server.events() == [events.ClipboardText("")]
    client.send_clipboard(offer)
    assert server.events() == []  # the echo of the empty answer
    client.send_clipboard(offer)
    assert server.events() == [events.ClipboardOffer(True, (cliprdr.CF_UNICODETEXT,))]  # a new copy


# ---- what aardwolf (PyPI) needs ----------------------------------------------------------

def test_share_pdu_whose_total_length_overstates_is_read_to_the_end_of_its_mcs_pdu() -> None:
    """aardwolf's totalLength of a share data PDU counts 6 bytes that are not there; the MCS
    PDU bounds it, as Windows reads it."""
    client = MemoryClient()
    client.connect()
    pdu = bytearray(encode(ShareControlPdu(client.user_id, ShareDataPdu(0x103EA, RefreshRect(
        (Rectangle16(0, 0, 99, 99),))))))
    pdu[0:2] = (len(pdu) + 6).to_bytes(2, "little")
    decoded = ShareControlPdu.decode(Reader(bytes(pdu)))
    assert decoded.body.body == RefreshRect((Rectangle16(0, 0, 99, 99),))
    client.server.events()
    client.send_io(bytes(pdu))
    assert client.server.events() == [events.RefreshRect((Rectangle16(0, 0, 99, 99),))]


def test_server_synchronize_and_cooperate_follow_the_confirm_active() -> None:
    """[2.2.1.19-20]: aardwolf sends its Synchronize only once the server's has come."""
    client = MemoryClient()
    client.connect(accept=False)
    client._accept_credentials()
    demand = client.pump()[-1]
    client.send_io(encode(ShareControlPdu(client.user_id, ConfirmActive(demand.share_id, client_confirm_caps()))))
    assert client.pump() == [Synchronize(client.user_id), Control(ControlAction.COOPERATE)]
    client.send_share_data(Synchronize(1002))
    client.send_share_data(Control(ControlAction.COOPERATE))
    assert client.pump() == []
    client.send_share_data(Control(ControlAction.REQUEST_CONTROL))
    assert client.pump() == [Control(ControlAction.GRANTED_CONTROL, client.user_id, 1002)]
    client.send_share_data(FontList())
    assert isinstance(client.pump()[0], FontMap)
    assert isinstance(client.server.state, Active)


def test_client_info_before_every_channel_is_joined_ends_the_joins(caplog) -> None:
    """aardwolf joins its static channels and the I/O channel, never its user channel."""
    client = MemoryClient()
    client.send(encode(x224.ConnectionRequest(b"Cookie: mstshash=alice", x224.NegotiationRequest(
        x224.SecurityProtocol.SSL))))
    client.pump()
    client.server.security_upgrade_done()
    client_data = _blocks(CORE, SECURITY, NETWORK)
    client.send(x224.data_frame(encode(mcs.ConnectInitial(encode(ConferenceCreateRequest(client_data))))))
    client.pump()
    client.send_mcs(mcs.ErectDomainRequest())
    client.send_mcs(mcs.AttachUserRequest())
    (attach,) = client.pump()
    client.user_id = attach.initiator
    client.send_mcs(mcs.ChannelJoinRequest(client.user_id, 1003))
    client.pump()
    with caplog.at_level(logging.INFO, logger="rdpfront.acceptor"):
        client.send_io(encode(BasicSecurityHeader(SecurityFlags.SEC_INFO_PKT)) + encode(ClientInfo(
            InfoFlags.INFO_UNICODE | InfoFlags.INFO_AUTOLOGON, "", "alice", "secret", code_page=0)))
    assert isinstance(client.server.state, WaitCredentials)
    assert "Client Info before joining channel(s) 1004, 1005; going on without them" in caplog.text
    client._accept_credentials()
    client.finish()
    assert isinstance(client.server.state, Active)
    assert client.server.session.accepted.joined == frozenset({1003})


def test_server_data_blocks_come_in_the_specs_order() -> None:
    """[2.2.1.4]: core, network, security, as Windows and FreeRDP send them; aardwolf loses
    any block after the security block."""
    data = encode(ServerGccBlocks(ServerCoreData(0x80004, 1, 0), ServerNetworkData(1003, (1004,))))
    kinds = [int.from_bytes(data[i:i + 2], "little") for i in (0, 16, 28)]
    assert kinds == [DataBlockType.SC_CORE, DataBlockType.SC_NET, DataBlockType.SC_SECURITY]


def test_clipboard_failed_answer_then_the_same_formats_are_asked_for_again() -> None:
    """FreeRDP fails a request it cannot serve yet and announces again when it can."""
    client = MemoryClient()
    client.connect()
    server = client.server
    server.events()
    offer = cliprdr.FormatList((cliprdr.Format(cliprdr.CF_UNICODETEXT),))
    client.send_clipboard(offer)
    client.pump(server.clipboard_request_text())
    client.send_clipboard(cliprdr.FormatDataResponse(b"", ok=False))
    assert server.events() == [events.ClipboardOffer(True, (13,)), events.ClipboardText(None)]
    client.send_clipboard(offer)
    assert server.events() == [events.ClipboardOffer(True, (13,))]
