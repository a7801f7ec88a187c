"""wl_seat: X input events on our windows become wl_pointer / wl_keyboard events.

The keymap is the X server's own (``xkbcomp -xkb $DISPLAY -``), re-sent to every
keyboard when X reports a MappingNotify (``setxkbmap`` and friends). X keycodes
are evdev codes + 8, exactly as Wayland's xkb_v1 keymaps expect.

A key that follows a keyboard MappingNotify in the X event stream is only forwarded
once the new keymap has been sent: the session host types characters that have no
key by remapping a spare keycode just before pressing it, and a client that got the
key first would decode it with the old keymap (as nothing).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pywayland import lib
from pywayland.protocol.wayland import WlSeat
from Xlib import X

from compositor.wayland.handlers import cursor
from compositor.wayland.pywayland_fixes import address

if TYPE_CHECKING:
    from compositor.wayland.state import Server
    from compositor.wayland.surface import Surface
    from compositor.wayland.xwindow import XWindow

log = logging.getLogger(__name__)

CAP_POINTER, CAP_KEYBOARD, CAP_TOUCH = 1, 2, 4
KEYMAP_FORMAT_XKB_V1 = 1
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE = 0x110, 0x111, 0x112
X_BUTTONS = {1: BTN_LEFT, 2: BTN_MIDDLE, 3: BTN_RIGHT, 8: 0x113, 9: 0x114}
AXIS_VERTICAL, AXIS_HORIZONTAL = 0, 1
AXIS_SOURCE_WHEEL = 0
# X scroll buttons: 4 up, 5 down, 6 left, 7 right -> (axis, direction)
X_SCROLL = {4: (AXIS_VERTICAL, -1), 5: (AXIS_VERTICAL, 1), 6: (AXIS_HORIZONTAL, -1), 7: (AXIS_HORIZONTAL, 1)}
SCROLL_STEP = 10.0
LOCK_MASKS = X.LockMask | X.Mod2Mask  # Caps Lock, Num Lock


def client_of(resource: Any) -> int:
    return address(lib.wl_resource_get_client(resource._ptr)) if resource._ptr is not None else 0


def load_keymap() -> bytes:
    """The X server's keymap in xkb text form, NUL terminated."""
    try:
        result = subprocess.run(["xkbcomp", "-xkb", os.environ.get("DISPLAY", ""), "-"],
                                capture_output=True, timeout=10, check=True)
        text = result.stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("xkbcomp failed, using a default keymap reason=%s", exc)
        text = b'xkb_keymap { xkb_keycodes { include "evdev+aliases(qwerty)" }; ' \
               b'xkb_types { include "complete" }; xkb_compat { include "complete" }; ' \
               b'xkb_symbols { include "pc+us+inet(evdev)" }; };'
    return text + b"\0"


_KEY_NAME = re.compile(rb"^\s*<([^>]+)>\s*=\s*(\d+)\s*;", re.MULTILINE)


def name_unnamed_keys(keymap: bytes, rows: dict[int, list[int]]) -> bytes:
    """``keymap`` (xkbcomp text) plus the keycodes of ``rows`` (core mapping: keycode ->
    keysyms) that have symbols but no XKB key name.

    xkbcomp writes symbols by key name, so a keycode the server's keycodes section does
    not name (93 under evdev) is left out, symbols and all, even after a core
    ChangeKeyboardMapping gave it some: which is what typing through a spare keycode
    does. Each such keycode gets a name and its first two keysyms (one group).
    """
    head, sep, tail = keymap.partition(b"xkb_symbols")
    keycodes = head.find(b"xkb_keycodes")
    symbols_open = tail.find(b"{")
    if not sep or keycodes < 0 or symbols_open < 0:
        return keymap
    names = {m.group(1) for m in _KEY_NAME.finditer(head)}
    named = {int(m.group(2)) for m in _KEY_NAME.finditer(head)}
    if not named:  # the fallback keymap: its keycodes come by include
        return keymap
    name_lines, key_lines = [], []
    for keycode, syms in sorted(rows.items()):
        levels = [s for s in syms[:2] if s]
        name = b"W%03d" % keycode
        if keycode in named or not levels or name in names:
            continue
        name_lines.append(b"    <%s> = %d;\n" % (name, keycode))
        key_lines.append(b"    key <%s> { [ %s ] };\n" % (name, b", ".join(b"0x%x" % s for s in levels)))
    if not name_lines:
        return keymap
    keycodes_open = head.index(b"{", keycodes) + 1
    head = head[:keycodes_open] + b"\n" + b"".join(name_lines) + head[keycodes_open:]
    tail = tail[:symbols_open + 1] + b"\n" + b"".join(key_lines) + tail[symbols_open + 1:]
    return head + sep + tail


