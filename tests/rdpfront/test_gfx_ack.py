"""The graphics Frame Acknowledge read in one pass (``gfx_ack.read``) gives what the layered
decode gives (TPKT and X.224, MCS, the static channel chunk, the DVC PDU, the RDPGFX PDU), and
nothing where the layers would give something else or refuse; the session takes it only where
the layers would hand the acknowledgement to the graphics channel, with the same events."""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdpfront import dvc, events, gfx, gfx_ack, mcs, wire, x224
from rdpfront.channels.drdynvc import DynamicChannels
from rdpfront.channels.registry import DISP_CHANNEL_ID, GFX_CHANNEL_ID
from rdpfront.cursor import Reader, encode
from rdpfront.errors import RemoteProtocolError
from rdpfront.svc import ChannelFlags, ChannelPdu, ChannelReassembler, chunk_message
from rdpfront.wire import IO_CHANNEL_ID
from tests.fuzz.targets import mutate

from .helpers import GFX_FLAG, MemoryClient, connected, graphics_open

U32 = st.integers(0, 0xFFFFFFFF)
ONE_CHUNK = ChannelFlags.FIRST | ChannelFlags.LAST


def ack_frame(channel_id: int, dvc_channel_id: int, queue_depth: int = 0, frame_id: int = 1,
              decoded: int = 1, *, cb_id: int = 0, sp: int = 0, gfx_flags: int = 0,
              chunk_flags: int = ONE_CHUNK, two_byte_length: bool = False, initiator: int = 1007,
              choice: int = mcs.DomainMcsPdu.SEND_DATA_REQUEST, choice_bits: int = 0, priority: int = 0x70,
              tpkt_reserved: int = 0) -> bytes:
    """A Frame Acknowledge in its TPKT frame, every field the layers read as they read it
    (some in forms the encoders do not write: a PER length in two bytes for a short one,
    the MCS choice's low bits, a wider ChannelId than needed)."""
    ack = struct.pack("<HHIIII", gfx.Cmd.FRAME_ACKNOWLEDGE, gfx_flags, 20, queue_depth, frame_id, decoded)
    dvc_pdu = bytes([dvc.Cmd.DATA << 4 | sp << 2 | cb_id]) + dvc_channel_id.to_bytes(1 << cb_id, "little") + ack
    user_data = struct.pack("<II", len(dvc_pdu), chunk_flags) + dvc_pdu
    per_length = bytes([0x80, len(user_data)]) if two_byte_length else bytes([len(user_data)])
    send_data = struct.pack(">BHHB", choice << 2 | choice_bits,
                            initiator - mcs.MCS_BASE_CHANNEL_ID, channel_id, priority) + per_length + user_data
    return struct.pack(">BBH", 3, tpkt_reserved, 7 + len(send_data)) + x224.X224_DATA_HEADER + send_data


def layered(frame: bytes) -> gfx_ack.FrameAck | None:
    """What the layers read from ``frame``: the Frame Acknowledge of one whole DVC Data PDU
    on a static channel, None for anything else; ``RemoteProtocolError`` where they refuse it."""
    pdu = wire.read_domain_pdu(frame)
    if not isinstance(pdu, mcs.SendDataRequest) or pdu.channel_id == IO_CHANNEL_ID:
        return None
    message = ChannelReassembler(DynamicChannels.max_message).push(ChannelPdu.decode(Reader(pdu.data)))
    if message is None:
        return None
    dvc_pdu = dvc.decode_dvc(message)
    if not isinstance(dvc_pdu, dvc.Data):
        return None
    whole = dvc.DvcReassembler().push(dvc_pdu)
    assert whole is not None
    ack = gfx.decode_client(whole)
    if not isinstance(ack, gfx.FrameAcknowledge):
        return None
    return pdu.channel_id, dvc_pdu.channel_id, ack.queue_depth, ack.frame_id, ack.total_frames_decoded


