"""Both ends in memory (h11 ``ConnectionPair``): the server connection against a small client."""

from __future__ import annotations

import random

import pytest

from compositor import messages
from rdpfront import cliprdr, disp, dvc, events, gfx, mcs, rdpei, rdpsnd, x224
from rdpfront.acceptor import Closed, WaitConfirmActive, WaitCredentials
from rdpfront.bitmap import BitmapData, BitmapUpdate
from rdpfront.channels.registry import DISP_CHANNEL_ID, GFX_CHANNEL_ID, INPUT_CHANNEL_ID, PLAYBACK_CHANNEL_ID
from rdpfront.connection import ServerConnection
from rdpfront.cursor import decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.fastpath import UpdateCode
from rdpfront.input import (
    ExtendedPointerEvent,
    PointerEvent,
    PointerFlags,
    ScancodeEvent,
    SyncEvent,
    UnicodeKeyEvent,
)
from rdpfront.pointer import pointer_from_rgba
from rdpfront.rdp.pdus import (
    DeactivateAll,
    DemandActive,
    InputData,
    PointerData,
    Rectangle16,
    RefreshRect,
    SetErrorInfo,
    ShutdownRequest,
    SuppressOutput,
    UpdateData,
)
from rdpfront.session import Active

from .helpers import FREERDP_CAPS, GFX_FLAG, MemoryClient, connected, gfx_pdus, graphics_open, recording_client
from .vectors import load_hex

SSL = x224.SecurityProtocol.SSL
HYBRID = x224.SecurityProtocol.HYBRID


def test_full_sequence_reaches_active() -> None:
    client = connected()
    server = client.server
    assert isinstance(server.state, Active)
    evs = server.events()
    assert isinstance(evs[0], events.SecurityUpgradeRequired) and evs[0].protocol == SSL
    creds = evs[1]
    assert isinstance(creds, events.Credentials)
    assert (creds.username, creds.password, creds.desktop_width, creds.desktop_height) == ("alice", "secret", 800, 600)
    activated = evs[2]
    assert isinstance(activated, events.Activated)
    assert (activated.width, activated.height, activated.bpp, activated.fastpath_output) == (800, 600, 32, True)
    kinds = [type(p).__name__ if not isinstance(p, tuple) else p[0] for p in client.received]
    assert kinds[:3] == ["ConnectionConfirm", "ConnectResponse", "AttachUserConfirm"]
    assert kinds.count("ChannelJoinConfirm") == 4
    assert kinds[7:] == ["licence", "DemandActive", "Synchronize", "Control", "Control", "FontMap",
                         "SaveSessionInfo", "ClipCaps", "MonitorReady", "AudioFormats"]
    demand = client.received[8]
    assert isinstance(demand, DemandActive)
    assert client.channel_ids == {"cliprdr": 1004, "rdpsnd": 1005}


def test_whole_handshake_fed_one_byte_at_a_time() -> None:
    """The client's bytes of a full connection, replayed into a fresh server byte by byte."""
    client, recorded = recording_client()
    client.connect()
    server = ServerConnection()
    stream = b"".join(recorded)
    for i in range(len(stream)):
        server.receive_data(stream[i:i + 1])
        if server.reached_security_upgrade():
            server.security_upgrade_done()
        if isinstance(server.state, WaitCredentials):
            server.accept_credentials()
    assert isinstance(server.state, Active)


@pytest.mark.parametrize(("requested", "selected"), [
    (SSL, SSL), (SSL | HYBRID, SSL), (SSL | HYBRID | x224.SecurityProtocol.HYBRID_EX, SSL),
])
def test_tls_is_selected(requested: x224.SecurityProtocol, selected: x224.SecurityProtocol) -> None:
    server = ServerConnection()
    server.receive_data(encode(x224.ConnectionRequest(b"Cookie: mstshash=a", x224.NegotiationRequest(requested))))
    cc = decode(x224.ConnectionConfirm, server.data_to_send())
    assert isinstance(cc.negotiation, x224.NegotiationResponse) and cc.negotiation.selected_protocol == selected
    assert server.reached_security_upgrade() == selected


