"""``Output`` against connections in memory: activation, sizes, the graphics pipeline taken into
use, suppressed output, the login form's picture, and what the output loop draws from."""

from __future__ import annotations

import numpy as np

from compositor import messages
from compositor.client import HostError
from rdpfront import events, gfx
from rdpfront.bitmap import BitmapUpdate
from rdpfront.cursor import decode
from rdpfront.fastpath import UpdateCode
from rdpfront.gfx_output import AVC420, PLANAR
from rdpfront.output import Output, Source
from rdpfront.rdp.pdus import DeactivateAll, DemandActive, Rectangle16

from .helpers import MemoryClient, connected, gfx_pdus, graphics_open

BITMAP_STREAM, H264_STREAM = 1, 2


def _attached(client: MemoryClient | None = None, size: tuple[int, int] = (800, 600)) -> tuple[MemoryClient, Output]:
    client = client or connected()
    client.server.events()
    output = Output(client.server)
    output.subscription()
    output.attach(messages.SubscribeReply(stream=BITMAP_STREAM, width=size[0], height=size[1]))
    return client, output


def _activated(width: int = 800, height: int = 600, reactivation: bool = False) -> events.Activated:
    return events.Activated(width, height, 32, 0x409, True, 0x3F0000, reactivation=reactivation)


def _reactivation(client: MemoryClient, data: bytes) -> tuple[int, int]:
    """The size a deactivation-reactivation in ``data`` gives the client."""
    deactivate, demand = client.pump(data)[:2]
    assert isinstance(deactivate, DeactivateAll) and isinstance(demand, DemandActive)
    bitmap = next(c for c in demand.capabilities if type(c).__name__ == "BitmapCapability")
    return bitmap.desktop_width, bitmap.desktop_height


def _gfx_started(avc420: bool) -> tuple[MemoryClient, Output]:
    client = graphics_open()
    gfx_pdus(client, client.pump())
    client, output = _attached(client)
    start = output.start_gfx(events.GfxReady(gfx.CapVersion.V81, avc420))
    assert start is not None
    gfx_pdus(client, client.pump(start.reset))
    if start.subscribe is not None:
        output.gfx.subscribed(messages.SubscribeReply(stream=H264_STREAM, width=800, height=600))
    output.gfx_started()
    return client, output


def test_activation_makes_everything_due_once_output_starts() -> None:
    client, output = _attached()
    assert output.activated(_activated()) == b""
    assert output.damage.rects == [(0, 0, 800, 600)] and output.activations == 1
    assert not output.drawing
    assert output.start() and output.drawing
    assert not output.start()  # once per activation
    output.activated(_activated(reactivation=True))
    assert not output.drawing and output.start()


def test_output_waits_for_an_active_client() -> None:
    client = MemoryClient()
    client.connect(accept=False)
    output = Output(client.server)
    assert not output.start() and output.pointer_updates(congested=False) == b""


def test_a_session_resized_meanwhile_is_given_on_activation() -> None:
    client, output = _attached(size=(1024, 768))
    assert _reactivation(client, output.activated(_activated())) == (1024, 768)


def test_pointer_updates_wait_for_output_and_an_uncongested_socket() -> None:
    client, output = _attached()
    output.pointer.host_cursor(messages.Cursor(serial=1, width=0, height=0, xhot=0, yhot=0))
    assert output.pointer_updates(congested=False) == b""  # output not started
    output.start()
    assert output.pointer_updates(congested=True) == b"" and output.pointer.pending
    ((_, code, _),) = client.pump(output.pointer_updates(congested=False))
    assert code == UpdateCode.PTR_NULL


