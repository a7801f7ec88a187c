"""The pywayland server-side patch layer, with a real libwayland server and client in one process.

The server runs its event loop in a thread; the client (pywayland's client
side) talks to it over a real socket. Each test names the defect it guards.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pywayland import lib
from pywayland.protocol.wayland import (
    WlCompositor,
    WlDataDeviceManager,
    WlDataOffer,
    WlSeat,
    WlSubcompositor,
)
from pywayland.server import Display as ServerDisplay

from compositor.wayland import pywayland_fixes
from tests.compositor.wayland.wlclient import Client

pywayland_fixes.apply()

EPROTO = 71


class FixesServer:
    def __init__(self, runtime: Path) -> None:
        self.display = ServerDisplay()
        self.socket = str(runtime / "wayland-fixes")
        self.display.add_socket("wayland-fixes")
        self.loop = self.display.get_event_loop()
        self.calls: list[tuple[Any, ...]] = []
        self.resources: list[Any] = []
        self.last_surface: Any = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            lib.wl_event_loop_dispatch(self.loop._ptr, 20)
            self.display.flush_clients()

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.display.destroy()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FixesServer]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    srv = FixesServer(tmp_path)

    def compositor_bind(resource: Any) -> None:
        def create_surface(res: Any, surface: Any) -> None:
            # Deliberately keep no reference: the patch layer must hold it.
            srv.calls.append(("create_surface", type(surface).__name__, surface.version))
            srv.last_surface = weakref.ref(surface)
            d = surface.dispatcher
            d["damage"] = lambda r, x, y, w, h: srv.calls.append(("damage", x, y, w, h)) or object()
            d["attach"] = lambda r, buffer, x, y: srv.calls.append(("attach", buffer, x, y))
            d["set_buffer_scale"] = lambda r, scale: 1 / 0  # a buggy handler
            d["frame"] = frame
            d.destructor = lambda r: srv.calls.append(("surface destroyed", r._ptr is not None))

        def frame(res: Any, callback: Any) -> None:
            callback.done(7)
            callback.destroy()
            callback.done(8)  # on a dead resource: must be dropped, not crash
            srv.calls.append(("frame", callback._ptr))

        resource.dispatcher["create_surface"] = create_surface

    def subcompositor_bind(resource: Any) -> None:
        def get_subsurface(res: Any, sub: Any, surface: Any, parent: Any) -> None:
            srv.calls.append(("get_subsurface", sub, surface, parent))
            srv.resources.append(surface)

        resource.dispatcher["get_subsurface"] = get_subsurface

    def data_manager_bind(resource: Any) -> None:
        def create_data_source(res: Any, source: Any) -> None:
            source.dispatcher["offer"] = lambda r, mime: srv.calls.append(("offer", mime))

        def get_data_device(res: Any, device: Any, seat: Any) -> None:
            offer = WlDataOffer.resource_class(device.client, device.version, 0)
            offer.dispatcher["receive"] = lambda r, mime, fd: srv.calls.append(("receive", mime, fd))
            device.data_offer(offer)
            offer.offer("text/x-wrd")
            device.selection(offer)

        resource.dispatcher["create_data_source"] = create_data_source
        resource.dispatcher["get_data_device"] = get_data_device

    def seat_bind(resource: Any) -> None:
        def get_keyboard(res: Any, keyboard: Any) -> None:
            keyboard.enter(5, srv.last_surface(), b"\x01\x00\x00\x00\x1e\x00\x00\x00")
            keyboard.repeat_info(25, 600)
            keyboard.modifiers(6, 1, 0, 2, 0)

        resource.dispatcher["get_keyboard"] = get_keyboard
        resource.capabilities(3)

    for interface, version, bind in ((WlCompositor, 4, compositor_bind), (WlSubcompositor, 1, subcompositor_bind),
                                     (WlDataDeviceManager, 3, data_manager_bind), (WlSeat, 5, seat_bind)):
        pywayland_fixes.make_global(srv.display, interface, version, bind)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def test_requests_reach_handlers_with_server_side_arguments(server: FixesServer) -> None:
    """Defects 1 and 2: NULL implementation; arguments decoded as if client side."""
    client = Client(server.socket)
    compositor = client.bind(WlCompositor, 4)
    surface = compositor.create_surface()
    parent = compositor.create_surface()
    surface.attach(None, 3, -4)
    surface.damage(1, 2, 30, 40)
    subcompositor = client.bind(WlSubcompositor, 1)
    subcompositor.get_subsurface(surface, parent)
    assert client.roundtrip() >= 0
    assert ("create_surface", "WlSurfaceResource", 4) in server.calls
    assert ("attach", None, 3, -4) in server.calls
    assert ("damage", 1, 2, 30, 40) in server.calls
    (_, sub, got_surface, got_parent), = [c for c in server.calls if c[0] == "get_subsurface"]
    assert type(sub).__name__ == "WlSubsurfaceResource"
    assert type(got_surface).__name__ == "WlSurfaceResource" and got_surface is not got_parent
    assert got_surface.alive
    client.close()


def test_string_arguments_and_new_id_events(server: FixesServer) -> None:
    """Defect 3: events with a new_id sent NULL (wl_data_device.data_offer)."""
    client = Client(server.socket)
    manager = client.bind(WlDataDeviceManager, 3)
    seat = client.bind(WlSeat, 5)
    source = manager.create_data_source()
    source.offer("text/plain;charset=utf-8")
    received: list[Any] = []

    def data_offer(device: Any, offer: Any) -> None:
        received.append(("data_offer", type(offer).__name__))
        offer.dispatcher["offer"] = lambda o, mime: received.append(("mime", mime))

    device = manager.get_data_device(seat)
    device.dispatcher["data_offer"] = data_offer
    device.dispatcher["selection"] = lambda d, offer: received.append(("selection", offer is not None))
    assert client.roundtrip() >= 0
    client.roundtrip()
    assert ("offer", "text/plain;charset=utf-8") in server.calls
    assert received == [("data_offer", "WlDataOfferProxy"), ("mime", "text/x-wrd"), ("selection", True)]
    client.close()


def test_resources_stay_alive_without_python_references(server: FixesServer) -> None:
    """Defect 4: resources were only weakly held."""
    client = Client(server.socket)
    compositor = client.bind(WlCompositor, 4)
    surface = compositor.create_surface()
    client.roundtrip()
    for _ in range(3):
        gc.collect()
    surface.damage(5, 6, 7, 8)
    assert client.roundtrip() >= 0
    assert ("damage", 5, 6, 7, 8) in server.calls
    client.close()


def test_return_values_ignored_and_destructors_run(server: FixesServer) -> None:
    """Defect 5 (return values leaked into C) and destructor requests."""
    client = Client(server.socket)
    compositor = client.bind(WlCompositor, 4)
    surface = compositor.create_surface()
    surface.damage(0, 0, 1, 1)  # its handler returns an object
    done: list[int] = []
    callback = surface.frame()
    callback.dispatcher["done"] = lambda cb, data: done.append(data)
    assert client.roundtrip() >= 0
    assert done == [7], "exactly one done: the second, on a dead resource, is dropped"
    assert ("frame", None) in server.calls
    surface.destroy()
    assert client.roundtrip() >= 0
    assert ("surface destroyed", True) in server.calls
    client.close()


def test_handler_exception_disconnects_only_that_client(server: FixesServer) -> None:
    """Defect 5: an exception in a handler becomes a protocol error for that client."""
    bad = Client(server.socket)
    surface = bad.bind(WlCompositor, 4).create_surface()
    surface.set_buffer_scale(2)
    assert bad.roundtrip() < 0
    assert bad.error() == EPROTO
    good = Client(server.socket)
    good.bind(WlCompositor, 4).create_surface().damage(9, 9, 9, 9)
    assert good.roundtrip() >= 0
    assert ("damage", 9, 9, 9, 9) in server.calls
    good.close()


def test_array_arguments_arrive(server: FixesServer) -> None:
    """Arrays were never attached to the wl_argument: check a keys array round trip."""
    from pywayland.protocol.wayland import WlKeyboard

    client = Client(server.socket)
    surface = client.bind(WlCompositor, 4).create_surface()
    client.roundtrip()
    seat = client.bind(WlSeat, 5)
    keyboard = seat.get_keyboard()
    got: list[Any] = []
    keyboard.dispatcher["enter"] = lambda k, serial, surf, keys: got.append(("enter", serial, surf is surface, keys))
    keyboard.dispatcher["repeat_info"] = lambda k, rate, delay: got.append(("repeat", rate, delay))
    keyboard.dispatcher["modifiers"] = lambda k, *a: got.append(("mods", *a))
    assert client.roundtrip() >= 0
    assert got == [("enter", 5, True, b"\x01\x00\x00\x00\x1e\x00\x00\x00"), ("repeat", 25, 600),
                   ("mods", 6, 1, 0, 2, 0)]
    _ = WlKeyboard
    client.close()


def test_encode_event_arguments_array_and_dead_objects() -> None:
    message = WlDataOffer.events[0]  # offer(mime_type: string)
    encoded = pywayland_fixes.encode_event_arguments(message, ("text/plain",))
    assert encoded is not None
    from pywayland.protocol.wayland import WlKeyboard

    enter = WlKeyboard.events[1]  # enter(serial, surface, keys)

    class Dead:
        _ptr = None

    assert pywayland_fixes.encode_event_arguments(enter, (1, Dead(), b"")) is None
    with pytest.raises(TypeError):
        pywayland_fixes.encode_event_arguments(enter, (1,))
