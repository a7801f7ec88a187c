"""A client's monitor layout made into the session's (``rdpfront.monitors``): property tests
for any layout, the absurd ones refused with a log line, and the layout carried by Display
Control and Reset Graphics."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor import messages
from rdpfront import disp, dvc, events, gfx
from rdpfront.acceptor import Closed
from rdpfront.bridge import Bridge
from rdpfront.channels.registry import DISP_CHANNEL_ID
from rdpfront.cursor import Reader, encode
from rdpfront.errors import RemoteProtocolError
from rdpfront.gcc import ChannelDef, ClientGccBlocks, ClientMonitorData, ClientNetworkData, ClientSecurityData, Monitor
from rdpfront.monitors import (
    MAX_MONITORS,
    ClientMonitor,
    MonitorLayoutPdu,
    client_layout,
    from_monitor_defs,
    monitor_defs,
)
from rdpfront.output import SessionResize
from rdpfront.rdp.pdus import DemandActive, RawData
from rdpfront.settings import ServerSettings

from .helpers import CLIENT_CORE, MemoryClient
from .test_acceptor import _display_control_open
from .test_bridge import Driver

MAX = (1920, 1200)

client_monitors = st.lists(st.builds(ClientMonitor, st.integers(-5000, 5000), st.integers(-5000, 5000),
                                     st.integers(-10, 3000), st.integers(-10, 3000), st.booleans()),
                           max_size=6)


@settings(max_examples=300, deadline=None)
@given(client_monitors, st.integers(200, 8192), st.integers(200, 8192))
def test_a_layout_taken_is_a_tight_disjoint_box_within_the_maximum(monitors, max_width, max_height):
    layout = client_layout(monitors, max_width, max_height)
    if layout is None:
        return
    assert 2 <= len(layout.monitors) == len(monitors) <= MAX_MONITORS
    assert layout.width <= max_width and layout.height <= max_height
    assert sum(m.primary for m in layout.monitors) == 1
    for i, (m, c) in enumerate(zip(layout.monitors, monitors, strict=True)):
        assert m.x >= 0 and m.y >= 0 and m.x + m.width <= layout.width and m.y + m.height <= layout.height
        assert (m.width, m.height) == (c.width, c.height)
        assert layout.to_session(c.left, c.top) == (m.x, m.y)  # the mapping kept
        for other in layout.monitors[i + 1:]:
            assert not (m.x < other.x + other.width and other.x < m.x + m.width
                        and m.y < other.y + other.height and other.y < m.y + m.height)
    # Tight: the box starts at the top-left-most monitor and ends at the farthest.
    assert min(m.x for m in layout.monitors) == 0 and min(m.y for m in layout.monitors) == 0
    assert max(m.x + m.width for m in layout.monitors) == layout.width
    assert max(m.y + m.height for m in layout.monitors) == layout.height
    # What the session host is asked for is a valid resize message.
    request = messages.Resize(layout.width, layout.height, layout.monitors)
    assert messages.Resize.decode(request.encode()[0]) == request


@settings(max_examples=200, deadline=None)
@given(client_monitors)
def test_client_monitor_data_round_trips_into_the_same_layout(monitors):
    """TS_MONITOR_DEF's inclusive bounds: encoding a layout as Client Monitor Data and reading
    it back gives the same monitors (empty ones stay refused)."""
    defs = tuple(Monitor(m.left, m.top, m.left + m.width - 1, m.top + m.height - 1, int(m.primary))
                 for m in monitors)
    block = ClientMonitorData(defs)
    again = ClientMonitorData.decode(Reader(encode(block)))
    assert client_layout(from_monitor_defs(again.monitors), *MAX) == client_layout(monitors, *MAX)


def test_negative_origins_shift_onto_the_framebuffer():
    # mstsc/FreeRDP put the primary at 0,0: a monitor left of and above it has negative left/top.
    layout = client_layout([ClientMonitor(0, 0, 1024, 768, True), ClientMonitor(-800, -600, 800, 600)], 4096, 4096)
    assert layout is not None
    assert (layout.width, layout.height, layout.origin) == (1824, 1368, (-800, -600))
    assert layout.monitors == (messages.Monitor(800, 600, 1024, 768, True), messages.Monitor(0, 0, 800, 600))
    assert monitor_defs(layout.monitors) == [(800, 600, 1823, 1367, 1), (0, 0, 799, 599, 0)]


@pytest.mark.parametrize(("monitors", "why"), [
    ([ClientMonitor(0, 0, 1024, 768, True), ClientMonitor(1000, 0, 800, 600)], "monitors overlap"),
    ([ClientMonitor(i * 100, 0, 100, 100) for i in range(10)], "more than 4 monitors"),
    ([ClientMonitor(0, 0, 1024, 768, True), ClientMonitor(-65536, 0, 65535, 768)], "a monitor of 65535x768"),
    ([ClientMonitor(0, 0, 1024, 768, True), ClientMonitor(1024, 0, 1024, 768)], "above the maximum 1920x1200"),
    ([ClientMonitor(0, 0, 1024, 768, True), ClientMonitor(1024, 0, 0, 768)], "a monitor of 0x768"),
])
def test_absurd_layouts_are_skipped_with_a_log_line(monitors, why, caplog):
    with caplog.at_level(logging.WARNING, logger="rdpfront.monitors"):
        assert client_layout(monitors, *MAX, log_context="rdp[test]") is None
    assert any(why in r.getMessage() and "rdp[test]" in r.getMessage() for r in caplog.records), caplog.text


def test_more_than_16_monitors_in_client_monitor_data_refuse_the_connection():
    data = (17).to_bytes(4, "little")
    with pytest.raises(RemoteProtocolError, match="17 monitors"):
        ClientMonitorData.decode(Reader(bytes(4) + data + bytes(20 * 17)))


def _layout_message(*monitors: disp.Monitor) -> bytes:
    return disp.encode_disp(disp.MonitorLayout(monitors))


def test_display_control_takes_a_layout_and_skips_an_absurd_one(caplog):
    client = _display_control_open()
    server = client.server
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout_message(
        disp.Monitor(disp.MONITOR_PRIMARY, 0, 0, 1280, 1024), disp.Monitor(0, 1280, 0, 1024, 768),
        disp.Monitor(0, -800, 224, 800, 600))))
    assert server.events() == [events.DisplayLayout(3104, 1024, 3, (
        messages.Monitor(800, 0, 1280, 1024, True), messages.Monitor(2080, 0, 1024, 768),
        messages.Monitor(0, 224, 800, 600)))]
    # Overlapping monitors: the layout is skipped with a log line, the primary alone is taken.
    with caplog.at_level(logging.WARNING, logger="rdpfront.monitors"):
        client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout_message(
            disp.Monitor(disp.MONITOR_PRIMARY, 0, 0, 1280, 1024), disp.Monitor(0, 100, 100, 1024, 768))))
    assert server.events() == [events.DisplayLayout(1280, 1024, 2)]
    assert "monitors overlap" in caplog.text
    # 64k wide: skipped, and the primary's size held to the extension's bounds.
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout_message(
        disp.Monitor(disp.MONITOR_PRIMARY, 0, 0, 65534, 1024), disp.Monitor(0, 65534, 0, 1024, 768))))
    assert server.events() == [events.DisplayLayout(8192, 1024, 2)]
    assert not isinstance(server.state, Closed)  # skipped, not refused: the connection goes on


def test_reset_graphics_lists_the_monitors():
    defs = [(1024, 0, 1823, 599, 1), (0, 0, 1023, 767, 0)]
    pdu = gfx.reset_graphics(1824, 768, defs)
    assert len(pdu) == gfx.RESET_GRAPHICS_SIZE
    r = Reader(pdu)
    assert (r.u16("cmdId"), r.u16("flags"), r.u32("pduLength")) == (gfx.Cmd.RESET_GRAPHICS, 0, 340)
    assert (r.u32("width"), r.u32("height"), r.u32("monitorCount")) == (1824, 768, 2)
    assert [(r.i32("l"), r.i32("t"), r.i32("r"), r.i32("b"), r.u32("f")) for _ in range(2)] == defs
    assert r.rest() == bytes(340 - 8 - 12 - 40)
    # The default: one primary monitor covering the output.
    r = Reader(gfx.reset_graphics(800, 600)[8:])
    assert (r.u32("w"), r.u32("h"), r.u32("n"), r.i32("l"), r.i32("t"), r.i32("r"), r.i32("b"), r.u32("f")) == (
        800, 600, 1, 0, 0, 799, 599, 1)


# ---- Client Monitor Data through the bridge ------------------------------------------------------

def _bridge_with_monitors(*defs: Monitor, password: str = "secret",
                          early_flags: int = 0x40) -> tuple[MemoryClient, Bridge, Driver]:
    """A client whose GCC data carries ``defs`` as Client Monitor Data, logged in and active
    (on the login form without a password); by default it takes the Monitor Layout PDU
    (RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU)."""
    bridge = Bridge(ServerSettings())  # the session's maximum: 1920 x 1200
    client = MemoryClient(server=bridge.conn)
    driver = Driver(bridge, session=(1024, 768))
    channels = ("cliprdr", "rdpsnd")
    core = replace(CLIENT_CORE, early_capability_flags=CLIENT_CORE.early_capability_flags | early_flags)
    blocks = ClientGccBlocks(core, ClientSecurityData(),
                             ClientNetworkData(tuple(ChannelDef(n, 0xC0000000) for n in channels)),
                             monitor=ClientMonitorData(defs))
    client.connect(channels=channels, accept=False, client_data=encode(blocks), password=password)
    driver.receive(bridge.conn.events())
    client.finish(next(p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive)))
    driver.receive(bridge.conn.events())
    return client, bridge, driver


def test_client_monitor_data_lays_the_session_out_once_active():
    client, bridge, driver = _bridge_with_monitors(Monitor(0, 0, 799, 599, 1), Monitor(-1024, 0, -1, 767, 0))
    layout = (messages.Monitor(1024, 0, 800, 600, True), messages.Monitor(0, 0, 1024, 768, False))
    (resize,) = [r for r in driver.done if isinstance(r, SessionResize)]
    assert resize.request == messages.Resize(1824, 768, layout)
    # The host answers and tells every client: this one is reactivated at the layout's size.
    client.pump(bridge.data_to_send())
    bridge.resize_answered(resize, messages.ResizeReply(1824, 768, layout))
    bridge.host_push(messages.Resized(1824, 768, layout))
    demand = next(p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive))
    assert bridge.conn.width == 1824 and bridge.conn.height == 768 and demand is not None
    assert bridge.output.monitors == layout
    assert bridge.output.monitor_defs(1824, 768) == [(1024, 0, 1823, 599, 1), (0, 0, 1023, 767, 0)]
    # A host's layout that does not fit the output is not announced.
    assert bridge.output.monitor_defs(1600, 768) == []
    # Once reactivated, a client that takes the Monitor Layout PDU is told the layout.
    client.finish(demand)
    driver.receive(bridge.conn.events())
    (pdu,) = [p for p in client.pump(bridge.data_to_send()) if isinstance(p, RawData) and p.type2 == 55]
    assert MonitorLayoutPdu.decode(Reader(pdu.data)) == MonitorLayoutPdu((
        Monitor(1024, 0, 1823, 599, 1), Monitor(0, 0, 1023, 767, 0)))


def test_no_monitor_layout_pdu_to_a_client_that_does_not_take_it():
    client, bridge, driver = _bridge_with_monitors(Monitor(0, 0, 799, 599, 1), Monitor(-1024, 0, -1, 767, 0),
                                                   early_flags=0)
    layout = (messages.Monitor(1024, 0, 800, 600, True), messages.Monitor(0, 0, 1024, 768, False))
    client.pump(bridge.data_to_send())
    bridge.host_push(messages.Resized(1824, 768, layout))
    demand = next(p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive))
    client.finish(demand)
    driver.receive(bridge.conn.events())
    assert bridge.conn.active and bridge.output.monitors == layout
    assert not [p for p in client.pump(bridge.data_to_send()) if isinstance(p, RawData) and p.type2 == 55]


def test_client_monitor_data_lays_the_session_out_after_the_login_form():
    client, bridge, driver = _bridge_with_monitors(Monitor(0, 0, 1023, 767, 1), Monitor(1024, 0, 1823, 599, 0),
                                                   password="")
    assert not [r for r in driver.done if isinstance(r, SessionResize)]  # the form is up: no session yet
    for char in "secret":
        driver.receive([events.UnicodeEvent(ord(char), True)])
    driver.carry_out(bridge.receive(events.KeyboardEvent(0x1C, False, True)))
    # The session (1024 x 768) replaces the form at its own size: a reactivation, after which
    # the layout is asked for.
    assert not [r for r in driver.done if isinstance(r, SessionResize)]
    demand = next(p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive))
    client.finish(demand)
    driver.receive(bridge.conn.events())
    (resize,) = [r for r in driver.done if isinstance(r, SessionResize)]
    assert resize.request == messages.Resize(1824, 768, (messages.Monitor(0, 0, 1024, 768, True),
                                                          messages.Monitor(1024, 0, 800, 600, False)))


@pytest.mark.parametrize(("defs", "why"), [
    ((Monitor(0, 0, 1023, 767, 1), Monitor(1000, 0, 1799, 599, 0)), "monitors overlap"),
    (tuple(Monitor(i * 100, 0, i * 100 + 99, 99, int(i == 0)) for i in range(10)), "more than 4 monitors"),
    ((Monitor(0, 0, 1023, 767, 1), Monitor(1024, 0, 1024 + 65535, 767, 0)), "a monitor of 65536x768"),
])
def test_absurd_client_monitor_data_is_skipped_with_a_log_line(defs, why, caplog):
    with caplog.at_level(logging.WARNING, logger="rdpfront.monitors"):
        client, bridge, driver = _bridge_with_monitors(*defs)
    assert not [r for r in driver.done if isinstance(r, SessionResize)]  # one monitor: the session as it is
    assert bridge.conn.active and not bridge.conn.closed
    assert any(why in r.getMessage() and "Client Monitor Data" in r.getMessage() for r in caplog.records), caplog.text


disp_monitors = st.lists(st.builds(disp.Monitor, st.sampled_from([0, disp.MONITOR_PRIMARY]),
                                   st.integers(-40000, 40000), st.integers(-40000, 40000),
                                   st.integers(0, 70000) | st.integers(150, 900), st.integers(0, 70000)
                                   | st.integers(150, 900)),
                         min_size=1, max_size=disp.MAX_MONITORS)


@settings(max_examples=40, deadline=None)
@given(disp_monitors)
def test_any_well_formed_display_control_layout_gives_a_size_and_keeps_the_connection(monitors):
    client = _display_control_open()
    server = client.server
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, _layout_message(*monitors)))
    (event,) = server.events()
    assert isinstance(event, events.DisplayLayout) and not isinstance(server.state, Closed)
    assert 200 <= event.width <= 8192 and 200 <= event.height <= 8192
    assert event.layout == () or 2 <= len(event.layout) <= MAX_MONITORS
    assert all(200 <= v <= 8192 for m in event.layout for v in (m.width, m.height))
    for m in event.layout:
        assert m.x + m.width <= event.width and m.y + m.height <= event.height
