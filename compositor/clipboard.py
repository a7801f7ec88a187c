"""The session's X selections (CLIPBOARD and PRIMARY): text, images (``image/png``) and
file lists (``text/uri-list``, ``x-special/gnome-copied-files``).

The host owns a selection when a front end sets it, answering SelectionRequest for the
targets it was given (text: UTF8_STRING / STRING / TEXT / text/plain) and TARGETS. Reading converts the selection into a
property of our own window and waits for SelectionNotify (INCR transfers are followed).
XFixes tells us when another program takes a selection, so front ends can be told.

Text longer than INCR_CHUNK is served incrementally (ICCCM 2.7.2): the requestor's property
gets type INCR and the size, then a chunk each time the requestor deletes the property,
then an empty one. One ChangeProperty request cannot carry more than the X server's maximum
request size (256 KiB without BIG-REQUESTS, which python-xlib does not use).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from Xlib import X, Xatom
from Xlib.ext import xfixes
from Xlib.protocol import event as xevent

log = logging.getLogger(__name__)

SELECTIONS = ("CLIPBOARD", "PRIMARY")
MAX_TEXT = 16 * 1024 * 1024
INCR_CHUNK = 64 * 1024
INCR_TIMEOUT = 30.0  # seconds a requestor may take per chunk before its transfer is dropped
MAX_TRANSFERS = 16  # incremental transfers served at once (the oldest dropped past this)


@dataclass
class _Transfer:
    """One incremental answer in progress: what is left to write into the requestor's property."""

    requestor: object  # an Xlib window
    prop: int
    target: int
    data: bytes
    offset: int = 0
    last: float = field(default_factory=time.monotonic)


class ClipboardError(RuntimeError):
    pass


