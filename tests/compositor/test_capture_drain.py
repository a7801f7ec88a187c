"""When the capture drains its X connection outside the descriptor's signal: only when
python-xlib holds something (events it read while waiting for a reply, requests not sent);
damage comes on a connection of its own. On a real Xvfb."""

from __future__ import annotations

import asyncio
import select

from compositor.capture import Capture, CaptureListener


def test_drain_only_when_python_xlib_holds_something(xvfb, monkeypatch):
    monkeypatch.setenv("XAUTHORITY", xvfb.env()["XAUTHORITY"])  # python-xlib reads the cookie only there
    heard: list[str] = []
    listener = CaptureListener(
        damaged=lambda: heard.append("damaged"), pointer_motion=lambda: None, resized=lambda w, h: None,
        cursor_changed=lambda: None, pointer_at=lambda x, y: None, other_event=lambda e: None,
        lost=lambda why: heard.append(why))
    capture = Capture(session="t", attached=True, stopping=asyncio.Event())
    d = capture.open(xvfb.env()["DISPLAY"], None, listener)
    try:
        d.sync()
        capture.drain()
        capture._damage_pending = True
        capture.collect_damage()  # the whole screen a new damage object starts with
        capture.drain()
        heard.clear()
        assert not capture.queued()

        d.bell()  # a request python-xlib keeps until something sends it
        assert capture.queued()
        capture.drain_queued()
        assert not capture.queued()

        root = d.screen().root
        root.fill_rectangle(root.create_gc(foreground=d.screen().white_pixel), 5, 5, 10, 10)
        d.sync()
        assert not capture.queued()  # the damage event went to the damage connection
        assert select.select([capture._damage.fileno()], [], [], 5.0)[0]
        capture.drain_damage()
        assert heard == ["damaged"]
        assert capture.collect_damage() == [(5, 5, 10, 10)]
        assert capture.collect_damage() is None  # no damage event since
    finally:
        capture.close()