@pytest.mark.parametrize("requested", [
    x224.SecurityProtocol.RDP, HYBRID, HYBRID | x224.SecurityProtocol.HYBRID_EX, x224.SecurityProtocol.RDSTLS, None,
])
def test_refused_negotiation_gets_ssl_required(requested: x224.SecurityProtocol | None) -> None:
    """[2.2.1.2.2] SSL_REQUIRED_BY_SERVER: also "if only CredSSP was requested"."""
    server = ServerConnection()
    nego = None if requested is None else x224.NegotiationRequest(requested)
    server.receive_data(encode(x224.ConnectionRequest(None, nego)))
    cc = decode(x224.ConnectionConfirm, server.data_to_send())
    assert cc.negotiation == x224.NegotiationFailure(x224.FailureCode.SSL_REQUIRED_BY_SERVER)
    assert isinstance(server.state, Closed)
    assert isinstance(server.events()[0], events.NegotiationRefused)


def test_requiring_nla_needs_it_offered() -> None:
    from rdpfront.acceptor import AcceptorConfig

    with pytest.raises(LocalProtocolError):
        ServerConnection(AcceptorConfig(require_nla=True))


def test_rejected_credentials_end_with_error_info_and_ultimatum() -> None:
    client = MemoryClient()
    client.connect(accept=False)
    client.server.reject_credentials()
    new = client.pump()
    assert new[0][0] == "licence"
    assert new[1] == SetErrorInfo(7)
    assert new[2] == mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.PROVIDER_INITIATED)
    assert client.server.closed


def test_standard_rdp_security_exchange_is_refused() -> None:
    from rdpfront.rdp.headers import SecurityFlags

    client = MemoryClient()
    with pytest.raises(RemoteProtocolError, match="Standard RDP Security"):
        client.connect(accept=False, security_flags=SecurityFlags.SEC_EXCHANGE_PKT)
    assert client.server.closed
    parting = client.pump(client.server.disconnect())
    assert parting == [mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.PROVIDER_INITIATED)]


def test_input_events() -> None:
    client = connected()
    server = client.server
    server.events()
    client.send_input(ScancodeEvent(0x1E), ScancodeEvent(0x1E, release=True),
                      ScancodeEvent(0x4B, extended=True), ScancodeEvent(0x1D, extended1=True),
                      UnicodeKeyEvent(0x20AC), SyncEvent(0x5),
                      PointerEvent(PointerFlags.MOVE, 10, 20),
                      PointerEvent(PointerFlags.BUTTON1 | PointerFlags.DOWN, 10, 20),
                      PointerEvent(PointerFlags.BUTTON2, 11, 21),
                      PointerEvent(PointerFlags.BUTTON3 | PointerFlags.DOWN, 12, 22),
                      PointerEvent(PointerFlags.WHEEL | 0x78, 0, 0),
                      PointerEvent(PointerFlags.WHEEL | PointerFlags.WHEEL_NEGATIVE | 0x188, 0, 0),
                      PointerEvent(PointerFlags.HWHEEL | 0x78, 0, 0),
                      ExtendedPointerEvent(0x8001, 1, 2), PointerEvent(PointerFlags.MOVE, 5000, 5000))
    assert server.events() == [
        events.KeyboardEvent(0x1E, False, True), events.KeyboardEvent(0x1E, False, False),
        events.KeyboardEvent(0x4B, True, True), events.KeyboardEvent(0x1D, False, True, True),
        events.UnicodeEvent(0x20AC, True), events.SyncEvent(True, False, True, False),
        events.MouseEvent(10, 20), events.MouseEvent(10, 20, 1, True), events.MouseEvent(11, 21, 3, False),
        events.MouseEvent(12, 22, 2, True),
        events.WheelEvent(12, 22, dy=-1.0), events.WheelEvent(12, 22, dy=1.0), events.WheelEvent(12, 22, dx=1.0),
        events.MouseEvent(1, 2, 8, True), events.MouseEvent(799, 599),
    ]


def test_slow_path_input_and_share_data_events() -> None:
    client = connected()
    server = client.server
    server.events()
    client.send_share_data(InputData(((0, ScancodeEvent(0x10)), (0, PointerEvent(PointerFlags.MOVE, 3, 4)))))
    client.send_share_data(RefreshRect((Rectangle16(0, 0, 9, 9),)))
    client.send_share_data(SuppressOutput(False))
    client.send_share_data(SuppressOutput(True, Rectangle16(0, 0, 799, 599)))
    client.send_share_data(ShutdownRequest())
    assert server.events() == [
        events.KeyboardEvent(0x10, False, True), events.MouseEvent(3, 4),
        events.RefreshRect((Rectangle16(0, 0, 9, 9),)), events.SuppressOutput(False),
        events.SuppressOutput(True, Rectangle16(0, 0, 799, 599)), events.Shutdown(),
    ]
    client.pump(server.shutdown_denied())
    assert type(client.received[-1]).__name__ == "ShutdownDenied"


