"""One table drives both directions (h11 ``test_io.py``, IronRDP ``encode_decode_test!``):
decoding the bytes gives the PDU, encoding the PDU gives the bytes."""

from __future__ import annotations

import pytest

from rdpfront import cliprdr, disp, dvc, gfx, mcs, x224
from rdpfront.bitmap import BitmapData
from rdpfront.cursor import Reader, decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import FastPathOutput, FastPathUpdate, Fragmentation, Reassembler, UpdateCode, fragment_update
from rdpfront.gcc import (
    ChannelDef,
    ClientMonitorData,
    ClientMonitorExtendedData,
    ClientNetworkData,
    Monitor,
    MonitorAttributes,
    ServerCoreData,
    ServerGccBlocks,
    ServerNetworkData,
)
from rdpfront.input import (
    FastPathInput,
    InputPdu,
    PointerEvent,
    ScancodeEvent,
    SyncEvent,
    UnicodeKeyEvent,
)
from rdpfront.monitors import MonitorLayoutPdu
from rdpfront.orders import OrdersUpdate, PrimaryOrder, ScrBlt
from rdpfront.pointer import ColorPointer, LargePointer, pointer_from_rgba
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.licensing import LicenseErrorMessage
from rdpfront.rdp.pdus import (
    Control,
    ControlAction,
    FontMap,
    Rectangle16,
    RefreshRect,
    SaveSessionInfo,
    SetErrorInfo,
    ShareControlPdu,
    ShareDataPdu,
    SuppressOutput,
    Synchronize,
)
from rdpfront.svc import ChannelFlags, ChannelPdu, ChannelReassembler, chunk_message
from rdpfront.tpkt import Action, Framer

from .codecs_table import PARSERS
from .vectors import load_hex

H = bytes.fromhex

