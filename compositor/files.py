"""The user's transfer folders: the session host, running as the desktop's user, reads and
writes them (docs/files.md).

Browsers put files in ``~/Uploads`` and take them from ``~/Downloads``; nothing else of the
home is reachable. Every path is resolved one component at a time from a descriptor of the
home (``openat``-style ``dir_fd`` calls) with ``O_NOFOLLOW``: a symbolic link where a folder or
a file is expected is refused, never followed, so a link planted in either folder (by the user,
or by a program of theirs) cannot turn a write into one outside them. Unfinished uploads wait
in ``~/Uploads/.wrd-partial/<upload id>.part`` and are linked into place under their own name
once complete (never over an existing file: ``name (1).ext`` then).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from compositor.filenames import PARTIAL_DIR, BadName, check_name, check_upload_id, numbered

log = logging.getLogger(__name__)

UPLOADS = "Uploads"
DOWNLOADS = "Downloads"
MAX_LISTED = 1000
PARTIAL_MAX_AGE = 7 * 24 * 3600  # seconds an abandoned upload's bytes are kept
MAX_RENAMES = 1000


class FileRefused(Exception):
    """What was asked cannot be done: a bad name, an offset that is not the upload's, a
    symbolic link in the way, a full disk. The message says which, for the requester."""


class OffsetMismatch(FileRefused):
    """A chunk written at another offset than the upload's current size."""

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"the upload is at offset {expected}, not {given}")
        self.expected = expected


@dataclass(frozen=True)
class Listed:
    name: str
    size: int
    mtime: float


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UserFolders:
    """``~/Uploads`` and ``~/Downloads`` of ``home``, opened afresh for each request (a folder
    replaced between requests is seen)."""

    def __init__(self, home: str) -> None:
        self.home = home
        # Writes of uploads one at a time: two clients sending the same upload's chunk at once
        # (two tabs) would both pass the offset check before either wrote.
        self._writing = threading.Lock()

    # -- folders --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _folder(self, *path: str) -> Iterator[int]:
        """A descriptor of ``home/path…``, each component made (0700) when missing and opened
        without following a symbolic link."""
        fds = []
        try:
            fds.append(os.open(self.home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            for part in path:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fds[-1])
                try:
                    fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise FileRefused(f"~/{'/'.join(path)} is not a folder (a symbolic link?)") from None
                    raise
            yield fds[-1]
        except FileNotFoundError:
            raise FileRefused("the home folder is missing") from None
        finally:
            for fd in reversed(fds):
                os.close(fd)

    def downloads_folder(self) -> contextlib.AbstractContextManager[int]:
        """A descriptor of ``~/Downloads`` (made when missing), opened as every request opens it."""
        return self._folder(DOWNLOADS)

    # -- uploads --------------------------------------------------------------------------

    def upload_offset(self, upload: str) -> int:
        """How many bytes of ``upload`` are stored (0 when it has not begun)."""
        check_upload_id(upload)
        with self._folder(UPLOADS, PARTIAL_DIR) as partial:
            try:
                st = os.stat(f"{upload}.part", dir_fd=partial, follow_symlinks=False)
            except FileNotFoundError:
                return 0
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused("the upload's partial file is not a regular file")
            return st.st_size

    def upload_write(self, upload: str, name: str, size: int, offset: int, data: bytes) -> tuple[int, str | None]:
        """Write ``data`` at ``offset`` of upload ``upload`` (``size`` bytes in all, to become
        ``~/Uploads/<name>``). Returns the new offset, and the name the file took once the
        last byte is in (None before)."""
        check_upload_id(upload)
        try:
            check_name(name)
        except BadName as exc:
            raise FileRefused(str(exc)) from None
        if not 0 <= offset <= size or offset + len(data) > size:
            raise FileRefused(f"{offset + len(data)} bytes would be more than the {size} declared")
        part = f"{upload}.part"
        with self._writing, self._folder(UPLOADS) as uploads, self._folder(UPLOADS, PARTIAL_DIR) as partial:
            if offset == 0:
                self._prune_partials(partial)
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=partial)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise FileRefused("the upload's partial file is a symbolic link") from None
                raise
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    raise FileRefused("the upload's partial file is not a regular file of its own")
                if st.st_size != offset:
                    raise OffsetMismatch(st.st_size, offset)
                view = memoryview(data)
                written = 0
                while written < len(view):
                    written += os.pwrite(fd, view[written:], offset + written)
                if offset + written < size:
                    return offset + written, None
                os.fsync(fd)
            finally:
                os.close(fd)
            final = self._link_into_place(partial, part, uploads, name)
            os.unlink(part, dir_fd=partial)
            return size, final

    @staticmethod
    def _link_into_place(partial: int, part: str, uploads: int, name: str) -> str:
        """Hard-link the finished partial file as ``name`` (or ``name (n)``) in ``~/Uploads``:
        a link never replaces anything, so an existing file or a planted symbolic link of the
        same name stays as it was."""
        for n in range(MAX_RENAMES):
            candidate = name if n == 0 else numbered(name, n)
            try:
                os.link(part, candidate, src_dir_fd=partial, dst_dir_fd=uploads, follow_symlinks=False)
            except FileExistsError:
                continue
            return candidate
        raise FileRefused(f"{MAX_RENAMES} files named like {name!r} are in ~/Uploads already")

    @staticmethod
    def _prune_partials(partial: int) -> None:
        """Remove the bytes of uploads abandoned for ``PARTIAL_MAX_AGE``."""
        deadline = time.time() - PARTIAL_MAX_AGE
        with os.scandir(partial) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if entry.name.endswith(".part") and st.st_mtime < deadline:
                        os.unlink(entry.name, dir_fd=partial)

    # -- downloads ------------------------------------------------------------------------

    def downloads(self) -> list[Listed]:
        """Regular files of ``~/Downloads`` with valid names (newest first, at most
        ``MAX_LISTED``); hidden files, links, folders and odd names are not offered."""
        files = []
        with self._folder(DOWNLOADS) as folder, os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    check_name(entry.name)
                    st = entry.stat(follow_symlinks=False)
                except (BadName, OSError):
                    continue
                files.append(Listed(entry.name, st.st_size, st.st_mtime))
        files.sort(key=lambda f: (-f.mtime, f.name))
        return files[:MAX_LISTED]

    def download_read(self, name: str, offset: int, length: int) -> tuple[int, bytes]:
        """Up to ``length`` bytes of ``~/Downloads/<name>`` from ``offset``, and its size now."""
        try:
            check_name(name)
        except BadName as exc:
            raise FileRefused(str(exc)) from None
        if name.startswith("."):
            raise FileRefused("hidden files are not offered")
        with self._folder(DOWNLOADS) as folder:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
            except FileNotFoundError:
                raise FileRefused(f"no file {name!r} in ~/Downloads") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise FileRefused(f"~/Downloads/{name} is a symbolic link") from None
                raise
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise FileRefused(f"~/Downloads/{name} is not a regular file")
                if offset > st.st_size:
                    raise FileRefused(f"offset {offset} is past the end ({st.st_size} bytes)")
                return st.st_size, os.pread(fd, min(length, st.st_size - offset), offset)
            finally:
                os.close(fd)
