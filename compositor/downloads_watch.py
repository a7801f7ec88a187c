"""The list of ``~/Downloads``, pushed when it changes (docs/files.md, *Pushed list*).

While at least one client asks (``downloads_watch``), the session host holds one inotify
descriptor (``inotify_simple``) in its event loop with two watches: ``~/Downloads`` itself
(files created, deleted, moved in or out, closed after writing, their attributes changed; the
folder deleted or moved away) and the home (a ``Downloads`` created or moved in, which replaces
a folder that went). Events on hidden names are ignored (they are never listed: ``wrd-send``
writes under a hidden name and renames). Events within ``SETTLE`` seconds make one listing, in a
thread like every file operation of the host, and ``on_change`` hears only a list that differs
from the last one.

The folder is watched through the descriptor ``UserFolders`` opens (one component at a time,
``O_NOFOLLOW``) as ``/proc/self/fd/N``, so the watch is on the folder that was checked, never
on what a symbolic link put in its place points to. A ``~/Downloads`` that is not a folder is
logged and not watched; the home's watch notices when a folder takes its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from inotify_simple import INotify
from inotify_simple import flags as F

from compositor.files import DOWNLOADS, FileRefused, Listed, UserFolders

log = logging.getLogger(__name__)

SETTLE = 0.1  # seconds: events this close together are one change
FOLDER_MASK = (F.CREATE | F.DELETE | F.MOVED_FROM | F.MOVED_TO | F.CLOSE_WRITE | F.ATTRIB | F.DELETE_SELF
               | F.MOVE_SELF | F.ONLYDIR)
HOME_MASK = F.CREATE | F.MOVED_TO | F.ONLYDIR | F.DONT_FOLLOW
GONE = F.IGNORED | F.DELETE_SELF | F.MOVE_SELF  # the watched folder is no longer ~/Downloads


class DownloadsWatch:
    """Watches ``~/Downloads`` of ``folders`` between ``start`` and ``stop``; calls
    ``on_change(files)`` in the event loop when its list changed."""

    def __init__(self, folders: UserFolders, on_change: Callable[[list[Listed]], None], *, session: str = "") -> None:
        self.folders = folders
        self.on_change = on_change
        self.session = session
        self.listed: list[Listed] | None = None
        self.listings = 0  # how many times the folder was read for a change
        self._inotify: INotify | None = None
        self._home_wd: int | None = None
        self._folder_wd: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._inotify is not None

    async def start(self) -> list[Listed]:
        """Watch (if not already) and return the list now."""
        if self._inotify is None:
            try:
                self._inotify = INotify(nonblocking=True)
            except OSError as exc:  # EMFILE: the user's max_user_instances taken by their programs
                log.warning("cannot watch ~/Downloads: %s session=%s", exc, self.session)
                raise
            asyncio.get_running_loop().add_reader(self._inotify.fileno(), self._readable)
            try:
                self._home_wd = self._inotify.add_watch(self.folders.home, HOME_MASK)
            except OSError as exc:
                log.warning("cannot watch the home for ~/Downloads: %s session=%s", exc, self.session)
            self._watch_folder()
        self.listed = await self._list()
        return self.listed

    def stop(self) -> None:
        if self._inotify is None:
            return
        inotify, self._inotify = self._inotify, None
        asyncio.get_running_loop().remove_reader(inotify.fileno())
        inotify.close()
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
        self._home_wd = self._folder_wd = self._timer = self._task = None
        self.listed = None

    def _watch_folder(self) -> None:
        assert self._inotify is not None
        if self._folder_wd is not None:
            with contextlib.suppress(OSError):  # already gone with its folder
                self._inotify.rm_watch(self._folder_wd)
            self._folder_wd = None
        try:
            with self.folders.downloads_folder() as fd:
                self._folder_wd = self._inotify.add_watch(f"/proc/self/fd/{fd}", FOLDER_MASK)
        except (FileRefused, OSError) as exc:
            log.warning("~/Downloads not watched: %s session=%s", exc, self.session)

    def _readable(self) -> None:
        if self._inotify is None:
            return
        changed = rewatch = False
        for event in self._inotify.read(timeout=0):
            if event.mask & F.Q_OVERFLOW:
                changed = True
            elif event.wd == self._home_wd:
                if event.name == DOWNLOADS:
                    rewatch = changed = True
            elif event.wd == self._folder_wd:
                if event.mask & GONE:
                    rewatch = changed = True
                elif not event.name.startswith("."):
                    changed = True
        if rewatch and self._inotify is not None:
            self._watch_folder()
        if changed and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SETTLE, self._settled)

    def _settled(self) -> None:
        self._timer = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._relist())
        else:  # a listing is under way: list again after it
            self._timer = asyncio.get_running_loop().call_later(SETTLE, self._settled)

    async def _relist(self) -> None:
        listed = await self._list()
        self.listings += 1
        if self._inotify is not None and listed != self.listed:
            self.listed = listed
            self.on_change(listed)

    async def _list(self) -> list[Listed]:
        try:
            return await asyncio.to_thread(self.folders.downloads)
        except (FileRefused, OSError) as exc:
            log.warning("~/Downloads not listed: %s session=%s", exc, self.session)
            return []
