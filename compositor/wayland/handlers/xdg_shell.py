"""xdg_wm_base (toplevels as X windows, popups as override-redirect windows) and xdg-decoration."""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Any

from pywayland.protocol.xdg_decoration_unstable_v1 import ZxdgDecorationManagerV1
from pywayland.protocol.xdg_shell import XdgWmBase
from Xlib import X, Xatom
from Xlib.protocol import event as xevent

from compositor.rects import Rect
from compositor.wayland.pywayland_fixes import ProtocolError
from compositor.wayland.xwindow import XWindow

if TYPE_CHECKING:
    from compositor.wayland.state import Server
    from compositor.wayland.surface import Surface

log = logging.getLogger(__name__)

STATE_MAXIMIZED, STATE_FULLSCREEN, STATE_RESIZING, STATE_ACTIVATED = 1, 2, 3, 4
DECORATION_SERVER_SIDE = 2
ROLE_ERROR = 0
XDG_SURFACE_NOT_CONSTRUCTED, XDG_SURFACE_ALREADY_CONSTRUCTED = 1, 2
XDG_POSITIONER_INVALID_INPUT = 0
# xdg_toplevel.resize_edge -> _NET_WM_MOVERESIZE direction
MOVERESIZE_EDGE = {1: 1, 2: 5, 4: 7, 5: 0, 6: 6, 8: 3, 9: 2, 10: 4}
MOVERESIZE_MOVE = 8
NET_WM_STATE_REMOVE, NET_WM_STATE_ADD = 0, 1


class Positioner:
    def __init__(self) -> None:
        self.size = (0, 0)
        self.anchor_rect: Rect = (0, 0, 0, 0)
        self.anchor = 0
        self.gravity = 0
        self.constraint = 0
        self.offset = (0, 0)
        self.reactive = False

    def copy(self) -> Positioner:
        other = Positioner()
        other.__dict__.update(self.__dict__)
        return other

    def place(self, parent_origin: tuple[int, int], screen: tuple[int, int]) -> Rect:
        """The popup's rectangle relative to the parent's window geometry, kept on screen."""
        w, h = self.size
        x, y = self._unconstrained(self.anchor, self.gravity)
        sx, sy = parent_origin
        sw, sh = screen

        def out_x(px: int) -> bool:
            return sx + px < 0 or sx + px + w > sw

        def out_y(py: int) -> bool:
            return sy + py < 0 or sy + py + h > sh

        if out_x(x) and self.constraint & 4:  # flip_x (anchor, gravity and offset mirrored)
            fx, _ = self._unconstrained(_flip(self.anchor, True), _flip(self.gravity, True), (-1, 1))
            if not out_x(fx):
                x = fx
        if out_y(y) and self.constraint & 8:  # flip_y
            _, fy = self._unconstrained(_flip(self.anchor, False), _flip(self.gravity, False), (1, -1))
            if not out_y(fy):
                y = fy
        if out_x(x) and self.constraint & 1:  # slide_x
            x = max(-sx, min(x, sw - sx - w))
        if out_y(y) and self.constraint & 2:  # slide_y
            y = max(-sy, min(y, sh - sy - h))
        if self.constraint & 16 and sx + x + w > sw:
            w = max(1, sw - sx - x)
        if self.constraint & 32 and sy + y + h > sh:
            h = max(1, sh - sy - y)
        return x, y, w, h

    def _unconstrained(self, anchor: int, gravity: int, sign: tuple[int, int] = (1, 1)) -> tuple[int, int]:
        ax, ay, aw, ah = self.anchor_rect
        px = ax if anchor in (3, 5, 6) else ax + aw if anchor in (4, 7, 8) else ax + aw // 2
        py = ay if anchor in (1, 5, 7) else ay + ah if anchor in (2, 6, 8) else ay + ah // 2
        w, h = self.size
        x = px - w if gravity in (3, 5, 6) else px if gravity in (4, 7, 8) else px - w // 2
        y = py - h if gravity in (1, 5, 7) else py if gravity in (2, 6, 8) else py - h // 2
        return x + sign[0] * self.offset[0], y + sign[1] * self.offset[1]


def _flip(value: int, horizontal: bool) -> int:
    """Mirror an anchor/gravity edge on one axis (enum values shared by both)."""
    table = {3: 4, 4: 3, 5: 7, 7: 5, 6: 8, 8: 6} if horizontal else {1: 2, 2: 1, 5: 6, 6: 5, 7: 8, 8: 7}
    return table.get(value, value)


