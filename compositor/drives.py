"""The session's redirected drives: one FUSE file system on ``~/Drives``, served by the host.

The sandbox (root, before dropping privileges) mounts a FUSE file system on the user's
``~/Drives`` inside the desktop's own mount namespace and hands the host the open
``/dev/fuse`` descriptor (``--fuse-fd``); the host serves it with pyfuse3 (libfuse3's
``/dev/fd/N`` mountpoint: a mount made by the caller) on its asyncio loop. Its top level has
one folder per drive a front end attached (``drive_attach``); every operation on a drive
becomes a ``drive_call`` push to the connection that holds it, answered by ``drive_result``.
See docs/drive-redirection.md.

The host never waits on a front end without a bound: each call fails with EIO after
``CALL_TIMEOUT``, and every call of a connection that goes fails with EIO at once (its drives
vanish from the top level). Nothing here touches the user's files: the file system only
relays to the client's folder.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import stat
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Protocol

from compositor import messages
from compositor.messages import DriveAction, DriveEntry, DriveResult, OpenFlag

log = logging.getLogger(__name__)

CALL_TIMEOUT = 20.0  # seconds a front end has to answer one drive call
ATTR_TIMEOUT = 1.0  # seconds the kernel may keep attributes and names
MAX_PENDING = 4096  # drive calls waiting for their answer, all connections together
BLOCK = 4096


def load_pyfuse3() -> types.ModuleType:
    """pyfuse3, switched to asyncio. pyfuse3 imports trio when loaded but reaches it only through
    its module attribute ``trio``, which ``pyfuse3.asyncio.enable`` replaces before anything runs;
    so trio is not loaded for it (a placeholder stands in while pyfuse3 loads): trio and what it
    imports (attrs, sortedcontainers, idna, outcome: 90 modules) held 4.3 MiB in every idle host."""
    placeholder = None
    if "trio" not in sys.modules:
        placeholder = sys.modules["trio"] = types.ModuleType("trio", "stands in while pyfuse3 loads")
    try:
        import pyfuse3
        import pyfuse3.asyncio
    finally:
        if placeholder is not None and sys.modules.get("trio") is placeholder:
            del sys.modules["trio"]
    pyfuse3.asyncio.enable()
    return pyfuse3


class DriveOwner(Protocol):
    """The host's side of the connection that attached a drive."""

    closed: bool

    def send(self, message: messages.HostMessage) -> None: ...


@dataclass(eq=False)
class Drive:
    key: int  # never reused: an inode of a drive that went does not reach its successor
    owner: DriveOwner
    device: int
    folder: str
    gone: bool = False


@dataclass(eq=False)
class _Pending:
    future: asyncio.Future[DriveResult]
    owner: DriveOwner


@dataclass(eq=False)
class _OpenDir:
    entries: list[DriveEntry] = field(default_factory=list)