# (parser, bytes, PDU): decode(bytes) == PDU and encode(PDU) == bytes.
TABLE = [
    ("x224.connection_request", load_hex("spec/4.1.1-x224-connection-request.hex"),
     x224.ConnectionRequest(b"Cookie: mstshash=eltons", x224.NegotiationRequest(x224.SecurityProtocol.RDP))),
    ("x224.connection_request", H("030000130ee00000000000010008000b000000"),
     x224.ConnectionRequest(None, x224.NegotiationRequest(x224.SecurityProtocol(0xB)))),
    ("x224.connection_confirm", load_hex("spec/4.1.2-x224-connection-confirm.hex"),
     x224.ConnectionConfirm(x224.NegotiationResponse(x224.SecurityProtocol.RDP))),
    ("x224.connection_confirm", H("030000130ed000001234000300080001000000"),
     x224.ConnectionConfirm(x224.NegotiationFailure(x224.FailureCode.SSL_REQUIRED_BY_SERVER))),
    ("x224.connection_confirm", H("030000130ed00000123400020f080001000000"),
     x224.ConnectionConfirm(x224.NegotiationResponse(x224.SecurityProtocol.SSL, x224.NegResponseFlags(0xF)))),
    ("mcs.domain_pdu", load_hex("spec/4.1.5-mcs-erect-domain-request.hex")[7:], mcs.ErectDomainRequest(0, 0)),
    ("mcs.domain_pdu", load_hex("spec/4.1.6-mcs-attach-user-request.hex")[7:], mcs.AttachUserRequest()),
    ("mcs.domain_pdu", load_hex("spec/4.1.7-mcs-attach-user-confirm.hex")[7:], mcs.AttachUserConfirm(1007)),
    ("mcs.domain_pdu", load_hex("spec/4.1.8.1.1-mcs-channel-join-request-1007.hex")[7:],
     mcs.ChannelJoinRequest(1007, 1007)),
    ("mcs.domain_pdu", load_hex("spec/4.1.8.5.2-mcs-channel-join-confirm-1006.hex")[7:],
     mcs.ChannelJoinConfirm(1007, 1006, 1006)),
    ("mcs.domain_pdu", H("2180"), mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.USER_REQUESTED)),
    ("mcs.domain_pdu", H("2080"), mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.PROVIDER_INITIATED)),
    ("mcs.domain_pdu", H("68000103eb7003616263"), mcs.SendDataIndication(1002, 1003, b"abc")),
    ("mcs.domain_pdu", H("64000603eb7003616263"), mcs.SendDataRequest(1007, 1003, b"abc")),
    ("licensing.error", load_hex("spec/2.2.1.12-license-valid-client.hex"), LicenseErrorMessage()),
    ("gcc.server_blocks", H("010c1000" "04000800" "03000000" "01000000" "030c0800" "eb030000"
                            "020c0c00" "00000000" "00000000"),
     ServerGccBlocks(ServerCoreData(0x80004, 3, 1), ServerNetworkData(1003, ()))),
    ("gcc.server_blocks", H("010c0800" "04000800" "030c0c00" "eb030100ec030000" "020c0c00" "00000000" "00000000"),
     ServerGccBlocks(ServerCoreData(0x80004), ServerNetworkData(1003, (1004,)))),
    ("gcc.client_network", H("01000000" "636c697072647200" "000000c0"),
     ClientNetworkData((ChannelDef("cliprdr", 0xC0000000),))),
    ("fastpath_input", H("0404001e"), FastPathInput((ScancodeEvent(0x1E),))),
    ("fastpath_input", H("04040348"), FastPathInput((ScancodeEvent(0x48, extended=True, release=True),))),
    ("fastpath_input", H("0405803a26"), FastPathInput((UnicodeKeyEvent(0x263A),))),
    ("fastpath_input", H("0409" "20" "0008" "0201" "9001"),
     FastPathInput((PointerEvent(0x0800, 0x0102, 0x0190),))),
    ("fastpath_input", H("040366"), FastPathInput((SyncEvent(0x6),))),
    ("slow_path_input", H("0100000000000000040000001e000000"), InputPdu(((0, ScancodeEvent(0x1E)),))),
    ("slow_path_input", H("01000000" "07000000" "0000" "0000" "04000000"), InputPdu(((7, SyncEvent(4)),))),
    ("fastpath_output", H("00800a0804000a001400"),
     FastPathOutput((FastPathUpdate(UpdateCode.PTR_POSITION, H("0a001400")),))),
    ("fastpath_update", H("210300616263"), FastPathUpdate(UpdateCode.BITMAP, b"abc", Fragmentation.FIRST)),
    # [MS-RDPEGDI 2.2.2.2.1.1.2.7] a ScrBlt (type named, left unchanged from 0, the rest as
    # one-byte deltas) and the same ScrBlt again (no field byte)
    ("orders_update", H("0200" "19025e104020cc20" "41"),
     OrdersUpdate((PrimaryOrder(ScrBlt(0, 16, 64, 32, 0xCC, 0, 32)),) * 2)),
    ("share_data_pdu", H("ea030100000108001f0000000100ea03"), ShareDataPdu(0x103EA, Synchronize(0x3EA))),
    ("share_data_pdu", H("ea0301000001" "0c00" "14000000" "0400000000000000"),
     ShareDataPdu(0x103EA, Control(ControlAction.COOPERATE))),
    ("share_data_pdu", H("ea0301000001" "0c00" "28000000" "0000000003000400"), ShareDataPdu(0x103EA, FontMap())),
    ("share_data_pdu", H("ea0301000001" "1000" "21000000" "01000000000000001f035702"),
     ShareDataPdu(0x103EA, RefreshRect((Rectangle16(0, 0, 799, 599),)))),
    ("share_data_pdu", H("ea0301000001" "0800" "23000000" "00000000"), ShareDataPdu(0x103EA, SuppressOutput(False))),
    ("share_data_pdu", H("ea0301000001" "0800" "2f000000" "07000000"), ShareDataPdu(0x103EA, SetErrorInfo(7))),
    ("share_control_pdu", H("1600" "1700" "ea03" "ea030100000108001f0000000100ef03"),
     ShareControlPdu(0x3EA, ShareDataPdu(0x103EA, Synchronize(1007)))),
    ("capability_set", H("1a000800" "00003f00"), caps.MultifragmentUpdateCapability(0x3F0000)),
    ("capability_set", H("1b000600" "0300"), caps.LargePointerCapability(3)),
    ("capability_set", H("08000a00" "01001900" "1900"), caps.PointerCapability(25, 25)),
    ("capability_set", H("14000c00" "00000000" "40060000"), caps.VirtualChannelCapability(0, 1600)),
    ("capability_set", H("01001800" "01000300" "0002" "0000" "0000" "0504" "0000" "0000" "0000" "01" "01"),
     caps.GeneralCapability(1, 3, 0x405, True, True)),
    ("capability_set", H("0c000800" "01000000"), caps.RawCapability(12, H("01000000"))),
    ("svc.channel_pdu", H("05000000130000006865 6c6c6f".replace(" ", "")),
     ChannelPdu(5, ChannelFlags.FIRST | ChannelFlags.LAST | ChannelFlags.SHOW_PROTOCOL, b"hello")),
    ("cliprdr", H("0100000000000000"), cliprdr.MonitorReady()),
    ("cliprdr", H("0300010000000000"), cliprdr.FormatListResponse(True)),
    ("cliprdr", H("04000000040000000d000000"), cliprdr.FormatDataRequest(13)),
    ("cliprdr", H("070000001000000001000000" "01000c00" "02000000" "02000000"), cliprdr.ClipCaps()),
    ("cliprdr", H("02000000" "06000000" "0d000000" "0000"), cliprdr.FormatList((cliprdr.Format(13, ""),))),
    ("cliprdr", H("05000100" "06000000" "68006900" "0000"), cliprdr.FormatDataResponse(H("680069000000"))),
    # [2.2.5.3] File Contents Request: stream 7, file 2, FILECONTENTS_SIZE; then a range of
    # 0x10000 bytes at 0x1_0000_0010 with a clipDataId
    ("cliprdr", H("08000000" "18000000" "07000000" "02000000" "01000000" "00000000" "00000000" "08000000"),
     cliprdr.FileContentsRequest(7, 2, cliprdr.FILECONTENTS_SIZE, 0, 8)),
    ("cliprdr", H("08000000" "1c000000" "07000000" "02000000" "02000000" "10000000" "01000000" "00000100"
                  "2a000000"),
     cliprdr.FileContentsRequest(7, 2, cliprdr.FILECONTENTS_RANGE, 0x100000010, 0x10000, 42)),
    # [2.2.5.4] File Contents Response: a size of 0x1_0000_0002, and a failure
    ("cliprdr", H("09000100" "0c000000" "07000000" "0200000001000000"),
     cliprdr.FileContentsResponse.of_size(7, 0x100000002)),
    ("cliprdr", H("09000200" "04000000" "07000000"), cliprdr.FileContentsResponse(7, b"", ok=False)),
    # [2.2.5.2.3] a file list of one file, "a.txt" of 0x1_0000_0005 bytes
    ("cliprdr.file_list", H("01000000" "44000000") + bytes(32) + H("80000000") + bytes(16)
     + H("0000000000000000" "01000000" "05000000") + "a.txt".encode("utf-16-le") + bytes(510),
     cliprdr.FileList((cliprdr.FileDescriptor("a.txt", 0x100000005, 0x44, 0x80, 0),))),
    ("bitmap_data", H("0000 0000 0000 0000 0100 0100 2000 0000 0400 01020304".replace(" ", "")),
     BitmapData(0, 0, 0, 0, 1, 1, 32, H("01020304"))),
    # [MS-RDPBCGR 2.2.1.3.6] two monitors: one 1024x768 left of the primary 800x600 (negative
    # origin; inclusive bounds), and [2.2.1.3.10] their attributes (20 bytes each)
    ("gcc.client_monitor", H("00000000" "02000000"
                             "00fcffff" "00000000" "ffffffff" "ff020000" "00000000"
                             "00000000" "00000000" "1f030000" "57020000" "01000000"),
     ClientMonitorData((Monitor(-1024, 0, -1, 767, 0), Monitor(0, 0, 799, 599, 1)))),
    ("gcc.client_monitor_ex", H("00000000" "14000000" "02000000"
                                "2c010000" "a8000000" "00000000" "64000000" "64000000"
                                "00010000" "96000000" "5a000000" "7d000000" "8c000000"),
     ClientMonitorExtendedData((MonitorAttributes(300, 168, 0, 100, 100), MonitorAttributes(256, 150, 90, 125, 140)))),
    # [MS-RDPBCGR 2.2.12.1] Monitor Layout PDU data: monitorCount, TS_MONITOR_DEFs in session
    # coordinates
    ("monitor_layout_pdu", H("02000000"
                             "00040000" "00000000" "1f070000" "57020000" "01000000"
                             "00000000" "00000000" "ff030000" "ff020000" "00000000"),
     MonitorLayoutPdu((Monitor(1024, 0, 1823, 599, 1), Monitor(0, 0, 1023, 767, 0)))),
    # [MS-RDPEDYC] header byte: Cmd << 4 | Sp << 2 | cbId
    ("dvc.from_client", H("50000300"), dvc.CapsResponse(3)),
    ("dvc.from_server", H("50000100"), dvc.CapsRequest(1)),
    ("dvc.from_server", H("50000200" "3333" "1111" "3d0a" "a704"),
     dvc.CapsRequest(2, (0x3333, 0x1111, 0x0A3D, 0x04A7))),
    ("dvc.from_server", H("1001") + b"Microsoft::Windows::RDS::DisplayControl\x00",
     dvc.CreateRequest(1, disp.CHANNEL_NAME)),
    ("dvc.from_client", H("1001" "00000000"), dvc.CreateResponse(1, 0)),
    ("dvc.from_client", H("11" "0301" "05004080"), dvc.CreateResponse(0x103, -0x7FBFFFFB)),
    ("dvc.from_client", H("2401" "0010" "616263"), dvc.DataFirst(1, 0x1000, b"abc")),
    ("dvc.from_client", H("3001" "616263"), dvc.Data(1, b"abc")),
    ("dvc.from_client", H("32" "00010078"), dvc.Data(0x78000100, b"")),
    ("dvc.from_client", H("4001"), dvc.Close(1)),
    # [MS-RDPEDISP] Type, Length (header included), body
    ("disp", H("05000000" "14000000" "01000000" "00200000" "00200000"), disp.Caps(1, 8192, 8192)),
    ("disp", H("02000000" "38000000" "28000000" "01000000"
               "01000000" "00000000" "00000000" "00050000" "d0020000" "00000000" "00000000"
               "00000000" "64000000" "64000000"),
     disp.MonitorLayout((disp.Monitor(1, 0, 0, 1280, 720),))),
    ("disp", H("02000000" "60000000" "28000000" "02000000"
               "01000000" "00000000" "00000000" "20030000" "58020000" "00000000" "00000000"
               "00000000" "64000000" "64000000"
               "00000000" "00fcffff" "00000000" "00040000" "00030000" "2c010000" "a8000000"
               "00000000" "64000000" "64000000"),
     disp.MonitorLayout((disp.Monitor(1, 0, 0, 800, 600),
                         disp.Monitor(0, -1024, 0, 1024, 768, 300, 168)))),
    # [MS-RDPEGFX] cmdId, flags, pduLength (header included)
    ("gfx.client", H("1200" "0000" "22000000" "0200" "04000800" "04000000" "00000000"
                     "05010800" "04000000" "10000000"),
     gfx.CapsAdvertise((gfx.CapSet(gfx.CapVersion.V8, bytes(4)), gfx.CapSet(gfx.CapVersion.V81, H("10000000"))))),
    ("gfx.client", H("0d00" "0000" "14000000" "00000000" "07000000" "07000000"), gfx.FrameAcknowledge(0, 7, 7)),
    ("gfx.client", H("0d00" "0000" "14000000" "ffffffff" "01000000" "01000000"),
     gfx.FrameAcknowledge(0xFFFFFFFF, 1, 1)),
    ("gfx.client", H("1000" "0000" "16000000" "0100" "0807060504030201" "00100000"),
     gfx.CacheImportOffer(((0x0102030405060708, 0x1000),))),
    ("gfx.segmented", H("e004" "0c000000"), H("0c000000")),
]