class XdgSurface:
    """Common part of toplevels and popups: geometry and the configure handshake."""

    def __init__(self, shell: Shell, resource: Any, surface: Surface) -> None:
        self.shell = shell
        self.server = shell.server
        self.resource = resource
        self.surface = surface
        self.role: Toplevel | Popup | None = None
        self.geometry: Rect | None = None
        self.pending_geometry: Rect | None = None
        self.configured = False
        d = resource.dispatcher
        d["get_toplevel"] = self.get_toplevel
        d["get_popup"] = self.get_popup
        d["set_window_geometry"] = self.set_window_geometry
        d["ack_configure"] = lambda r, serial: None
        d.destructor = self.destroyed

    def get_toplevel(self, res: Any, new: Any) -> None:
        if self.role is not None:
            raise ProtocolError(XDG_SURFACE_ALREADY_CONSTRUCTED, "role already set")
        self.role = Toplevel(self, new)
        self.surface.role = "xdg_toplevel"
        self.surface.role_object = self.role

    def get_popup(self, res: Any, new: Any, parent: Any, positioner: Any) -> None:
        if self.role is not None:
            raise ProtocolError(XDG_SURFACE_ALREADY_CONSTRUCTED, "role already set")
        parent_xdg = getattr(parent, "xdg", None) if parent is not None else None
        self.role = Popup(self, new, parent_xdg, positioner.positioner.copy())
        self.surface.role = "xdg_popup"
        self.surface.role_object = self.role

    def set_window_geometry(self, res: Any, x: int, y: int, w: int, h: int) -> None:
        if w <= 0 or h <= 0:
            raise ProtocolError(XDG_POSITIONER_INVALID_INPUT, "invalid window geometry")
        self.pending_geometry = (x, y, w, h)

    def effective_geometry(self) -> Rect:
        if self.pending_geometry is not None:
            self.geometry = self.pending_geometry
        if self.geometry is not None:
            x, y, w, h = self.geometry
            return x, y, max(1, min(w, self.surface.width - x) if self.surface.width > x else w), \
                max(1, min(h, self.surface.height - y) if self.surface.height > y else h)
        return 0, 0, max(1, self.surface.width), max(1, self.surface.height)

    def send_configure(self) -> None:
        serial = self.server.next_serial()
        self.resource.configure(serial)
        self.configured = True

    def destroyed(self, res: Any) -> None:
        if self.role is not None:
            self.role.unmap()


