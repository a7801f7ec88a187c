"""Clipboard: wl_data_device (X CLIPBOARD) and zwp_primary_selection_v1 (X PRIMARY), bridged both ways.

The compositor is an ordinary X selection participant:

* a Wayland client sets a selection → we take ownership of the X selection
  with a hidden window and answer ``SelectionRequest`` by asking the Wayland
  source for the data (``send(mime, fd)``);
* another X client takes the selection (XFixes tells us) → we read its
  ``TARGETS`` and offer them to the focused Wayland client; ``receive(mime, fd)``
  becomes a ``ConvertSelection`` whose result is written to the client's fd.

Large transfers use ICCCM INCR in both directions.

Drag and drop is not bridged: a drag source is cancelled at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pywayland.protocol.wayland import WlDataDeviceManager, WlDataOffer
from pywayland.protocol.wp_primary_selection_unstable_v1 import (
    ZwpPrimarySelectionDeviceManagerV1,
    ZwpPrimarySelectionOfferV1,
)
from Xlib import X, Xatom
from Xlib.ext import xfixes
from Xlib.protocol import event as xevent
from Xlib.protocol import request

from compositor.wayland.handlers.seat import client_of

if TYPE_CHECKING:
    from compositor.wayland.state import Server

log = logging.getLogger(__name__)

CHUNK = 200_000  # one ChangeProperty without BIG-REQUESTS (python-xlib has none); larger goes INCR
MAX_TRANSFER = 64 * 1024 * 1024
TRANSFER_TIMEOUT = 5.0
TEXT_MIMES = ("text/plain;charset=utf-8", "text/plain", "UTF8_STRING", "STRING", "TEXT")


@dataclass
class Selection:
    """What is on one selection now: a Wayland source or an X owner's targets."""

    mimes: list[str]
    source: Any = None  # wl_data_source / primary source resource (Wayland owner)
    x_targets: dict[str, int] = field(default_factory=dict)  # mime -> X target atom (X owner)


@dataclass
class PendingConvert:
    fd: int
    incr: bytearray | None = None


