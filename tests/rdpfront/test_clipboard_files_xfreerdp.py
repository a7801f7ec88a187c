"""Images and files on the clipboard, end to end with Debian's real xfreerdp 2.11 on its own
Xvfb, the asyncio driver and a real session host (docs/clipboard.md).

The client's X clipboard is driven with xclip on the client's display; the session's with
xclip on the session's display (as a program of the session would) and read through the host.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from compositor import messages
from compositor.client import BlockingHostClient
from rdpfront.channels.clipboard import FILE_LIST_ID
from tests.compositor.helpers import session_env
from tests.conftest import desktop_user
from tests.rdpfront.xfreerdp import Harness

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None or shutil.which("xclip") is None,
                       reason="xfreerdp (freerdp2-x11) and xclip are needed"),
]


def gradient_image(width: int = 173, height: int = 91, alpha: bool = False) -> np.ndarray:
    """An RGBA image with every row and column different (so a flip or a shift shows)."""
    y, x = np.mgrid[0:height, 0:width]
    rgba = np.stack([(x * 255 // width), (y * 255 // height), ((x * 7 + y * 13) % 256),
                     np.full_like(x, 255) if not alpha else ((x + y) % 256)], axis=-1)
    return rgba.astype(np.uint8)


def png_of(rgba: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG")
    return out.getvalue()


def bmp_of(rgba: np.ndarray) -> bytes:
    """A 24-bit bottom-up BMP, as GTK programs offer ``image/bmp``."""
    out = io.BytesIO()
    Image.fromarray(rgba[..., :3], "RGB").save(out, format="BMP")
    return out.getvalue()


async def own(env: dict[str, str], target: str, data: bytes) -> asyncio.subprocess.Process:
    """xclip in the foreground owning CLIPBOARD with ``data`` as ``target``, until ended."""
    proc = await asyncio.create_subprocess_exec(
        "xclip", "-quiet", "-selection", "clipboard", "-t", target, "-i", env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(data)
    await proc.stdin.drain()
    proc.stdin.close()
    return proc


async def end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
    await proc.wait()


async def xclip_out(env: dict[str, str], target: str, timeout: float = 20.0) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        "xclip", "-selection", "clipboard", "-t", target, "-o", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return b""
    return out if proc.returncode == 0 else b""


def host_call(host, request: messages.Request):
    with BlockingHostClient(host.socket_path) as client:
        return client.call(request)


def host_home(host) -> Path:
    return Path(host_call(host, messages.Status()).home)


async def connected(rdp: Harness) -> None:
    await rdp.client()
    await rdp.wait_first_frame()
    await asyncio.sleep(1.0)


async def test_image_from_the_client_pastes_in_the_session(rdp: Harness, host) -> None:
    """FreeRDP 2.11 sends an X ``image/bmp`` as CF_DIB (its ``image/png`` it announces but
    cannot send: it fails every request for it; docs/clipboard.md); the server reads the DIB
    and the session gets ``image/png``."""
    rgba = gradient_image()
    await connected(rdp)
    owner = await own(rdp.env(), "image/bmp", bmp_of(rgba))
    try:
        got = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                got = await asyncio.to_thread(host_call, host, messages.ClipboardRead())
                break
            except Exception:  # not there yet
                await asyncio.sleep(0.3)
        assert got is not None, "the session's clipboard never held the client's image"
        # and a program of the session reads it as image/png
        from_x = await xclip_out(session_env(host), "image/png")
    finally:
        await end(owner)
    pixels = np.asarray(Image.open(io.BytesIO(got.data)).convert("RGBA"))
    assert pixels.shape == rgba.shape
    assert np.array_equal(pixels[..., :3], rgba[..., :3])
    assert from_x == got.data


async def test_image_from_the_session_pastes_in_the_client(rdp: Harness, host) -> None:
    rgba = gradient_image(211, 67)
    await connected(rdp)
    owner = await own(session_env(host), "image/png", png_of(rgba))
    try:
        data = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not data:
            targets = (await xclip_out(rdp.env(), "TARGETS", timeout=5)).decode(errors="replace").split()
            if "image/bmp" in targets:  # FreeRDP 2.11 turns CF_DIB into image/bmp
                data = await xclip_out(rdp.env(), "image/bmp")
            if not data:
                await asyncio.sleep(0.3)
    finally:
        await end(owner)
    assert data, "the client's clipboard never held the session's image"
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert pixels.shape == rgba.shape
    assert np.array_equal(pixels[..., :3], rgba[..., :3])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


async def test_files_from_the_client_land_in_the_users_uploads(rdp: Harness, host, tmp_path) -> None:
    """A small file and a 50 MB one, copied on the client as a uri-list, appear in the
    desktop user's ~/Uploads with the same bytes and are on the session's clipboard as a
    uri-list; the 50 MB one is streamed in ranges (the channel never holds it whole)."""
    folder = tmp_path / "client files"
    folder.mkdir()
    small = folder / "notes ü.txt"
    small.write_bytes(b"hello from the client\n" * 100)
    big = folder / "big.bin"
    with big.open("wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    uploads = host_home(host) / "Uploads"
    before = set(os.listdir(uploads)) if uploads.exists() else set()
    await connected(rdp)
    uri_list = "".join(f"file://{p.as_posix().replace(' ', '%20')}\r\n" for p in (small, big))
    started = time.monotonic()
    owner = await own(rdp.env(), "text/uri-list", uri_list.encode())
    try:
        listed = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = await xclip_out(session_env(host), "text/uri-list", timeout=5)
            if b"big.bin" in listed:
                break
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        await end(owner)
    assert b"big.bin" in listed, "the session's clipboard never offered the client's files"
    new = set(os.listdir(uploads)) - before
    assert {"notes ü.txt", "big.bin"} <= new | ({"notes ü.txt", "big.bin"} & set(os.listdir(uploads)))
    stored_small = next(uploads / n for n in sorted(new) if n.startswith("notes ü"))
    stored_big = next(uploads / n for n in sorted(new) if n.startswith("big"))
    assert sha256(stored_small) == sha256(small)
    assert sha256(stored_big) == sha256(big)
    uris = [line for line in listed.decode().splitlines() if line]
    assert all(u.startswith(f"file://{uploads}".replace(" ", "%20")) for u in uris)
    gnome = await xclip_out(session_env(host), "x-special/gnome-copied-files", timeout=5)
    assert gnome.startswith(b"copy\n")
    print(f"50 MB + a small file from the client to ~/Uploads in {elapsed:.1f} s "
          f"({50 / elapsed:.1f} MB/s)")


async def test_files_from_the_session_are_offered_to_the_client(rdp: Harness, host) -> None:
    """A file copied in the session (a uri-list) is announced to the client as
    FileGroupDescriptorW and the client gets its list when something pastes on its side; the
    bytes it cannot fetch: Debian's FreeRDP 2.11 is built without FUSE, which its X client
    needs to turn a server's file list into files (it offers an empty ``text/uri-list``
    instead and asks for no contents). The contents are fetched end to end by aardwolf in
    test_clipboard_files_aardwolf.py and at the protocol level in test_clipboard_hostile.py;
    docs/clipboard.md."""
    home = host_home(host)
    copied = home / "report from the session.txt"
    copied.write_bytes(b"session bytes\n" * 100)
    user = desktop_user()
    if user is not None:
        os.chown(copied, user.uid, user.gid)
    await connected(rdp)
    (connection,) = rdp.server.connections
    channel = connection.conn.channel("cliprdr")
    owner = await own(session_env(host), "text/uri-list", f"file://{copied}\r\n".replace(" ", "%20").encode())
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and FILE_LIST_ID not in channel.offered:
            await asyncio.sleep(0.2)
        assert FILE_LIST_ID in channel.offered
        targets = (await xclip_out(rdp.env(), "TARGETS", timeout=5)).decode(errors="replace").split()
        assert "text/uri-list" in targets
        pasted = await xclip_out(rdp.env(), "text/uri-list", timeout=10)
        served = connection.clipboard_transfers.served_files
        assert served == (messages.ClipboardFile(copied.name, copied.stat().st_size),)
        print(f"the client's text/uri-list for the session's file: {pasted[:200]!r}")
    finally:
        await end(owner)
        copied.unlink()