class Toplevel:
    def __init__(self, xdg: XdgSurface, resource: Any) -> None:
        self.xdg = xdg
        self.server = xdg.server
        self.resource = resource
        self.surface = xdg.surface
        self.xwindow: XWindow | None = None
        self.title = ""
        self.app_id = ""
        self.min_size = (0, 0)
        self.max_size = (0, 0)
        self.maximized = False
        self.fullscreen = False
        self.want_maximized = False
        self.want_fullscreen = False
        self.parent: Toplevel | None = None
        self.configured_size = (0, 0)
        self.last_sent: tuple[int, int, bytes] | None = None
        self.decoration: Any = None
        resource.xdg = xdg
        d = resource.dispatcher
        d["set_title"] = self.set_title
        d["set_app_id"] = self.set_app_id
        d["set_min_size"] = lambda r, w, h: self._size_hints(min_size=(w, h))
        d["set_max_size"] = lambda r, w, h: self._size_hints(max_size=(w, h))
        d["set_maximized"] = lambda r: self._net_state("_NET_WM_STATE_MAXIMIZED_VERT", True, maximize=True)
        d["unset_maximized"] = lambda r: self._net_state("_NET_WM_STATE_MAXIMIZED_VERT", False, maximize=True)
        d["set_fullscreen"] = lambda r, output: self._net_state("_NET_WM_STATE_FULLSCREEN", True)
        d["unset_fullscreen"] = lambda r: self._net_state("_NET_WM_STATE_FULLSCREEN", False)
        d["set_minimized"] = self.set_minimized
        d["move"] = lambda r, seat, serial: self._moveresize(MOVERESIZE_MOVE)
        d["resize"] = lambda r, seat, serial, edges: self._moveresize(MOVERESIZE_EDGE.get(edges, 4))
        d["set_parent"] = self.set_parent
        d.destructor = lambda r: self.unmap()

    # -- requests ----------------------------------------------------------------

    def set_title(self, res: Any, title: str) -> None:
        self.title = title
        if self.xwindow is not None:
            self.xwindow.set_title(title)

    def set_app_id(self, res: Any, app_id: str) -> None:
        self.app_id = app_id
        if self.xwindow is not None:
            self.xwindow.set_class(app_id)

    def set_parent(self, res: Any, parent: Any) -> None:
        self.parent = getattr(getattr(parent, "xdg", None), "role", None) if parent is not None else None
        self._transient_for()

    def _transient_for(self) -> None:
        if self.xwindow is not None and self.parent is not None and self.parent.xwindow is not None:
            self.xwindow.window.change_property(Xatom.WM_TRANSIENT_FOR, Xatom.WINDOW, 32,
                                                [self.parent.xwindow.id])

    def _size_hints(self, min_size: tuple[int, int] | None = None, max_size: tuple[int, int] | None = None) -> None:
        if min_size is not None:
            self.min_size = min_size
        if max_size is not None:
            self.max_size = max_size
        self._write_size_hints()

    def _write_size_hints(self) -> None:
        if self.xwindow is None:
            return
        hints: dict[str, Any] = {"flags": 0}
        if self.min_size != (0, 0):
            hints["flags"] |= 16  # PMinSize
            hints["min_width"], hints["min_height"] = self.min_size
        if self.max_size != (0, 0):
            hints["flags"] |= 32  # PMaxSize
            hints["max_width"] = self.max_size[0] or 32767
            hints["max_height"] = self.max_size[1] or 32767
        self.xwindow.window.set_wm_normal_hints(hints)

    def _net_state(self, atom_name: str, enable: bool, maximize: bool = False) -> None:
        if maximize:
            self.want_maximized = enable
        elif atom_name == "_NET_WM_STATE_FULLSCREEN":
            self.want_fullscreen = enable
        if self.xwindow is None or not self.xwindow.mapped:
            if self.xdg.configured:
                self.send_configure()
            return  # applied when the window maps
        second = self.server.atom("_NET_WM_STATE_MAXIMIZED_HORZ") if maximize else 0
        self._client_message(self.server.atom("_NET_WM_STATE"),
                             [NET_WM_STATE_ADD if enable else NET_WM_STATE_REMOVE,
                              self.server.atom(atom_name), second, 1, 0])

    def _client_message(self, message_type: int, data: list[int]) -> None:
        assert self.xwindow is not None
        ev = xevent.ClientMessage(window=self.xwindow.window, client_type=message_type, data=(32, data))
        self.server.root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self.server.xdisplay.flush()

    def set_minimized(self, res: Any) -> None:
        if self.xwindow is not None:
            self._client_message(self.server.atom("WM_CHANGE_STATE"), [3, 0, 0, 0, 0])  # IconicState

    def _moveresize(self, direction: int) -> None:
        if self.xwindow is None:
            return
        pointer = self.server.root.query_pointer()
        # Our window holds the implicit grab of the button press; the WM needs the pointer.
        self.server.xdisplay.ungrab_pointer(X.CurrentTime)
        self._client_message(self.server.atom("_NET_WM_MOVERESIZE"),
                             [pointer.root_x, pointer.root_y, direction, 1, 1])

    # -- configure -----------------------------------------------------------------

    def states(self) -> bytes:
        states = []
        if self.maximized or (self.xwindow is None and self.want_maximized):
            states.append(STATE_MAXIMIZED)
        if self.fullscreen or (self.xwindow is None and self.want_fullscreen):
            states.append(STATE_FULLSCREEN)
        if self.xwindow is not None and self.server.seat.keyboard_window is self.xwindow:
            states.append(STATE_ACTIVATED)
        return struct.pack(f"<{len(states)}I", *states)

    def send_configure(self, size: tuple[int, int] | None = None) -> None:
        if size is not None:
            self.configured_size = size
        elif self.xwindow is None and (self.want_maximized or self.want_fullscreen):
            self.configured_size = self.server.screen_size
        w, h = self.configured_size
        states = self.states()
        self.last_sent = (w, h, states)
        self.resource.configure(w, h, states)
        self.xdg.send_configure()

    def activation_changed(self) -> None:
        if self.xdg.configured and self.last_sent is not None and self.last_sent[2] != self.states():
            self.send_configure()

    # -- commits and X events -----------------------------------------------------------

    def committed(self, surface: Surface, damage: list[Rect]) -> None:
        if not self.xdg.configured:
            self.send_configure()
            return
        if surface.image is None:
            if self.xwindow is not None:
                self.unmap()
                self.xdg.configured = False
            return
        geometry = self.xdg.effective_geometry()
        if self.xwindow is None:
            self.map(geometry)
            return
        old = self.xwindow.geometry
        self.xwindow.geometry = geometry
        if (geometry[2], geometry[3]) != (self.xwindow.width, self.xwindow.height):
            self.xwindow.resize(geometry[2], geometry[3])
            self.server.schedule_redraw(self.surface)
        elif old[:2] != geometry[:2]:
            self.server.schedule_redraw(self.surface)

    def map(self, geometry: Rect) -> None:
        x, y = _centred(geometry, self.server.screen_size)
        xwin = XWindow(self.server, self.surface, x=x, y=y, width=geometry[2], height=geometry[3],
                       override_redirect=False, owner=self)
        xwin.geometry = geometry
        self.xwindow = xwin
        window = xwin.window
        window.set_wm_protocols([self.server.atom("WM_DELETE_WINDOW")])
        window.set_wm_hints(flags=1, input=1)  # InputHint
        window.change_property(self.server.atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [_client_pid(self.resource)])
        window.set_wm_normal_hints(flags=0)
        self.set_title(None, self.title or self.app_id or "wayland")
        self.set_app_id(None, self.app_id or "wayland")
        self._write_size_hints()
        self._transient_for()
        states = []
        if self.want_maximized:
            states += [self.server.atom("_NET_WM_STATE_MAXIMIZED_VERT"),
                       self.server.atom("_NET_WM_STATE_MAXIMIZED_HORZ")]
        if self.want_fullscreen:
            states.append(self.server.atom("_NET_WM_STATE_FULLSCREEN"))
        if states:
            window.change_property(self.server.atom("_NET_WM_STATE"), Xatom.ATOM, 32, states)
        xwin.map()
        self.server.xdisplay.flush()
        self.server.output.surface_mapped(self.surface)
        self.server.schedule_redraw(self.surface)
        log.info("toplevel mapped window=%#x app_id=%s size=%dx%d", xwin.id, self.app_id, geometry[2], geometry[3])

    def unmap(self) -> None:
        if self.xwindow is not None:
            if self.server.seat.keyboard_window is self.xwindow:
                self.server.seat.keyboard_window = None
                self.server.seat.set_keyboard_focus(None)
            self.xwindow.destroy()
            self.server.xdisplay.flush()
            log.info("toplevel unmapped app_id=%s", self.app_id)
            self.xwindow = None

    def surface_destroyed(self) -> None:
        self.unmap()

    def keyboard_surface(self) -> Surface:
        return self.surface

    def x_event(self, event: Any) -> None:
        if self.xwindow is None:
            return
        if event.type == X.MapNotify:
            # Focus new windows ourselves: wl-clipboard and friends need keyboard
            # focus, and a session may run without a window manager.
            self.xwindow.window.set_input_focus(X.RevertToParent, X.CurrentTime)
            self.server.xdisplay.flush()
        elif event.type == X.ConfigureNotify:
            self.xwindow.width, self.xwindow.height = event.width, event.height
            geometry = self.xwindow.geometry
            if (event.width, event.height) != (geometry[2], geometry[3]):
                self.send_configure((event.width, event.height))
        elif event.type == X.PropertyNotify and event.atom == self.server.atom("_NET_WM_STATE"):
            prop = self.xwindow.window.get_full_property(self.server.atom("_NET_WM_STATE"), Xatom.ATOM)
            atoms = set(prop.value) if prop is not None else set()
            maximized = self.server.atom("_NET_WM_STATE_MAXIMIZED_VERT") in atoms and \
                self.server.atom("_NET_WM_STATE_MAXIMIZED_HORZ") in atoms
            fullscreen = self.server.atom("_NET_WM_STATE_FULLSCREEN") in atoms
            if (maximized, fullscreen) != (self.maximized, self.fullscreen):
                self.maximized, self.fullscreen = maximized, fullscreen
                self.send_configure((self.xwindow.width, self.xwindow.height))
        elif event.type == X.ClientMessage and event.client_type == self.server.atom("WM_PROTOCOLS") \
                and event.data[1][0] == self.server.atom("WM_DELETE_WINDOW"):
            self.resource.close()


