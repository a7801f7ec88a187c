"""zwp_text_input_v3: accepted so clients run without warnings; no input method is bridged.

Text with no key (RDP unicode events, browser IME text) reaches clients through
the session host's spare-keycode XTEST path instead, as for X11 apps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pywayland.protocol.text_input_unstable_v3 import ZwpTextInputManagerV3

if TYPE_CHECKING:
    from compositor.wayland.state import Server


def register(server: Server) -> None:
    def bind(resource: Any) -> None:
        resource.dispatcher["get_text_input"] = lambda r, text_input, seat: None

    server.add_global(ZwpTextInputManagerV3, 1, bind)
