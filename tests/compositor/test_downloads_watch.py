"""The pushed download list (compositor/downloads_watch.py) on a real folder with real inotify:
what changes the list is heard once, what cannot change it is not, a replaced or linked
``~/Downloads`` is followed only as a folder, and stopping lets go of everything."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path

import pytest

from compositor.downloads_watch import SETTLE, DownloadsWatch
from compositor.files import Listed, UserFolders


class Heard:
    def __init__(self) -> None:
        self.lists: list[list[str]] = []
        self.event = asyncio.Event()

    def __call__(self, listed: list[Listed]) -> None:
        self.lists.append([f.name for f in listed])
        self.event.set()

    async def next(self, timeout: float = 1.0) -> list[str]:
        await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()
        return self.lists[-1]

    async def nothing(self, wait: float = 3 * SETTLE) -> bool:
        await asyncio.sleep(wait)
        return not self.event.is_set()


@pytest.fixture
async def watched(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    heard = Heard()
    watch = DownloadsWatch(UserFolders(str(home)), heard)
    assert await watch.start() == []  # ~/Downloads made, empty
    await asyncio.sleep(3 * SETTLE)  # its making is a home event: listed once, the same empty list
    assert heard.lists == []
    watch.listings = 0
    yield home, watch, heard
    watch.stop()


async def test_a_file_written_in_downloads_is_pushed_within_a_second(watched):
    home, watch, heard = watched
    start = time.monotonic()
    (home / "Downloads" / "report.pdf").write_bytes(b"%PDF")
    assert await heard.next() == ["report.pdf"]
    assert time.monotonic() - start < 1.0
    (home / "Downloads" / "report.pdf").unlink()
    assert await heard.next() == []


async def test_a_burst_of_changes_is_one_push(watched):
    home, watch, heard = watched
    for i in range(50):
        (home / "Downloads" / f"f{i}.txt").write_text("x")
    names = await heard.next()
    assert sorted(names) == sorted(f"f{i}.txt" for i in range(50))
    assert await heard.nothing() and len(heard.lists) == 1 and watch.listings == 1


async def test_hidden_files_do_not_wake_it_and_a_rename_into_view_does(watched):
    home, watch, heard = watched
    hidden = home / "Downloads" / ".big.iso.part"
    hidden.write_bytes(b"\0" * 4096)
    with hidden.open("ab") as f:
        f.write(b"more")
    assert await heard.nothing() and watch.listings == 0  # as wrd-send writes: nothing listed yet
    hidden.rename(home / "Downloads" / "big.iso")
    assert await heard.next() == ["big.iso"]


async def test_a_change_that_leaves_the_list_as_it_was_is_not_pushed(watched):
    home, watch, heard = watched
    path = home / "Downloads" / "a.txt"
    path.write_text("1")
    await heard.next()
    os.chmod(path, 0o600)  # an attribute event, same name, size and time
    await asyncio.sleep(3 * SETTLE)
    assert watch.listings == 2 and len(heard.lists) == 1


async def test_a_replaced_downloads_folder_is_watched_anew(watched):
    home, watch, heard = watched
    (home / "Downloads" / "old.txt").write_text("x")
    assert await heard.next() == ["old.txt"]
    (home / "Downloads").rename(home / "Old downloads")
    assert await heard.next() == []  # the moved folder is not ~/Downloads (a new empty one is)
    (home / "Old downloads" / "late.txt").write_text("x")
    assert await heard.nothing()
    (home / "Downloads" / "new.txt").write_text("x")
    assert await heard.next() == ["new.txt"]


async def test_a_symlinked_downloads_is_neither_watched_nor_listed(watched, tmp_path, caplog):
    home, watch, heard = watched
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rmdir(home / "Downloads")
    os.symlink(elsewhere, home / "Downloads")
    await asyncio.sleep(3 * SETTLE)
    (elsewhere / "secret.txt").write_text("x")
    assert await heard.nothing()
    assert all("secret.txt" not in names for names in heard.lists)
    assert "~/Downloads not watched" in caplog.text


async def test_stop_releases_the_descriptor_and_hears_nothing_more(watched):
    home, watch, heard = watched
    fds = len(os.listdir("/proc/self/fd"))
    watch.stop()
    assert not watch.running and len(os.listdir("/proc/self/fd")) == fds - 1
    (home / "Downloads" / "after.txt").write_text("x")
    assert await heard.nothing()
    assert [f.name for f in await watch.start()] == ["after.txt"]  # and starts again


async def test_no_descriptor_to_be_had_is_an_error_and_holds_nothing(tmp_path, caplog):
    home = tmp_path / "home"
    home.mkdir()
    watch = DownloadsWatch(UserFolders(str(home)), Heard())
    probe = os.dup(0)  # the lowest free descriptor: with the limit there, no new one can be had
    os.close(probe)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe, hard))
    try:
        with pytest.raises(OSError):
            await watch.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert not watch.running and "cannot watch ~/Downloads" in caplog.text
    assert await watch.start() == []  # and works once a descriptor can be had
    watch.stop()


# -- through a real session host, as its clients see it ----------------------------------------


def _inotify_fds(pid: int) -> int:
    fds = f"/proc/{pid}/fd"
    return sum(1 for fd in os.listdir(fds) if os.readlink(f"{fds}/{fd}") == "anon_inode:inotify")


@pytest.fixture(scope="module")
def host():
    from tests.compositor.helpers import start_host, stop_host

    launched = start_host(640, 480)
    try:
        yield launched
    finally:
        stop_host(launched)


async def test_the_host_pushes_to_the_connections_that_watch_and_lets_go_after_the_last(host):
    from compositor import messages
    from compositor.client import HostClient

    pushed: dict[str, list[messages.DownloadsChanged]] = {"a": [], "b": [], "c": []}
    clients = {}
    for key in pushed:
        clients[key] = HostClient(on_event=lambda p, k=key: pushed[k].append(p)
                                  if isinstance(p, messages.DownloadsChanged) else None)
        await clients[key].connect(host.socket_path)
    try:
        assert _inotify_fds(host.pid) == 0  # nobody asked: nothing watched
        first = await clients["a"].call(messages.DownloadsWatch())
        await clients["b"].call(messages.DownloadsWatch())
        assert _inotify_fds(host.pid) == 1  # one descriptor for every watcher
        folder = Path(host.home) / "Downloads"
        name = f"both-{os.getpid()}.txt"
        assert name not in [f.name for f in first.files]
        (folder / name).write_text("x")
        deadline = time.monotonic() + 1
        while not (pushed["a"] and pushed["b"]) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert [name in [f.name for f in p.files] for p in pushed["a"] + pushed["b"]] == [True, True]
        assert pushed["c"] == []  # it never asked
        assert (await clients["a"].call(messages.DownloadsWatch(on=False))).files == ()
        (folder / name).unlink()
        await asyncio.sleep(5 * SETTLE)
        assert len(pushed["a"]) == 1 and len(pushed["b"]) == 2
        await clients["b"].close()
        await asyncio.sleep(0.2)
        assert _inotify_fds(host.pid) == 0  # the last watcher gone: the descriptor is closed
    finally:
        for client in clients.values():
            await client.close()