@st.composite
def acknowledgements(draw: st.DrawFn) -> bytes:
    cb_id = draw(st.sampled_from([0, 1, 2]))
    return ack_frame(
        draw(st.integers(0, 0xFFFF).filter(lambda c: c != IO_CHANNEL_ID)),
        draw(st.integers(0, (0xFF, 0xFFFF, 0xFFFFFFFF)[cb_id])),
        draw(st.sampled_from([0, 1, gfx.SUSPEND_FRAME_ACKNOWLEDGEMENT]) | U32), draw(U32), draw(U32),
        cb_id=cb_id, sp=draw(st.integers(0, 3)), gfx_flags=draw(st.integers(0, 0xFFFF)),
        chunk_flags=ONE_CHUNK | draw(st.sampled_from([0, ChannelFlags.SHOW_PROTOCOL]) | U32)
        & ~ChannelFlags.PACKET_COMPRESSED,
        two_byte_length=draw(st.booleans()), initiator=draw(st.integers(1001, 1001 + 0xFFFF)),
        choice_bits=draw(st.integers(0, 3)), priority=draw(st.integers(0, 0xFF)),
        tpkt_reserved=draw(st.integers(0, 0xFF)))


@settings(max_examples=500)
@given(acknowledgements())
def test_valid_acknowledgements_read_as_the_layers_read_them(frame: bytes) -> None:
    fast = gfx_ack.read(frame)
    assert fast is not None
    assert fast == layered(frame)


@settings(max_examples=200)
@given(st.integers(0, 0xFFFF).filter(lambda c: c != IO_CHANNEL_ID), st.integers(0, 0xFFFFFFFF), U32, U32, U32,
       st.sampled_from([0, ChannelFlags.SHOW_PROTOCOL]))
def test_acknowledgements_from_the_encoders_read_as_the_layers_read_them(
        channel_id: int, dvc_channel_id: int, queue_depth: int, frame_id: int, decoded: int, flags: int) -> None:
    message = dvc.encode_dvc(dvc.Data(dvc_channel_id, gfx.encode_client(gfx.FrameAcknowledge(queue_depth, frame_id,
                                                                                           decoded))))
    (chunk,) = chunk_message(message, extra_flags=flags)
    frame = x224.data_frame(encode(mcs.SendDataRequest(1007, channel_id, chunk)))
    assert gfx_ack.read(frame) == layered(frame) == (channel_id, dvc_channel_id, queue_depth, frame_id, decoded)


def _agrees_with_the_layers(frame: bytes) -> None:
    """None, or what the layers read (and then they do not refuse it)."""
    fast = gfx_ack.read(frame)
    if fast is not None:
        assert layered(frame) == fast


def _with_lengths(frame: bytes, tpkt: bool, per: bool) -> bytes:
    """``frame`` with its TPKT length and/or its one-byte PER length made to fit it again."""
    out = bytearray(frame)
    if tpkt and 4 <= len(out) <= 0xFFFF:
        out[2:4] = len(out).to_bytes(2, "big")
    if per and 14 <= len(out) < 14 + 0x80:
        out[13] = len(out) - 14
    return bytes(out)


