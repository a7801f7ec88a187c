"""The session host's clipboard images and files (docs/clipboard.md), with a real host that
serves Wayland: wl-copy / wl-paste (Wayland programs of the desktop, through the
compositor's data-device bridge) and xclip (X programs) on one side, the host protocol on
the other; what a file list may name and what it may not."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from compositor import clipboard_files, messages
from compositor.client import BlockingHostClient, HostError, HostRefused
from tests.compositor.helpers import request, session_env, start_host, stop_host
from tests.conftest import desktop_outdir, desktop_user, wait_until

pytestmark = pytest.mark.skipif(shutil.which("wl-copy") is None or shutil.which("xclip") is None,
                                reason="wl-clipboard and xclip are needed")


@pytest.fixture(scope="module")
def host():
    h = start_host(640, 480, wayland=True)
    yield h
    stop_host(h)


def call(host, message: messages.Request):
    with BlockingHostClient(host.socket_path) as client:
        return client.call(message)


def home(host) -> Path:
    return Path(call(host, messages.Status()).home)


def png() -> bytes:
    y, x = np.mgrid[0:30, 0:50]
    rgba = np.stack([x * 5, y * 8, (x + y) % 256, 255 - x], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG")
    return out.getvalue()


def in_session(host, script: str) -> None:
    request(host, "exec", argv=["sh", "-c", script])


def owned_by_user(path: Path) -> Path:
    user = desktop_user()
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


def read_image(host) -> bytes | None:
    try:
        return call(host, messages.ClipboardRead()).data
    except HostRefused:
        return None


def test_an_image_copied_by_a_wayland_program_is_read_as_png(host):
    data = png()
    out = desktop_outdir(desktop_user(), "clip")
    source = out / "copy.png"
    source.write_bytes(data)
    owned_by_user(source)
    in_session(host, f"wl-copy --type image/png < '{source}'")
    assert wait_until(lambda: read_image(host) == data, 20, 0.2, "the Wayland program's image through the host")


def test_an_image_set_by_a_front_end_pastes_in_wayland_and_x(host):
    data = png()
    call(host, messages.ClipboardSetImage(png=data))
    out = desktop_outdir(desktop_user(), "clip")
    in_session(host, f"wl-paste --type image/png > '{out}/pasted.png'")
    wait_until(lambda: (out / "pasted.png").exists() and (out / "pasted.png").read_bytes() == data, 20, 0.2,
               "wl-paste's image")
    result = subprocess.run(["xclip", "-selection", "clipboard", "-t", "image/png", "-o"], env=session_env(host),
                            capture_output=True, timeout=10)
    assert result.stdout == data
    targets = subprocess.run(["xclip", "-selection", "clipboard", "-t", "TARGETS", "-o"], env=session_env(host),
                             capture_output=True, timeout=10, text=True).stdout.split()
    assert "image/png" in targets


def test_files_set_by_a_front_end_paste_as_a_uri_list(host):
    upload = os.urandom(16).hex()
    content = b"pasted from a client\n"
    reply = call(host, messages.FilePut(upload=upload, name="from client.txt", size=len(content), offset=0,
                                        data=content))
    call(host, messages.ClipboardSetFiles(names=(reply.name,)))
    path = home(host) / "Uploads" / reply.name
    uri = clipboard_files.uri_for(str(path))
    out = desktop_outdir(desktop_user(), "clip")
    in_session(host, f"wl-paste --type text/uri-list > '{out}/uris'")
    wait_until(lambda: (out / "uris").exists() and (out / "uris").read_text().split() == [uri], 20, 0.2,
               "wl-paste's uri-list")
    gnome = subprocess.run(["xclip", "-selection", "clipboard", "-t", "x-special/gnome-copied-files", "-o"],
                           env=session_env(host), capture_output=True, timeout=10).stdout
    assert gnome == f"copy\n{uri}".encode()
    assert call(host, messages.ClipboardGet()).text == str(path)
    assert path.read_bytes() == content


def test_set_files_refuses_what_is_not_a_regular_file_of_uploads(host):
    uploads = home(host) / "Uploads"
    uploads.mkdir(exist_ok=True)
    link = uploads / "planted"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/passwd")
    try:
        for names in (("planted",), ("missing.txt",)):
            with pytest.raises(HostRefused):
                call(host, messages.ClipboardSetFiles(names=names))
    finally:
        link.unlink()
    # and names with separators never reach the host
    with BlockingHostClient(host.socket_path) as client:
        for bad in ("../x", "/etc/passwd", "a\nb", ".."):
            with pytest.raises(HostError, match="clipboard_set_files: names"):
                client.request("clipboard_set_files", names=[bad])


def test_a_copied_file_list_offers_only_local_regular_files(host):
    out = desktop_outdir(desktop_user(), "clip")
    good = out / "good file.txt"
    good.write_bytes(b"0123456789" * 1000)
    owned_by_user(good)
    folder = out / "a folder"
    folder.mkdir()
    uris = [clipboard_files.uri_for(str(good)), clipboard_files.uri_for(str(folder)),
            "file://otherhost/etc/hostname", "https://example.invalid/x", clipboard_files.uri_for(str(out / "gone"))]
    owner = subprocess.Popen(["xclip", "-quiet", "-selection", "clipboard", "-t", "text/uri-list", "-i"],
                             env=session_env(host), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        owner.stdin.write("\r\n".join(uris).encode())
        owner.stdin.close()
        listed = wait_until(lambda: _files(host, "good file.txt"), 10, 0.2, "the file list")
        assert [(f.name, f.size) for f in listed.files] == [("good file.txt", 10000)]
        part = call(host, messages.ClipboardFileRead(listed.serial, 0, 5, 7))
        assert (part.size, part.offset, part.data) == (10000, 5, b"5678901")
        with pytest.raises(HostRefused):
            call(host, messages.ClipboardFileRead(listed.serial + 1000, 0, 0, 7))  # not the latest list
        with pytest.raises(HostRefused):
            call(host, messages.ClipboardFileRead(listed.serial, 3, 0, 7))  # no such file
    finally:
        owner.terminate()
        owner.wait()


def test_files_copied_by_a_wayland_program_are_listed_and_read(host):
    out = desktop_outdir(desktop_user(), "clip")
    copied = out / "wayland copy.bin"
    copied.write_bytes(bytes(range(256)) * 40)
    owned_by_user(copied)
    listing = out / "uris"
    listing.write_text(clipboard_files.uri_for(str(copied)) + "\r\n")
    owned_by_user(listing)
    in_session(host, f"wl-copy --type text/uri-list < '{listing}'")
    listed = wait_until(lambda: _files(host, "wayland copy.bin"), 20, 0.2, "the Wayland program's file list")
    assert [(f.name, f.size) for f in listed.files] == [("wayland copy.bin", 10240)]
    part = call(host, messages.ClipboardFileRead(listed.serial, 0, 250, 10))
    assert part.data == bytes([250, 251, 252, 253, 254, 255, 0, 1, 2, 3])


def _files(host, first: str):
    """The host's file list once xclip owns the selection (its first file is ``first``)."""
    try:
        listed = call(host, messages.ClipboardFiles())
    except HostRefused:
        return None
    return listed if listed.files and listed.files[0].name == first else None


@pytest.mark.parametrize(("data", "paths"), [
    (b"file:///home/u/a.txt\r\nfile:///home/u/b%20c.txt\r\n", ["/home/u/a.txt", "/home/u/b c.txt"]),
    (b"copy\nfile:///tmp/x", ["/tmp/x"]),
    (b"# comment\r\nfile://localhost/etc/hosts\r\n", ["/etc/hosts"]),
    (b"file://remote/etc/hosts\nhttp://x/y\nfile:relative\nfile:///nul%00byte\n", []),
])
def test_parse_uri_list(data, paths):
    assert clipboard_files.parse_uri_list(data) == paths
