"""The asyncio driver's own logic, without a client: certificate, damage merging, key mapping."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace

from compositor.keycodes import rdp_scancode_to_evdev
from rdpfront.server import MAX_DIRTY_RECTS, RdpConnection, ensure_certificate, server_ssl_context


def test_certificate_is_generated_once_and_kept(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path / "rdp")
    first = cert.read_bytes()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert ensure_certificate(tmp_path / "rdp") == (cert, key)
    assert cert.read_bytes() == first
    assert isinstance(server_ssl_context(cert, key), ssl.SSLContext)


def test_damage_merges_to_a_bounded_list() -> None:
    conn = RdpConnection.__new__(RdpConnection)
    conn.dirty = []
    conn.dirty_event = SimpleNamespace(set=lambda: None)  # type: ignore[assignment]
    for i in range(10 * MAX_DIRTY_RECTS):
        conn.mark_dirty((i, 2 * i, 10, 10))
    assert len(conn.dirty) <= MAX_DIRTY_RECTS
    x0 = min(r[0] for r in conn.dirty)
    x1 = max(r[0] + r[2] for r in conn.dirty)
    assert x0 == 0 and x1 == 10 * MAX_DIRTY_RECTS - 1 + 10


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