class Channel:
    """One selection (CLIPBOARD or PRIMARY) with its Wayland device protocol."""

    def __init__(self, bridge: Bridge, atom_name: str, offer_class: Any) -> None:
        self.bridge = bridge
        self.server = bridge.server
        self.atom_name = atom_name
        self.atom = self.server.atom(atom_name)
        self.offer_class = offer_class
        self.devices: dict[int, list[Any]] = defaultdict(list)
        self.current: Selection | None = None
        self.own_x = False

    # -- Wayland side ------------------------------------------------------------

    def create_source(self, res: Any, source: Any) -> None:
        source.mimes = []
        source.dispatcher["offer"] = lambda r, mime: r.mimes.append(mime)
        source.dispatcher.destructor = self.source_destroyed

    def get_device(self, res: Any, device: Any, seat: Any) -> None:
        client = client_of(device)
        self.devices[client].append(device)

        def gone(r: Any) -> None:
            items = self.devices.get(client, [])
            if r in items:
                items.remove(r)
            if not items:
                self.devices.pop(client, None)

        device.dispatcher["set_selection"] = self.set_selection
        if "start_drag" in device.dispatcher._names:
            device.dispatcher["start_drag"] = self.start_drag
        device.dispatcher.destructor = gone
        focus = self.server.seat.keyboard_focus
        if focus is not None and focus.resource._ptr is not None and client_of(focus.resource) == client:
            self.send_selection([device])

    def start_drag(self, res: Any, source: Any, origin: Any, icon: Any, serial: int) -> None:
        if source is not None:
            source.cancelled()

    def set_selection(self, res: Any, source: Any, serial: int) -> None:
        old = self.current
        if source is None:
            self.current = None
            if self.own_x:
                self.bridge.disown(self.atom)
                self.own_x = False
        else:
            self.current = Selection(mimes=list(source.mimes), source=source)
            self.bridge.window.set_selection_owner(self.atom, X.CurrentTime)
            self.own_x = True
        self.server.xdisplay.flush()
        if old is not None and old.source is not None and old.source is not source and old.source._ptr is not None:
            old.source.cancelled()
        log.info("selection set by wayland selection=%s mimes=%s", self.atom_name,
                 self.current.mimes if self.current else [])
        self.send_to_focus()

    def source_destroyed(self, source: Any) -> None:
        if self.current is not None and self.current.source is source:
            self.current = None
            if self.own_x:
                self.bridge.disown(self.atom)
                self.server.xdisplay.flush()
                self.own_x = False
            self.send_to_focus()

    def send_to_focus(self) -> None:
        focus = self.server.seat.keyboard_focus
        if focus is None or focus.resource._ptr is None:
            return
        self.send_selection(self.devices.get(client_of(focus.resource), []))

    def send_selection(self, devices: list[Any]) -> None:
        for device in devices:
            if self.current is None:
                device.selection(None)
                continue
            client = device.client
            offer = self.offer_class.resource_class(client, device.version, 0)
            selection = self.current
            offer.dispatcher["receive"] = lambda r, mime, fd, sel=selection: self.receive(sel, mime, fd)
            device.data_offer(offer)
            for mime in selection.mimes:
                offer.offer(mime)
            device.selection(offer)

    def receive(self, selection: Selection, mime: str, fd: int) -> None:
        if selection is not self.current:
            os.close(fd)
            return
        if selection.source is not None:
            if selection.source._ptr is not None:
                selection.source.send(mime, fd)
                self.server.display.flush_clients()
            os.close(fd)
            return
        target = selection.x_targets.get(mime)
        if target is None:
            os.close(fd)
            return
        self.bridge.convert(self.atom, target, fd)

    # -- X side ------------------------------------------------------------------------

    def x_owner_changed(self, owner: int) -> None:
        if owner == self.bridge.window.id:
            return
        self.own_x = False
        old = self.current
        if old is not None and old.source is not None and old.source._ptr is not None:
            old.source.cancelled()
        self.current = None
        if owner == X.NONE:
            self.send_to_focus()
            return
        self.bridge.convert(self.atom, self.server.atom("TARGETS"), None, channel=self)

    def x_targets_received(self, atoms: list[int]) -> None:
        targets: dict[str, int] = {}
        names = {a: self.server.xdisplay.get_atom_name(a) for a in atoms}
        for atom, name in names.items():
            if "/" in name:
                targets[name] = atom
        utf8 = self.server.atom("UTF8_STRING")
        if utf8 in names or Xatom.STRING in names:
            text_atom = utf8 if utf8 in names else Xatom.STRING
            targets.setdefault("text/plain;charset=utf-8", text_atom)
            targets.setdefault("text/plain", text_atom)
            targets.setdefault("UTF8_STRING", text_atom)
            targets.setdefault("STRING", text_atom)
            targets.setdefault("TEXT", text_atom)
        self.current = Selection(mimes=list(targets), x_targets=targets)
        log.info("selection set by x selection=%s mimes=%d", self.atom_name, len(targets))
        self.send_to_focus()
        self.server.display.flush_clients()

    def x_request(self, event: Any) -> None:
        """Another X client asks for our (Wayland-owned) selection."""
        prop = event.property if event.property != X.NONE else event.target
        selection = self.current
        if selection is None or selection.source is None or selection.source._ptr is None:
            self.bridge.notify(event, X.NONE)
            return
        targets_atom = self.server.atom("TARGETS")
        if event.target == targets_atom:
            atoms = [targets_atom]
            for mime in selection.mimes:
                atoms.append(self.server.atom(mime))
                if mime.startswith("text/plain"):
                    atoms += [self.server.atom("UTF8_STRING"), Xatom.STRING, self.server.atom("TEXT")]
            event.requestor.change_property(prop, Xatom.ATOM, 32, sorted(set(atoms)))
            self.bridge.notify(event, prop)
            return
        name = self.server.xdisplay.get_atom_name(event.target)
        mime = _pick_mime(name, selection.mimes)
        if mime is None:
            self.bridge.notify(event, X.NONE)
            return
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        selection.source.send(mime, write_fd)
        os.close(write_fd)
        self.server.display.flush_clients()
        self.bridge.read_source(read_fd, event, prop)


def _pick_mime(target: str, mimes: list[str]) -> str | None:
    if target in mimes:
        return target
    if target in ("UTF8_STRING", "TEXT", "STRING", "COMPOUND_TEXT") or target.startswith("text/plain"):
        for candidate in TEXT_MIMES:
            if candidate in mimes:
                return candidate
        for candidate in mimes:
            if candidate.startswith("text/"):
                return candidate
    return None