class Clipboard:
    def __init__(self, display, on_change: Callable[[str], None]) -> None:
        self._d = display
        self._on_change = on_change
        self._atom = display.intern_atom
        self._window = display.screen().root.create_window(
            -10, -10, 1, 1, 0, X.CopyFromParent, X.InputOnly, X.CopyFromParent,
            event_mask=X.PropertyChangeMask,
        )
        self._window.set_wm_name("wrd-clipboard")
        self._owned: dict[int, dict[int, bytes]] = {}  # selection -> target -> data
        self._pending: dict[int, asyncio.Future] = {}  # property atom -> future of the notify
        self._incr: dict[int, tuple[bytearray, asyncio.Future, int]] = {}  # ..., byte limit
        self._sending: dict[tuple[int, int], _Transfer] = {}  # (requestor window, property)
        self._limits: dict[int, tuple[int, bool]] = {}  # property -> (byte limit, ATOM list wanted)
        self.utf8 = self._atom("UTF8_STRING")
        self.targets_atom = self._atom("TARGETS")
        self.incr = self._atom("INCR")
        self._text_targets = {self.utf8, Xatom.STRING, self._atom("TEXT"),
                              self._atom("text/plain;charset=utf-8"), self._atom("text/plain")}
        self._selections = {self._atom(name): name for name in SELECTIONS}
        for atom in self._selections:
            display.xfixes_select_selection_input(
                display.screen().root, atom, xfixes.XFixesSetSelectionOwnerNotifyMask)

    @property
    def window_id(self) -> int:
        return self._window.id

    def _selection_atom(self, name: str) -> int:
        if name not in SELECTIONS:
            raise ClipboardError(f"unknown selection {name!r}")
        return self._atom(name)

    def set(self, text: str, selection: str = "CLIPBOARD") -> None:
        data = text.encode()
        if len(data) > MAX_TEXT:
            raise ClipboardError("clipboard text too large")
        self.set_targets({}, selection, text=text)

    def set_targets(self, targets: dict[str, bytes], selection: str = "CLIPBOARD", *, text: str | None = None) -> None:
        """Own ``selection`` serving ``targets`` (target name -> data), and ``text`` as every
        text target when given."""
        atom = self._selection_atom(selection)
        owned = {self._atom(name): data for name, data in targets.items()}
        if text is not None:
            data = text.encode()
            owned.update(dict.fromkeys(self._text_targets, data))
            owned[Xatom.STRING] = text.encode("latin-1", "replace")
        self._owned[atom] = owned
        self._window.set_selection_owner(atom, X.CurrentTime)
        self._d.flush()

    def _own_target(self, atom: int, target: int) -> bytes | None:
        owner = self._d.get_selection_owner(atom)
        if owner not in (X.NONE, 0) and owner.id == self._window.id:
            return self._owned.get(atom, {}).get(target)
        return None

    async def get(self, selection: str = "CLIPBOARD", timeout: float = 2.0) -> str | None:
        atom = self._selection_atom(selection)
        owner = self._d.get_selection_owner(atom)
        if owner == X.NONE or owner == 0:
            return None
        if owner.id == self._window.id and atom in self._owned:
            data = self._owned[atom].get(self.utf8)
            return None if data is None else data.decode()
        for target in (self.utf8, Xatom.STRING):
            data = await self._convert(atom, target, timeout)
            if data is not None:
                return data.decode("utf-8" if target == self.utf8 else "latin-1", "replace")
        return None

    async def targets(self, selection: str = "CLIPBOARD", timeout: float = 2.0) -> list[str]:
        """The target names the selection's owner offers (empty when none owns it)."""
        atom = self._selection_atom(selection)
        owner = self._d.get_selection_owner(atom)
        if owner in (X.NONE, 0):
            return []
        if owner.id == self._window.id:
            return [self._d.get_atom_name(t) for t in self._owned.get(atom, {})]
        data = await self._convert(atom, self.targets_atom, timeout, atoms=True)
        if not data:
            return []
        atoms = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data) - 3, 4)]
        names = []
        for a in atoms[:256]:
            try:
                names.append(self._d.get_atom_name(a))
            except Exception:  # a bad atom of another program's: skipped
                continue
        return names

    async def read(self, target: str, selection: str = "CLIPBOARD", timeout: float = 5.0,
                   limit: int = MAX_TEXT) -> bytes | None:
        """The selection converted to ``target`` (None when refused, too large or late)."""
        atom = self._selection_atom(selection)
        target_atom = self._atom(target)
        own = self._own_target(atom, target_atom)
        if own is not None:
            return own
        return await self._convert(atom, target_atom, timeout, limit=limit)

    async def _convert(self, selection: int, target: int, timeout: float, *, limit: int = MAX_TEXT,
                       atoms: bool = False) -> bytes | None:
        prop = self._atom(f"WRD_SEL_{self._selections[selection]}")
        future = asyncio.get_running_loop().create_future()
        self._pending[prop] = future
        self._limits[prop] = (limit, atoms)
        self._window.convert_selection(selection, target, prop, X.CurrentTime)
        self._d.flush()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            log.warning("clipboard conversion timed out selection=%s", self._selections[selection])
            return None
        finally:
            self._pending.pop(prop, None)
            self._incr.pop(prop, None)
            self._limits.pop(prop, None)

    # -- X events -------------------------------------------------------------------------

    def handle_event(self, e) -> bool:
        """Handle an X event if it is ours; return whether it was."""
        if e.type == X.SelectionRequest and e.owner.id == self._window.id:
            self._answer_request(e)
        elif e.type == X.SelectionClear and e.window.id == self._window.id:
            self._owned.pop(e.atom, None)
        elif e.type == X.SelectionNotify and e.requestor.id == self._window.id:
            self._on_selection_notify(e)
        elif e.type == X.PropertyNotify and e.window.id == self._window.id:
            if e.state == X.PropertyNewValue and e.atom in self._incr:
                self._on_incr_chunk(e.atom)
        elif e.type == X.PropertyNotify and (e.window.id, e.atom) in self._sending:
            if e.state == X.PropertyDelete:
                self._send_chunk(self._sending[(e.window.id, e.atom)])
        elif type(e).__name__ == "SetSelectionOwnerNotify":  # python-xlib copies ext classes
            owner_id = getattr(e.owner, "id", e.owner)
            if owner_id != self._window.id and e.selection in self._selections:
                self._on_change(self._selections[e.selection])
        else:
            return False
        return True

    def _on_selection_notify(self, e) -> None:
        future = self._pending.get(e.property) if e.property else None
        if future is None:
            # A refused conversion has property None: fail whichever request is waiting.
            for prop, fut in self._pending.items():
                if not fut.done() and prop not in self._incr:
                    fut.set_result(None)
            return
        prop = self._window.get_full_property(e.property, X.AnyPropertyType, sizehint=1 << 16)
        if prop is None:
            future.done() or future.set_result(None)
            return
        limit, atoms = self._limits.get(e.property, (MAX_TEXT, False))
        if prop.property_type == self.incr:
            self._incr[e.property] = (bytearray(), future, limit)
            self._window.delete_property(e.property)  # starts the transfer
            self._d.flush()
            return
        self._window.delete_property(e.property)
        if atoms and prop.format == 32:
            data = b"".join(int(v).to_bytes(4, "little") for v in prop.value)
        else:
            data = prop.value if isinstance(prop.value, bytes) else bytes(prop.value)
        future.done() or future.set_result(data if len(data) <= limit else None)

    def _on_incr_chunk(self, atom: int) -> None:
        buffer, future, limit = self._incr[atom]
        prop = self._window.get_full_property(atom, X.AnyPropertyType, sizehint=1 << 16)
        self._window.delete_property(atom)
        self._d.flush()
        chunk = b"" if prop is None else bytes(prop.value)
        if not chunk:
            del self._incr[atom]
            future.done() or future.set_result(bytes(buffer))
        elif len(buffer) + len(chunk) > limit:
            del self._incr[atom]
            future.done() or future.set_result(None)
        else:
            buffer += chunk

    def _answer_request(self, e) -> None:
        owned = self._owned.get(e.selection)
        prop = e.property or e.target
        ok = owned is not None
        if ok and e.target == self.targets_atom:
            e.requestor.change_property(prop, Xatom.ATOM, 32, [self.targets_atom, *owned])
        elif ok and e.target in owned:
            value = owned[e.target]
            if len(value) > INCR_CHUNK:
                self._start_incr(e.requestor, prop, e.target, value)
            else:
                e.requestor.change_property(prop, e.target, 8, value)
        else:
            ok = False
        notify = xevent.SelectionNotify(
            time=e.time, requestor=e.requestor, selection=e.selection,
            target=e.target, property=prop if ok else X.NONE,
        )
        e.requestor.send_event(notify)
        self._d.flush()

    def _start_incr(self, requestor, prop: int, target: int, value: bytes) -> None:
        now = time.monotonic()
        for key, transfer in list(self._sending.items()):
            if now - transfer.last > INCR_TIMEOUT or len(self._sending) >= MAX_TRANSFERS:
                del self._sending[key]
                log.info("clipboard: dropped an incremental transfer the requestor stopped reading")
        # The requestor's property deletions drive the transfer: we need its PropertyNotify.
        requestor.change_attributes(event_mask=X.PropertyChangeMask)
        requestor.change_property(prop, self.incr, 32, [len(value)])
        self._sending[(requestor.id, prop)] = _Transfer(requestor, prop, target, value)

    def _send_chunk(self, transfer: _Transfer) -> None:
        chunk = transfer.data[transfer.offset:transfer.offset + INCR_CHUNK]
        transfer.offset += len(chunk)
        transfer.last = time.monotonic()
        transfer.requestor.change_property(transfer.prop, transfer.target, 8, chunk)
        if not chunk:  # the empty chunk that ends the transfer has been written
            del self._sending[(transfer.requestor.id, transfer.prop)]
        self._d.flush()

    def close(self) -> None:
        for future in self._pending.values():
            future.done() or future.cancel()
        self._window.destroy()