def _tiles(n: int, size: int = 64) -> list[BitmapData]:
    pixels = bytes(range(256)) * (size * size * 4 // 256)
    return [BitmapData.uncompressed(i * size % 768, 0, size, size, pixels) for i in range(n)]


def test_bitmap_update_fastpath_is_split_and_fragmented() -> None:
    client = connected()
    server = client.server
    tiles = _tiles(20)  # 20 x 16 KiB
    data = server.bitmap_update(tiles)
    new = client.pump(data)
    rects = []
    for kind, code, payload in new:
        assert kind == "fastpath" and code == UpdateCode.BITMAP
        rects += decode(BitmapUpdate, payload).rectangles
    assert rects == tiles


def test_bitmap_update_respects_a_small_reassembly_buffer() -> None:
    client = MemoryClient()
    from . import helpers
    original = helpers.client_confirm_caps
    helpers.client_confirm_caps = lambda **kw: original(max_request_size=40000, **kw)  # type: ignore[assignment]
    try:
        client.connect()
    finally:
        helpers.client_confirm_caps = original  # type: ignore[assignment]
    assert client.server.max_request_size == 40000
    new = client.pump(client.server.bitmap_update(_tiles(6)))
    assert len(new) == 3  # two 16 KiB tiles per update
    assert all(len(payload) <= 40000 for _, _, payload in new)


def test_slow_path_output_when_the_client_has_no_fastpath() -> None:
    client = connected(fastpath=False)
    server = client.server
    assert not server.fastpath_output
    tiles = _tiles(6, size=32)
    new = client.pump(server.bitmap_update(tiles))
    assert all(isinstance(p, UpdateData) for p in new)
    assert sum((decode(BitmapUpdate, p.data).rectangles for p in new), ()) == tuple(tiles)
    new = client.pump(server.pointer_position(5, 6) + server.pointer_default())
    assert [p.message_type for p in new] == [3, 1] and all(isinstance(p, PointerData) for p in new)


def test_pointer_updates_fastpath() -> None:
    client = connected()
    server = client.server
    cursor = pointer_from_rgba(16, 16, 2, 3, bytes(16 * 16 * 4))
    new = client.pump(server.pointer_image(cursor) + server.pointer_position(1, 2) + server.pointer_hidden()
                      + server.pointer_cached(0))
    assert [code for _, code, _ in new] == [UpdateCode.POINTER, UpdateCode.PTR_POSITION, UpdateCode.PTR_NULL,
                                            UpdateCode.CACHED]


def test_clipboard_both_ways() -> None:
    client = connected()
    server = client.server
    server.events()
    assert server.clipboard_available
    # client -> server: format list, then the server asks for the text
    client.send_clipboard(cliprdr.FormatList((cliprdr.Format(13), cliprdr.Format(1))))
    assert server.events() == [events.ClipboardOffer(True, (13, 1))]
    assert client.pump()[-1] == cliprdr.FormatListResponse(True)
    assert client.pump(server.clipboard_request_text())[-1] == cliprdr.FormatDataRequest(13)
    client.send_clipboard(cliprdr.FormatDataResponse.unicode_text("from client\n" * 300))  # several chunks
    assert server.events() == [events.ClipboardText("from client\n" * 300)]
    # server -> client: announce, then answer the client's request
    assert client.pump(server.clipboard_set_text("from server ✓"))[-1] == cliprdr.FormatList((cliprdr.Format(13),))
    client.send_clipboard(cliprdr.FormatDataRequest(13))
    answer = client.pump()[-1]
    assert isinstance(answer, cliprdr.FormatDataResponse) and answer.text() == "from server ✓"
    client.send_clipboard(cliprdr.FormatDataRequest(1))
    assert client.pump()[-1] == cliprdr.FormatDataResponse(b"", ok=False)


def test_clipboard_takes_text_up_to_the_session_limit_and_refuses_more() -> None:
    from compositor.messages import MAX_CLIPBOARD_BYTES

    client = connected()
    server = client.server
    server.events()
    big = "ünïcödé ✓ 日本\n" * 400_000  # 5.6 M UTF-16 units: 11 MB on the channel, 2,800 chunks
    client.send_clipboard(cliprdr.FormatDataResponse.unicode_text(big))
    assert server.events() == [events.ClipboardText(big)]
    client.pump(server.clipboard_set_text(big))
    client.send_clipboard(cliprdr.FormatDataRequest(13))
    answer = client.pump()[-1]
    assert isinstance(answer, cliprdr.FormatDataResponse) and answer.text() == big
    # Past the limit the channel message is refused as its first chunk announces it.
    with pytest.raises(RemoteProtocolError):
        client.send_clipboard(cliprdr.FormatDataResponse.unicode_text("x" * (MAX_CLIPBOARD_BYTES + 64)))


def test_resize_deactivates_and_reactivates() -> None:
    client = connected()
    server = client.server
    server.events()
    new = client.pump(server.resize(1024, 768))
    assert isinstance(new[0], DeactivateAll) and isinstance(new[1], DemandActive)
    assert isinstance(server.state, WaitConfirmActive)
    client.finish(new[1])
    activated = server.events()[-1]
    assert activated == events.Activated(1024, 768, 32, 0x409, True, 0x3F0000, reactivation=True)
    assert isinstance(server.state, Active)
    # no second clipboard handshake nor logon notice on reactivation
    assert [type(p).__name__ for p in client.received[-4:]] == ["Synchronize", "Control", "Control", "FontMap"]


def test_client_x224_disconnect_request() -> None:
    client = connected()
    client.send(encode(x224.DisconnectRequest()))
    assert isinstance(client.server.events()[-1], events.Disconnected)
    assert client.server.closed


def test_client_disconnect_ultimatum() -> None:
    client = connected()
    client.send_mcs(mcs.DisconnectProviderUltimatum(mcs.DisconnectReason.USER_REQUESTED))
    assert isinstance(client.server.events()[-1], events.Disconnected)
    assert client.server.closed


@pytest.mark.parametrize("garbage", [
    b"\x03\x00\x00\x0b\x07\xe0\x00\x00\x00\x00\x00",  # CR whose length indicator disagrees
    b"\x03\x00\x00\x07\x02\xf0\x80",
    b"\x05\x00",
    load_hex("freerdp-2.11/07-confirm-active.hex"),
])
def test_garbage_closes_with_remote_protocol_error(garbage: bytes) -> None:
    server = ServerConnection()
    try:
        server.receive_data(garbage)
    except RemoteProtocolError:
        assert server.closed
        assert server.disconnect() == b""  # nothing to say before MCS is up
        return
    assert not server.closed


def test_output_before_active_is_our_mistake() -> None:
    with pytest.raises(LocalProtocolError):
        ServerConnection().bitmap_update([])


def test_fuzzed_streams_into_an_active_connection() -> None:
    import random

    from .test_properties import mutate

    frames = [x224.data_frame(encode(mcs.SendDataRequest(1007, 1003, load_hex(
        "freerdp-2.11/08-synchronize.hex")[15:]))), load_hex("freerdp-2.11/12-fastpath-input-scancode-sync.hex"),
        load_hex("freerdp-2.11/13-fastpath-input-mouse.hex"), load_hex("freerdp-2.11/14-cliprdr-caps.hex"),
        load_hex("freerdp-2.11/15-cliprdr-format-list.hex")]
    rng = random.Random(7)
    for _ in range(300):
        client = connected()
        try:
            client.server.receive_data(mutate(rng, rng.choice(frames)))
        except RemoteProtocolError:
            assert client.server.closed


def _layout(*monitors: tuple[int, int, int]) -> bytes:
    return disp.encode_disp(disp.MonitorLayout(tuple(
        disp.Monitor(flags, 0, 0, w, h) for flags, w, h in monitors)))


def _display_control_open() -> MemoryClient:
    """Active, with drdynvc: capabilities exchanged and Display Control opened."""
    client = connected(channels=("cliprdr", "drdynvc"))
    server = client.server
    assert client.received[-1] == dvc.CapsRequest(1)  # asked for once active
    client.send_dvc(dvc.CapsResponse(3))
    assert client.pump() == [dvc.CreateRequest(DISP_CHANNEL_ID, disp.CHANNEL_NAME),
                             dvc.CreateRequest(INPUT_CHANNEL_ID, rdpei.CHANNEL_NAME),
                             dvc.CreateRequest(PLAYBACK_CHANNEL_ID, rdpsnd.DVC_NAME)]
    assert not server.display_control_open
    client.send_dvc(dvc.CreateResponse(DISP_CHANNEL_ID, 0))
    (caps_data,) = client.pump()
    assert isinstance(caps_data, dvc.Data) and caps_data.channel_id == DISP_CHANNEL_ID
    assert disp.decode_disp(caps_data.data) == disp.Caps(4, 8192, 8192)
    assert server.display_control_open
    server.events()
    return client


def test_display_control_layout_becomes_a_resize_request() -> None:
    client = _display_control_open()
    server = client.server
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout((disp.MONITOR_PRIMARY, 1280, 720))))
    assert server.events() == [events.DisplayLayout(1280, 720, 1)]
    # In pieces (Data First + Data); the primary monitor wins; odd widths are made even.
    message = _layout((0, 1024, 768), (disp.MONITOR_PRIMARY, 1367, 801))
    client.send_dvc(dvc.DataFirst(DISP_CHANNEL_ID, len(message), message[:30]))
    assert server.events() == []
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, message[30:]))
    assert server.events() == [events.DisplayLayout(1366, 801, 2)]
    # Two monitors side by side, the second left of the primary (negative origin): the
    # bounding box, with the monitors shifted onto it.
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, disp.encode_disp(disp.MonitorLayout((
        disp.Monitor(disp.MONITOR_PRIMARY, 0, 0, 1024, 768), disp.Monitor(0, -800, 100, 800, 600))))))
    assert server.events() == [events.DisplayLayout(1824, 768, 2, (
        messages.Monitor(800, 0, 1024, 768, True), messages.Monitor(0, 100, 800, 600, False)))]
    # Below the extension's minimum, above the server's maximum: held within bounds.
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout((disp.MONITOR_PRIMARY, 64, 9000))))
    assert server.events() == [events.DisplayLayout(200, 8192, 1)]
    # The client closes the channel: nothing more is accepted on it.
    client.send_dvc(dvc.Close(DISP_CHANNEL_ID))
    assert not server.display_control_open
    with pytest.raises(RemoteProtocolError, match="not open"):
        client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout((disp.MONITOR_PRIMARY, 800, 600))))
    assert isinstance(server.state, Closed)


