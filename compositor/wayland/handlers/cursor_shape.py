"""wp_cursor_shape_v1: named cursor shapes become X cursor-font cursors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pywayland.protocol.cursor_shape_v1 import WpCursorShapeManagerV1

if TYPE_CHECKING:
    from compositor.wayland.state import Server


def register(server: Server) -> None:
    def bind(resource: Any) -> None:
        def get_pointer(res: Any, device: Any, pointer: Any) -> None:
            device.dispatcher["set_shape"] = lambda r, serial, shape: server.seat.cursor.set_shape(shape)

        resource.dispatcher["get_pointer"] = get_pointer
        resource.dispatcher["get_tablet_tool_v2"] = lambda r, device, tool: None

    server.add_global(WpCursorShapeManagerV1, 1, bind)
