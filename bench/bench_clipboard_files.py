"""Files on the RDP clipboard through the real stack (prints figures; not a pass/fail test).

    .venv/bin/python bench/bench_clipboard_files.py [--mb 50] [--runs 3]      (as root)

A desktop runs as a temporary Unix account (made here, removed at the end).

- client → desktop: xfreerdp's X clipboard holds a ``text/uri-list`` naming a file of ``--mb``
  MB (xclip on the client's Xvfb); the time runs from the copy to the file being offered on the
  session's clipboard from ``~/Uploads`` (its list asked for, 1 MiB File Contents ranges, each
  stored by the host), and the stored file is checked (SHA-256).
- desktop → client: xfreerdp 2.11 cannot paste files from a server (no FUSE), so a scripted
  client (TCP + TLS, ``tests/rdpfront/helpers.SocketClient``) asks for the file list and then
  for the file in 1 MiB ranges, one at a time as mstsc does, each read by the host; checked by
  SHA-256.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_drive import HOME_ROOT, make_account
from rdp_rig import rdp_rig

from compositor import messages
from compositor.client import HostClient
from rdpfront import cliprdr
from rdpfront.channels.clipboard import FILE_LIST_ID
from tests.rdpfront.helpers import MemoryClient, SocketClient
from webconsole.accounts import unix

CHUNK = 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


async def host_call(host, request):
    client = await HostClient().connect(host.socket_path)
    try:
        return await client.call(request)
    finally:
        await client.close()


async def client_to_desktop(rig, user, source: Path) -> float:
    await host_call(rig.host, messages.ClipboardSet(text="-"))  # not the previous run's files
    proc = await rig.client()
    try:
        await asyncio.sleep(3.0)  # connected, its provisional format list answered
        uploads = Path(user.home) / "Uploads"
        before = set(os.listdir(uploads)) if uploads.exists() else set()
        started = time.monotonic()
        owner = await asyncio.create_subprocess_exec(
            "xclip", "-quiet", "-selection", "clipboard", "-t", "text/uri-list", "-i", env=rig.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        owner.stdin.write(f"file://{source}\r\n".encode())
        owner.stdin.close()
        try:
            while True:
                text = (await host_call(rig.host, messages.ClipboardGet())).text or ""
                if str(uploads) in text:
                    break
                if time.monotonic() - started > 300:
                    raise RuntimeError("the file never reached the session's clipboard")
                await asyncio.sleep(0.02)
            elapsed = time.monotonic() - started
        finally:
            owner.terminate()
            await owner.wait()
        (stored,) = set(os.listdir(uploads)) - before - {".wrd-partial"}
        assert sha256(uploads / stored) == sha256(source), "stored bytes differ"
        (uploads / stored).unlink()
        return elapsed
    finally:
        await rig.end_client(proc)


def _receive(c: SocketClient, kind: type) -> object:
    """Read until a PDU of ``kind`` arrives (no settling pause: as fast as the socket)."""
    while True:
        for pdu in MemoryClient.pump(c, c.sock.recv(1 << 20)):
            if isinstance(pdu, kind):
                return pdu


def _scripted_paste(port: int, size: int, ready: threading.Event, result: dict) -> None:
    c = SocketClient(port, timeout=30)
    c.connect(username="bench", password="bench", channels=("cliprdr",))
    c.sock.settimeout(30)
    ready.set()
    while not any(isinstance(p, cliprdr.FormatList) and FILE_LIST_ID in [f.format_id for f in p.formats]
                  for p in c.received):
        MemoryClient.pump(c, c.sock.recv(1 << 20))
    started = time.monotonic()
    c.send_clipboard(cliprdr.FormatDataRequest(FILE_LIST_ID))
    listing = cliprdr.FileList.decode(_receive(c, cliprdr.FormatDataResponse).data)
    assert listing.files[0].size == size
    digest, position = hashlib.sha256(), 0
    while position < size:
        c.send_clipboard(cliprdr.FileContentsRequest(1, 0, cliprdr.FILECONTENTS_RANGE, position, CHUNK))
        answer = _receive(c, cliprdr.FileContentsResponse)
        assert answer.ok and answer.data
        digest.update(answer.data)
        position += len(answer.data)
    result["elapsed"] = time.monotonic() - started
    result["sha256"] = digest.hexdigest()
    c.sock.close()


async def desktop_to_client(rig, user, size: int) -> float:
    copied = Path(user.home) / f"copied-{uuid.uuid4().hex[:6]}.bin"
    with copied.open("wb") as f:
        for _ in range(size // CHUNK):
            f.write(os.urandom(CHUNK))
    os.chown(copied, user.uid, user.gid)
    ready, result = threading.Event(), {}
    thread = threading.Thread(target=_scripted_paste, args=(rig.port, size, ready, result), daemon=True)
    thread.start()
    await asyncio.to_thread(ready.wait, 30)
    await asyncio.sleep(1.0)
    env = dict(os.environ, DISPLAY=rig.host.display, XAUTHORITY=str(rig.host.runtime_dir / "Xauthority"))
    owner = await asyncio.create_subprocess_exec(
        "xclip", "-quiet", "-selection", "clipboard", "-t", "text/uri-list", "-i", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    owner.stdin.write(f"file://{copied}\r\n".encode())
    owner.stdin.close()
    try:
        await asyncio.to_thread(thread.join, 300)
    finally:
        owner.terminate()
        await owner.wait()
    assert result.get("sha256") == sha256(copied), "the client's bytes differ"
    copied.unlink()
    return result["elapsed"]


async def main(mb: int, runs: int) -> None:
    user = make_account()
    try:
        workdir = Path(user.home)
        source = workdir / "client-side.bin"
        with source.open("wb") as f:
            for _ in range(mb):
                f.write(os.urandom(CHUNK))
        async with rdp_rig(800, 600, user=user, clipboard_max_file_bytes=(mb + 1) * CHUNK) as rig:
            up = [await client_to_desktop(rig, user, source) for _ in range(runs)]
            down = [await desktop_to_client(rig, user, mb * CHUNK) for _ in range(runs)]
        for label, times in (("client -> desktop (xfreerdp 2.11)", up), ("desktop -> client (scripted)", down)):
            best = min(times)
            print(f"{label}: {mb} MB in median {statistics.median(times):.2f} s, best {best:.2f} s "
                  f"({mb / best:.1f} MB/s)")
    finally:
        unix.delete_system_account(name=user.name, remove_home=True, home_root=HOME_ROOT)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.mb, args.runs))
