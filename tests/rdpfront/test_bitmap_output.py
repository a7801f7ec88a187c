"""``BitmapOutput`` and ``Damage`` against an active connection in memory: which stream a client
draws from, what each host frame becomes, and when it is acknowledged to the host."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from compositor import messages
from rdpfront import events, gfx
from rdpfront.bitmap import BitmapData, BitmapUpdate
from rdpfront.bitmap_output import MAX_DIRTY_RECTS, SLOW_PATH_UPDATE_LIMIT, BitmapOutput, Damage
from rdpfront.cursor import Reader, decode, encode
from rdpfront.fastpath import UpdateCode
from rdpfront.gfx_output import GfxOutput
from rdpfront.host_frames import BITMAP_WINDOW, GFX_PLANAR_IN_FLIGHT, HUGE_FRAME_BYTES
from rdpfront.orders import OrderHistory, OrdersUpdate, ScrBlt

from .helpers import MemoryClient, connected, gfx_pdus, graphics_open

STREAM = 3
TILE = BitmapData.uncompressed(0, 0, 4, 4, bytes(range(64)))


def _bitmap_frame(seq: int, stream: int = STREAM, tiles: int = 1) -> messages.Frame:
    data = encode(TILE)
    return messages.Frame(stream=stream, seq=seq, codec="bitmap", rects=((0, 0, 4, 4, len(data)),) * tiles,
                          payload=data * tiles)


def _copy_frame(seq: int) -> messages.Frame:
    return messages.Frame(stream=STREAM, seq=seq, codec="copy", rects=((0, 0, 100, 50, 0, 16),))


def _output(client: MemoryClient | None = None, **options) -> tuple[MemoryClient, BitmapOutput, list]:
    client = client or connected()
    to_host: list[messages.Request] = []
    output = BitmapOutput(client.server, GfxOutput(client.server, to_host), to_host, **options)
    output.subscription()
    output.subscribed(messages.SubscribeReply(stream=STREAM, width=800, height=600))
    return client, output, to_host


# ---- damage ------------------------------------------------------------------------------------

rects = st.tuples(st.integers(0, 2000), st.integers(0, 2000), st.integers(1, 500), st.integers(1, 500))


@given(st.lists(rects, max_size=10 * MAX_DIRTY_RECTS))
def test_damage_stays_bounded_and_covers_every_damaged_rect(added: list[tuple[int, int, int, int]]) -> None:
    damage = Damage()
    for rect in added:
        damage.add(rect)
    assert len(damage.rects) <= MAX_DIRTY_RECTS and bool(damage) == bool(added)
    for x, y, w, h in added:
        assert any(dx <= x and dy <= y and x + w <= dx + dw and y + h <= dy + dh for dx, dy, dw, dh in damage.rects)
    kept = list(damage.rects)
    assert damage.take() == kept and not damage


def test_damage_past_the_bound_becomes_one_bounding_box() -> None:
    damage = Damage()
    for i in range(MAX_DIRTY_RECTS + 1):
        damage.add((i, 2 * i, 10, 10))
    assert damage.rects == [(0, 0, MAX_DIRTY_RECTS + 10, 2 * MAX_DIRTY_RECTS + 10)]


# ---- the stream ----------------------------------------------------------------------------------

def test_options_follow_the_client() -> None:
    client, output, _ = _output()
    assert output.subscription() == messages.Subscribe(format="bitmap", window=BITMAP_WINDOW, options={
        "bpp": 32, "max_update_size": client.server.max_request_size, "codec": "auto", "copy": True})
    _, raw, _ = _output(connected(fastpath=False), compress=False)
    assert raw.wanted_options()["codec"] == "raw"
    assert raw.wanted_options()["max_update_size"] == SLOW_PATH_UPDATE_LIMIT


def test_damage_asks_for_a_keyframe_superseding_the_frames_waiting() -> None:
    _, output, to_host = _output()
    output.push(_bitmap_frame(1))
    output.push(_bitmap_frame(2))
    assert output.full_frame() is None
    assert to_host == [messages.Ack(stream=STREAM, seq=2), messages.Keyframe(stream=STREAM)]
    assert not output.frames


def test_damage_after_the_graphics_pipeline_chose_planar_subscribes_again() -> None:
    _, output, to_host = _output(graphics_open())
    output.push(_bitmap_frame(1))
    output.gfx.choose(events.GfxReady(gfx.CapVersion.V81, False))
    subscribe = output.full_frame()
    assert subscribe == messages.Subscribe(format="bitmap", window=BITMAP_WINDOW,
                                           options={"layout": "gfx", "codec": "planar", "copy": True})
    assert to_host == [messages.Unsubscribe(stream=STREAM)] and output.stream is None and not output.frames
    output.subscribed(messages.SubscribeReply(stream=STREAM + 1, width=800, height=600))
    assert output.options == subscribe.options and output.stream == STREAM + 1


# ---- frames --------------------------------------------------------------------------------------

def test_bitmap_frames_become_bitmap_updates_acknowledged_once_written() -> None:
    client, output, to_host = _output()
    output.push(_bitmap_frame(1, tiles=2))
    data, frame = output.next_frame()
    ((kind, code, body),) = client.pump(data)
    assert (kind, code) == ("fastpath", UpdateCode.BITMAP)
    assert list(decode(BitmapUpdate, body).rectangles) == [TILE, TILE]
    assert to_host == [] and output.updates_sent == 1
    output.done(frame)
    assert to_host == [messages.Ack(stream=STREAM, seq=1)]
    assert output.next_frame() is None


def test_copy_frames_become_scrblt_orders() -> None:
    client, output, _ = _output()
    output.push(_copy_frame(1))
    data, _ = output.next_frame()
    ((kind, code, body),) = client.pump(data)
    assert (kind, code) == ("fastpath", UpdateCode.ORDERS)
    (order,) = OrdersUpdate.decode(Reader(body), OrderHistory()).orders
    assert order.order == ScrBlt(0, 0, 100, 50, x_src=0, y_src=16)  # scrolled up by 16 rows
    assert output.scrblt_orders_sent == 1


def test_frames_of_an_old_stream_are_skipped_others_acknowledged() -> None:
    _, output, to_host = _output()
    output.push(_bitmap_frame(1, stream=STREAM - 1))  # the stream before a resubscription
    output.push(messages.Frame(stream=STREAM, seq=2, codec="planar", rects=((0, 0, 4, 4, 1),), payload=b"x"))
    assert output.next_frame() is None
    assert to_host == [messages.Ack(stream=STREAM, seq=2)]


def test_suppressed_output_drops_the_waiting_frames() -> None:
    _, output, to_host = _output()
    for seq in (1, 2, 3):
        output.push(_bitmap_frame(seq))
    output.drop_waiting()
    assert to_host == [messages.Ack(stream=STREAM, seq=3)] and not output.frames


def test_planar_frames_wait_for_the_graphics_window() -> None:
    client = graphics_open()
    gfx_pdus(client, client.pump())
    client.server.events()
    _, output, to_host = _output(client)
    output.gfx.choose(events.GfxReady(gfx.CapVersion.V81, False))
    gfx_pdus(client, client.pump(output.gfx.reset(800, 600)))
    for seq in range(1, GFX_PLANAR_IN_FLIGHT + 2):
        output.push(messages.Frame(stream=STREAM, seq=seq, codec="planar", rects=((0, 0, 4, 4, 3),),
                                   payload=b"abc"))
    for _ in range(GFX_PLANAR_IN_FLIGHT):
        data, frame = output.next_frame()
        assert [p.cmd for p in gfx_pdus(client, client.pump(data))][1] == gfx.Cmd.WIRE_TO_SURFACE_1
        output.done(frame)
    assert output.next_frame() is None and len(output.frames) == 1  # the window is full
    output.gfx.acknowledged(events.GfxFrameAcknowledged(max(output.gfx.unacked), 0))
    assert output.next_frame() is not None


def test_huge_frames_are_paced_small_ones_never() -> None:
    _, output, _ = _output(bytes_per_second=1_000_000)
    small = _bitmap_frame(1)
    assert output.hold(small, 0.0) == 0.0
    huge = messages.Frame(stream=STREAM, seq=2, codec="bitmap", payload=bytes(HUGE_FRAME_BYTES))
    expected = HUGE_FRAME_BYTES / 1_000_000 - 0.01  # the budget, less the time the write took
    assert abs(output.hold(huge, 0.01) - expected) < 1e-9
    assert output.hold(huge, 0.5) == 0.5  # a slow client waits as long again as it took
    assert abs(output.hold_seconds - (expected + 0.5)) < 1e-9