class Seat:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.seats: list[Any] = []
        self.pointers: dict[int, list[Any]] = defaultdict(list)
        self.keyboards: dict[int, list[Any]] = defaultdict(list)
        self.touches: dict[int, list[Any]] = defaultdict(list)
        self.pointer_focus: Surface | None = None
        self.keyboard_focus: Surface | None = None
        self.keyboard_window: XWindow | None = None
        self.mods = (0, 0, 0, 0)
        self.keymap_fd = -1
        self.keymap_size = 0
        self.keymap_reload_handle: Any = None
        self.keymap_stale = False
        self.cursor = cursor.CursorManager(server)
        self.pressed_keys: set[int] = set()
        self._load_keymap()
        server.x_event_handlers.append(self._x_mapping_notify)

    # -- keymap ------------------------------------------------------------------

    def _load_keymap(self) -> None:
        data = load_keymap()
        info = self.server.xdisplay.display.info
        try:
            mapping = self.server.xdisplay.get_keyboard_mapping(
                info.min_keycode, info.max_keycode - info.min_keycode + 1)
        except Exception as exc:  # the keymap without unnamed keys is still worth sending
            log.warning("keyboard mapping unavailable reason=%s", exc)
        else:
            rows = {info.min_keycode + i: list(row) for i, row in enumerate(mapping)}
            data = name_unnamed_keys(data.rstrip(b"\0"), rows) + b"\0"
        self.server.after_x_request()
        fd = os.memfd_create("wrd-keymap", os.MFD_CLOEXEC)
        os.write(fd, data)
        if self.keymap_fd >= 0:
            os.close(self.keymap_fd)
        self.keymap_fd, self.keymap_size = fd, len(data)

    def _x_mapping_notify(self, event: Any) -> bool:
        if event.type != X.MappingNotify:
            return False
        if event.request == X.MappingPointer:
            return True
        self.keymap_stale = True
        if self.server.loop is not None and self.keymap_reload_handle is None:
            # setxkbmap sends a burst of these; reload once (or at the next key, whichever is first).
            self.keymap_reload_handle = self.server.loop.call_later(0.1, self._reload_keymap)
        return True

    def _reload_keymap(self) -> None:
        if self.keymap_reload_handle is not None:
            self.keymap_reload_handle.cancel()
            self.keymap_reload_handle = None
        self.keymap_stale = False
        self._load_keymap()
        count = 0
        for keyboards in self.keyboards.values():
            for keyboard in keyboards:
                keyboard.keymap(KEYMAP_FORMAT_XKB_V1, self.keymap_fd, self.keymap_size)
                count += 1
        log.info("keymap reloaded size=%d keyboards=%d", self.keymap_size, count)
        self.server.display.flush_clients()

    # -- binding -------------------------------------------------------------------

    def seat_bind(self, resource: Any) -> None:
        self.seats.append(resource)
        d = resource.dispatcher
        d["get_pointer"] = self.get_pointer
        d["get_keyboard"] = self.get_keyboard
        d["get_touch"] = self.get_touch
        d.destructor = lambda r: self.seats.remove(r) if r in self.seats else None
        resource.capabilities(CAP_POINTER | CAP_KEYBOARD | CAP_TOUCH)
        if resource.version >= 2:
            resource.name("seat0")

    def _track(self, table: dict[int, list[Any]], resource: Any) -> None:
        client = client_of(resource)
        table[client].append(resource)

        def gone(r: Any) -> None:
            items = table.get(client, [])
            if r in items:
                items.remove(r)
            if not items:
                table.pop(client, None)

        resource.dispatcher.destructor = gone

    def get_pointer(self, seat: Any, pointer: Any) -> None:
        self._track(self.pointers, pointer)
        pointer.dispatcher["set_cursor"] = lambda r, serial, surface, hx, hy: self.cursor.set_cursor(
            r, surface, hx, hy)

    def get_keyboard(self, seat: Any, keyboard: Any) -> None:
        self._track(self.keyboards, keyboard)
        keyboard.keymap(KEYMAP_FORMAT_XKB_V1, self.keymap_fd, self.keymap_size)
        if keyboard.version >= 4:
            keyboard.repeat_info(0, 0)  # X autorepeat already repeats keys for us
        focus = self.keyboard_focus
        if focus is not None and focus.resource._ptr is not None and client_of(focus.resource) == client_of(keyboard):
            keyboard.enter(self.server.next_serial(), focus.resource, b"")
            keyboard.modifiers(self.server.next_serial(), *self.mods)

    def get_touch(self, seat: Any, touch: Any) -> None:
        self._track(self.touches, touch)

    # -- focus -----------------------------------------------------------------------

    def surface_destroyed(self, surface: Surface) -> None:
        if self.pointer_focus is surface:
            self.pointer_focus = None
        if self.keyboard_focus is surface:
            self.keyboard_focus = None
        self.cursor.surface_destroyed(surface)

    def set_keyboard_focus(self, surface: Surface | None) -> None:
        old = self.keyboard_focus
        if old is surface:
            return
        serial = self.server.next_serial()
        if old is not None and old.resource._ptr is not None:
            for keyboard in self.keyboards.get(client_of(old.resource), []):
                keyboard.leave(serial, old.resource)
        self.keyboard_focus = surface
        if surface is not None and surface.resource._ptr is not None:
            client = client_of(surface.resource)
            # The selection is announced just before keyboard focus (wl_data_device spec).
            self.server.data.keyboard_focus_changed(client)
            keys = b"".join(int(k - 8).to_bytes(4, "little") for k in sorted(self.pressed_keys))
            for keyboard in self.keyboards.get(client, []):
                keyboard.enter(serial, surface.resource, keys)
                keyboard.modifiers(serial, *self.mods)
        for hook in (getattr(old, "role_object", None), getattr(surface, "role_object", None)):
            if hook is not None and hasattr(hook, "activation_changed"):
                hook.activation_changed()

    def _pointer_enter(self, surface: Surface, x: float, y: float) -> None:
        if self.pointer_focus is surface:
            return
        self._pointer_leave()
        if surface.resource._ptr is None:
            return
        self.pointer_focus = surface
        serial = self.server.next_serial()
        for pointer in self.pointers.get(client_of(surface.resource), []):
            pointer.enter(serial, surface.resource, x, y)
            pointer.frame()

    def _pointer_leave(self) -> None:
        old = self.pointer_focus
        self.pointer_focus = None
        if old is None or old.resource._ptr is None:
            return
        serial = self.server.next_serial()
        for pointer in self.pointers.get(client_of(old.resource), []):
            pointer.leave(serial, old.resource)
            pointer.frame()

    def focused_pointers(self) -> list[Any]:
        focus = self.pointer_focus
        if focus is None or focus.resource._ptr is None:
            return []
        return self.pointers.get(client_of(focus.resource), [])

    # -- X input -------------------------------------------------------------------

    def x_input(self, window: XWindow, event: Any) -> None:
        kind = event.type
        surface = window.surface
        if kind in (X.KeyPress, X.KeyRelease):
            self._key(event, pressed=kind == X.KeyPress)
        elif kind == X.FocusIn:
            if event.detail not in (X.NotifyPointer, X.NotifyInferior):
                target = getattr(window.owner, "keyboard_surface", lambda: surface)()
                self.keyboard_window = window
                self.set_keyboard_focus(target)
        elif kind == X.FocusOut:
            if event.detail not in (X.NotifyPointer, X.NotifyInferior) and self.keyboard_window is window:
                self.keyboard_window = None
                self.set_keyboard_focus(None)
        elif kind == X.EnterNotify:
            gx, gy = window.geometry[0], window.geometry[1]
            self._pointer_enter(surface, event.event_x + gx, event.event_y + gy)
            self.cursor.pointer_entered(window)
        elif kind == X.LeaveNotify:
            if event.detail != X.NotifyInferior and self.pointer_focus is surface and event.mode == X.NotifyNormal:
                self._pointer_leave()
        elif kind == X.MotionNotify:
            gx, gy = window.geometry[0], window.geometry[1]
            x, y = event.event_x + gx, event.event_y + gy
            if self.pointer_focus is not surface:
                self._pointer_enter(surface, x, y)
                return
            for pointer in self.focused_pointers():
                pointer.motion(event.time, x, y)
                pointer.frame()
        elif kind in (X.ButtonPress, X.ButtonRelease):
            self._button(window, event, pressed=kind == X.ButtonPress)

    def _button(self, window: XWindow, event: Any, *, pressed: bool) -> None:
        surface = window.surface
        if pressed and self.server.xdg.button_pressed(window, event):
            return  # the click dismissed a popup
        gx, gy = window.geometry[0], window.geometry[1]
        if self.pointer_focus is not surface:
            self._pointer_enter(surface, event.event_x + gx, event.event_y + gy)
        if event.detail in X_SCROLL:
            if not pressed:
                return
            axis, direction = X_SCROLL[event.detail]
            for pointer in self.focused_pointers():
                if pointer.version >= 5:
                    pointer.axis_source(AXIS_SOURCE_WHEEL)
                    pointer.axis_discrete(axis, direction)
                pointer.axis(event.time, axis, SCROLL_STEP * direction)
                pointer.frame()
            return
        button = X_BUTTONS.get(event.detail)
        if button is None:
            return
        serial = self.server.next_serial()
        self.server.xdg.last_button_serial = serial
        for pointer in self.focused_pointers():
            pointer.button(serial, event.time, button, 1 if pressed else 0)
            pointer.frame()

    def _key(self, event: Any, *, pressed: bool) -> None:
        if self.keymap_stale:
            self._reload_keymap()  # this key may be one the new keymap gave a symbol
        keycode = event.detail
        if pressed:
            self.pressed_keys.add(keycode)
        else:
            self.pressed_keys.discard(keycode)
        focus = self.keyboard_focus
        if focus is None or focus.resource._ptr is None:
            return
        state = event.state
        mods = (state & 0xFF & ~LOCK_MASKS, 0, state & LOCK_MASKS, (state >> 13) & 3)
        keyboards = self.keyboards.get(client_of(focus.resource), [])
        serial = self.server.next_serial()
        for keyboard in keyboards:
            if mods != self.mods:
                keyboard.modifiers(serial, *mods)
            keyboard.key(serial, event.time, keycode - 8, 1 if pressed else 0)
        self.mods = mods
        # X events carry the state *before* the key; ask for the state after it
        # so a released Shift is not left latched in the client.
        try:
            state = self.server.root.query_pointer().mask
        except Exception:
            state = event.state
        after = (state & 0xFF & ~LOCK_MASKS, 0, state & LOCK_MASKS, (state >> 13) & 3)
        if after != self.mods:
            serial = self.server.next_serial()
            for keyboard in keyboards:
                keyboard.modifiers(serial, *after)
            self.mods = after
        self.server.xdg.last_key_serial = serial


def register(server: Server) -> Seat:
    seat = Seat(server)
    server.add_global(WlSeat, 7, seat.seat_bind)
    return seat
