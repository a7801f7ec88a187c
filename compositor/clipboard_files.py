"""Files on the session's clipboard (docs/clipboard.md), read and offered by the session host,
which runs as the desktop's user.

Copied in the session: a file manager puts ``text/uri-list`` (or GNOME's
``x-special/gnome-copied-files``: ``copy`` or ``cut``, then the URIs) on CLIPBOARD. ``CopiedFiles``
takes a snapshot of the regular files it names (``file://`` URIs of this machine; folders,
other schemes and names that ``compositor.filenames.check_name`` refuses are left out with a
log line) and serves ranges of them on demand: each read opens the path again and checks that
it is still the same, unchanged file (device, inode and change time) and a regular one, so a
file swapped for another or written after the copy is refused, not read.

Pasted from a client: the front end stores the client's files through the ordinary upload path
(``UserFolders.upload_write``: ``~/Uploads``, partial files, no symbolic links followed,
never over an existing file), then asks the host to offer them (``offer_targets``).
"""

from __future__ import annotations

import itertools
import logging
import os
import stat
import urllib.parse
from dataclasses import dataclass

from compositor.filenames import BadName, check_name
from compositor.files import UPLOADS, FileRefused, UserFolders

log = logging.getLogger(__name__)

URI_LIST = "text/uri-list"
GNOME_COPIED = "x-special/gnome-copied-files"
FILE_TARGETS = (URI_LIST, GNOME_COPIED)
MAX_LIST_BYTES = 1024 * 1024  # of a uri-list
MAX_FILES = 4096
_serials = itertools.count(1)


def parse_uri_list(data: bytes) -> list[str]:
    """Local paths of the ``file://`` URIs in a ``text/uri-list`` (RFC 2483) or a
    ``x-special/gnome-copied-files`` list (its first line, ``copy`` or ``cut``, is skipped)."""
    paths = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line in ("copy", "cut"):
            continue
        parts = urllib.parse.urlsplit(line)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            log.info("clipboard: not a local file, skipped: %.80r", line)
            continue
        path = urllib.parse.unquote(parts.path, errors="strict") if parts.path else ""
        if not path.startswith("/") or "\0" in path:
            log.info("clipboard: not an absolute path, skipped: %.80r", line)
            continue
        paths.append(path)
    return paths


def uri_for(path: str) -> str:
    return "file://" + urllib.parse.quote(path)


@dataclass(frozen=True)
class CopiedFile:
    name: str
    path: str
    size: int
    dev: int
    ino: int
    ctime_ns: int  # a file written since (or a new one on a reused inode) is another file


class CopiedFiles:
    """A snapshot of the regular files a uri-list names, read by index."""

    def __init__(self, paths: list[str]) -> None:
        self.serial = next(_serials)
        files: list[CopiedFile] = []
        for path in paths[:MAX_FILES]:
            name = os.path.basename(path.rstrip("/"))
            try:
                check_name(name)
                st = os.stat(path)
            except (BadName, OSError) as exc:
                log.info("clipboard: copied file %.80r skipped: %s", path, exc)
                continue
            if not stat.S_ISREG(st.st_mode):
                log.info("clipboard: %.80r is not a regular file; skipped (folders are not offered)", path)
                continue
            files.append(CopiedFile(name, path, st.st_size, st.st_dev, st.st_ino, st.st_ctime_ns))
        self.files = files

    def read(self, index: int, offset: int, length: int) -> tuple[int, bytes]:
        """Up to ``length`` bytes of file ``index`` from ``offset``, and its size now."""
        if not 0 <= index < len(self.files):
            raise FileRefused(f"no file {index} on the clipboard")
        item = self.files[index]
        try:
            fd = os.open(item.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise FileRefused(f"{item.name}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino, st.st_ctime_ns) != (item.dev, item.ino, item.ctime_ns) \
                    or not stat.S_ISREG(st.st_mode):
                raise FileRefused(f"{item.name} was replaced or changed since it was copied")
            if offset > st.st_size:
                raise FileRefused(f"offset {offset} is past the end of {item.name} ({st.st_size} bytes)")
            return st.st_size, os.pread(fd, min(length, st.st_size - offset), offset)
        finally:
            os.close(fd)


def offer_targets(folders: UserFolders, names: tuple[str, ...]) -> tuple[dict[str, bytes], str]:
    """The selection targets that offer ``~/Uploads/<name>`` of each name, and their paths as
    text: every one must be a regular file there (not a symbolic link)."""
    paths = []
    with folders._folder(UPLOADS) as uploads:
        for name in names:
            try:
                check_name(name)
                st = os.stat(name, dir_fd=uploads, follow_symlinks=False)
            except (BadName, FileNotFoundError) as exc:
                raise FileRefused(f"~/{UPLOADS}/{name}: {exc}") from None
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused(f"~/{UPLOADS}/{name} is not a regular file")
            paths.append(os.path.join(folders.home, UPLOADS, name))
    uris = [uri_for(p) for p in paths]
    targets = {
        URI_LIST: "".join(u + "\r\n" for u in uris).encode(),
        GNOME_COPIED: ("copy\n" + "\n".join(uris)).encode(),
    }
    return targets, "\n".join(paths)
