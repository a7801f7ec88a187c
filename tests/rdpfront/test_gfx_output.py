"""``GfxOutput`` against a connection whose graphics pipeline is open in memory: the mode it
chooses, host frames into graphics frames (batched), and when each host frame is acknowledged
to the session host."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor import messages
from rdpfront import dvc, events, gfx
from rdpfront.channels.graphics import WHOLE_FRAME_COMPRESS_MAX
from rdpfront.channels.registry import GFX_CHANNEL_ID
from rdpfront.gfx_output import AVC420, PLANAR, GfxOutput
from rdpfront.host_frames import GFX_ACK_EVERY, GFX_BATCH, GFX_H264_OPTIONS, GFX_PLANAR_IN_FLIGHT, GFX_WINDOW

from .helpers import MemoryClient, gfx_pdus, graphics_open

STREAM = 5
NAL = b"\x00\x00\x00\x01\x65"


def _h264(seq: int, key: bool = False, size: tuple[int, int] = (800, 600)) -> messages.Frame:
    return messages.Frame(stream=STREAM, seq=seq, codec="h264", key=key, width=size[0], height=size[1],
                          rects=((0, 0, 64, 64),), payload=NAL)


def _planar(seq: int, stream: int = 9) -> messages.Frame:
    return messages.Frame(stream=stream, seq=seq, codec="planar", rects=((0, 0, 4, 4, 3),), payload=b"abc")


def _open(avc420: bool = True, **options: bool) -> tuple[MemoryClient, GfxOutput, list[messages.Request]]:
    client = graphics_open()
    gfx_pdus(client, client.pump())  # the capability confirm: into the client's decompressor history
    client.server.events()
    to_host: list[messages.Request] = []
    output = GfxOutput(client.server, to_host, **options)
    subscribe = output.choose(events.GfxReady(gfx.CapVersion.V81, avc420))
    if subscribe is not None:
        output.subscribed(messages.SubscribeReply(stream=STREAM, width=800, height=600))
    gfx_pdus(client, client.pump(output.reset(800, 600)))
    to_host.clear()
    return client, output, to_host


def _commands(client: MemoryClient, data: bytes | None) -> list[gfx.Cmd]:
    assert data is not None
    return [pdu.cmd for pdu in gfx_pdus(client, client.pump(data))]


def _acked(to_host: list[messages.Request]) -> list[int]:
    seqs = [m.seq for m in to_host if isinstance(m, messages.Ack)]
    to_host.clear()
    return seqs


def test_avc420_subscribes_to_the_h264_stream() -> None:
    output = GfxOutput(graphics_open().server, [])
    assert output.choose(events.GfxReady(gfx.CapVersion.V81, True)) == messages.Subscribe(
        format="h264", options=GFX_H264_OPTIONS, window=GFX_WINDOW)
    assert output.mode == AVC420
    lossy = GfxOutput(graphics_open().server, [], lossless=False)
    assert lossy.choose(events.GfxReady(gfx.CapVersion.V81, True)).options == {**GFX_H264_OPTIONS, "lossless": False}


@pytest.mark.parametrize(("avc420", "h264"), [(False, True), (True, False)])
def test_planar_without_h264(avc420: bool, h264: bool) -> None:
    output = GfxOutput(graphics_open().server, [], h264=h264)
    assert output.choose(events.GfxReady(gfx.CapVersion.V81, avc420)) is None
    assert output.mode == PLANAR


def test_reset_asks_for_a_keyframe_and_drops_what_came_before_it() -> None:
    client, output, to_host = _open()
    output.unacked[1] = 7  # a frame of the old surface the client never acknowledged
    assert _commands(client, output.reset(1024, 768))[:2] == [gfx.Cmd.DELETE_SURFACE, gfx.Cmd.RESET_GRAPHICS]
    assert to_host == [messages.Ack(stream=STREAM, seq=7), messages.Keyframe(stream=STREAM)]
    assert output.resets == 2 and output.need_key and output.unacked == {}
    to_host.clear()
    output.push(_h264(8))  # a P-frame of the old size
    output.push(_h264(9, key=True))  # a keyframe of the old size
    assert output.next_frame(allowed=True) is None
    assert _acked(to_host) == [8, 9]
    output.push(_h264(10, key=True, size=(1024, 768)))
    assert _commands(client, output.next_frame(allowed=True)) == [
        gfx.Cmd.START_FRAME, gfx.Cmd.WIRE_TO_SURFACE_1, gfx.Cmd.END_FRAME]
    assert not output.need_key and to_host == []


def test_waiting_host_frames_go_into_one_graphics_frame() -> None:
    client, output, to_host = _open()
    output.need_key = False
    for seq in range(1, GFX_BATCH + 3):
        output.push(_h264(seq))
    first = gfx_pdus(client, client.pump(output.next_frame(allowed=True)))
    assert [p.cmd for p in first].count(gfx.Cmd.WIRE_TO_SURFACE_1) == GFX_BATCH
    second = gfx_pdus(client, client.pump(output.next_frame(allowed=True)))
    assert [p.cmd for p in second].count(gfx.Cmd.WIRE_TO_SURFACE_1) == 2
    assert output.next_frame(allowed=True) is None
    # Each graphics frame stands for the last host frame in it, acknowledged when the client
    # acknowledges the graphics frame.
    assert sorted(output.unacked.values()) == [GFX_BATCH, GFX_BATCH + 2] and to_host == []
    assert output.frames_sent == 2 and output.commands["h264"] == GFX_BATCH + 2


def test_client_acknowledgements_release_host_frames_in_order() -> None:
    client, output, to_host = _open()
    output.need_key = False
    ids = []
    for seq in (1, 2, 3):
        output.push(_h264(seq))
        output.next_frame(allowed=True)
        ids.append(max(output.unacked))
    output.acknowledged(events.GfxFrameAcknowledged(ids[1], 0))  # covers the first one too
    # The host counts 3 frames: one acknowledgement for both the client has taken.
    assert _acked(to_host) == [2] and list(output.unacked) == [ids[2]] and output.frames_acked == 1
    output.acknowledged(events.GfxFrameAcknowledged(0, 0, suspend=True))
    assert _acked(to_host) == [3] and output.unacked == {}
    output.push(_h264(4))
    output.next_frame(allowed=True)  # acknowledgements suspended: the host gets it at once
    assert _acked(to_host) == [4] and output.unacked == {}


def test_nothing_drawn_while_minimised_then_a_keyframe_first() -> None:
    client, output, to_host = _open()
    output.need_key = False
    output.push(_h264(1))
    assert output.next_frame(allowed=False) is None
    assert _acked(to_host) == [1] and output.need_key
    output.push(_h264(2))
    assert output.next_frame(allowed=True) is None  # not a keyframe
    output.push(_h264(3, key=True))
    assert output.next_frame(allowed=True) is not None


def test_an_unusable_host_frame_is_dropped_and_acknowledged(caplog) -> None:
    client, output, to_host = _open()
    output.need_key = False
    output.push(messages.Frame(stream=STREAM, seq=1, codec="planar", rects=((0, 0, 4, 4, 99),), payload=b"x"))
    assert output.next_frame(allowed=True) is None
    assert _acked(to_host) == [1] and "unusable host frame dropped" in caplog.text


def test_planar_frames_of_the_bitmap_stream_and_the_window() -> None:
    client, output, to_host = _open(avc420=False)
    for seq in range(1, GFX_PLANAR_IN_FLIGHT + 1):
        assert not output.window_full
        assert _commands(client, output.planar_frame(_planar(seq))) == [
            gfx.Cmd.START_FRAME, gfx.Cmd.WIRE_TO_SURFACE_1, gfx.Cmd.END_FRAME]
    assert output.window_full and set(output.unacked.values()) == {None}
    output.acknowledged(events.GfxFrameAcknowledged(max(output.unacked), 0))
    assert not output.window_full and to_host == []  # the bitmap stream is acknowledged on its own


def test_planar_frame_not_drawn_in_avc420_mode() -> None:
    _, output, _ = _open(avc420=True)
    assert output.planar_frame(_planar(1)) is None


def test_keyframe_only_for_the_h264_stream() -> None:
    _, output, to_host = _open(avc420=False)
    output.keyframe()
    assert to_host == [] and not output.need_key


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("push"), st.booleans()), st.tuples(st.just("send"), st.booleans()),
                          st.tuples(st.just("ack"), st.booleans())), max_size=40))
def test_every_host_frame_is_acknowledged_exactly_once_in_the_end(steps) -> None:
    """Whatever the order of host frames, sends (allowed or not) and client acknowledgements,
    each host frame is acknowledged to the host at most once, and all are once the client has
    acknowledged everything."""
    client, output, to_host = _open()
    seq = 0
    for step, flag in steps:
        if step == "push":
            seq += 1
            output.push(_h264(seq, key=flag))
        elif step == "send":
            while (data := output.next_frame(allowed=flag)) is not None:
                gfx_pdus(client, client.pump(data))
        elif output.unacked:
            output.acknowledged(events.GfxFrameAcknowledged(max(output.unacked), 0, suspend=flag))
    while output.queue:
        output.next_frame(allowed=True)
    if output.unacked:
        output.acknowledged(events.GfxFrameAcknowledged(max(output.unacked), 0))
    acked = [m.seq for m in to_host if isinstance(m, messages.Ack)]
    assert len(acked) == len(set(acked)) and acked == sorted(acked)
    # The host frames a graphics frame stands for are covered by its last one; the last few
    # the client took may be held, never so many that the host's window is full.
    last = acked[-1] if acked else 0
    assert last == seq or (output.held_seq == seq and seq - last < GFX_ACK_EVERY <= GFX_WINDOW)


def test_typing_acknowledges_every_few_frames_and_never_fills_the_window() -> None:
    """One frame at a time, each taken by the client before the next (typing): the host hears
    of every ``GFX_ACK_EVERY``-th, and always counts fewer than ``GFX_WINDOW`` in flight."""
    client, output, to_host = _open()
    output.need_key = False
    host_acked = 0
    for seq in range(1, 3 * GFX_ACK_EVERY + 1):
        output.push(_h264(seq))
        assert seq - host_acked <= GFX_WINDOW  # the host had room to send it
        gfx_pdus(client, client.pump(output.next_frame(allowed=True)))
        output.acknowledged(events.GfxFrameAcknowledged(max(output.unacked), 0))
        if acked := _acked(to_host):
            host_acked = acked[-1]
        assert host_acked == seq - seq % GFX_ACK_EVERY
    assert output.acks_sent == 3


def test_held_acknowledgements_go_when_the_client_suspends_them() -> None:
    client, output, to_host = _open()
    output.need_key = False
    output.push(_h264(1))
    output.next_frame(allowed=True)
    output.acknowledged(events.GfxFrameAcknowledged(max(output.unacked), 0))
    assert _acked(to_host) == [] and output.held_seq == 1
    output.acknowledged(events.GfxFrameAcknowledged(0, 0, suspend=True))
    assert _acked(to_host) == [1]


def test_graphics_frame_ids_are_what_the_client_acknowledges() -> None:
    client, output, to_host = _open()
    output.need_key = False
    output.push(_h264(1))
    frames = gfx_pdus(client, client.pump(output.next_frame(allowed=True)))
    (frame_id,) = output.unacked
    assert int.from_bytes(frames[-1].body[:4], "little") == frame_id
    client.send_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(gfx.FrameAcknowledge(0, frame_id, 1))))
    (ack,) = client.server.events()
    output.acknowledged(ack)
    assert output.unacked == {} and output.held_seq == 1  # taken by the client (held: one frame)


@pytest.mark.parametrize(("codec", "repeats", "compressed"), [
    (gfx.Codec.PLANAR, 300, True),  # 75 KB: two segments, compressed whole
    (gfx.Codec.AVC420, 300, False),
    # above WHOLE_FRAME_COMPRESS_MAX: 8 KB pieces only, so these 64 KB segments go raw
    (gfx.Codec.PLANAR, WHOLE_FRAME_COMPRESS_MAX // 256 + 1, False),
])
def test_large_images_are_bulk_compressed_but_not_h264(codec: gfx.Codec, repeats: int, compressed: bool) -> None:
    """With the C core every segment of an image frame up to WHOLE_FRAME_COMPRESS_MAX is
    compressed; a larger frame, or one with H.264, keeps the compressor's limit (8 KB), its
    big segments going raw."""
    client, _output, _ = _open()
    channel = client.server.channel(gfx.CHANNEL_NAME)
    compressor = channel.compressor
    assert compressor.native
    image = bytes(range(256)) * repeats
    before = compressor.bytes_out
    _, data = client.server.gfx_frame([gfx.wire_to_surface_1(channel.surface_id, codec, (0, 0, 64, 64), image)])
    pdus = gfx_pdus(client, client.pump(data))
    assert [pdu.cmd for pdu in pdus] == [gfx.Cmd.START_FRAME, gfx.Cmd.WIRE_TO_SURFACE_1, gfx.Cmd.END_FRAME]
    sent = compressor.bytes_out - before
    assert (sent < 2000) == compressed and (sent > len(image)) != compressed