@pytest.mark.parametrize(("parser", "data", "pdu"), TABLE, ids=[f"{i}-{t[0]}" for i, t in enumerate(TABLE)])
def test_decode_gives_pdu_and_encode_gives_bytes(parser: str, data: bytes, pdu: object) -> None:
    dec, enc = PARSERS[parser]
    assert dec(data) == pdu
    assert enc(pdu) == data


def test_pdu_size_matches_encoding() -> None:
    for _, _data, pdu in TABLE:
        if hasattr(pdu, "size"):
            assert len(encode(pdu)) == pdu.size()  # type: ignore[arg-type]


def test_framer_byte_at_a_time() -> None:
    frames = [load_hex("spec/4.1.1-x224-connection-request.hex"), load_hex("spec/4.1.5-mcs-erect-domain-request.hex"),
              H("0404001e"), load_hex("freerdp-2.11/12-fastpath-input-scancode-sync.hex"),
              load_hex("freerdp-2.11/07-confirm-active.hex")]
    stream = b"".join(frames)
    framer = Framer()
    got = []
    for i in range(len(stream)):
        framer.feed(stream[i:i + 1])
        got += framer.frames()
    assert [f for _, f in got] == frames
    assert [a for a, _ in got] == [Action.X224, Action.X224, Action.FASTPATH, Action.FASTPATH, Action.X224]
    assert framer.buffered() == 0


