"""The host's side of drive redirection (compositor/drives.py): calls bounded in time, answers
only from the connection that holds the drive, a connection's drives and calls ending with it;
and a real host refusing hostile drive messages while it goes on serving."""

from __future__ import annotations

import asyncio
import errno

import pytest

from compositor import drives, messages
from compositor.client import HostClient, HostError
from compositor.drives import DriveError, DriveHub


class Owner:
    """A control connection as the hub sees it: what it was sent."""

    def __init__(self) -> None:
        self.closed = False
        self.sent: list[messages.HostMessage] = []

    def send(self, message: messages.HostMessage) -> None:
        self.sent.append(message)


def _hub() -> DriveHub:
    hub = DriveHub(session="t")
    hub._task = asyncio.get_running_loop().create_future()  # as if serving: attach needs it
    return hub


async def test_call_answered_by_its_connection_only(monkeypatch):
    hub = _hub()
    owner, stranger = Owner(), Owner()
    reply = hub.attach(owner, messages.DriveAttach(7, "share"), "/home/u")
    assert reply == messages.DriveAttachReply("share", "/home/u/Drives/share")
    assert hub.attach(stranger, messages.DriveAttach(1, "share"), "/home/u").name == "share-2"
    drive = hub.drives["share"]
    task = asyncio.create_task(hub.call(drive, messages.DriveAction.STAT, path=("a",)))
    await asyncio.sleep(0)
    (call,) = owner.sent
    assert isinstance(call, messages.DriveCall) and call.drive == 7 and call.path == ("a",)
    entry = messages.DriveEntry("a", False, 3)
    hub.result(stranger, messages.DriveResult(call.call, entry=entry))  # not theirs: dropped
    await asyncio.sleep(0)
    assert not task.done()
    hub.result(owner, messages.DriveResult(call.call, entry=entry))
    assert (await task).entry == entry


async def test_errors_and_silence_become_errno(monkeypatch):
    monkeypatch.setattr(drives, "CALL_TIMEOUT", 0.2)
    hub = _hub()
    owner = Owner()
    hub.attach(owner, messages.DriveAttach(1, "d"), "/h")
    drive = hub.drives["d"]
    task = asyncio.create_task(hub.call(drive, messages.DriveAction.OPEN, path=("x",)))
    await asyncio.sleep(0)
    hub.result(owner, messages.DriveResult(owner.sent[-1].call, errno=errno.ENOENT))
    with pytest.raises(DriveError) as failed:
        await task
    assert failed.value.errno == errno.ENOENT
    with pytest.raises(DriveError) as failed:  # nobody answers
        await hub.call(drive, messages.DriveAction.STAT, path=("x",))
    assert failed.value.errno == errno.EIO


async def test_a_connection_takes_its_drives_and_calls_with_it():
    hub = _hub()
    owner, other = Owner(), Owner()
    hub.attach(owner, messages.DriveAttach(1, "mine"), "/h")
    hub.attach(other, messages.DriveAttach(1, "theirs"), "/h")
    task = asyncio.create_task(hub.call(hub.drives["mine"], messages.DriveAction.LIST))
    await asyncio.sleep(0)
    hub.connection_closed(owner)
    with pytest.raises(DriveError) as failed:
        await task
    assert failed.value.errno == errno.EIO
    assert list(hub.drives) == ["theirs"]
    hub.detach(other, 1)
    assert hub.drives == {}


def test_a_session_without_drives_folder_refuses_attach():
    with pytest.raises(OSError):
        DriveHub().attach(Owner(), messages.DriveAttach(1, "x"), "/h")


@pytest.fixture(scope="module")
def host():
    from tests.compositor.helpers import start_host, stop_host

    launched = start_host(640, 480)
    try:
        yield launched
    finally:
        stop_host(launched)


async def test_host_refuses_hostile_drive_messages(host):
    client = await HostClient().connect(host.socket_path)
    try:
        for name in ("..", "a/b", "x\x01", ""):
            with pytest.raises(HostError):
                await client.call(messages.DriveAttach(1, name))
        reply = await client.call(messages.DriveAttach(1, "fine"))
        assert reply.name == "fine" and reply.path.endswith("/Drives/fine")
        with pytest.raises(HostError):  # the same drive twice
            await client.call(messages.DriveAttach(1, "fine"))
        # An answer to a call nobody made, and one carrying a made-up errno: dropped or refused,
        # and the connection goes on.
        client.send(messages.DriveResult(12345, errno=0, data=b"x"))
        client.send(messages.DriveResult(1, errno=9999))
        status = await client.call(messages.Status())
        assert status.width == 640
        await client.call(messages.DriveDetach(1))
    finally:
        await client.close()


async def test_the_mount_goes_with_the_desktop():
    """~/Drives is mounted in the desktop's namespace while it runs; once the desktop has
    stopped, no process on the machine sees that mount any more."""
    from pathlib import Path

    from tests.compositor.helpers import start_host, stop_host
    from tests.rdpfront.drive_helpers import wait_in_session

    launched = await asyncio.to_thread(start_host, 640, 480)
    target = f" {launched.home}/Drives fuse.wrd-drives "
    try:
        out = await wait_in_session(launched, "cat /proc/self/mounts")
        assert target in out
    finally:
        await asyncio.to_thread(stop_host, launched)

    def seen_anywhere() -> list[str]:
        seen = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if target in (proc / "mounts").read_text():
                        seen.append(proc.name)
                except OSError:
                    pass  # ended meanwhile
        return seen

    # The host's last processes may take a moment to be reaped after it answered the stop.
    deadline = asyncio.get_running_loop().time() + 5
    while (seen := await asyncio.to_thread(seen_anywhere)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert seen == [], [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in seen]
