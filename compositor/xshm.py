"""MIT-SHM for python-xlib (which does not bind the extension).

Pixels pass through a SysV shared segment that both we and the X server map, instead of the
X socket. Two users: the Wayland compositor uploads windows with ``ShmPutImage`` (a
full-screen core PutImage pushes 8 MB through the socket in 240 KB strips, 12–18 ms on two
cores), and the session host of an attached display reads the screen with ``ShmGetImage``
(``compositor/framebuffer.py``; XGetImage costs 11–65 ms per 1080p frame).

Only the four requests we need are defined here. The X server attaches a segment only if it
runs in our IPC namespace, can ``shmat`` it itself (it is ours, mode 0600: a server running as
root or as our own account can) and our credentials on a local socket pass its permission
check; otherwise ``ShmSegment`` raises ``ShmError`` and callers fall back to core requests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import socket
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


class ShmError(RuntimeError):
    """The X server and we cannot share memory; the message says why."""


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


class ShmGetImage(rq.ReplyRequest):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(4), rq.RequestLength(),
                         rq.Drawable("drawable"), rq.Int16("x"), rq.Int16("y"),
                         rq.Card16("width"), rq.Card16("height"), rq.Card32("plane_mask"),
                         rq.Card8("format"), rq.Pad(3), rq.Card32("shmseg"), rq.Card32("offset"))
    _reply = rq.Struct(rq.ReplyCode(), rq.Card8("depth"), rq.Card16("sequence_number"), rq.ReplyLength(),
                       rq.Card32("visual"), rq.Card32("size"), rq.Pad(16))


def shm_opcode(display: Any) -> int:
    """The extension's major opcode on ``display``; ``ShmError`` if it has no MIT-SHM."""
    ext = display.query_extension("MIT-SHM")
    if ext is None or not ext.present:
        raise ShmError("the X server has no MIT-SHM extension")
    return ext.major_opcode


def is_local(display: Any) -> bool:
    """A segment id means something to the X server only on this machine: on a Unix socket."""
    return display.display.socket.family == socket.AF_UNIX


class ShmSegment:
    """One SysV segment of ``size`` bytes, attached by us and by the X server.

    It is marked for removal as soon as the server has attached it, so it disappears when
    both sides detach or die. ``buffer`` is a uint8 numpy view of all of it."""

    def __init__(self, display: Any, opcode: int, size: int, *, read_only: bool) -> None:
        self.display = display
        self.opcode = opcode
        self.size = size
        shmid = _libc.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)
        if shmid < 0:
            raise ShmError(f"shmget of {size} bytes failed (errno {ctypes.get_errno()})")
        addr = _libc.shmat(shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            errno = ctypes.get_errno()
            _libc.shmctl(shmid, IPC_RMID, None)
            raise ShmError(f"shmat failed (errno {errno})")
        segment = display.display.allocate_resource_id()
        catch = CatchError()
        ShmAttach(display=display.display, onerror=catch, opcode=opcode, shmseg=segment, shmid=shmid,
                  read_only=read_only)
        display.sync()
        _libc.shmctl(shmid, IPC_RMID, None)
        if (error := catch.get_error()) is not None:
            _libc.shmdt(addr)
            raise ShmError(f"the X server refused to attach our segment ({type(error).__name__}): it must run "
                           "on this machine, in our IPC namespace, as root or as our own account")
        self.segment, self.addr = segment, addr
        self.buffer: np.ndarray | None = np.frombuffer((ctypes.c_uint8 * size).from_address(addr), dtype=np.uint8)

    def close(self) -> None:
        """Detach both sides (ours even when the X connection is already gone)."""
        if self.addr:
            self.buffer = None
            try:
                ShmDetach(display=self.display.display, opcode=self.opcode, shmseg=self.segment)
                self.display.sync()
            finally:
                _libc.shmdt(self.addr)
                self.addr = 0


class ShmUploader:
    """One shared segment, reused every frame; the caller syncs once per frame."""

    def __init__(self, display: Any, opcode: int) -> None:
        self.display = display
        self.opcode = opcode
        self.segment: ShmSegment | None = None
        self.size = 0
        self.offset = 0

    @classmethod
    def create(cls, display: Any, initial: int) -> ShmUploader | None:
        try:
            uploader = cls(display, shm_opcode(display))
        except ShmError as exc:
            log.info("%s, using core PutImage", exc)
            return None
        if not uploader._allocate(initial):
            return None
        return uploader

    def _allocate(self, size: int) -> bool:
        self.release()
        try:
            self.segment = ShmSegment(self.display, self.opcode, size, read_only=True)
        except ShmError as exc:
            log.warning("mit-shm unusable, using core PutImage: %s", exc)
            return False
        self.size = size
        log.info("mit-shm segment attached size=%d", size)
        return True

    def release(self) -> None:
        if self.segment is not None:
            self.segment.close()
            self.segment = None
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
        assert self.segment is not None and self.offset + nbytes <= self.size
        view = self.segment.buffer[self.offset:self.offset + nbytes].reshape(h, w, 4)
        view[...] = pixels
        ShmPutImage(display=self.display.display, opcode=self.opcode, drawable=window, gc=gc,
                    total_width=w, total_height=h, src_x=0, src_y=0, src_width=w, src_height=h,
                    dst_x=x, dst_y=y, depth=24, format=X.ZPixmap, send_event=False,
                    shmseg=self.segment.segment, offset=self.offset)
        self.offset += nbytes
        return nbytes