class Popup:
    def __init__(self, xdg: XdgSurface, resource: Any, parent: XdgSurface | None, positioner: Positioner) -> None:
        self.xdg = xdg
        self.server = xdg.server
        self.resource = resource
        self.surface = xdg.surface
        self.parent = parent
        self.positioner = positioner
        self.xwindow: XWindow | None = None
        self.rect: Rect = (0, 0, 1, 1)
        self.grab = False
        d = resource.dispatcher
        d["grab"] = self.request_grab
        d["reposition"] = self.reposition
        d.destructor = lambda r: self.unmap()

    def parent_window(self) -> XWindow | None:
        role = self.parent.role if self.parent is not None else None
        return getattr(role, "xwindow", None)

    def parent_origin(self) -> tuple[int, int]:
        window = self.parent_window()
        if window is None:
            return 0, 0
        coords = self.server.root.translate_coords(window.window, 0, 0)
        return coords.x, coords.y

    def send_configure(self) -> None:
        self.rect = self.positioner.place(self.parent_origin(), self.server.screen_size)
        self.resource.configure(*self.rect)
        self.xdg.send_configure()

    def request_grab(self, res: Any, seat: Any, serial: int) -> None:
        self.grab = True

    def reposition(self, res: Any, positioner: Any, token: int) -> None:
        self.positioner = positioner.positioner.copy()
        self.resource.repositioned(token)
        self.send_configure()
        if self.xwindow is not None:
            self._move()

    def _move(self) -> None:
        assert self.xwindow is not None
        px, py = self.parent_origin()
        self.xwindow.window.configure(x=px + self.rect[0], y=py + self.rect[1])

    def committed(self, surface: Surface, damage: list[Rect]) -> None:
        if not self.xdg.configured:
            self.send_configure()
            return
        if surface.image is None:
            self.unmap()
            return
        geometry = self.xdg.effective_geometry()
        if self.xwindow is None:
            px, py = self.parent_origin()
            self.xwindow = XWindow(self.server, surface, x=px + self.rect[0], y=py + self.rect[1],
                                   width=geometry[2], height=geometry[3], override_redirect=True, owner=self)
            self.xwindow.geometry = geometry
            self.xwindow.map()
            self.server.output.surface_mapped(surface)
            self.server.xdg.popup_mapped(self)
            self.server.schedule_redraw(surface)
            return
        self.xwindow.geometry = geometry
        if (geometry[2], geometry[3]) != (self.xwindow.width, self.xwindow.height):
            self.xwindow.resize(geometry[2], geometry[3])
            self.server.schedule_redraw(surface)

    def dismiss(self) -> None:
        if self.resource._ptr is not None:
            self.resource.popup_done()
        self.unmap()

    def unmap(self) -> None:
        if self.xwindow is not None:
            self.xwindow.destroy()
            self.xwindow = None
            self.server.xdisplay.flush()
        self.server.xdg.popup_unmapped(self)

    def surface_destroyed(self) -> None:
        self.unmap()

    def keyboard_surface(self) -> Surface:
        return self.surface


