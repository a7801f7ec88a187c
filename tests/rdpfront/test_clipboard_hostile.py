"""Clipboard images and files with a scripted RDP client (``helpers.SocketClient`` over TCP +
TLS) against the real RDP server and a real session host (docs/clipboard.md).

- a hostile client's file list — ``..``, absolute and backslashed paths, control characters,
  folders, a file that delivers less than its declared size and one that delivers more — gets
  each bad item skipped with a log line, only the good file stored, and nothing written
  anywhere in the user's home but ``~/Uploads``;
- a list over ``clipboard_max_file_bytes`` is refused before any byte is asked for;
- a DIB whose header promises more pixels than it carries is refused; a DIBV5 with alpha
  arrives as a PNG with the same pixels and alpha;
- the session's files (a uri-list copied in the session) are listed and read through the
  host by File Contents requests, a 50 MB file byte for byte (this is the direction that
  Debian's xfreerdp 2.11, built without FUSE, cannot paste: tested here at the protocol level).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import queue
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from compositor import messages
from compositor.client import BlockingHostClient
from rdpfront import cliprdr, dib
from rdpfront.channels.clipboard import FILE_LIST_ID
from rdpfront.server import RdpServer
from tests.compositor.helpers import session_env
from tests.conftest import desktop_user
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import PASSWORD, close_server, start_server

pytestmark = pytest.mark.timeout(180)

FILES_ID = 0xC123  # the scripted client's id for FileGroupDescriptorW


@pytest.fixture
async def server(host, tmp_path) -> AsyncIterator[tuple[RdpServer, int]]:
    rdp, port = await start_server(tmp_path, host.socket_path, clipboard_max_file_bytes=64 * 1024 * 1024)
    try:
        yield rdp, port
    finally:
        await close_server(rdp)


class ScriptedClipboard:
    """The scripted client: handshake with only cliprdr, then answers the server's requests
    with ``answer(pdu) -> [pdu, …]`` and sends what the test queues."""

    def __init__(self, port: int, answer: Callable[[object], list]) -> None:
        self.sock = SocketClient(port, timeout=10)
        self.answer = answer
        self.outbox: queue.Queue = queue.Queue()
        self.seen: list = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            c = self.sock
            c.connect(username="alice", password=PASSWORD, channels=("cliprdr",))
            c.timeout = 0.2
            count = 0
            while not self.stop.is_set():
                while not self.outbox.empty():
                    c.send_clipboard(self.outbox.get())
                try:
                    c.pump()
                except AssertionError:
                    pass
                new, count = c.received[count:], len(c.received)
                for pdu in new:
                    if isinstance(pdu, cliprdr.ClipboardPdu):
                        self.seen.append(pdu)
                        for reply in self.answer(pdu):
                            c.send_clipboard(reply)
        except BaseException as exc:  # reported by the test
            if not self.stop.is_set():
                self.error = exc

    def send(self, pdu) -> None:
        self.outbox.put(pdu)

    def of_type(self, kind: type) -> list:
        return [p for p in list(self.seen) if isinstance(p, kind)]


@pytest.fixture
async def scripted(server) -> AsyncIterator[Callable]:
    started: list[tuple[ScriptedClipboard, threading.Thread]] = []

    async def start(answer: Callable[[object], list]) -> ScriptedClipboard:
        client = await asyncio.to_thread(ScriptedClipboard, server[1], answer)
        thread = threading.Thread(target=client.run, daemon=True)
        thread.start()
        started.append((client, thread))
        await wait_for(lambda: any(isinstance(p, cliprdr.MonitorReady) for p in client.seen), "Monitor Ready")
        return client

    yield start
    for client, thread in started:
        client.stop.set()
        await asyncio.to_thread(thread.join, 5)
        client.sock.close()
        assert client.error is None, client.error


async def wait_for(check: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return result


def host_call(host, request: messages.Request):
    with BlockingHostClient(host.socket_path) as client:
        return client.call(request)


def home_of(host) -> Path:
    return Path(host_call(host, messages.Status()).home)


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (relative), links not followed."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def descriptor(name: str, size: int, *, folder: bool = False) -> cliprdr.FileDescriptor:
    flags = cliprdr.FileDescriptorFlags.FD_ATTRIBUTES | cliprdr.FileDescriptorFlags.FD_FILESIZE
    attributes = cliprdr.FILE_ATTRIBUTE_DIRECTORY if folder else cliprdr.FILE_ATTRIBUTE_NORMAL
    return cliprdr.FileDescriptor(name, size, flags, attributes)


GOOD = b"good bytes\n" * 5000
# name -> (declared size, what the client really has, folder?)
HOSTILE = [
    ("../escape.txt", 5, b"EVIL!", False),
    ("/etc/passwd", 5, b"EVIL!", False),
    ("..\\..\\boot.ini", 5, b"EVIL!", False),
    ("bell\x07.txt", 5, b"EVIL!", False),
    ("esc\x1b[31m.txt", 5, b"EVIL!", False),
    ("..", 5, b"EVIL!", False),
    ("folder", 0, b"", True),
    ("folder\\inner.txt", 5, b"EVIL!", False),
    ("liar.bin", 100_000, b"only ten b", False),  # delivers 10 of the 100000 it declares
    ("greedy.bin", 10, b"twenty bytes, really", False),  # delivers more than asked for
    ("good.txt", len(GOOD), GOOD, False),
]


async def test_hostile_file_list_stores_only_the_good_file(server, scripted, host, caplog) -> None:
    caplog.set_level(logging.INFO)
    home = home_of(host)
    uploads = home / "Uploads"
    before = tree(home)
    listing = cliprdr.FileList(tuple(descriptor(n, size, folder=f) for n, size, _, f in HOSTILE)).encode()
    asked: list[cliprdr.FileContentsRequest] = []

    def answer(pdu) -> list:
        if isinstance(pdu, cliprdr.FormatDataRequest) and pdu.format_id == FILES_ID:
            return [cliprdr.FormatDataResponse(listing)]
        if isinstance(pdu, cliprdr.FileContentsRequest):
            asked.append(pdu)
            _, _, content, _ = HOSTILE[pdu.index]
            if HOSTILE[pdu.index][0] == "greedy.bin":
                return [cliprdr.FileContentsResponse(pdu.stream_id, content)]
            return [cliprdr.FileContentsResponse(pdu.stream_id, content[pdu.position:pdu.position + pdu.requested])]
        return []

    client = await scripted(answer)
    client.send(cliprdr.FormatList((cliprdr.Format(FILES_ID, cliprdr.FILE_GROUP_DESCRIPTOR_W),)))
    listed = await wait_for(lambda: b"good.txt" in _session_target(host, "text/uri-list"), "the offered files")
    assert listed
    # only the good file and the two that claimed to be files were asked for
    assert {HOSTILE[r.index][0] for r in asked} == {"liar.bin", "greedy.bin", "good.txt"}
    assert (uploads / "good.txt").read_bytes() == GOOD
    uris = _session_target(host, "text/uri-list").decode().split()
    assert uris == [f"file://{uploads}/good.txt"]
    # nothing outside ~/Uploads; inside it, only the good file (and partial bytes of the liar)
    new = tree(home) - before
    assert all(p == "Uploads" or p.startswith("Uploads/") for p in new), new
    assert {p for p in new if not p.startswith("Uploads/.wrd-partial")} <= {"Uploads", "Uploads/good.txt"}
    # (other tests add accounts to /etc/passwd meanwhile: what is checked is that none of the
    # hostile bytes went there or next to the home)
    assert b"EVIL!" not in Path("/etc/passwd").read_bytes()
    for near in (home / "escape.txt", home.parent / "escape.txt", uploads.parent.parent / "escape.txt",
                 home / "boot.ini", home.parent / "boot.ini"):
        assert not near.exists(), near
    for path in new:
        full = home / path
        if full.is_file() and not full.is_symlink():
            assert b"EVIL!" not in full.read_bytes(), path
    for name in ("../escape.txt", "/etc/passwd", "boot.ini", "bell", "esc", "'..'", "folder", "inner.txt"):
        assert any("skipped" in r.getMessage() and name in r.getMessage() for r in caplog.records), name
    text = caplog.text
    assert "liar.bin" in text and "the data ends at 10 of the 100000 bytes declared" in text
    assert "greedy.bin" in text and "where 10 were asked for" in text


def _session_target(host, target: str) -> bytes:
    import subprocess

    result = subprocess.run(["xclip", "-selection", "clipboard", "-t", target, "-o"], env=session_env(host),
                            capture_output=True, timeout=10)
    return result.stdout if result.returncode == 0 else b""


async def test_a_file_list_over_the_limit_is_refused_whole(server, scripted, host, caplog) -> None:
    caplog.set_level(logging.INFO)
    rdp, _ = server
    rdp.settings.clipboard_max_file_bytes = 1000
    listing = cliprdr.FileList((descriptor("a.txt", 600), descriptor("b.txt", 600))).encode()

    def answer(pdu) -> list:
        if isinstance(pdu, cliprdr.FormatDataRequest):
            return [cliprdr.FormatDataResponse(listing)]
        if isinstance(pdu, cliprdr.FileContentsRequest):
            return [cliprdr.FileContentsResponse(pdu.stream_id, b"x" * pdu.requested)]
        return []

    # the limit is read when the connection starts
    client = await scripted(answer)
    (connection,) = rdp.connections
    connection.clipboard_transfers.max_file_bytes = 1000
    client.send(cliprdr.FormatList((cliprdr.Format(FILES_ID, cliprdr.FILE_GROUP_DESCRIPTOR_W),)))
    await wait_for(lambda: "over the limit of 1000" in caplog.text, "the refusal")
    await asyncio.sleep(0.5)
    assert client.of_type(cliprdr.FileContentsRequest) == []


async def test_files_listed_without_a_size_are_asked_for_it(server, scripted, host, caplog) -> None:
    """Descriptors without FD_FILESIZE (as aardwolf sends them): the size is asked for with a
    FILECONTENTS_SIZE request; a size answer that is not 8 bytes skips that file only."""
    caplog.set_level(logging.INFO)
    uploads = home_of(host) / "Uploads"
    content = b"sizeless but real\n" * 300
    bare = cliprdr.FileDescriptorFlags.FD_ATTRIBUTES
    listing = cliprdr.FileList((cliprdr.FileDescriptor("sizeless.txt", 0, bare),
                                cliprdr.FileDescriptor("badsize.txt", 0, bare))).encode()

    def answer(pdu) -> list:
        if isinstance(pdu, cliprdr.FormatDataRequest):
            return [cliprdr.FormatDataResponse(listing)]
        if isinstance(pdu, cliprdr.FileContentsRequest) and pdu.flags == cliprdr.FILECONTENTS_SIZE:
            size = len(content).to_bytes(8, "little") if pdu.index == 0 else b"\x05\x00\x00"
            return [cliprdr.FileContentsResponse(pdu.stream_id, size)]
        if isinstance(pdu, cliprdr.FileContentsRequest):
            return [cliprdr.FileContentsResponse(pdu.stream_id, content[pdu.position:pdu.position + pdu.requested])]
        return []

    client = await scripted(answer)
    client.send(cliprdr.FormatList((cliprdr.Format(FILES_ID, cliprdr.FILE_GROUP_DESCRIPTOR_W),)))
    await wait_for(lambda: b"sizeless.txt" in _session_target(host, "text/uri-list"), "the offered file")
    assert (uploads / "sizeless.txt").read_bytes() == content
    assert not (uploads / "badsize.txt").exists()
    assert "'badsize.txt' skipped: file size answer of 3 bytes, not 8" in caplog.text
    sizes = [r for r in client.of_type(cliprdr.FileContentsRequest) if r.flags == cliprdr.FILECONTENTS_SIZE]
    assert sorted(r.index for r in sizes) == [0, 1]


def _dib_v5_with_alpha(rgba: np.ndarray) -> bytes:
    return dib.encode_dib(dib.Image.from_array(rgba), v5=True)


async def test_images_from_the_client_lying_and_honest(server, scripted, host, caplog) -> None:
    caplog.set_level(logging.INFO)
    y, x = np.mgrid[0:40, 0:64]
    rgba = np.stack([x * 4, y * 6, (x + y) % 256, (x * 3 + y) % 256], axis=-1).astype(np.uint8)
    liar = struct.pack("<IiiHHIIiiII", 40, 1000, 1000, 1, 32, 0, 0, 0, 0, 0, 0) + bytes(200)
    answers: dict = {"dib": liar}

    def answer(pdu) -> list:
        if isinstance(pdu, cliprdr.FormatDataRequest) and pdu.format_id == answers.get("declined"):
            return [cliprdr.FormatDataResponse(b"", ok=False)]
        if isinstance(pdu, cliprdr.FormatDataRequest):
            return [cliprdr.FormatDataResponse(answers["dib"])]
        return []

    client = await scripted(answer)
    await asyncio.to_thread(host_call, host, messages.ClipboardSet("before the images"))
    client.send(cliprdr.FormatList((cliprdr.Format(cliprdr.CF_DIB),)))
    await wait_for(lambda: "needs 4000040 bytes, has 240" in caplog.text, "the refusal of the lying DIB")
    assert host_call(host, messages.ClipboardGet()).text == "before the images"
    answers["dib"] = _dib_v5_with_alpha(rgba)
    answers["declined"] = 0xC200
    # a "PNG" the client then fails: the server goes on to its CF_DIBV5
    client.send(cliprdr.FormatList((cliprdr.Format(0xC200, "PNG"), cliprdr.Format(cliprdr.CF_DIBV5))))

    def png() -> bytes | None:
        try:
            return host_call(host, messages.ClipboardRead()).data
        except Exception:  # not there yet
            return None

    data = await wait_for(png, "the image on the session's clipboard")
    got = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert np.array_equal(got, rgba)
    asked = [p.format_id for p in client.of_type(cliprdr.FormatDataRequest)]
    assert asked[-2:] == [0xC200, cliprdr.CF_DIBV5]


async def test_session_files_are_read_through_the_host_on_demand(server, scripted, host, caplog) -> None:
    """Size and ranges of a 50 MB file copied in the session, byte for byte; a stale index
    and a file replaced after the copy fail that one request."""
    caplog.set_level(logging.INFO)
    user = desktop_user()
    folder = home_of(host) / "Documents"
    folder.mkdir(exist_ok=True)
    big = folder / "fifty.bin"
    with big.open("wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    small = folder / "small ü.txt"
    small.write_bytes(b"small\n")
    if user is not None:
        for path in (folder, big, small):
            os.chown(path, user.uid, user.gid)
    responses: queue.Queue = queue.Queue()

    def answer(pdu) -> list:
        if isinstance(pdu, cliprdr.FormatDataResponse | cliprdr.FileContentsResponse):
            responses.put(pdu)
        return []

    client = await scripted(answer)
    uri_list = "".join(f"file://{p}\r\n".replace(" ", "%20").replace("ü", "%C3%BC") for p in (big, small))
    owner = await asyncio.create_subprocess_exec(
        "xclip", "-quiet", "-selection", "clipboard", "-t", "text/uri-list", "-i", env=session_env(host),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    owner.stdin.write(uri_list.encode())
    owner.stdin.close()
    try:
        offer = await wait_for(lambda: [p for p in client.of_type(cliprdr.FormatList)
                                        if any(f.name == cliprdr.FILE_GROUP_DESCRIPTOR_W for f in p.formats)],
                               "the server's offer of files")
        file_format = next(f for f in offer[-1].formats if f.name == cliprdr.FILE_GROUP_DESCRIPTOR_W)
        assert file_format.format_id == FILE_LIST_ID

        async def ask(pdu):
            client.send(pdu)
            return await asyncio.to_thread(responses.get, True, 20)

        answer_list = await ask(cliprdr.FormatDataRequest(FILE_LIST_ID))
        files = cliprdr.FileList.decode(answer_list.data).files
        assert [(f.name, f.size) for f in files] == [("fifty.bin", 50 << 20), ("small ü.txt", 6)]
        size = await ask(cliprdr.FileContentsRequest(7, 0, cliprdr.FILECONTENTS_SIZE, 0, 8))
        assert size.ok and size.stream_id == 7 and size.file_size() == 50 << 20
        digest = hashlib.sha256()
        started = time.monotonic()
        position = 0
        while position < 50 << 20:
            chunk = await ask(cliprdr.FileContentsRequest(8, 0, cliprdr.FILECONTENTS_RANGE, position, 1 << 20))
            assert chunk.ok and chunk.stream_id == 8 and chunk.data
            digest.update(chunk.data)
            position += len(chunk.data)
        elapsed = time.monotonic() - started
        assert digest.hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
        print(f"50 MB from the session to a client in 1 MiB ranges: {elapsed:.1f} s")
        stale = await ask(cliprdr.FileContentsRequest(9, 5, cliprdr.FILECONTENTS_RANGE, 0, 100))
        assert not stale.ok
        # the small file replaced after the copy: refused, not read
        small.unlink()
        small.write_bytes(b"another file\n")
        replaced = await ask(cliprdr.FileContentsRequest(10, 1, cliprdr.FILECONTENTS_RANGE, 0, 100))
        assert not replaced.ok
        assert "was replaced or changed since it was copied" in caplog.text
    finally:
        if owner.returncode is None:
            owner.terminate()
        await owner.wait()
        for path in (big, small):
            path.unlink(missing_ok=True)
