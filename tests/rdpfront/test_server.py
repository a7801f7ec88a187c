"""The asyncio driver's helpers (certificate, key mapping, damage made disjoint, pacing, copies as
orders), and what it does on a timer against our own client over TCP + TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from compositor.keycodes import rdp_scancode_to_evdev
from compositor.rects import disjoint
from rdpfront import mcs
from rdpfront.rdp.pdus import DemandActive, ErrorInfo, SetErrorInfo
from rdpfront.server import ensure_certificate, server_ssl_context
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import close_server, start_server


def test_certificate_is_generated_once_and_kept(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path / "rdp")
    first = cert.read_bytes()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert ensure_certificate(tmp_path / "rdp") == (cert, key)
    assert cert.read_bytes() == first
    assert isinstance(server_ssl_context(cert, key), ssl.SSLContext)


def test_scancodes_to_evdev() -> None:
    assert rdp_scancode_to_evdev(0x1E) == 30  # A
    assert rdp_scancode_to_evdev(0x1C) == 28  # Enter
    assert rdp_scancode_to_evdev(0x1C, extended=True) == 96  # keypad Enter
    assert rdp_scancode_to_evdev(0x38, extended=True) == 100  # AltGr
    assert rdp_scancode_to_evdev(0x48, extended=True) == 103  # Up
    assert rdp_scancode_to_evdev(0x5B, extended=True) == 125  # left Windows key
    assert rdp_scancode_to_evdev(0x1D, extended1=True) == 119  # Pause
    assert rdp_scancode_to_evdev(0x57) == 87 and rdp_scancode_to_evdev(0x58) == 88  # F11, F12
    assert rdp_scancode_to_evdev(0x7F) is None


def test_coalesced_damage_never_covers_a_pixel_twice() -> None:
    """The same area damaged many times while a client was slow is encoded once."""
    assert disjoint([(10, 10, 100, 50)] * 40) == [(10, 10, 100, 50)]
    rects = [(0, 0, 10, 10), (5, 5, 10, 10), (100, 100, 5, 5), (14, 14, 2, 2), (0, 0, 0, 9)]
    merged = disjoint(rects)
    assert sorted(merged) == [(0, 0, 16, 16), (100, 100, 5, 5)]
    for i, (x, y, w, h) in enumerate(merged):
        for ox, oy, ow, oh in merged[i + 1:]:
            assert not (x < ox + ow and ox < x + w and y < oy + oh and oy < y + h)
    # Every damaged pixel is still covered.
    for x, y, w, h in rects:
        for px, py in ((x, y), (x + w - 1, y + h - 1)):
            if w and h:
                assert any(mx <= px < mx + mw and my <= py < my + mh for mx, my, mw, mh in merged)


def test_huge_bitmap_frames_are_paced_small_ones_never() -> None:
    from rdpfront.host_frames import HUGE_FRAME_BYTES, bitmap_hold

    assert bitmap_hold(HUGE_FRAME_BYTES - 1, 0.0) == 0.0  # typing, scrolling: at once
    # A 2.8 MB frame (720p video, lossless) at 12 MiB/s: about 4.5 frames a second.
    assert abs(bitmap_hold(2_800_000, 0.01, 12 * 2**20) - (2_800_000 / (12 * 2**20) - 0.01)) < 1e-9
    # A client that took long to drain it waits as long again.
    assert bitmap_hold(300_000, 0.5, 12 * 2**20) == 0.5


def test_copy_frames_become_scrblt_orders_inside_the_screen() -> None:
    from compositor import messages
    from rdpfront.host_frames import scrblt_orders
    from rdpfront.orders import ScrBlt

    frame = messages.Frame.from_encoder(1, 1, {"codec": "copy", "rects": [
        [0, 0, 100, 50, 0, 16], [700, 0, 200, 10, 700, 5], [0, 0, 10, 10, -1, 0]]}, b"")
    assert scrblt_orders(frame, 800, 600) == [ScrBlt(0, 0, 100, 50, 0xCC, 0, 16)]


async def test_the_login_form_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A client sent no password and never logs in: the form closes the connection politely."""
    rdp, port = await start_server(tmp_path, tmp_path / "no-host.sock", login_timeout=1.0)
    client = await asyncio.to_thread(SocketClient, port, timeout=5)
    try:
        await asyncio.to_thread(client.connect, password="")
        assert any(isinstance(p, DemandActive) for p in client.received)  # activated, with the form
        ending: list = []
        try:
            while True:
                ending += await asyncio.to_thread(client.pump)
        except ConnectionError:  # the server closed the connection
            pass
        assert SetErrorInfo(ErrorInfo.SERVER_DENIED_CONNECTION) in ending
        assert isinstance(ending[-1], mcs.DisconnectProviderUltimatum)
    finally:
        client.close()
        await close_server(rdp)