def test_a_client_without_display_control_refuses_the_channel() -> None:
    client = connected(channels=("cliprdr", "drdynvc"))
    client.send_dvc(dvc.CapsResponse(1))
    client.pump()
    client.send_dvc(dvc.CreateResponse(DISP_CHANNEL_ID, -0x7FFBFFFF))  # an HRESULT failure
    assert client.pump() == []
    assert not client.server.display_control_open and isinstance(client.server.state, Active)


def test_no_drdynvc_no_dynamic_channels() -> None:
    client = connected()
    assert not any(isinstance(p, dvc.CapsRequest) for p in client.received)
    assert not client.server.display_control_open


@pytest.mark.parametrize(("message", "error"), [
    (dvc.encode_dvc(dvc.CreateResponse(7, 0)), "never asked for"),
    (bytes([0x70, DISP_CHANNEL_ID, 1, 2]), "compressed"),
    (dvc.encode_dvc(dvc.Data(DISP_CHANNEL_ID, disp.encode_disp(disp.Caps()))), "unexpected Caps"),
    (dvc.encode_dvc(dvc.Data(DISP_CHANNEL_ID, _layout((1, 800, 600))[:-4])), "Length"),
    (dvc.encode_dvc(dvc.Data(DISP_CHANNEL_ID, _layout())), "0 monitors"),
    (dvc.encode_dvc(dvc.DataFirst(DISP_CHANNEL_ID, 5 << 20, b"x")), "exceeds"),
    (b"\x33\x01", "reserved"),
])
def test_malformed_dynamic_channel_pdus_close_the_connection(message: bytes, error: str) -> None:
    client = _display_control_open()
    with pytest.raises(RemoteProtocolError, match=error):
        client.send_dvc(message)
    assert isinstance(client.server.state, Closed)


