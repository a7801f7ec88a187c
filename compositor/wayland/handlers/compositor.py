"""wl_compositor, wl_surface, wl_region, wl_subcompositor, wl_subsurface."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pywayland import ffi, lib
from pywayland.protocol.wayland import WlCompositor, WlShm, WlSubcompositor

from compositor.rects import Rect, clip
from compositor.wayland.handlers import shm
from compositor.wayland.pywayland_fixes import ForeignResource, ProtocolError, resource_from_ptr
from compositor.wayland.surface import PendingState, Subsurface, Surface, merge_rects

if TYPE_CHECKING:
    from compositor.wayland.state import Server

log = logging.getLogger(__name__)

WL_SURFACE_ERROR_INVALID_SIZE = 2
WL_SUBCOMPOSITOR_ERROR_BAD_SURFACE = 0
MAX_BUFFER_SIDE = 8192  # our copy of a surface costs 4 bytes a pixel: cap it at 256 MB


def compositor_bind(server: Server, resource: Any) -> None:
    resource.dispatcher["create_surface"] = lambda res, new: surface_create(server, new)
    resource.dispatcher["create_region"] = lambda res, new: None  # regions are accepted, not used


def surface_create(server: Server, resource: Any) -> None:
    surface = Surface(server, resource)
    resource.surface = surface
    d = resource.dispatcher
    d["attach"] = lambda res, buffer, x, y: surface_attach(surface, buffer, x, y)
    d["damage"] = lambda res, x, y, w, h: surface.pending.damage.append((x, y, w, h))
    d["damage_buffer"] = lambda res, x, y, w, h: surface.pending.buffer_damage.append((x, y, w, h))
    d["frame"] = lambda res, callback: surface.pending.frames.append(callback)
    d["commit"] = lambda res: surface_commit(server, surface)
    d["set_buffer_scale"] = lambda res, scale: setattr(surface.pending, "scale", max(1, scale))
    d.destructor = lambda res: surface_destroy(server, surface)


def surface_attach(surface: Surface, buffer: Any, x: int, y: int) -> None:
    pending = surface.pending
    pending.attached = True
    pending.dx, pending.dy = x, y
    if buffer is None:
        pending.buffer = None
    else:
        # Remember the object id, not the pointer: the client may destroy the
        # wl_buffer before committing, and the id is looked up again at commit.
        assert surface.resource._ptr is not None
        client = lib.wl_resource_get_client(surface.resource._ptr)
        pending.buffer = (client, lib.wl_resource_get_id(buffer._ptr))


def _lookup_buffer(client: Any, object_id: int) -> ForeignResource | None:
    ptr = lib.wl_client_get_object(client, object_id)
    if ptr == ffi.NULL:
        return None
    found = resource_from_ptr(ptr)
    if isinstance(found, ForeignResource) and found.interface_name() == "wl_buffer":
        return found
    return None


def surface_commit(server: Server, surface: Surface) -> None:
    pending = surface.pending
    surface.pending = type(pending)()
    if surface.parent_sub is not None and surface.parent_sub.effectively_sync():
        # Synchronized subsurface: its state applies with the parent's next commit.
        surface.cached = pending if surface.cached is None else _merge(surface.cached, pending)
        return
    _apply(server, surface, pending)


def _merge(old: PendingState, new: PendingState) -> PendingState:
    if new.attached:
        old.attached, old.buffer, old.dx, old.dy = True, new.buffer, new.dx, new.dy
    old.damage += new.damage
    old.buffer_damage += new.buffer_damage
    old.frames += new.frames
    if new.scale is not None:
        old.scale = new.scale
    return old


def _apply(server: Server, surface: Surface, pending: PendingState) -> None:
    if pending.scale is not None:
        surface.scale = pending.scale
    surface.frames.extend(pending.frames)
    damage: list[Rect] = []
    if pending.attached:
        if pending.buffer is None:
            surface.image = None
            surface.width = surface.height = 0
        else:
            buffer = _lookup_buffer(*pending.buffer)
            if buffer is not None:
                damage = _copy_buffer(surface, buffer, pending.damage + pending.buffer_damage)
    elif surface.image is not None and (pending.damage or pending.buffer_damage):
        damage = []  # damage without a new buffer: content unchanged for us
    surface.commit_time = time.monotonic()
    server.surface_committed(surface, damage)
    for sub in list(surface.subsurfaces):
        child = sub.surface
        if child.cached is not None:
            cached, child.cached = child.cached, None
            _apply(server, child, cached)


def _copy_buffer(surface: Surface, buffer: ForeignResource, rects: list[Rect]) -> list[Rect]:
    try:
        shm_ptr, info = shm.buffer_info(buffer)
    except shm.NotShmBuffer:
        raise ProtocolError(WL_SURFACE_ERROR_INVALID_SIZE, "only wl_shm buffers are supported") from None
    if info.format not in shm.SUPPORTED_FORMATS:
        raise ProtocolError(WL_SURFACE_ERROR_INVALID_SIZE, f"unsupported shm format {info.format}")
    if not (0 < info.width <= MAX_BUFFER_SIDE and 0 < info.height <= MAX_BUFFER_SIDE):
        raise ProtocolError(WL_SURFACE_ERROR_INVALID_SIZE, f"buffer {info.width}x{info.height} too large")
    full = surface.image is None or surface.width != info.width or surface.height != info.height
    surface.set_image_size(info.width, info.height)
    if full or not rects:
        damage: list[Rect] = [(0, 0, info.width, info.height)]
    else:
        damage = []
        for r in merge_rects(rects):
            c = clip(r, info.width, info.height)
            if c is not None:
                damage.append(c)
    assert surface.image is not None
    shm.copy_rects(shm_ptr, info, surface.image, damage)
    if info.format == shm.FORMAT_XRGB8888:
        for x, y, w, h in damage:
            surface.image[y:y + h, x:x + w, 3] = 255
    # The pixels are ours now: the client may reuse the buffer at once.
    shm.release_buffer(buffer)
    return damage


def surface_destroy(server: Server, surface: Surface) -> None:
    surface.destroyed = True
    cached = surface.cached.frames if surface.cached is not None else []
    for callback in surface.frames + surface.pending.frames + cached:
        if callback._ptr is not None:
            callback.destroy()
    surface.frames = []
    server.surface_destroyed(surface)
    if surface.parent_sub is not None:
        parent = surface.parent_sub.parent
        if surface.parent_sub in parent.subsurfaces:
            parent.subsurfaces.remove(surface.parent_sub)
        surface.parent_sub = None


def subcompositor_bind(server: Server, resource: Any) -> None:
    def get_subsurface(res: Any, new: Any, surface_res: Any, parent_res: Any) -> None:
        surface, parent = surface_res.surface, parent_res.surface
        if surface is parent or surface.role not in (None, "subsurface"):
            raise ProtocolError(WL_SUBCOMPOSITOR_ERROR_BAD_SURFACE, "bad subsurface")
        sub = Subsurface(new, surface, parent)
        surface.role = "subsurface"
        surface.parent_sub = sub
        parent.subsurfaces.append(sub)
        d = new.dispatcher

        def set_position(r: Any, x: int, y: int) -> None:
            if (sub.x, sub.y) != (x, y):
                sub.x, sub.y = x, y
                server.schedule_redraw(parent.root())

        def place(r: Any, sibling: Any, above: bool) -> None:
            if sub in parent.subsurfaces and sibling is not None and getattr(sibling, "surface", None):
                parent.subsurfaces.remove(sub)
                siblings = [s.surface for s in parent.subsurfaces]
                index = siblings.index(sibling.surface) + 1 if sibling.surface in siblings else len(siblings)
                parent.subsurfaces.insert(index if above else max(0, index - 1), sub)

        def destroyed(r: Any) -> None:
            if sub in parent.subsurfaces:
                parent.subsurfaces.remove(sub)
            surface.parent_sub = None
            server.schedule_redraw(parent.root())

        d["set_position"] = set_position
        d["place_above"] = lambda r, s: place(r, s, True)
        d["place_below"] = lambda r, s: place(r, s, False)
        def set_desync(r: Any) -> None:
            sub.sync = False
            if not sub.effectively_sync() and surface.cached is not None:
                cached, surface.cached = surface.cached, None
                _apply(server, surface, cached)

        d["set_sync"] = lambda r: setattr(sub, "sync", True)
        d["set_desync"] = set_desync
        d.destructor = destroyed

    resource.dispatcher["get_subsurface"] = get_subsurface


def register(server: Server) -> None:
    server.add_global(WlCompositor, 4, lambda r: compositor_bind(server, r))
    server.add_global(WlSubcompositor, 1, lambda r: subcompositor_bind(server, r))
    shm.init_shm(server.display._ptr)
    _ = WlShm  # wl_shm itself is libwayland's (init_shm), formats ARGB/XRGB by default