class Bridge:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.window = server.root.create_window(-10, -10, 1, 1, 0, 0, X.InputOnly, X.CopyFromParent,
                                                event_mask=X.PropertyChangeMask)
        self.clipboard = Channel(self, "CLIPBOARD", WlDataOffer)
        self.primary = Channel(self, "PRIMARY", ZwpPrimarySelectionOfferV1)
        self.channels = {self.clipboard.atom: self.clipboard, self.primary.atom: self.primary}
        self.pending: dict[int, tuple[Channel | None, PendingConvert | None]] = {}
        self.prop_index = 0
        self.incr_sends: dict[tuple[int, int], tuple[Any, int, memoryview, int]] = {}
        display = server.xdisplay
        display.xfixes_query_version()
        for channel in self.channels.values():
            display.xfixes_select_selection_input(
                server.root, channel.atom,
                xfixes.XFixesSetSelectionOwnerNotifyMask | xfixes.XFixesSelectionWindowDestroyNotifyMask
                | xfixes.XFixesSelectionClientCloseNotifyMask)
        display.flush()
        server.x_event_handlers.append(self.x_event)
        self.fixes_base = display.query_extension("XFIXES").first_event

    def shutdown(self) -> None:
        for channel in self.channels.values():
            if channel.own_x:
                self.disown(channel.atom)
        try:
            self.window.destroy()
        except Exception:
            log.debug("selection window already gone")

    def disown(self, atom: int) -> None:
        request.SetSelectionOwner(display=self.server.xdisplay.display, window=X.NONE, selection=atom,
                                  time=X.CurrentTime)

    def keyboard_focus_changed(self, client: int) -> None:
        for channel in self.channels.values():
            channel.send_selection(channel.devices.get(client, []))

    # -- X plumbing -------------------------------------------------------------------------

    def convert(self, selection: int, target: int, fd: int | None, channel: Channel | None = None) -> None:
        self.prop_index = (self.prop_index + 1) % 16
        prop = self.server.atom(f"_WRD_SELECTION_{self.prop_index}")
        old = self.pending.pop(prop, None)
        if old is not None and old[1] is not None:
            os.close(old[1].fd)
        self.pending[prop] = (channel, PendingConvert(fd) if fd is not None else None)
        self.window.convert_selection(selection, target, prop, X.CurrentTime)
        self.server.xdisplay.flush()

    def notify(self, request: Any, prop: int) -> None:
        ev = xevent.SelectionNotify(time=request.time, requestor=request.requestor, selection=request.selection,
                                    target=request.target, property=prop)
        request.requestor.send_event(ev)
        self.server.xdisplay.flush()

    def x_event(self, event: Any) -> bool:
        if isinstance(event, xfixes.SetSelectionOwnerNotify) or (
                event.type == self.fixes_base and hasattr(event, "selection") and hasattr(event, "owner")):
            channel = self.channels.get(event.selection)
            if channel is not None:
                owner = event.owner.id if hasattr(event.owner, "id") else int(event.owner)
                channel.x_owner_changed(owner)
            return True
        if event.type == X.SelectionRequest and event.owner.id == self.window.id:
            channel = self.channels.get(event.selection)
            if channel is None:
                self.notify(event, X.NONE)
            else:
                channel.x_request(event)
            return True
        if event.type == X.SelectionClear and event.window.id == self.window.id:
            channel = self.channels.get(event.atom)
            if channel is not None:
                channel.own_x = False
            return True
        if event.type == X.SelectionNotify and event.requestor.id == self.window.id:
            self._converted(event)
            return True
        if event.type == X.PropertyNotify and (event.window.id, event.atom) in self.incr_sends:
            if event.state == X.PropertyDelete:
                self._incr_send_next((event.window.id, event.atom))
            return True
        if event.type == X.PropertyNotify and event.window.id == self.window.id:
            if event.state == X.PropertyNewValue and event.atom in self.pending:
                self._incr_chunk(event.atom)
            return True
        return False

    def _converted(self, event: Any) -> None:
        prop = event.property
        if prop == X.NONE:
            # Refused: find the request by target, close its fd.
            for key, (channel, pending) in list(self.pending.items()):
                if pending is not None:
                    os.close(pending.fd)
                self.pending.pop(key)
                if channel is not None:
                    channel.x_targets_received([])
                break
            return
        entry = self.pending.get(prop)
        if entry is None:
            return
        channel, pending = entry
        reply = self.window.get_full_property(prop, X.AnyPropertyType)
        if reply is not None and reply.property_type == self.server.atom("INCR") and pending is not None:
            pending.incr = bytearray()
            self.window.delete_property(prop)  # starts the INCR transfer
            self.server.xdisplay.flush()
            return
        self.window.delete_property(prop)
        self.pending.pop(prop, None)
        if channel is not None:
            channel.x_targets_received(list(reply.value) if reply is not None and reply.format == 32 else [])
        elif pending is not None:
            data = bytes(reply.value) if reply is not None and reply.format == 8 else b""
            _write_in_background(pending.fd, data)

    def _incr_chunk(self, prop: int) -> None:
        _channel, pending = self.pending[prop]
        if pending is None or pending.incr is None:
            return
        reply = self.window.get_full_property(prop, X.AnyPropertyType)
        self.window.delete_property(prop)
        self.server.xdisplay.flush()
        chunk = bytes(reply.value) if reply is not None and reply.format == 8 else b""
        if chunk:
            pending.incr += chunk
            return
        self.pending.pop(prop, None)
        _write_in_background(pending.fd, bytes(pending.incr))

    def _start_incr(self, request: Any, prop: int, kind: int, data: bytes) -> None:
        """ICCCM INCR: announce the size, then one chunk per PropertyDelete by the requestor."""
        requestor = request.requestor
        requestor.change_attributes(event_mask=X.PropertyChangeMask)
        requestor.change_property(prop, self.server.atom("INCR"), 32, [len(data)])
        self.incr_sends[(requestor.id, prop)] = (requestor, kind, memoryview(data), 0)

    def _incr_send_next(self, key: tuple[int, int]) -> None:
        requestor, kind, data, offset = self.incr_sends[key]
        chunk = data[offset:offset + CHUNK]
        requestor.change_property(key[1], kind, 8, bytes(chunk))
        if chunk:
            self.incr_sends[key] = (requestor, kind, data, offset + len(chunk))
        else:  # the zero-length chunk ends the transfer
            del self.incr_sends[key]
            requestor.change_attributes(event_mask=0)
        self.server.xdisplay.flush()

    def read_source(self, fd: int, request: Any, prop: int) -> None:
        """Collect what a Wayland source writes, then answer the X requestor."""
        loop = self.server.loop
        assert loop is not None
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        chunks = bytearray()

        def finish(ok: bool) -> None:
            loop.remove_reader(fd)
            timer.cancel()
            os.close(fd)
            if ok and len(chunks) <= MAX_TRANSFER:
                target_name = self.server.xdisplay.get_atom_name(request.target)
                kind = request.target if target_name not in ("TEXT",) else self.server.atom("UTF8_STRING")
                if len(chunks) <= CHUNK:
                    request.requestor.change_property(prop, kind, 8, bytes(chunks))
                else:
                    self._start_incr(request, prop, kind, bytes(chunks))
                self.notify(request, prop)
            else:
                log.warning("selection transfer failed bytes=%d", len(chunks))
                self.notify(request, X.NONE)

        def readable() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                finish(False)
                return
            if not data:
                finish(True)
                return
            chunks.extend(data)
            if len(chunks) > MAX_TRANSFER:
                finish(False)

        loop.add_reader(fd, readable)
        timer = loop.call_later(TRANSFER_TIMEOUT, lambda: finish(False))


def _write_in_background(fd: int, data: bytes) -> None:
    def run() -> None:
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            log.info("selection write to client failed reason=%s", exc)
        finally:
            os.close(fd)

    threading.Thread(target=run, name="selection-write", daemon=True).start()


def register(server: Server) -> Bridge:
    bridge = Bridge(server)
    clipboard, primary = bridge.clipboard, bridge.primary

    def data_manager_bind(resource: Any) -> None:
        resource.dispatcher["create_data_source"] = clipboard.create_source
        resource.dispatcher["get_data_device"] = clipboard.get_device

    def primary_manager_bind(resource: Any) -> None:
        resource.dispatcher["create_source"] = primary.create_source
        resource.dispatcher["get_device"] = primary.get_device

    server.add_global(WlDataDeviceManager, 3, data_manager_bind)
    server.add_global(ZwpPrimarySelectionDeviceManagerV1, 1, primary_manager_bind)
    return bridge