class DriveHub:
    """The drives of every connection, their pending calls, and the file system serving them."""

    def __init__(self, *, session: str = "") -> None:
        self.session = session
        self.drives: dict[str, Drive] = {}  # by folder name
        self._pending: dict[int, _Pending] = {}
        self._call_ids = itertools.count(1)
        self._drive_keys = itertools.count(1)
        self.fs: Any = None
        self._task: asyncio.Task | None = None

    # ---- serving ---------------------------------------------------------------------------

    def start(self, fuse_fd: int) -> None:
        """Serve the FUSE file system mounted on ``fuse_fd`` (an open ``/dev/fuse``). When it
        cannot be served the descriptor is closed, so the kernel ends the mount's connection
        (programs get ENOTCONN) instead of leaving them waiting on it."""
        try:
            pyfuse3 = load_pyfuse3()
            from compositor.drive_fs import DriveFileSystem

            self.fs = DriveFileSystem(self)
            pyfuse3.init(self.fs, f"/dev/fd/{fuse_fd}", ["fsname=wrd-drives"])
        except Exception:
            log.exception("the drives folder cannot be served session=%s", self.session)
            self.fs = None
            os.close(fuse_fd)
            return
        self._task = asyncio.create_task(self._main())
        log.info("drives folder served session=%s", self.session)

    async def _main(self) -> None:
        import pyfuse3

        try:
            await pyfuse3.main(min_tasks=4, max_tasks=64)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the drives file system stopped session=%s", self.session)

    async def close(self) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(_failed(errno.EIO))
        self._pending.clear()
        if self._task is not None:
            import pyfuse3

            pyfuse3.terminate()
            try:
                await asyncio.wait_for(self._task, 2)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            pyfuse3.close(unmount=False)
            self._task = None

    @property
    def serving(self) -> bool:
        return self._task is not None

    # ---- the control socket's side --------------------------------------------------------------

    def attach(self, owner: DriveOwner, request: messages.DriveAttach, home: str) -> messages.DriveAttachReply:
        if not self.serving:
            raise OSError(errno.ENODEV, "this session has no drives folder")
        if any(d.owner is owner and d.device == request.drive for d in self.drives.values()):
            raise ValueError(f"drive {request.drive} is attached already")
        folder = request.name
        for n in itertools.count(2):
            if folder not in self.drives:
                break
            folder = f"{request.name[:messages.MAX_DRIVE_NAME]}-{n}"
        self.drives[folder] = Drive(next(self._drive_keys), owner, request.drive, folder)
        self._invalidate_top(folder)
        log.info("drive %d attached as %s session=%s", request.drive, folder, self.session)
        return messages.DriveAttachReply(folder, os.path.join(home, "Drives", folder))

    def detach(self, owner: DriveOwner, device: int) -> None:
        for drive in [d for d in self.drives.values() if d.owner is owner and d.device == device]:
            self._remove(drive)

    def connection_closed(self, owner: DriveOwner) -> None:
        for drive in [d for d in self.drives.values() if d.owner is owner]:
            self._remove(drive)
        for call_id, pending in list(self._pending.items()):
            if pending.owner is owner:
                del self._pending[call_id]
                if not pending.future.done():
                    pending.future.set_exception(_failed(errno.EIO))

    def result(self, owner: DriveOwner, result: DriveResult) -> None:
        pending = self._pending.get(result.call)
        if pending is None or pending.owner is not owner:
            log.info("drive result for call %d that is not pending on this connection; dropped session=%s",
                     result.call, self.session)
            return
        del self._pending[result.call]
        if not pending.future.done():
            pending.future.set_result(result)

    def _remove(self, drive: Drive) -> None:
        drive.gone = True
        if self.drives.get(drive.folder) is drive:
            del self.drives[drive.folder]
        self._invalidate_top(drive.folder)
        log.info("drive %d (%s) detached session=%s", drive.device, drive.folder, self.session)

    def _invalidate_top(self, folder: str) -> None:
        if self.fs is not None:
            self.fs.forget_top(folder)

    # ---- the file system's side ----------------------------------------------------------------

    async def call(self, drive: Drive, action: DriveAction, **fields: Any) -> DriveResult:
        """One operation on ``drive``; raises ``DriveError`` with the errno it failed with."""
        if drive.gone or drive.owner.closed:
            raise _failed(errno.ENODEV)
        if len(self._pending) >= MAX_PENDING:
            raise _failed(errno.EAGAIN)
        call_id = next(self._call_ids)
        future: asyncio.Future[DriveResult] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = _Pending(future, drive.owner)
        try:
            drive.owner.send(messages.DriveCall(call=call_id, drive=drive.device, action=action, **fields))
            result = await asyncio.wait_for(future, CALL_TIMEOUT)
        except TimeoutError:
            log.warning("drive %s: %s not answered within %g s session=%s", drive.folder, action.value,
                        CALL_TIMEOUT, self.session)
            raise _failed(errno.EIO) from None
        except messages.LocalProtocolError as exc:
            log.warning("drive %s: %s cannot be sent: %s session=%s", drive.folder, action.value, exc, self.session)
            raise _failed(errno.EINVAL) from None
        finally:
            self._pending.pop(call_id, None)
        if result.errno:
            raise _failed(result.errno)
        return result


class DriveError(OSError):
    pass


def _failed(err: int) -> DriveError:
    return DriveError(err, os.strerror(err))


def entry_mode(entry: DriveEntry) -> int:
    if entry.is_dir:
        return stat.S_IFDIR | 0o700
    return stat.S_IFREG | (0o400 if entry.readonly else 0o600)


__all__ = ["CALL_TIMEOUT", "Drive", "DriveError", "DriveHub", "OpenFlag", "entry_mode"]