@pytest.mark.parametrize("garbage", [H("05"), H("0300000302"), H("0301"), H("0380"), H("8000")])
def test_framer_rejects_what_is_neither_tpkt_nor_fastpath(garbage: bytes) -> None:
    framer = Framer()
    with pytest.raises(RemoteProtocolError):
        framer.feed(garbage)
        framer.frames()
        framer.feed(bytes(70000))
        framer.frames()


def test_framer_bounds_its_buffer() -> None:
    framer = Framer(max_buffer=100)
    with pytest.raises(RemoteProtocolError):
        framer.feed(b"\x03\x00\xff\xff" + bytes(200))


def test_x224_data_frame_roundtrip() -> None:
    frame = x224.data_frame(b"payload")
    assert frame == H("0300000e02f080") + b"payload"
    assert x224.data_payload(frame) == b"payload"
    with pytest.raises(RemoteProtocolError):
        x224.data_payload(frame[:-1])


def test_fastpath_fragmentation_reassembles() -> None:
    data = bytes(range(256)) * 200  # 51200 bytes: four fragments
    pdus = fragment_update(UpdateCode.BITMAP, data, max_fragment=16000)
    assert len(pdus) == 4
    framer = Framer()
    framer.feed(b"".join(pdus))
    reassembler = Reassembler()
    results = []
    kinds = []
    for action, frame in framer.frames():
        assert action == Action.FASTPATH
        (update,) = decode(FastPathOutput, frame).updates
        kinds.append(update.fragmentation)
        results.append(reassembler.push(update))
    assert kinds == [Fragmentation.FIRST, Fragmentation.NEXT, Fragmentation.NEXT, Fragmentation.LAST]
    assert results[:3] == [None, None, None]
    assert results[3] == (UpdateCode.BITMAP, data)