def test_refresh_and_resumed_output_damage_the_screen_and_ask_for_a_keyframe() -> None:
    _, output = _gfx_started(avc420=True)
    output.host_messages()
    output.refresh(events.RefreshRect((Rectangle16(10, 20, 19, 29),)))
    assert output.damage.rects == [(10, 20, 10, 10)]
    assert output.host_messages() == [messages.Keyframe(stream=H264_STREAM)]
    output.suppress(events.SuppressOutput(False))
    assert not output.allowed and output.host_messages() == []
    output.damage.clear()
    output.suppress(events.SuppressOutput(True))
    assert output.allowed and output.damage.rects == [(0, 0, 800, 600)]
    assert output.host_messages() == [messages.Keyframe(stream=H264_STREAM)]


def test_resize_waits_for_a_session_and_for_the_end_of_a_reactivation() -> None:
    client = connected()
    client.server.events()
    assert Output(client.server).resize_request(1024, 768) is None  # no session yet
    client, output = _attached()
    client.pump(client.server.resize(640, 480))  # reactivating
    assert output.resize_request(1024, 768) is None and output.pending_layout == events.DisplayLayout(1024, 768)


def test_a_resize_that_changes_nothing_is_answered_anyway() -> None:
    client, output = _attached()
    resize = output.resize_request(2100, 1300)
    assert resize is not None and resize.request == messages.Resize(width=2100, height=1300)
    assert resize.before == (800, 600) and output.pending_layout is None
    # The host kept its size (its maximum): no `resized` push comes, the client is answered.
    assert _reactivation(client, output.resize_answered(resize, messages.ResizeReply(800, 600))) == (800, 600)


def test_a_resize_that_happened_is_given_by_the_hosts_push() -> None:
    client, output = _attached()
    resize = output.resize_request(1024, 768)
    assert output.resize_answered(resize, messages.ResizeReply(1024, 768)) == b""
    assert _reactivation(client, output.host_resized(messages.Resized(1024, 768))) == (1024, 768)
    assert output.session_size() == (1024, 768)


def test_a_failed_resize_is_answered_with_the_size_kept(caplog) -> None:
    client, output = _attached()
    resize = output.resize_request(1024, 768)
    assert _reactivation(client, output.resize_answered(resize, HostError("gone"))) == (800, 600)
    assert "resize to 1024x768 failed: gone" in caplog.text


def test_avc420_subscribes_to_h264_and_ends_the_bitmap_stream() -> None:
    client = graphics_open()
    gfx_pdus(client, client.pump())
    client, output = _attached(client)
    start = output.start_gfx(events.GfxReady(gfx.CapVersion.V81, True))
    assert [p.cmd for p in gfx_pdus(client, client.pump(start.reset))][:1] == [gfx.Cmd.RESET_GRAPHICS]
    assert start.subscribe is not None and start.subscribe.format == "h264"
    output.gfx.subscribed(messages.SubscribeReply(stream=H264_STREAM, width=800, height=600))
    output.gfx_started()
    assert output.host_messages() == [messages.Unsubscribe(stream=BITMAP_STREAM)]
    assert output.gfx.mode == AVC420 and output.source() is Source.NONE
    assert output.start_gfx(events.GfxReady(gfx.CapVersion.V81, True)) is None  # already up


def test_planar_keeps_the_bitmap_stream_and_redraws_the_new_surface() -> None:
    _, output = _gfx_started(avc420=False)
    assert output.gfx.mode == PLANAR and output.bitmaps.stream == BITMAP_STREAM
    assert output.damage.rects == [(0, 0, 800, 600)] and output.source() is Source.HOST_BITMAPS
    # The damage makes the next round subscribe to the graphics layout of the stream.
    subscribe = output.bitmap_round()
    assert subscribe is not None and subscribe.options["layout"] == "gfx"


def test_a_resize_under_the_graphics_pipeline_is_a_new_surface() -> None:
    client, output = _gfx_started(avc420=False)
    reset = gfx_pdus(client, client.pump(output.host_resized(messages.Resized(1024, 768))))
    assert [p.cmd for p in reset][:2] == [gfx.Cmd.DELETE_SURFACE, gfx.Cmd.RESET_GRAPHICS]
    assert (client.server.width, client.server.height) == (1024, 768) and output.gfx.resets == 2


