"""MIT-SHM uploads for python-xlib (which does not bind the extension).

A full-screen core PutImage pushes 8 MB through the X socket in 240 KB strips
(12–18 ms on two cores). With MIT-SHM the pixels are copied once into a SysV
shared segment that Xvfb reads directly. Only the three requests we need are
defined here; if the extension is missing or the server cannot attach the
segment (another IPC namespace), ``ShmUploader.create`` returns None and the
caller keeps using core PutImage strips.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

import numpy as np
from Xlib import X
from Xlib.error import CatchError
from Xlib.protocol import rq

log = logging.getLogger(__name__)

IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmget.restype = ctypes.c_int
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmdt.argtypes = [ctypes.c_void_p]
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


class ShmAttach(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(1), rq.RequestLength(),
                         rq.Card32("shmseg"), rq.Card32("shmid"), rq.Bool("read_only"), rq.Pad(3))


class ShmDetach(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(2), rq.RequestLength(), rq.Card32("shmseg"))


class ShmPutImage(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(3), rq.RequestLength(),
                         rq.Drawable("drawable"), rq.GC("gc"),
                         rq.Card16("total_width"), rq.Card16("total_height"),
                         rq.Card16("src_x"), rq.Card16("src_y"), rq.Card16("src_width"), rq.Card16("src_height"),
                         rq.Int16("dst_x"), rq.Int16("dst_y"), rq.Card8("depth"), rq.Card8("format"),
                         rq.Bool("send_event"), rq.Pad(1), rq.Card32("shmseg"), rq.Card32("offset"))


class ShmUploader:
    """One shared segment, reused every frame; the caller syncs once per frame."""

    def __init__(self, display: Any, opcode: int) -> None:
        self.display = display
        self.opcode = opcode
        self.segment = 0
        self.shmid = -1
        self.addr = 0
        self.size = 0
        self.buffer: np.ndarray | None = None
        self.offset = 0

    @classmethod
    def create(cls, display: Any, initial: int) -> ShmUploader | None:
        ext = display.query_extension("MIT-SHM")
        if ext is None or not ext.present:
            log.info("mit-shm unavailable, using core PutImage")
            return None
        uploader = cls(display, ext.major_opcode)
        if not uploader._allocate(initial):
            return None
        return uploader

    def _allocate(self, size: int) -> bool:
        self.release()
        shmid = _libc.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)
        if shmid < 0:
            log.warning("shmget failed errno=%d", ctypes.get_errno())
            return False
        addr = _libc.shmat(shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            _libc.shmctl(shmid, IPC_RMID, None)
            return False
        segment = self.display.display.allocate_resource_id()
        catch = CatchError()
        ShmAttach(display=self.display.display, onerror=catch, opcode=self.opcode, shmseg=segment, shmid=shmid,
                  read_only=True)
        self.display.sync()
        # Marked for removal now: it disappears once both sides detach (or die).
        _libc.shmctl(shmid, IPC_RMID, None)
        if catch.get_error() is not None:
            log.warning("mit-shm attach refused, using core PutImage")
            _libc.shmdt(addr)
            return False
        self.segment, self.shmid, self.addr, self.size = segment, shmid, addr, size
        self.buffer = np.frombuffer((ctypes.c_uint8 * size).from_address(addr), dtype=np.uint8)
        log.info("mit-shm segment attached size=%d", size)
        return True

    def release(self) -> None:
        if self.addr:
            ShmDetach(display=self.display.display, opcode=self.opcode, shmseg=self.segment)
            self.display.sync()
            self.buffer = None
            _libc.shmdt(self.addr)
            self.addr = 0
            self.size = 0

    def begin_frame(self, needed: int) -> bool:
        """Make room for ``needed`` bytes of this frame; False if shared memory failed."""
        self.offset = 0
        if needed > self.size:
            return self._allocate(max(needed, self.size * 2))
        return True

    def put(self, window: Any, gc: Any, x: int, y: int, pixels: np.ndarray) -> int:
        h, w = pixels.shape[:2]
        nbytes = w * h * 4
        assert self.buffer is not None and self.offset + nbytes <= self.size
        view = self.buffer[self.offset:self.offset + nbytes].reshape(h, w, 4)
        view[...] = pixels
        ShmPutImage(display=self.display.display, opcode=self.opcode, drawable=window, gc=gc,
                    total_width=w, total_height=h, src_x=0, src_y=0, src_width=w, src_height=h,
                    dst_x=x, dst_y=y, depth=24, format=X.ZPixmap, send_event=False,
                    shmseg=self.segment, offset=self.offset)
        self.offset += nbytes
        return nbytes