def test_graphics_pipeline_negotiation_confirms_avc420() -> None:
    client = graphics_open()
    server = client.server
    (confirm,) = gfx_pdus(client, client.pump())
    # The newest set that allows AVC420: 8.1 with AVC420_ENABLED (10.4 says AVC is disabled,
    # 10.1 cannot say either way).
    assert confirm.cmd == gfx.Cmd.CAPS_CONFIRM and confirm.body == gfx.caps_confirm(FREERDP_CAPS[1])[8:]
    assert server.events() == [events.GfxReady(gfx.CapVersion.V81, True)]
    assert server.gfx_ready
    reset = gfx_pdus(client, client.pump(server.gfx_reset(1024, 768)))
    assert [p.cmd for p in reset] == [gfx.Cmd.RESET_GRAPHICS, gfx.Cmd.CREATE_SURFACE, gfx.Cmd.MAP_SURFACE_TO_OUTPUT]
    assert len(reset[0].body) + 8 == 340 and reset[0].body[:12] == bytes.fromhex("00040000" "00030000" "01000000")
    assert reset[1].body == bytes.fromhex("0100" "0004" "0003" "20")
    command = gfx.wire_to_surface_1(server.gfx_surface, gfx.Codec.AVC420, (0, 0, 1024, 768),
                                    gfx.avc420_bitmap([(0, 0, 16, 16)], 28, b"\x00\x00\x00\x01\x65"))
    frame_id, data = server.gfx_frame([command])
    frame = gfx_pdus(client, client.pump(data))
    assert [p.cmd for p in frame] == [gfx.Cmd.START_FRAME, gfx.Cmd.WIRE_TO_SURFACE_1, gfx.Cmd.END_FRAME]
    assert frame[0].body[4:] == frame_id.to_bytes(4, "little") == frame[2].body
    client.send_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(gfx.FrameAcknowledge(0, frame_id, 1))))
    assert server.events() == [events.GfxFrameAcknowledged(frame_id, 0)]
    # A second reset deletes the first surface and creates another; at a new size it is how
    # the desktop is resized while the pipeline is up ([MS-RDPEDISP] 1.3): no reactivation.
    again = gfx_pdus(client, client.pump(server.gfx_reset(800, 600)))
    assert [p.cmd for p in again][:2] == [gfx.Cmd.DELETE_SURFACE, gfx.Cmd.RESET_GRAPHICS]
    assert again[1].body[:8] == bytes.fromhex("20030000" "58020000")
    assert server.gfx_surface == 2
    assert (server.width, server.height) == (800, 600) and server.active


