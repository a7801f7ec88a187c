"""Several monitors on a session's screen: the resize message's layout becomes RandR monitors
that the window manager (openbox) maximises onto."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compositor import messages
from compositor.monitors import fit, overlap
from tests.compositor.helpers import Subscriber, request, session_env, start_host, stop_host
from tests.compositor.window_geometry import find_window, maximise_and_wait, randr_monitors

LEFT = {"x": 0, "y": 0, "width": 1024, "height": 768, "primary": True}
RIGHT = {"x": 1024, "y": 0, "width": 800, "height": 600, "primary": False}


async def test_resize_with_monitors_gives_randr_monitors_a_window_maximises_onto():
    h = start_host(1024, 768)
    try:
        env = session_env(h)
        sub = await Subscriber().connect(h)
        reply = request(h, "resize", width=1824, height=768, monitors=[LEFT, RIGHT])
        assert (reply.get("width"), reply.get("height")) == (1824, 768)
        assert reply.get("monitors") == [LEFT, RIGHT]
        resized = await sub.next("resized")
        assert resized.get("monitors") == [LEFT, RIGHT]
        assert randr_monitors(env) == [(0, 0, 1024, 768), (1024, 0, 800, 600)]
        # A client that subscribes later learns the layout from the reply.
        assert request(h, "subscribe", format="raw").get("monitors") == [LEFT, RIGHT]

        request(h, "exec", argv=["xterm", "-name", "wrd-second-monitor", "-geometry", "40x10+1100+40"])
        window = find_window(env, "wrd-second-monitor")
        assert maximise_and_wait(env, window, (1024, 0, 800, 600)) == (1024, 0, 800, 600)

        # The same size with another layout: the monitors change and every client is told.
        swapped = [dict(LEFT, primary=False), dict(RIGHT, y=168, primary=True)]
        reply = request(h, "resize", width=1824, height=768, monitors=swapped)
        assert reply.get("monitors") == swapped
        assert (await sub.next("resized")).get("monitors") == swapped
        assert randr_monitors(env) == [(0, 0, 1024, 768), (1024, 168, 800, 600)]

        # The old form: one monitor again, the whole screen.
        reply = request(h, "resize", width=1280, height=720)
        assert reply.get("monitors") is None
        assert randr_monitors(env) == [(0, 0, 1280, 720)]
        await sub.client.close()
    finally:
        stop_host(h)


async def test_monitors_that_do_not_fit_are_skipped():
    h = start_host(1024, 768)
    try:
        env = session_env(h)
        # Overlapping: the second is left out, and one monitor is no layout.
        reply = request(h, "resize", width=1824, height=768, monitors=[LEFT, dict(RIGHT, x=1000)])
        assert reply.get("monitors") is None
        assert randr_monitors(env) == [(0, 0, 1824, 768)]
        # Past the session's maximum (1920 x 1200): the screen is clamped and the monitor that
        # no longer fits is skipped; the others stay.
        third = {"x": 1824, "y": 0, "width": 640, "height": 480, "primary": False}
        reply = request(h, "resize", width=2464, height=768, monitors=[LEFT, RIGHT, third])
        assert reply.get("width") == 1920
        assert reply.get("monitors") == [LEFT, RIGHT]
        assert randr_monitors(env) == [(0, 0, 1024, 768), (1024, 0, 800, 600)]
    finally:
        stop_host(h)


monitor = st.builds(messages.Monitor, st.integers(0, 3000), st.integers(0, 3000), st.integers(1, 3000),
                    st.integers(1, 3000), st.booleans())


@given(st.lists(monitor, max_size=messages.MAX_MONITORS).map(tuple), st.integers(64, 4000), st.integers(64, 4000))
def test_fit_keeps_disjoint_monitors_inside_the_screen_with_one_primary(monitors, width, height):
    kept = fit(monitors, width, height)
    assert len(kept) != 1
    if kept:
        assert sum(m.primary for m in kept) == 1
    for i, m in enumerate(kept):
        assert m.x + m.width <= width and m.y + m.height <= height
        assert not any(overlap(m, other) for other in kept[i + 1:])
        assert any((m.x, m.y, m.width, m.height) == (o.x, o.y, o.width, o.height) for o in monitors)


@pytest.mark.parametrize("bad", [
    [{"x": -1, "y": 0, "width": 10, "height": 10}],
    [{"x": 0, "y": 0, "width": 0, "height": 10}],
    [{"x": 0, "y": 0, "width": 10}],
    [{"x": 0, "y": 0, "width": 10, "height": 10, "primary": 1}],
    [dict(LEFT)] * (messages.MAX_MONITORS + 1),
    "two",
])
def test_resize_with_a_malformed_layout_is_refused(bad):
    with pytest.raises(messages.RemoteProtocolError, match="monitors"):
        messages.Resize.decode({"width": 800, "height": 600, "monitors": bad})
