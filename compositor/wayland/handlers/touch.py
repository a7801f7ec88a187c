"""wl_touch: touch contacts from the session host become wl_touch events.

X core input has no touch, and Xvfb no touch device, so touch does not come as X input: the
session host sends each event as a ``_WRD_TOUCH`` ClientMessage to the X window of ours under
the sequence's first contact (``compositor/touch.py`` holds the wire format and the host side).
Here it becomes ``wl_touch.down/motion/up/frame/cancel`` to every wl_touch of the client that
owns the window's surface, in surface-local coordinates. A contact goes down on the surface of
the window its message was sent to and stays with it until it is lifted or cancelled.

A client that never asked for a wl_touch (foot, weston-simple-shm: programs without touch
support) would get nothing; for it the sequence's first contact becomes the X pointer instead
(XTEST motion and button 1, which reach the client as wl_pointer through the usual X input
path), as an X server does for clients that do not select touch events.

A first contact outside the popups holding a grab dismisses them and is not passed on, as a
click there is (``XdgShell.button_pressed``).

A malformed message (any X client can send one), motion or up of a contact that is not down,
and a second down of a contact already down are logged and ignored.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from Xlib import X
from Xlib.ext import xtest
from Xlib.protocol import event as xevent

from compositor import touch as wire
from compositor.wayland.handlers.seat import client_of

if TYPE_CHECKING:
    from compositor.wayland.state import Server
    from compositor.wayland.surface import Surface
    from compositor.wayland.xwindow import XWindow

log = logging.getLogger(__name__)


class Touch:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.atom = server.atom(wire.TOUCH_ATOM)
        self.contacts: dict[int, Surface] = {}  # contact id -> the surface it went down on
        self.frame_clients: set[int] = set()  # clients sent events since the last frame
        self.pointer_contact: int | None = None  # the contact driving the X pointer (no wl_touch)
        self.events = 0
        server.x_event_handlers.append(self._x_client_message)

    def _touches(self, surface: Surface) -> list[Any]:
        if surface.resource._ptr is None:
            return []
        return [t for t in self.server.seat.touches.get(client_of(surface.resource), []) if t._ptr is not None]

    def _x_client_message(self, event: Any) -> bool:
        if event.type != X.ClientMessage or event.client_type != self.atom:
            return False
        window = self.server.windows.get(event.window.id)
        decoded = wire.unpack(event.data[1]) if event.data[0] == 32 else None
        if window is None or decoded is None:
            log.warning("touch message ignored: %s", "malformed" if decoded is None else "not our window")
            return True
        kind, contact, x, y = decoded
        self.events += 1
        handler = {wire.Wire.DOWN: self.touch_down, wire.Wire.MOTION: self.touch_motion,
                   wire.Wire.UP: self.touch_up}.get(kind)
        if handler is not None:
            handler(window, contact, x, y)
        elif kind is wire.Wire.FRAME:
            self.touch_frame()
        else:
            self.touch_cancel()
        self.server.display.flush_clients()
        return True

    def touch_down(self, window: XWindow, contact: int, x: int, y: int) -> None:
        surface = window.surface
        if contact in self.contacts:
            log.warning("touch down ignored: contact %d is already down", contact)
            return
        if not self.contacts and self.server.xdg.button_pressed(window, SimpleNamespace(event_x=x, event_y=y)):
            log.info("touch outside the grabbing popups dismissed them")
            return  # as a click outside them: consumed, the contact's later events find it not down
        if surface.resource._ptr is None:
            return
        self.contacts[contact] = surface
        touches = self._touches(surface)
        if not touches:
            if len(self.contacts) == 1:  # the client has no touch: the first contact is the pointer
                self.pointer_contact = contact
                self._pointer(window, x, y, X.ButtonPress)
            return
        gx, gy = window.geometry[0], window.geometry[1]
        serial = self.server.next_serial()
        for touch in touches:
            touch.down(serial, self.server.now_ms(), surface.resource, contact, float(x + gx), float(y + gy))
        self.frame_clients.add(client_of(surface.resource))
        if not window.mapped or len(self.contacts) > 1:
            return
        # The first contact activates its window, as a click does (the WM raises and focuses it).
        message = xevent.ClientMessage(window=window.window, client_type=self.server.atom("_NET_ACTIVE_WINDOW"),
                                       data=(32, [2, X.CurrentTime, 0, 0, 0]))
        self.server.root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self.server.xdisplay.flush()

    def touch_motion(self, window: XWindow, contact: int, x: int, y: int) -> None:
        surface = self.contacts.get(contact)
        if surface is None:
            log.debug("touch motion ignored: contact %d is not down", contact)
            return
        if contact == self.pointer_contact:
            self._pointer(window, x, y, None)
            return
        gx, gy = window.geometry[0], window.geometry[1]
        for touch in self._touches(surface):
            touch.motion(self.server.now_ms(), contact, float(x + gx), float(y + gy))
        if surface.resource._ptr is not None:
            self.frame_clients.add(client_of(surface.resource))

    def touch_up(self, window: XWindow, contact: int, x: int, y: int) -> None:
        surface = self.contacts.pop(contact, None)
        if surface is None:
            log.debug("touch up ignored: contact %d is not down", contact)
            return
        if contact == self.pointer_contact:
            self.pointer_contact = None
            self._pointer(window, x, y, X.ButtonRelease)
            return
        serial = self.server.next_serial()
        for touch in self._touches(surface):
            touch.up(serial, self.server.now_ms(), contact)
        if surface.resource._ptr is not None:
            self.frame_clients.add(client_of(surface.resource))

    def touch_frame(self) -> None:
        clients, self.frame_clients = self.frame_clients, set()
        for client in clients:
            for touch in self.server.seat.touches.get(client, []):
                if touch._ptr is not None:
                    touch.frame()

    def _pointer(self, window: XWindow, x: int, y: int, button: int | None) -> None:
        """The X pointer to (x, y) of ``window``, then button 1 pressed or released if asked."""
        at = self.server.root.translate_coords(window.window, x, y)
        xtest.fake_input(self.server.xdisplay, X.MotionNotify, x=at.x, y=at.y)
        if button is not None:
            xtest.fake_input(self.server.xdisplay, button, 1)
        self.server.xdisplay.flush()
        self.server.after_x_request()

    def touch_cancel(self) -> None:
        if self.pointer_contact is not None:
            self.pointer_contact = None
            xtest.fake_input(self.server.xdisplay, X.ButtonRelease, 1)
            self.server.xdisplay.flush()
        clients = {client_of(s.resource) for s in self.contacts.values() if s.resource._ptr is not None}
        clients |= self.frame_clients
        self.contacts.clear()
        self.frame_clients = set()
        for client in clients:
            for touch in self.server.seat.touches.get(client, []):
                if touch._ptr is not None:
                    touch.cancel()
        log.info("touch cancelled clients=%d", len(clients))

    def surface_destroyed(self, surface: Surface) -> None:
        for contact in [c for c, s in self.contacts.items() if s is surface]:
            del self.contacts[contact]


def register(server: Server) -> Touch:
    return Touch(server)
