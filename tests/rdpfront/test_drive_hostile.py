"""A hostile drive: a scripted RDP client (``helpers.SocketClient`` over TCP + TLS) shares a
folder and answers the server's I/O requests with lies, against the real RDP server, session
host and FUSE mount. Its bad names are left out, its oversized reads and its silence fail
that one operation (EIO, bounded in time) with a log line; the desktop goes on; the paths the
client is asked for never leave the shared folder."""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from collections.abc import AsyncIterator

import pytest

from compositor import messages
from compositor.client import HostClient
from rdpfront import drive_relay, rdpdr
from rdpfront.server import RdpServer
from tests.rdpfront.drive_helpers import session_sh, wait_in_session
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import PASSWORD, close_server, start_server

pytestmark = pytest.mark.timeout(120)

FS = rdpdr.DeviceType.RDPDR_DTYP_FILESYSTEM
NT_DIR = rdpdr.FILE_ATTRIBUTE_DIRECTORY
# name -> (attributes, content); "hung" is never answered
FILES = {"": (NT_DIR, b""), "ok.txt": (0, b"fine\n"), "big": (0, b"0123456789"), "hung": (0, b"")}
LISTED = ["ok.txt", ".", "..", "../escape", "bad\x01name", "sl/ash", "big", "hung", "a" * 300]


@pytest.fixture
async def server(host, tmp_path, monkeypatch) -> AsyncIterator[tuple[RdpServer, int]]:
    monkeypatch.setattr(drive_relay, "IRP_TIMEOUT", 1.0)
    rdp, port = await start_server(tmp_path, host.socket_path)
    try:
        yield rdp, port
    finally:
        await close_server(rdp)


class HostileDrive:
    """The scripted client: handshake, one drive, then answers from ``FILES`` with lies."""

    def __init__(self, port: int) -> None:
        self.sock = SocketClient(port, timeout=10)
        self.paths: list[str] = []  # every path the server asked for
        self.files: dict[int, str] = {}
        self.listing: dict[int, list[str]] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            if not self.stop.is_set():
                self.error = exc

    def _run(self) -> None:
        c = self.sock
        c.connect(username="alice", password=PASSWORD, channels=("rdpdr",))
        deadline = time.monotonic() + 10
        while not any(isinstance(p, rdpdr.ServerAnnounce) for p in c.received):
            assert time.monotonic() < deadline, "no Server Announce"
            c.pump()
        c.send_rdpdr(rdpdr.ClientAnnounceReply(1, 12, 1))
        c.send_rdpdr(rdpdr.ClientName("hostile"))
        c.send_rdpdr(rdpdr.ClientCapabilities((rdpdr.GeneralCapability().capability(),
                                               rdpdr.Capability(rdpdr.CapabilityType.CAP_DRIVE_TYPE, 2))))
        c.send_rdpdr(rdpdr.DeviceListAnnounce((rdpdr.DeviceAnnounce(FS, 1, "EVIL", b"evil\0"),)))
        c.timeout = 0.3
        seen = 0
        while not self.stop.is_set():
            try:
                c.pump()
            except AssertionError:
                pass
            pdus, seen = c.received[seen:], len(c.received)
            for pdu in pdus:
                if isinstance(pdu, rdpdr.IoRequest):
                    answer = self.answer(pdu)
                    if answer is not None:
                        c.send_rdpdr(answer)

    def answer(self, req: rdpdr.IoRequest) -> rdpdr.IoCompletion | None:
        def ok(body: bytes = b"") -> rdpdr.IoCompletion:
            return rdpdr.IoCompletion(req.device_id, req.completion_id, 0, body)

        def fail(status: int) -> rdpdr.IoCompletion:
            return rdpdr.IoCompletion(req.device_id, req.completion_id, status, b"")

        body = req.body
        name = self.files.get(req.file_id, "")
        if isinstance(body, rdpdr.CreateRequest):
            self.paths.append(body.path)
            name = body.path.strip("\\")
            if name == "hung":
                return None
            if name not in FILES:
                return fail(rdpdr.NtStatus.STATUS_OBJECT_NAME_NOT_FOUND)
            file_id = len(self.files) + 10
            self.files[file_id] = name
            return ok(struct.pack("<IB", file_id, 1))
        if isinstance(body, rdpdr.CloseRequest):
            return ok(bytes(4))
        attributes, content = FILES[name]
        if isinstance(body, rdpdr.QueryInformationRequest):
            if body.info_class == rdpdr.FileInfoClass.FileBasicInformation:
                info = rdpdr.BasicInformation(0, 0, 0, 0, attributes)
            else:
                info = rdpdr.StandardInformation(len(content), len(content), 1, False, bool(attributes & NT_DIR))
            data = rdpdr.info_bytes(info)
            return ok(struct.pack("<I", len(data)) + data)
        if isinstance(body, rdpdr.QueryDirectoryRequest):
            if body.initial:
                self.listing[req.file_id] = list(LISTED)
            queue = self.listing.get(req.file_id, [])
            if not queue:
                return fail(rdpdr.NtStatus.STATUS_NO_MORE_FILES)
            entry = queue.pop(0)
            entry_attributes, entry_content = FILES.get(entry, (0, b""))
            data = rdpdr.info_bytes(rdpdr.DirectoryInformation(entry, len(entry_content), entry_attributes))
            return ok(struct.pack("<I", len(data)) + data)
        if isinstance(body, rdpdr.ReadRequest):
            data = content[body.offset:body.offset + body.length]
            if name == "big":  # more than was asked for
                data = b"X" * (body.length + 100)
            return ok(struct.pack("<I", len(data)) + data)
        return fail(rdpdr.NtStatus.STATUS_NOT_SUPPORTED)


async def test_hostile_client_fails_only_its_own_operations(server, host, caplog):
    caplog.set_level(logging.INFO)
    rdp, port = server
    client = await asyncio.to_thread(HostileDrive, port)
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    try:
        await wait_in_session(host, 'test -d "$HOME/Drives/evil"')

        out = await wait_in_session(host, 'ls -1A "$HOME/Drives/evil"')
        assert set(out.split()) == {"ok.txt", "big", "hung"}, out
        assert "left out" in caplog.text

        code, out = await session_sh(host, 'cat "$HOME/Drives/evil/ok.txt"')
        assert code == 0 and out == "fine\n"

        code, out = await session_sh(host, 'cat "$HOME/Drives/evil/big"')
        assert code != 0 and "Input/output error" in out, out
        assert "more than the" in caplog.text

        # A client that never answers: the operation fails in bounded time, and meanwhile the
        # desktop serves everyone else.
        started = time.monotonic()
        stat = asyncio.create_task(session_sh(host, 'stat "$HOME/Drives/evil/hung"'))
        await asyncio.sleep(0.2)
        other = await HostClient().connect(host.socket_path)
        try:
            t0 = time.monotonic()
            status = await other.call(messages.Status())
            assert status.width > 0 and time.monotonic() - t0 < 0.5
        finally:
            await other.close()
        code, out = await stat
        assert code != 0 and "Input/output error" in out, out
        assert time.monotonic() - started < 8
        assert "did not answer" in caplog.text

        # Every path the client was asked for stays in its folder.
        assert client.paths
        for path in client.paths:
            parts = path.split("\\")[1:]
            assert all(messages.path_name_ok(p) for p in parts if p), path
        assert client.error is None
    finally:
        client.stop.set()
        await asyncio.to_thread(thread.join, 5)
        client.sock.close()
    # The connection is gone: so is its drive.
    await wait_in_session(host, 'test ! -e "$HOME/Drives/evil"')