class Shell:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.grab_stack: list[Popup] = []
        self.pointer_grabbed = False
        self.last_button_serial = 0
        self.last_key_serial = 0

    def wm_base_bind(self, resource: Any) -> None:
        d = resource.dispatcher
        d["create_positioner"] = self.create_positioner
        d["get_xdg_surface"] = self.get_xdg_surface
        d["pong"] = lambda r, serial: None

    def create_positioner(self, res: Any, new: Any) -> None:
        p = Positioner()
        new.positioner = p
        d = new.dispatcher
        d["set_size"] = lambda r, w, h: setattr(p, "size", (w, h))
        d["set_anchor_rect"] = lambda r, x, y, w, h: setattr(p, "anchor_rect", (x, y, w, h))
        d["set_anchor"] = lambda r, a: setattr(p, "anchor", a)
        d["set_gravity"] = lambda r, g: setattr(p, "gravity", g)
        d["set_constraint_adjustment"] = lambda r, c: setattr(p, "constraint", c)
        d["set_offset"] = lambda r, x, y: setattr(p, "offset", (x, y))
        d["set_reactive"] = lambda r: setattr(p, "reactive", True)

    def get_xdg_surface(self, res: Any, new: Any, surface_res: Any) -> None:
        surface = surface_res.surface
        if surface.role not in (None, "xdg_toplevel", "xdg_popup") or surface.image is not None:
            raise ProtocolError(ROLE_ERROR, "surface already has a role or a buffer")
        xdg = XdgSurface(self, new, surface)
        new.xdg = xdg

    # -- popup grabs --------------------------------------------------------------------

    def popup_mapped(self, popup: Popup) -> None:
        if not popup.grab or popup.xwindow is None:
            return
        self.grab_stack.append(popup)
        result = popup.xwindow.window.grab_pointer(
            True, X.ButtonPressMask | X.ButtonReleaseMask | X.PointerMotionMask | X.EnterWindowMask
            | X.LeaveWindowMask, X.GrabModeAsync, X.GrabModeAsync, X.NONE, X.NONE, X.CurrentTime)
        self.pointer_grabbed = result == X.GrabSuccess
        self.server.seat.set_keyboard_focus(popup.surface)

    def popup_unmapped(self, popup: Popup) -> None:
        if popup not in self.grab_stack:
            return
        # Dismiss children of this popup too: they cannot outlive it.
        index = self.grab_stack.index(popup)
        children, self.grab_stack = self.grab_stack[index + 1:], self.grab_stack[:index]
        for child in reversed(children):
            child.dismiss()
        if self.grab_stack:
            self.server.seat.set_keyboard_focus(self.grab_stack[-1].surface)
            return
        if self.pointer_grabbed:
            self.server.xdisplay.ungrab_pointer(X.CurrentTime)
            self.server.xdisplay.flush()
            self.pointer_grabbed = False
        seat = self.server.seat
        window = seat.keyboard_window
        seat.set_keyboard_focus(window.surface if window is not None else None)

    def button_pressed(self, window: XWindow, event: Any) -> bool:
        """A click outside the grabbing popups dismisses them; True if it was consumed.

        During our pointer grab a click on another client's window (or the
        desktop) is reported to the grab window with coordinates outside it.
        """
        if not self.grab_stack:
            return False
        inside = 0 <= event.event_x < window.width and 0 <= event.event_y < window.height
        if inside and any(p.xwindow is window for p in self.grab_stack):
            return False
        for popup in reversed(list(self.grab_stack)):
            popup.dismiss()
        return True