@settings(max_examples=1000)
@given(acknowledgements(), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_mutated_acknowledgements_read_as_the_layers_read_them_or_not_at_all(
        frame: bytes, seed: int, fix_tpkt: bool, fix_per: bool) -> None:
    _agrees_with_the_layers(_with_lengths(mutate(random.Random(seed), frame), fix_tpkt, fix_per))


@settings(max_examples=300)
@given(st.binary(max_size=64), st.booleans(), st.booleans())
def test_random_bytes_read_as_the_layers_read_them_or_not_at_all(frame: bytes, fix_tpkt: bool, fix_per: bool) -> None:
    _agrees_with_the_layers(_with_lengths(frame, fix_tpkt, fix_per))


@pytest.mark.parametrize("cb_id", [0, 1, 2])
@pytest.mark.parametrize("two_byte_length", [False, True])
def test_every_byte_of_an_acknowledgement_changed(cb_id: int, two_byte_length: bool) -> None:
    """Each byte set to boundary values and flipped bit by bit: where the layers read the
    same acknowledgement (a byte no layer checks) or another one, so does the fast read."""
    frame = ack_frame(1005, 2, 3, 4, 5, cb_id=cb_id, two_byte_length=two_byte_length)
    for at in range(len(frame)):
        values = {0x00, 0x03, 0x0D, 0x14, 0x7F, 0x80, 0xFF} | {frame[at] ^ 1 << bit for bit in range(8)}
        for value in values:
            _agrees_with_the_layers(frame[:at] + bytes([value]) + frame[at + 1:])
    for end in range(len(frame) + 1):
        _agrees_with_the_layers(frame[:end])
        _agrees_with_the_layers(_with_lengths(frame[:end], True, True))
    assert gfx_ack.read(_with_lengths(frame + b"\x00", True, False)) is None  # the layers allow trailing bytes


@pytest.mark.parametrize("frame", [
    ack_frame(IO_CHANNEL_ID, 2),  # the I/O channel: share control PDUs, not a static channel
    ack_frame(1005, 2, chunk_flags=ONE_CHUNK | ChannelFlags.PACKET_COMPRESSED),
    ack_frame(1005, 2, chunk_flags=ChannelFlags.FIRST),
    ack_frame(1005, 2, chunk_flags=ChannelFlags.LAST),
    ack_frame(1005, 2, cb_id=3),
    # Send Data Indication, which only a server sends
    ack_frame(1005, 2, choice=mcs.DomainMcsPdu.SEND_DATA_INDICATION),
])
def test_what_is_left_to_the_layers(frame: bytes) -> None:
    assert gfx_ack.read(frame) is None


# ---- in the session ---------------------------------------------------------------------


def _send_acks(client: MemoryClient, frames: list[bytes], monkeypatch: pytest.MonkeyPatch, *,
               fast: bool) -> tuple[list[object], str | None, bytes, int]:
    """Send ``frames``: the events, the error if any, the bytes written, and how many frames
    went through the layered decode."""
    layered_reads = 0
    read_domain_pdu = wire.read_domain_pdu

    def counted(frame: bytes) -> object:
        nonlocal layered_reads
        layered_reads += 1
        return read_domain_pdu(frame)

    error = None
    with monkeypatch.context() as patch:
        patch.setattr(wire, "read_domain_pdu", counted)
        if not fast:
            patch.setattr(gfx_ack, "read", lambda frame: None)
        try:
            for frame in frames:
                client.send(frame)
        except RemoteProtocolError as exc:
            error = str(exc)
    return client.server.events(), error, client.server.data_to_send(), layered_reads


def _graphics_ready() -> MemoryClient:
    client = graphics_open()
    client.pump()
    client.server.events()
    return client


def test_the_session_takes_acknowledgements_in_one_pass_with_the_same_events(monkeypatch: pytest.MonkeyPatch) -> None:
    def frames(client: MemoryClient) -> list[bytes]:
        drdynvc = client.channel_ids["drdynvc"]
        return [ack_frame(drdynvc, GFX_CHANNEL_ID, 0, 1, 1, initiator=client.user_id),
                ack_frame(drdynvc, GFX_CHANNEL_ID, 3, 2, 2, cb_id=1, sp=2),
                ack_frame(drdynvc, GFX_CHANNEL_ID, 0, 3, 3, cb_id=2, two_byte_length=True,
                          chunk_flags=ONE_CHUNK | ChannelFlags.SHOW_PROTOCOL),
                ack_frame(drdynvc, GFX_CHANNEL_ID, gfx.SUSPEND_FRAME_ACKNOWLEDGEMENT, 4, 4)]

    client = _graphics_ready()
    layered_events, error, written, reads = _send_acks(client, frames(client), monkeypatch, fast=False)
    assert (error, written, reads) == (None, b"", 4)
    client = _graphics_ready()
    fast_events, error, written, reads = _send_acks(client, frames(client), monkeypatch, fast=True)
    assert (error, written, reads) == (None, b"", 0)
    assert fast_events == layered_events == [
        events.GfxFrameAcknowledged(1, 0), events.GfxFrameAcknowledged(2, 3), events.GfxFrameAcknowledged(3, 0),
        events.GfxFrameAcknowledged(4, gfx.SUSPEND_FRAME_ACKNOWLEDGEMENT, True)]
    assert client.server.active


def _cache_offer_part_way(client: MemoryClient) -> int:
    """A Cache Import Offer of two entries whose last 20 bytes are still to come: the next
    Data PDU on the channel, shaped as an acknowledgement or not, ends it."""
    offer = gfx.encode_client(gfx.CacheImportOffer(((1, 2), (3, 4))))
    client.send_dvc(dvc.DataFirst(GFX_CHANNEL_ID, len(offer), offer[:-20]))
    return GFX_CHANNEL_ID


def _static_chunk_part_way(client: MemoryClient) -> int:
    """The first chunk of a longer drdynvc message: the acknowledgement's FIRST flag starts over."""
    client.send_io(encode(ChannelPdu(100, ChannelFlags.FIRST, b"\x30\x02")), client.channel_ids["drdynvc"])
    return GFX_CHANNEL_ID


def _display_channel(client: MemoryClient) -> int:
    client.send_dvc(dvc.CreateResponse(DISP_CHANNEL_ID, 0))
    return DISP_CHANNEL_ID


def _no_setup(client: MemoryClient) -> int:
    return GFX_CHANNEL_ID


def _left_to_the_layers(setup: Callable[[MemoryClient], int],
                        monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], str | None, bytes, int]:
    outcomes = []
    for fast in (False, True):
        client = _graphics_ready()
        dvc_channel_id = setup(client)
        client.pump()
        client.server.events()
        frame = ack_frame(client.channel_ids["drdynvc"], dvc_channel_id, 0, 9, 9)
        outcomes.append(_send_acks(client, [frame], monkeypatch, fast=fast))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][3] == 1  # read through the layers
    return outcomes[1]


