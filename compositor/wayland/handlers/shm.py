"""wl_shm: libwayland's own implementation, read safely through its wl_shm_buffer API.

libwayland maps the client's pool and, inside ``wl_shm_buffer_begin_access`` /
``end_access``, turns a SIGBUS (client shrank its file) into a protocol error on
that client. A plain Python ``mmap`` of the fd would instead kill the compositor.
pywayland does not bind these functions; we reach them through ctypes on the
library instance pywayland loaded.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from compositor.wayland.pywayland_fixes import ForeignResource, libwayland_server

log = logging.getLogger(__name__)

FORMAT_ARGB8888 = 0
FORMAT_XRGB8888 = 1
SUPPORTED_FORMATS = (FORMAT_ARGB8888, FORMAT_XRGB8888)

_c = libwayland_server
_c.wl_shm_buffer_get.argtypes = [ctypes.c_void_p]
_c.wl_shm_buffer_get.restype = ctypes.c_void_p
for _name in ("wl_shm_buffer_get_data",):
    getattr(_c, _name).argtypes = [ctypes.c_void_p]
    getattr(_c, _name).restype = ctypes.c_void_p
for _name in ("wl_shm_buffer_get_stride", "wl_shm_buffer_get_width", "wl_shm_buffer_get_height"):
    getattr(_c, _name).argtypes = [ctypes.c_void_p]
    getattr(_c, _name).restype = ctypes.c_int32
_c.wl_shm_buffer_get_format.argtypes = [ctypes.c_void_p]
_c.wl_shm_buffer_get_format.restype = ctypes.c_uint32
_c.wl_shm_buffer_begin_access.argtypes = [ctypes.c_void_p]
_c.wl_shm_buffer_end_access.argtypes = [ctypes.c_void_p]
_c.wl_display_init_shm.argtypes = [ctypes.c_void_p]
_c.wl_display_init_shm.restype = ctypes.c_int
_c.wl_resource_post_event_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]


@dataclass(frozen=True)
class ShmInfo:
    width: int
    height: int
    stride: int
    format: int


class NotShmBuffer(Exception):
    pass


def buffer_info(buffer: ForeignResource) -> tuple[int, ShmInfo]:
    """The wl_shm_buffer behind a wl_buffer resource and its geometry."""
    shm = _c.wl_shm_buffer_get(buffer.address)
    if not shm:
        raise NotShmBuffer(buffer.interface_name())
    info = ShmInfo(_c.wl_shm_buffer_get_width(shm), _c.wl_shm_buffer_get_height(shm),
                   _c.wl_shm_buffer_get_stride(shm), _c.wl_shm_buffer_get_format(shm))
    return shm, info


def copy_rects(shm: int, info: ShmInfo, dest: np.ndarray, rects: list[tuple[int, int, int, int]]) -> None:
    """Copy ``rects`` (x, y, w, h, buffer coordinates) of the buffer into ``dest`` (h×w×4 uint8).

    Runs inside begin/end_access so a shrunk file becomes a client error, not a crash.
    """
    _c.wl_shm_buffer_begin_access(shm)
    try:
        data = _c.wl_shm_buffer_get_data(shm)
        size = info.stride * info.height
        raw = (ctypes.c_uint8 * size).from_address(data)
        src = np.frombuffer(raw, dtype=np.uint8).reshape(info.height, info.stride)
        for x, y, w, h in rects:
            rows = src[y:y + h, x * 4:(x + w) * 4]
            dest[y:y + h, x:x + w, :] = rows.reshape(rows.shape[0], -1, 4)
    finally:
        _c.wl_shm_buffer_end_access(shm)


def release_buffer(buffer: ForeignResource) -> None:
    """Post ``wl_buffer.release`` (opcode 0, no arguments)."""
    args = (ctypes.c_uint64 * 1)()
    _c.wl_resource_post_event_array(buffer.address, 0, ctypes.addressof(args))


def init_shm(display_ptr: Any) -> None:
    from compositor.wayland.pywayland_fixes import address

    if _c.wl_display_init_shm(address(display_ptr)) != 0:
        raise MemoryError("wl_display_init_shm failed")