def test_host_frames_go_to_the_stream_they_belong_to() -> None:
    _, output = _gfx_started(avc420=True)
    output.bitmaps.stream = BITMAP_STREAM
    output.host_frame(messages.Frame(stream=BITMAP_STREAM, seq=1))
    output.host_frame(messages.Frame(stream=H264_STREAM, seq=1))
    output.host_frame(messages.Frame(stream=99, seq=1))
    assert len(output.bitmaps.frames) == 1 and len(output.gfx.queue) == 1


def test_suppressed_output_drops_host_frames_and_damage_asks_for_a_keyframe() -> None:
    _, output = _attached()
    output.bitmaps.push(messages.Frame(stream=BITMAP_STREAM, seq=4, codec="bitmap"))
    output.suppress(events.SuppressOutput(False))
    assert not output.bitmaps_allowed() and not output.bitmaps.frames
    assert output.host_messages() == [messages.Ack(stream=BITMAP_STREAM, seq=4)]
    output.damage.add((0, 0, 10, 10))
    assert output.bitmap_round() is None and not output.damage
    assert output.host_messages() == [messages.Keyframe(stream=BITMAP_STREAM)]


def test_the_login_form_is_drawn_until_the_session_takes_over() -> None:
    client = connected()
    client.server.events()
    output = Output(client.server)
    form = np.zeros((600, 800, 4), np.uint8)
    output.show_login(form)
    assert output.source() is Source.LOGIN_FORM
    output.start()
    output.damage.add((790, 590, 100, 100))  # partly off the screen
    job = output.login_form_job()
    assert job is not None and job.rects == [(0, 0, 800, 600)] and job.screen is form
    ((_, code, body),) = client.pump(output.login_form_encoded(job.run()))
    assert code == UpdateCode.BITMAP and decode(BitmapUpdate, body).rectangles
    assert output.bitmaps.updates_sent == 1 and output.login_form_job() is None
    output.close_login()
    assert output.source() is Source.NONE


def test_no_login_form_drawn_while_suppressed() -> None:
    client = connected()
    output = Output(client.server)
    output.show_login(np.zeros((600, 800, 4), np.uint8))
    output.suppress(events.SuppressOutput(False))
    assert output.login_form_job() is None and output.damage  # kept for when it is back


def test_a_pipeline_negotiated_during_the_login_form_waits_for_the_session() -> None:
    client = graphics_open()
    gfx_pdus(client, client.pump())
    client.server.events()
    output = Output(client.server)
    output.show_login(np.zeros((600, 800, 4), np.uint8))
    ready = events.GfxReady(gfx.CapVersion.V81, True)
    assert output.start_gfx(ready) is None and output.gfx.mode is None
    output.close_login()
    output.attach(messages.SubscribeReply(stream=BITMAP_STREAM, width=1024, height=768))
    data, deferred = output.enter_session()
    assert deferred == ready and output.deferred_gfx is None
    assert _reactivation(client, data) == (1024, 768)  # the desktop runs at its own size


def test_entering_a_session_of_the_clients_size_redraws_it() -> None:
    client = connected()
    client.server.events()
    output = Output(client.server)
    output.attach(messages.SubscribeReply(stream=BITMAP_STREAM, width=800, height=600))
    assert output.enter_session() == (b"", None) and output.damage.rects == [(0, 0, 800, 600)]


def test_closing_releases_input_and_ends_the_streams() -> None:
    client = connected()
    assert Output(client.server).closing_messages() == []
    _, output = _gfx_started(avc420=True)
    output.bitmaps.stream = BITMAP_STREAM
    assert output.closing_messages() == [messages.Input(events=(messages.ReleaseAllEvent(),)),
                                         messages.Unsubscribe(stream=BITMAP_STREAM),
                                         messages.Unsubscribe(stream=H264_STREAM)]