def test_graphics_pipeline_without_avc_and_a_big_frame() -> None:
    """A client whose sets all disable AVC gets its newest set confirmed (drawn with Planar);
    a frame larger than one segment goes out as a multipart segmented message, in DVC pieces
    (its image noise, which bulk compression leaves as it is)."""
    sets = (gfx.CapSet(gfx.CapVersion.V8, b"\x00" * 4), gfx.CapSet(gfx.CapVersion.V107, (0x20).to_bytes(4, "little")))
    client = graphics_open(sets)
    server = client.server
    client.pump()
    assert server.events() == [events.GfxReady(gfx.CapVersion.V107, False)]
    client.pump(server.gfx_reset(640, 480))
    image = random.Random(1).randbytes(256_000)
    big = gfx.wire_to_surface_1(1, gfx.Codec.PLANAR, (0, 0, 640, 480), image)
    _, data = server.gfx_frame([big])
    pieces = client.pump(data)
    assert isinstance(pieces[0], dvc.DataFirst) and len(pieces) > 100
    frame = gfx_pdus(client, pieces)
    assert frame[1].cmd == gfx.Cmd.WIRE_TO_SURFACE_1 and frame[1].body.endswith(image)


def test_no_graphics_channel_without_the_clients_flag() -> None:
    client = connected(channels=("cliprdr", "drdynvc"))
    client.send_dvc(dvc.CapsResponse(3))
    assert client.pump() == [dvc.CreateRequest(DISP_CHANNEL_ID, disp.CHANNEL_NAME),
                             dvc.CreateRequest(INPUT_CHANNEL_ID, rdpei.CHANNEL_NAME),
                             dvc.CreateRequest(PLAYBACK_CHANNEL_ID, rdpsnd.DVC_NAME)]
    with pytest.raises(LocalProtocolError):
        client.server.gfx_reset(800, 600)


@pytest.mark.parametrize(("message", "error"), [
    (gfx.encode_client(gfx.CapsAdvertise((gfx.CapSet(0x12345678, b""),))), "knows"),
    (gfx.encode_client(gfx.FrameAcknowledge(0, 1, 1))[:-1], "pduLength"),
    (bytes.fromhex("0100000008000000"), "unexpected RDPGFX command"),
])
def test_malformed_graphics_pdus_close_the_connection(message: bytes, error: str) -> None:
    client = connected(channels=("cliprdr", "drdynvc"), early_flags=GFX_FLAG)
    client.send_dvc(dvc.CapsResponse(3))
    client.pump()
    client.send_dvc(dvc.CreateResponse(GFX_CHANNEL_ID, 0))
    with pytest.raises(RemoteProtocolError, match=error):
        client.send_dvc(dvc.Data(GFX_CHANNEL_ID, message))
    assert isinstance(client.server.state, Closed)
