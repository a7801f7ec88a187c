"""Files on the clipboard both ways with aardwolf (PyPI), a real RDP client with no FreeRDP
code in it and its own CLIPRDR file streaming, against the asyncio driver and a real session
host (docs/clipboard.md).

Debian's xfreerdp 2.11 cannot take files from a server (its X client needs FUSE, which that
build lacks; test_clipboard_files_xfreerdp.py): aardwolf fetches the FileGroupDescriptorW the
server announces, then each file's size and its contents in 64 KiB FileContents ranges, and
writes them into a folder of its own. A file copied in the session (a uri-list, as a file
manager copies) reaches it byte for byte, a 50 MB one included; a file it copies reaches the
desktop user's ~/Uploads.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from rdpfront.channels.clipboard import FILE_LIST_ID
from tests.compositor.helpers import session_env
from tests.conftest import desktop_user
from tests.rdpfront.test_clipboard_files_xfreerdp import end, host_home, own, sha256, xclip_out
from tests.rdpfront.xfreerdp import CLIENTS_PYTHON, AardwolfClient, Harness

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLIENTS_PYTHON.exists(), reason="the RDP clients' venv is missing (make clients-venv)"),
]


async def with_clipboard(rdp: Harness) -> AardwolfClient:
    client = await rdp.aardwolf(clipboard=True)
    answer = await client.connected()
    assert answer.get("connected") is True, answer
    await rdp.wait_first_frame()
    return client


def session_file(host, name: str, data_chunks) -> Path:
    """A file of the desktop user's, in their home."""
    path = host_home(host) / name
    with path.open("wb") as f:
        for chunk in data_chunks:
            f.write(chunk)
    user = desktop_user()
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


async def remote_files(client: AardwolfClient, count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    files: list[dict] = []
    while time.monotonic() < deadline:
        files = (await client.command("remote_files"))["files"]
        if len(files) >= count:
            return files
        await asyncio.sleep(0.2)
    raise AssertionError(f"aardwolf was offered {files}, not {count} files")


async def test_files_copied_in_the_session_paste_into_aardwolf(rdp: Harness, host, tmp_path) -> None:
    """A small file with a non-ASCII name and a 50 MB one, copied in the session as a
    uri-list: aardwolf is offered both with their sizes and fetches them with the same bytes;
    the host reads the files on the server's requests, a range at a time."""
    small = session_file(host, "report ü from the session.txt", [b"session bytes\n" * 100])
    big = session_file(host, "big from the session.bin", (os.urandom(1 << 20) for _ in range(50)))
    into = tmp_path / "aardwolf downloads"
    into.mkdir()
    try:
        client = await with_clipboard(rdp)
        (connection,) = rdp.server.connections
        uri_list = "".join(f"file://{p}\r\n".replace(" ", "%20") for p in (small, big))
        owner = await own(session_env(host), "text/uri-list", uri_list.encode())
        try:
            files = await remote_files(client, 2)
            assert FILE_LIST_ID in connection.conn.channel("cliprdr").offered
            assert files == [{"name": small.name, "size": small.stat().st_size},
                             {"name": big.name, "size": big.stat().st_size}]
            got_small = await client.command("download", index=0, dir=str(into), timeout=30)
            got_big = await client.command("download", index=1, dir=str(into), timeout=300)
        finally:
            await end(owner)
        assert got_small.get("ok") and got_big.get("ok"), (got_small, got_big)
        assert got_big["bytes"] == 50 << 20
        assert sha256(into / small.name) == sha256(small)
        assert sha256(into / big.name) == sha256(big)
        assert sorted(os.listdir(into)) == sorted([small.name, big.name])
        print(f"50 MB from the session to aardwolf in {got_big['seconds']:.1f} s "
              f"({50 / got_big['seconds']:.1f} MB/s)")
    finally:
        small.unlink()
        big.unlink()


async def test_files_copied_in_aardwolf_land_in_the_users_uploads(rdp: Harness, host, tmp_path) -> None:
    folder = tmp_path / "aardwolf files"
    folder.mkdir()
    notes = folder / "notes from aardwolf ж.txt"
    notes.write_bytes(b"hello from aardwolf\n" * 500)
    blob = folder / "blob.bin"
    blob.write_bytes(os.urandom(3 << 20))
    uploads = host_home(host) / "Uploads"
    before = set(os.listdir(uploads)) if uploads.exists() else set()
    client = await with_clipboard(rdp)
    assert (await client.command("copy_files", paths=[str(notes), str(blob)])).get("ok")
    listed = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and b"blob.bin" not in listed:
        listed = await xclip_out(session_env(host), "text/uri-list", timeout=5)
        await asyncio.sleep(0.3)
    assert b"blob.bin" in listed, "the session's clipboard never offered aardwolf's files"
    new = set(os.listdir(uploads)) - before
    stored_notes = next(uploads / n for n in sorted(new) if n.startswith("notes from aardwolf"))
    stored_blob = next(uploads / n for n in sorted(new) if n.startswith("blob"))
    assert sha256(stored_notes) == sha256(notes)
    assert sha256(stored_blob) == sha256(blob)
