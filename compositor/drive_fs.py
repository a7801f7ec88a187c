"""pyfuse3 operations of the drives folder (compositor/drives.py serves them).

Inode 1 is ``~/Drives``: read-only, one folder per attached drive. Below it, every inode
stands for a path inside one drive (the drive's never-reused key and the path's names), and
every operation becomes a ``drive_call`` of that drive. Names the kernel hands over are checked
(``messages.path_name_ok``) before they leave the session; one that fails is EINVAL (create,
rename) or ENOENT (lookup). Writes and reads are single calls of at most the kernel's request
size (128 KiB), so a large file streams through in bounded pieces.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from typing import TYPE_CHECKING, Any

import pyfuse3

from compositor import messages
from compositor.drives import BLOCK, Drive, DriveError, entry_mode
from compositor.messages import DriveAction, DriveEntry, OpenFlag

if TYPE_CHECKING:
    from compositor.drives import DriveHub

log = logging.getLogger(__name__)

ROOT = pyfuse3.ROOT_INODE
Path = tuple[int, tuple[str, ...]]  # (drive key, names)


def _fuse(exc: DriveError) -> pyfuse3.FUSEError:
    return pyfuse3.FUSEError(exc.errno or errno.EIO)


class DriveFileSystem(pyfuse3.Operations):
    supports_dot_lookup = False
    enable_writeback_cache = False
    enable_acl = False

    def __init__(self, hub: DriveHub) -> None:
        super().__init__()
        self.hub = hub
        self.uid, self.gid = os.getuid(), os.getgid()
        self._paths: dict[int, Path] = {}
        self._inodes: dict[Path, int] = {}
        self._next_inode = ROOT + 1
        self._files: dict[int, tuple[Drive, int]] = {}  # our fh -> (drive, the client's handle)
        self._dirs: dict[int, list[tuple[str, DriveEntry | Drive]]] = {}
        self._dir_paths: dict[int, Path] = {}  # an open directory's own path (not the top level)
        self._next_fh = 1
        self._started = time.time_ns()

    # ---- inodes and paths -------------------------------------------------------------------

    def _inode(self, path: Path) -> int:
        inode = self._inodes.get(path)
        if inode is None:
            inode = self._next_inode
            self._next_inode += 1
            self._inodes[path] = inode
            self._paths[inode] = path
        return inode

    def _resolve(self, inode: int) -> tuple[Drive, tuple[str, ...]]:
        path = self._paths.get(inode)
        if path is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        drive = next((d for d in self.hub.drives.values() if d.key == path[0]), None)
        if drive is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return drive, path[1]

    def _child(self, parent: int, name: bytes, *, creating: bool = False) -> tuple[Drive, tuple[str, ...]]:
        text = os.fsdecode(name)
        if len(text) > messages.MAX_NAME_CHARS:
            raise pyfuse3.FUSEError(errno.ENAMETOOLONG)
        if not messages.path_name_ok(text):
            raise pyfuse3.FUSEError(errno.EINVAL if creating else errno.ENOENT)
        if parent == ROOT:
            drive = self.hub.drives.get(text)
            if drive is None:
                raise pyfuse3.FUSEError(errno.EACCES if creating else errno.ENOENT)
            return drive, ()
        drive, parts = self._resolve(parent)
        parts = (*parts, text)
        if len(parts) > messages.MAX_PATH_PARTS or sum(len(p) + 1 for p in parts) > messages.MAX_PATH_CHARS:
            raise pyfuse3.FUSEError(errno.ENAMETOOLONG)
        return drive, parts

    def forget_top(self, folder: str) -> None:
        """A drive came or went: the kernel forgets what it knew of that name."""
        try:
            pyfuse3.invalidate_entry_async(ROOT, os.fsencode(folder), ignore_enoent=True)
        except Exception as exc:  # the file system is not being served yet
            log.debug("invalidate %s: %s", folder, exc)

    # ---- attributes --------------------------------------------------------------------------

    def _attrs(self, inode: int, entry: DriveEntry) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        a.st_mode = entry_mode(entry)
        a.st_nlink = 2 if entry.is_dir else 1
        a.st_uid, a.st_gid = self.uid, self.gid
        a.st_size = entry.size
        a.st_blksize = 128 * 1024
        a.st_blocks = (entry.size + 511) // 512
        a.st_mtime_ns, a.st_atime_ns = entry.mtime, entry.atime or entry.mtime
        a.st_ctime_ns = entry.ctime or entry.mtime
        a.attr_timeout = a.entry_timeout = 1.0
        return a

    def _root_attrs(self) -> pyfuse3.EntryAttributes:
        a = self._attrs(ROOT, DriveEntry("Drives", True, 0, self._started, self._started, self._started))
        a.st_mode = stat.S_IFDIR | 0o500
        return a

    async def _stat(self, drive: Drive, parts: tuple[str, ...]) -> pyfuse3.EntryAttributes:
        try:
            result = await self.hub.call(drive, DriveAction.STAT, path=parts)
        except DriveError as exc:
            raise _fuse(exc) from None
        if result.entry is None:
            raise pyfuse3.FUSEError(errno.EIO)
        entry = result.entry if parts else DriveEntry(drive.folder, True, 0, result.entry.mtime, result.entry.atime,
                                                      result.entry.ctime)
        if not parts and not result.entry.is_dir:
            raise pyfuse3.FUSEError(errno.EIO)
        return self._attrs(self._inode((drive.key, parts)), entry)

    async def getattr(self, inode: int, ctx: Any = None) -> pyfuse3.EntryAttributes:
        if inode == ROOT:
            return self._root_attrs()
        return await self._stat(*self._resolve(inode))

    async def lookup(self, parent: int, name: bytes, ctx: Any = None) -> pyfuse3.EntryAttributes:
        return await self._stat(*self._child(parent, name))

    async def setattr(self, inode: int, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields, fh: int | None,
                      ctx: Any) -> pyfuse3.EntryAttributes:
        if inode == ROOT:
            raise pyfuse3.FUSEError(errno.EPERM)
        drive, parts = self._resolve(inode)
        try:
            if fields.update_size:
                await self.hub.call(drive, DriveAction.TRUNCATE, path=parts, size=attr.st_size)
            if fields.update_mtime or fields.update_atime:
                await self.hub.call(drive, DriveAction.SETTIMES, path=parts,
                                    atime=attr.st_atime_ns if fields.update_atime else None,
                                    mtime=attr.st_mtime_ns if fields.update_mtime else None)
        except DriveError as exc:
            raise _fuse(exc) from None
        return await self._stat(drive, parts)

    async def statfs(self, ctx: Any) -> pyfuse3.StatvfsData:
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = BLOCK
        s.f_namemax = messages.MAX_NAME_CHARS
        size = free = 0
        for drive in list(self.hub.drives.values())[:1]:
            try:
                result = await self.hub.call(drive, DriveAction.STATFS)
                size, free = result.size or 0, result.free or 0
            except DriveError:
                pass
        s.f_blocks, s.f_bfree, s.f_bavail = size // BLOCK, free // BLOCK, free // BLOCK
        return s

    # ---- directories --------------------------------------------------------------------------

    async def opendir(self, inode: int, ctx: Any) -> int:
        if inode == ROOT:
            listing: list[tuple[str, DriveEntry | Drive]] = [(name, d) for name, d in sorted(self.hub.drives.items())]
        else:
            drive, parts = self._resolve(inode)
            try:
                result = await self.hub.call(drive, DriveAction.LIST, path=parts)
                entries = result.listing()
            except DriveError as exc:
                raise _fuse(exc) from None
            except messages.RemoteProtocolError as exc:
                log.warning("drive %s: unreadable listing: %s", drive.folder, exc)
                raise pyfuse3.FUSEError(errno.EIO) from None
            listing = [(e.name, e) for e in entries]
        fh = self._next_fh
        self._next_fh += 1
        self._dirs[fh] = listing
        if inode != ROOT:
            self._dir_paths[fh] = (drive.key, parts)
        return fh

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        listing = self._dirs.get(fh, [])
        for index in range(start_id, len(listing)):
            name, item = listing[index]
            if isinstance(item, Drive):
                inode = self._inode((item.key, ()))
                attrs = self._attrs(inode, DriveEntry(name, True, 0, self._started))
            else:
                inode = self._inode((self._dir_drive(fh), (*self._dir_parts(fh), name)))
                attrs = self._attrs(inode, item)
            if not pyfuse3.readdir_reply(token, os.fsencode(name), attrs, index + 1):
                return

    def _dir_drive(self, fh: int) -> int:
        return self._dir_paths[fh][0]

    def _dir_parts(self, fh: int) -> tuple[str, ...]:
        return self._dir_paths[fh][1]

    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)
        self._dir_paths.pop(fh, None)

    async def mkdir(self, parent: int, name: bytes, mode: int, ctx: Any) -> pyfuse3.EntryAttributes:
        drive, parts = self._child(parent, name, creating=True)
        if not parts:
            raise pyfuse3.FUSEError(errno.EACCES)
        await self._simple(drive, DriveAction.MKDIR, parts)
        return await self._stat(drive, parts)

    async def rmdir(self, parent: int, name: bytes, ctx: Any) -> None:
        drive, parts = self._child(parent, name)
        if not parts:
            raise pyfuse3.FUSEError(errno.EACCES)
        await self._simple(drive, DriveAction.RMDIR, parts)

    async def unlink(self, parent: int, name: bytes, ctx: Any) -> None:
        drive, parts = self._child(parent, name)
        if not parts:
            raise pyfuse3.FUSEError(errno.EACCES)
        await self._simple(drive, DriveAction.UNLINK, parts)

    async def rename(self, parent_old: int, name_old: bytes, parent_new: int, name_new: bytes, flags: int,
                     ctx: Any) -> None:
        drive, old = self._child(parent_old, name_old)
        target_drive, new = self._child(parent_new, name_new, creating=True)
        if not old or not new:
            raise pyfuse3.FUSEError(errno.EACCES)
        if target_drive is not drive:
            raise pyfuse3.FUSEError(errno.EXDEV)
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise pyfuse3.FUSEError(errno.EINVAL)
        replace = frozenset() if flags & pyfuse3.RENAME_NOREPLACE else frozenset({OpenFlag.REPLACE})
        try:
            await self.hub.call(drive, DriveAction.RENAME, path=old, target=new, flags=replace)
        except DriveError as exc:
            raise _fuse(exc) from None
        # The kernel keeps the moved inodes: they now stand for the new paths.
        for (key, parts), inode in list(self._inodes.items()):
            if key == drive.key and parts[:len(old)] == old:
                del self._inodes[(key, parts)]
                moved = (key, new + parts[len(old):])
                self._paths[inode] = moved
                self._inodes[moved] = inode

    async def _simple(self, drive: Drive, action: DriveAction, parts: tuple[str, ...]) -> None:
        try:
            await self.hub.call(drive, action, path=parts)
        except DriveError as exc:
            raise _fuse(exc) from None

    # ---- files ----------------------------------------------------------------------------------

    def _new_fh(self, drive: Drive, handle: int) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self._files[fh] = (drive, handle)
        return fh

    async def open(self, inode: int, flags: int, ctx: Any) -> pyfuse3.FileInfo:
        drive, parts = self._resolve(inode)
        if not parts:
            raise pyfuse3.FUSEError(errno.EISDIR)
        wanted = set()
        if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
            wanted.add(OpenFlag.WRITE)
        if flags & os.O_TRUNC:
            wanted.add(OpenFlag.TRUNCATE)
        try:
            result = await self.hub.call(drive, DriveAction.OPEN, path=parts, flags=frozenset(wanted))
        except DriveError as exc:
            raise _fuse(exc) from None
        return pyfuse3.FileInfo(fh=self._new_fh(drive, result.handle or 0))

    async def create(self, parent: int, name: bytes, mode: int, flags: int,
                     ctx: Any) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        drive, parts = self._child(parent, name, creating=True)
        if not parts:
            raise pyfuse3.FUSEError(errno.EACCES)
        wanted = {OpenFlag.CREATE, OpenFlag.WRITE}
        if flags & os.O_EXCL:
            wanted.add(OpenFlag.EXCLUSIVE)
        if flags & os.O_TRUNC:
            wanted.add(OpenFlag.TRUNCATE)
        try:
            result = await self.hub.call(drive, DriveAction.OPEN, path=parts, flags=frozenset(wanted))
        except DriveError as exc:
            raise _fuse(exc) from None
        fh = self._new_fh(drive, result.handle or 0)
        try:
            attrs = await self._stat(drive, parts)
        except pyfuse3.FUSEError:
            await self.release(fh)
            raise
        return pyfuse3.FileInfo(fh=fh), attrs

    async def read(self, fh: int, off: int, size: int) -> bytes:
        drive, handle = self._file(fh)
        size = min(size, messages.MAX_DRIVE_IO)
        try:
            result = await self.hub.call(drive, DriveAction.READ, handle=handle, offset=off, length=size)
        except DriveError as exc:
            raise _fuse(exc) from None
        return result.data[:size]

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        drive, handle = self._file(fh)
        written = 0
        view = memoryview(buf)
        while written < len(buf):
            chunk = bytes(view[written:written + messages.MAX_DRIVE_IO])
            try:
                result = await self.hub.call(drive, DriveAction.WRITE, handle=handle, offset=off + written, data=chunk)
            except DriveError as exc:
                if written:
                    return written
                raise _fuse(exc) from None
            if not result.length:
                break
            written += result.length
        return written

    async def flush(self, fh: int) -> None:
        return None

    async def fsync(self, fh: int, datasync: bool) -> None:
        return None

    async def release(self, fh: int) -> None:
        entry = self._files.pop(fh, None)
        if entry is None:
            return
        drive, handle = entry
        if drive.gone:
            return
        try:
            await self.hub.call(drive, DriveAction.CLOSE, handle=handle)
        except DriveError as exc:
            log.info("drive %s: close failed: %s", drive.folder, exc)

    def _file(self, fh: int) -> tuple[Drive, int]:
        entry = self._files.get(fh)
        if entry is None:
            raise pyfuse3.FUSEError(errno.EBADF)
        if entry[0].gone:
            raise pyfuse3.FUSEError(errno.EIO)
        return entry