def test_an_acknowledgement_ends_a_dvc_message_part_way_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    got, error, written, _ = _left_to_the_layers(_cache_offer_part_way, monkeypatch)
    assert (got, error) == ([], None) and written  # the offer, answered


def test_an_acknowledgement_after_a_static_chunk_part_way_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    got, error, _, _ = _left_to_the_layers(_static_chunk_part_way, monkeypatch)
    assert (got, error) == ([events.GfxFrameAcknowledged(9, 0)], None)


def test_an_acknowledgement_on_another_dynamic_channel_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    _, error, _, _ = _left_to_the_layers(_display_channel, monkeypatch)
    assert error is not None


def test_acknowledgements_through_the_layers_while_their_debug_log_is_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rdpfront.channels.drdynvc")
    got, error, _, _ = _left_to_the_layers(_no_setup, monkeypatch)
    assert (got, error) == ([events.GfxFrameAcknowledged(9, 0)], None)
    # In each of the two runs: the Caps Advertise and the acknowledgement.
    assert sum("drdynvc <- Data(channel_id=2)" in r.getMessage() for r in caplog.records) == 4


def _gfx_channel(*, opened: bool, closed: bool) -> MemoryClient:
    """A client whose graphics channel was asked for, then refused or opened (and closed
    before any capabilities, which is allowed)."""
    client = connected(channels=("cliprdr", "drdynvc"), early_flags=GFX_FLAG)
    client.send_dvc(dvc.CapsResponse(3))
    client.pump()
    client.send_dvc(dvc.CreateResponse(GFX_CHANNEL_ID, 0 if opened else -0x7FFBFFFF))
    if closed:
        client.send_dvc(dvc.Close(GFX_CHANNEL_ID))
    client.pump()
    client.server.events()
    return client


@pytest.mark.parametrize(("opened", "closed"), [(False, False), (True, True)])
def test_an_acknowledgement_on_a_channel_not_open_closes_the_connection_as_before(
        opened: bool, closed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = []
    for fast in (False, True):
        client = _gfx_channel(opened=opened, closed=closed)
        outcomes.append(_send_acks(client, [ack_frame(client.channel_ids["drdynvc"], GFX_CHANNEL_ID)],
                                   monkeypatch, fast=fast))
    assert outcomes[0] == outcomes[1]
    _, error, _, reads = outcomes[1]
    assert error is not None and "not open" in error and reads == 1
