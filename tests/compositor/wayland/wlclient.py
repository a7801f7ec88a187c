"""A minimal Wayland client on pywayland's client side, for tests (hostile and friendly)."""

from __future__ import annotations

import os
from typing import Any

from pywayland.client import Display
from pywayland.protocol.wayland import WlCompositor, WlSeat, WlShm

WL_SHM_FORMAT_XRGB8888 = 1


class Client:
    def __init__(self, name: str | None = None) -> None:
        self.display = Display(name)
        self.display.connect()
        self.globals: dict[str, tuple[int, int]] = {}
        registry = self.display.get_registry()
        registry.dispatcher["global"] = self._global
        self.registry = registry
        self.display.roundtrip()

    def _global(self, registry: Any, name: int, interface: str, version: int) -> None:
        self.globals[interface] = (name, version)

    def bind(self, interface: Any, version: int) -> Any:
        name, available = self.globals[interface.name]
        return self.registry.bind(name, interface, min(version, available))

    def compositor(self) -> Any:
        return self.bind(WlCompositor, 4)

    def shm(self) -> Any:
        return self.bind(WlShm, 1)

    def seat(self) -> Any:
        return self.bind(WlSeat, 5)

    def roundtrip(self) -> int:
        return self.display.roundtrip()

    def error(self) -> int:
        from pywayland import lib

        return lib.wl_display_get_error(self.display._ptr)

    def close(self) -> None:
        """Disconnect. pywayland destroys proxies when they are collected, which after a
        disconnect touches freed memory; detach those destructors first. Proxies made
        for new_id events may name another display (pywayland picks the first
        registry's), so detach every live proxy: a test client leaks them, harmlessly."""
        from pywayland import ffi
        from pywayland.protocol import wayland
        from pywayland.protocol_core import Interface

        for value in vars(wayland).values():
            if isinstance(value, type) and issubclass(value, Interface) and hasattr(value, "registry"):
                for proxy in list(value.registry.values()):
                    if proxy._ptr is not None:
                        proxy._ptr = ffi.gc(proxy._ptr, None)
        self.display.disconnect()


def shm_buffer(shm: Any, width: int, height: int, colour: int = 0xFF3366CC) -> tuple[Any, int, Any]:
    """A wl_buffer backed by a memfd filled with ``colour``; returns (buffer, fd, pool)."""
    stride = width * 4
    size = stride * height
    fd = os.memfd_create("wrd-test-buffer")
    os.ftruncate(fd, size)
    os.pwrite(fd, colour.to_bytes(4, "little") * (width * height), 0)
    pool = shm.create_pool(fd, size)
    buffer = pool.create_buffer(0, width, height, stride, WL_SHM_FORMAT_XRGB8888)
    return buffer, fd, pool


class Toplevel:
    """An xdg toplevel with one shm buffer, driven by explicit roundtrips."""

    def __init__(self, client: Client, width: int, height: int, colour: int, title: str = "wrd-test") -> None:
        from pywayland.protocol.xdg_shell import XdgWmBase

        self.client = client
        self.compositor = client.compositor()
        self.shm = client.shm()
        self.wm_base = client.bind(XdgWmBase, 2)
        self.wm_base.dispatcher["ping"] = lambda base, serial: base.pong(serial)
        self.surface = self.compositor.create_surface()
        self.xdg_surface = self.wm_base.get_xdg_surface(self.surface)
        self.toplevel = self.xdg_surface.get_toplevel()
        self.toplevel.set_title(title)
        self.configures: list[tuple[int, int, bytes]] = []
        self.closed = False
        self.toplevel.dispatcher["configure"] = lambda t, w, h, states: self.configures.append((w, h, states))
        self.toplevel.dispatcher["close"] = lambda t: setattr(self, "closed", True)
        self.xdg_surface.dispatcher["configure"] = lambda s, serial: s.ack_configure(serial)
        self.surface.commit()
        client.roundtrip()
        self.buffer, self.fd, self.pool = shm_buffer(self.shm, width, height, colour)
        self.surface.attach(self.buffer, 0, 0)
        self.surface.damage(0, 0, width, height)

    def commit(self) -> None:
        self.surface.commit()
        self.client.roundtrip()
