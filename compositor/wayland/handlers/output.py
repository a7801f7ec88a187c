"""wl_output and zxdg_output_manager_v1: one output, the X screen, following RandR."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pywayland.protocol.wayland import WlOutput
from pywayland.protocol.xdg_output_unstable_v1 import ZxdgOutputManagerV1

if TYPE_CHECKING:
    from compositor.wayland.state import Server

log = logging.getLogger(__name__)

MODE_CURRENT = 1
REFRESH_MHZ = 60000


class Output:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.resources: list[Any] = []
        self.xdg_resources: list[Any] = []
        server.on_screen_resize.append(self.screen_resized)

    def output_bind(self, resource: Any) -> None:
        self.resources.append(resource)
        resource.dispatcher.destructor = lambda r: self.resources.remove(r) if r in self.resources else None
        self.send(resource)

    def send(self, resource: Any) -> None:
        width, height = self.server.screen_size
        # ~96 dpi physical size in millimetres.
        resource.geometry(0, 0, width * 254 // 960, height * 254 // 960, 0, "WRD", "virtual", 0)
        resource.mode(MODE_CURRENT, width, height, REFRESH_MHZ)
        resource.scale(1)
        resource.name("WRD-1")
        resource.description("WRD virtual screen")
        resource.done()

    def surface_mapped(self, surface: Any) -> None:
        """wl_surface.enter(output) for the client's outputs: the one screen shows every window."""
        client = surface.resource.client
        if client is None:
            return
        for resource in self.resources:
            if resource.client == client:
                surface.resource.enter(resource)

    def xdg_manager_bind(self, resource: Any) -> None:
        def get_xdg_output(res: Any, new: Any, output: Any) -> None:
            self.xdg_resources.append(new)
            new.dispatcher.destructor = lambda r: self.xdg_resources.remove(r) if r in self.xdg_resources else None
            self.send_xdg(new)
            if output is not None and new.version < 3:
                new.done()
            if output is not None:
                output.done()

        resource.dispatcher["get_xdg_output"] = get_xdg_output

    def send_xdg(self, resource: Any) -> None:
        width, height = self.server.screen_size
        resource.logical_position(0, 0)
        resource.logical_size(width, height)
        resource.name("WRD-1")
        resource.description("WRD virtual screen")

    def screen_resized(self, width: int, height: int) -> None:
        for resource in list(self.xdg_resources):
            self.send_xdg(resource)
        for resource in list(self.resources):
            self.send(resource)


def register(server: Server) -> Output:
    output = Output(server)
    server.add_global(WlOutput, 4, output.output_bind)
    server.add_global(ZxdgOutputManagerV1, 3, output.xdg_manager_bind)
    return output
