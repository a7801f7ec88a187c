"""xdg_activation_v1: tokens are handed out freely; activating one focuses and raises the window."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from pywayland.protocol.xdg_activation_v1 import XdgActivationV1
from Xlib import X
from Xlib.protocol import event as xevent

if TYPE_CHECKING:
    from compositor.wayland.state import Server

log = logging.getLogger(__name__)


class Activation:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.tokens: set[str] = set()

    def bind(self, resource: Any) -> None:
        resource.dispatcher["get_activation_token"] = self.get_activation_token
        resource.dispatcher["activate"] = self.activate

    def get_activation_token(self, res: Any, token: Any) -> None:
        def commit(r: Any) -> None:
            value = secrets.token_hex(16)
            self.tokens.add(value)
            if len(self.tokens) > 256:
                self.tokens.pop()
            r.done(value)

        token.dispatcher["commit"] = commit

    def activate(self, res: Any, token: str, surface_res: Any) -> None:
        surface = getattr(surface_res, "surface", None)
        if token not in self.tokens or surface is None:
            return
        self.tokens.discard(token)
        xwindow = getattr(surface.root().role_object, "xwindow", None)
        if xwindow is None or xwindow.destroyed:
            return
        # Ask the window manager, as an X pager would (source indication 2).
        ev = xevent.ClientMessage(window=xwindow.window, client_type=self.server.atom("_NET_ACTIVE_WINDOW"),
                                  data=(32, [2, X.CurrentTime, 0, 0, 0]))
        self.server.root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self.server.xdisplay.flush()
        log.info("window activated window=%#x", xwindow.id)


def register(server: Server) -> Activation:
    activation = Activation(server)
    server.add_global(XdgActivationV1, 1, activation.bind)
    return activation