def test_reassembler_rejects_orphan_fragments() -> None:
    with pytest.raises(RemoteProtocolError):
        Reassembler().push(FastPathUpdate(UpdateCode.BITMAP, b"x", Fragmentation.NEXT))


def test_channel_chunking_and_reassembly() -> None:
    message = bytes(range(200)) * 20  # 4000 bytes -> 3 chunks of 1600
    chunks = chunk_message(message, 1600)
    assert len(chunks) == 3
    reassembler = ChannelReassembler()
    outs = [reassembler.push(decode(ChannelPdu, c)) for c in chunks]
    assert outs[:2] == [None, None] and outs[2] == message
    first = decode(ChannelPdu, chunks[0])
    assert first.flags == ChannelFlags.FIRST and first.total_length == 4000
    assert decode(ChannelPdu, chunks[2]).flags == ChannelFlags.LAST


def test_channel_reassembly_bounds() -> None:
    r = ChannelReassembler(max_message=10)
    with pytest.raises(RemoteProtocolError):
        r.push(ChannelPdu(11, ChannelFlags.FIRST, b"x"))
    with pytest.raises(RemoteProtocolError):
        ChannelReassembler().push(ChannelPdu(5, ChannelFlags.LAST, b"x"))
    r = ChannelReassembler()
    with pytest.raises(RemoteProtocolError):
        r.push(ChannelPdu(2, ChannelFlags.FIRST, b"xyz"))


def test_clipboard_unicode_text() -> None:
    response = cliprdr.FormatDataResponse.unicode_text("line 1\nzwei ü €\n")
    assert response.data == "line 1\r\nzwei ü €\r\n\x00".encode("utf-16-le")
    assert response.text() == "line 1\nzwei ü €\n"


def test_long_format_names() -> None:
    pdu = cliprdr.FormatList((cliprdr.Format(13), cliprdr.Format(0xC0F1, "HTML Format")))
    data = cliprdr.encode_clipboard(pdu)
    assert cliprdr.decode_clipboard(data) == pdu
    assert "HTML Format".encode("utf-16-le") + b"\x00\x00" in data