def _centred(geometry: Rect, screen: tuple[int, int]) -> tuple[int, int]:
    return max(0, (screen[0] - geometry[2]) // 2), max(0, (screen[1] - geometry[3]) // 2)


def _client_pid(resource: Any) -> int:
    from pywayland.server import Client

    try:
        pid, _uid, _gid = Client(ptr=resource.client).get_credentials()
        return int(pid)
    except Exception:
        return 0


def decoration_manager_bind(server: Server, resource: Any) -> None:
    def get_toplevel_decoration(res: Any, new: Any, toplevel_res: Any) -> None:
        def configure(r: Any, mode: int = DECORATION_SERVER_SIDE) -> None:
            new.configure(DECORATION_SERVER_SIDE)
            toplevel = getattr(getattr(toplevel_res, "xdg", None), "role", None)
            if toplevel is None:
                for candidate in _toplevels_of(server, toplevel_res):
                    toplevel = candidate
            if toplevel is not None and toplevel.xdg.configured:
                toplevel.send_configure()

        new.dispatcher["set_mode"] = configure
        new.dispatcher["unset_mode"] = configure
        new.configure(DECORATION_SERVER_SIDE)

    resource.dispatcher["get_toplevel_decoration"] = get_toplevel_decoration


def _toplevels_of(server: Server, toplevel_res: Any) -> list[Toplevel]:
    return [w.owner for w in server.windows.values()
            if isinstance(w.owner, Toplevel) and w.owner.resource is toplevel_res]


def register(server: Server) -> Shell:
    shell = Shell(server)
    server.add_global(XdgWmBase, 3, shell.wm_base_bind)
    server.add_global(ZxdgDecorationManagerV1, 1, lambda r: decoration_manager_bind(server, r))
    return shell
