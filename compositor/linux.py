"""The few Linux system calls the desktop sandbox needs that Python 3.11's ``os`` lacks.

``unshare(2)``, ``mount(2)`` and ``prctl(2)`` through ctypes on the C library. Each raises
``OSError`` with the errno and the call's arguments, so a failure says what was refused.
``malloc_trim(3)`` for the session host's memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount({source!r}, {target!r}, {fstype!r}, {flags:#x}, {data!r})")


def set_no_new_privs() -> None:
    """From here on, execve never grants privileges (setuid/setgid bits and file capabilities
    are ignored), for this process and every descendant."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def no_new_privs() -> bool:
    return _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1


def set_dumpable() -> None:
    """Let the process's own (unprivileged) user inspect it again: the kernel marks a process
    that changed its uid as not dumpable, its /proc files root's."""
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def drop_bounding_set() -> None:
    """Remove every capability from the bounding set (needs CAP_SETPCAP: call before setuid)."""
    cap = 0
    while _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    err = ctypes.get_errno()
    if cap == 0 and err != 0:
        raise OSError(err, f"prctl(PR_CAPBSET_DROP): {os.strerror(err)}")


def release_free_heap() -> bool:
    """Return the C library's free heap memory to the kernel (glibc ``malloc_trim(0)``); True
    if some was. glibc keeps freed chunks inside its heap, and freeing a large block raises its
    mmap threshold, so whole frames freed after a viewer leaves stay resident in the process
    until this. Under 1 ms; False where the C library has no ``malloc_trim``."""
    trim = getattr(_libc, "malloc_trim", None)
    return bool(trim(0)) if trim is not None else False