def test_pointer_from_rgba_masks() -> None:
    # 2x2: top-left transparent, others opaque red/green/blue.
    rgba = H("00000000" "ff0000ff" "00ff00ff" "0000ffff")
    p = pointer_from_rgba(2, 2, 1, 1, rgba)
    assert isinstance(p, ColorPointer) and p.xor_bpp == 32
    # XOR mask is BGRA bottom-up: bottom row (green, blue) first.
    assert p.xor_mask == H("00ff00ff" "ff0000ff" "00000000" "0000ffff")
    # AND mask: 1 bit per pixel, rows padded to 2 bytes, bottom-up; only top-left is transparent.
    assert p.and_mask == H("0000" "8000")
    assert ColorPointer.decode_new(Reader(encode(p))) == p
    big = pointer_from_rgba(128, 100, 0, 0, bytes(128 * 100 * 4))
    assert isinstance(big, LargePointer)
    assert decode(LargePointer, encode(big)) == big


def test_bitmap_data_uncompressed_is_bottom_up() -> None:
    rows = H("01010101 02020202".replace(" ", "")) + H("03030303 04040404".replace(" ", ""))
    bmp = BitmapData.uncompressed(10, 20, 2, 2, rows)
    assert (bmp.dest_left, bmp.dest_top, bmp.dest_right, bmp.dest_bottom) == (10, 20, 11, 21)
    assert bmp.data == H("0303030304040404" "0101010102020202")


def test_save_session_info_logon() -> None:
    pdu = SaveSessionInfo.logon(username="alice", domain="WRD")
    assert pdu.info_type == 0 and len(pdu.info_data) == 4 + 52 + 4 + 512 + 4
    assert decode(SaveSessionInfo, encode(pdu)) == pdu


def test_share_control_flow_pdu_is_ignored() -> None:
    from rdpfront.rdp.pdus import FlowPdu

    assert isinstance(ShareControlPdu.decode(Reader(H("0080" "4200" "0000"))), FlowPdu)


def test_suppress_output_allow_with_rect() -> None:
    pdu = SuppressOutput(True, Rectangle16(0, 0, 1023, 767))
    assert decode(SuppressOutput, encode(pdu)) == pdu


def test_gfx_segmented_data_multipart() -> None:
    """[MS-RDPEGFX 2.2.5.1] MULTIPART: segment count, total size, then (size, bulk data) each;
    ours split at 65535-byte segments, as FreeRDP's decoder requires."""
    assert gfx.unsegment(H("e1" "0200" "03000000" "03000000" "04" "4142" "02000000" "04" "43")) == b"ABC"
    big = bytes(range(256)) * 600  # 153,600 bytes: three segments
    wrapped = gfx.segmented([big])
    assert wrapped[0] == 0xE1 and int.from_bytes(wrapped[1:3], "little") == 3
    assert gfx.unsegment(wrapped) == big
    with pytest.raises(RemoteProtocolError, match="compressed"):
        gfx.unsegment(H("e0" "24" "00"))


def test_gfx_surface_to_surface() -> None:
    """[MS-RDPEGFX 2.2.2.6] header (cmdId 5), source and destination surface, source RECT16
    (right/bottom exclusive), destination point count, points."""
    data = gfx.surface_to_surface(1, (3, 45, 723, 513), [(3, 3)])
    assert data == H("0500" "0000" "1a000000" "0100" "0100" "0300" "2d00" "d302" "0102" "0100" "0300" "0300")
    (pdu,) = gfx.split_server(data)
    assert pdu.cmd == gfx.Cmd.SURFACE_TO_SURFACE
    with pytest.raises(LocalProtocolError):
        gfx.surface_to_surface(1, (10, 10, 10, 20), [(0, 0)])
    with pytest.raises(LocalProtocolError):
        gfx.surface_to_surface(1, (0, 0, 10, 10), [])


def test_host_copy_frame_becomes_surface_to_surface() -> None:
    from compositor import messages
    from rdpfront.host_frames import gfx_commands_for_host_frame

    frame = messages.Frame(stream=1, seq=1, codec="copy", rects=((3, 3, 720, 468, 3, 45),))
    (command,) = gfx_commands_for_host_frame(frame, 7, 1024, 768)
    assert command == gfx.surface_to_surface(7, (3, 45, 723, 513), [(3, 3)])
    off_screen = messages.Frame(stream=1, seq=2, codec="copy", rects=((3, 3, 720, 468, 3, 400),))
    assert gfx_commands_for_host_frame(off_screen, 7, 1024, 768) == []  # source runs past the surface
    with pytest.raises(ValueError):
        gfx_commands_for_host_frame(messages.Frame(stream=1, seq=3, codec="copy", rects=((0, 0, 5, 5),)), 7, 64, 64)
