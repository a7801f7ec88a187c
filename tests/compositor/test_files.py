"""File names (compositor/filenames.py) and the user's transfer folders (compositor/files.py) on
a real file system: chunked uploads, resume offsets, sizes that lie, planted symbolic links,
the download listing."""

from __future__ import annotations

import hashlib
import os
import posixpath
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor import messages as m
from compositor.filenames import (
    BIDI_CONTROLS,
    MAX_NAME_BYTES,
    PARTIAL_DIR,
    BadName,
    check_name,
    is_valid_name,
    numbered,
)
from compositor.files import FileRefused, OffsetMismatch, UserFolders
from compositor.protocol import RemoteProtocolError

UPLOAD = "0123456789abcdef0123456789abcdef"

# -- names --------------------------------------------------------------------------------

BAD_NAMES = [
    "", ".", "..", "../x", "a/b", "/etc/passwd", "/", "..\\..\\boot.ini", "a\\b", "a\nb", "a\rb", "tab\there",
    "\x1b[31mred", "nul\x00", "del\x7f", "c1\x85", "line\u2028sep", "para\u2029sep", "txt\u202eexe.txt",
    "\u2066isolate", "x" * 256, "é" * 128, "\ud800lone", PARTIAL_DIR,
]
GOOD_NAMES = ["report.pdf", ".bashrc", "...", "a..b", "ünïcødé 文件.txt", "emoji 👩\u200d💻.png", " spaced ",
              "x" * 255, "é" * 127 + "x", "-rf", "name (1).txt"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name):
    with pytest.raises(BadName):
        check_name(name)
    # and the protocol carries none of them
    with pytest.raises(RemoteProtocolError):
        m.decode_request({"op": "file_put", "upload": UPLOAD, "name": name, "size": 1, "offset": 0})


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_kept(name):
    assert check_name(name) == name


@settings(max_examples=1000)
@given(st.text(max_size=300) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_a_valid_name_is_one_plain_component(name):
    """Whatever the text: a name is either refused with BadName (nothing else), or it stays in
    the folder it is joined to, shows no control characters and fits a Linux name."""
    try:
        assert check_name(name) == name
    except BadName:
        return
    assert posixpath.dirname(posixpath.normpath(posixpath.join("/home/u/Uploads", name))) == "/home/u/Uploads"
    assert posixpath.basename(posixpath.join("/home/u/Uploads", name)) == name
    assert name not in (".", "..", PARTIAL_DIR) and "/" not in name and "\\" not in name
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI_CONTROLS for c in name)
    assert 1 <= len(name.encode()) <= MAX_NAME_BYTES


@given(st.text(min_size=1, max_size=300).filter(is_valid_name), st.integers(1, 10**6))
def test_numbered_names_stay_valid(name, n):
    other = numbered(name, n)
    assert is_valid_name(other) and other != name and f"({n})" in other


@given(st.text(max_size=40), st.text(max_size=40))
def test_file_get_and_put_decoders_only_raise_remote_errors(name, upload):
    for header in ({"op": "file_get", "name": name, "offset": 0, "length": 1},
                   {"op": "file_put", "upload": upload, "name": name, "size": 3, "offset": 0},
                   {"op": "file_stat", "upload": upload}):
        try:
            m.decode_request(header, b"")
        except RemoteProtocolError:
            pass


def test_file_messages_bound_their_bytes():
    ok = {"op": "file_put", "upload": UPLOAD, "name": "a", "size": 4, "offset": 2}
    assert m.decode_request(ok, b"ab").data == b"ab"
    with pytest.raises(RemoteProtocolError, match="more than the 4 declared"):
        m.decode_request(ok, b"abc")
    with pytest.raises(RemoteProtocolError, match="out of range"):
        m.decode_request({**ok, "offset": 5}, b"")
    with pytest.raises(RemoteProtocolError, match="out of range"):
        m.decode_request({**ok, "size": 2**60}, b"")
    with pytest.raises(RemoteProtocolError, match="32 lower-case hex"):
        m.decode_request({**ok, "upload": "../../etc"}, b"")
    # a host's answer that does not fit its file is refused
    with pytest.raises(RemoteProtocolError, match="do not fit"):
        m.decode_reply(m.FileGet, {"op": "ok", "size": 3, "offset": 2}, b"xy")
    with pytest.raises(RemoteProtocolError, match="control character"):
        m.decode_reply(m.FileList, {"op": "ok", "files": [{"name": "a\x1b", "size": 1, "mtime": 1.0}]})


# -- the folders --------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


def _upload(folders: UserFolders, name: str, data: bytes, chunk: int = 1000, upload: str = UPLOAD) -> str | None:
    final = None
    assert folders.upload_write(upload, name, len(data), 0, b"") == (0, None if data else name)
    for at in range(0, len(data), chunk):
        offset, final = folders.upload_write(upload, name, len(data), at, data[at:at + chunk])
        assert offset == min(at + chunk, len(data))
    return final


def test_chunked_upload_arrives_whole(home):
    folders = UserFolders(str(home))
    data = os.urandom(10_000)
    assert _upload(folders, "data.bin", data, chunk=999) == "data.bin"
    assert hashlib.sha256((home / "Uploads" / "data.bin").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert list((home / "Uploads" / PARTIAL_DIR).iterdir()) == []  # the partial file went
    assert oct((home / "Uploads").stat().st_mode & 0o777) == "0o700"


def test_resume_goes_on_from_the_stored_offset(home):
    folders = UserFolders(str(home))
    data = os.urandom(3000)
    folders.upload_write(UPLOAD, "r.bin", 3000, 0, data[:1200])
    assert folders.upload_offset(UPLOAD) == 1200
    with pytest.raises(OffsetMismatch) as info:  # a client that thinks it is elsewhere
        folders.upload_write(UPLOAD, "r.bin", 3000, 1000, data[1000:2000])
    assert info.value.expected == 1200
    assert folders.upload_write(UPLOAD, "r.bin", 3000, 1200, data[1200:]) == (3000, "r.bin")
    assert (home / "Uploads" / "r.bin").read_bytes() == data


def test_more_bytes_than_declared_are_refused_and_not_written(home):
    folders = UserFolders(str(home))
    folders.upload_write(UPLOAD, "s.bin", 10, 0, b"12345")
    with pytest.raises(FileRefused, match="more than the 10 declared"):
        folders.upload_write(UPLOAD, "s.bin", 10, 5, b"1234567")
    assert folders.upload_offset(UPLOAD) == 5


@pytest.mark.parametrize("name", ["..", "../escape", "/tmp/abs", "a\x07bell"])
def test_bad_names_never_reach_the_disk(home, name):
    with pytest.raises(FileRefused):
        UserFolders(str(home)).upload_write(UPLOAD, name, 1, 0, b"x")
    assert not (home / "Uploads").exists()


def test_a_name_taken_gets_a_number_and_nothing_is_replaced(home):
    folders = UserFolders(str(home))
    (home / "Uploads").mkdir()
    (home / "Uploads" / "a.txt").write_text("mine")
    assert _upload(folders, "a.txt", b"new") == "a (1).txt"
    assert (home / "Uploads" / "a.txt").read_text() == "mine"


def test_a_planted_symlink_is_never_written_through(home, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    uploads = home / "Uploads"
    uploads.mkdir()
    (uploads / "evil.txt").symlink_to(outside)
    folders = UserFolders(str(home))
    assert _upload(folders, "evil.txt", b"attack") == "evil (1).txt"
    assert outside.read_text() == "precious"
    assert (uploads / "evil.txt").is_symlink()
    # a link where the partial file goes
    (uploads / PARTIAL_DIR / f"{UPLOAD}.part").symlink_to(outside)
    with pytest.raises(FileRefused, match="symbolic link"):
        folders.upload_write(UPLOAD, "x", 6, 0, b"attack")
    assert outside.read_text() == "precious"


def test_folders_that_are_symlinks_are_refused(home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / "Uploads").symlink_to(elsewhere)
    (home / "Downloads").symlink_to(elsewhere)
    (elsewhere / "secret").write_text("s")
    folders = UserFolders(str(home))
    with pytest.raises(FileRefused, match="not a folder"):
        folders.upload_write(UPLOAD, "x", 1, 0, b"x")
    with pytest.raises(FileRefused, match="not a folder"):
        folders.downloads()
    with pytest.raises(FileRefused, match="not a folder"):
        folders.download_read("secret", 0, 10)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["secret"]


def test_partial_dir_as_symlink_is_refused(home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / "Uploads").mkdir()
    (home / "Uploads" / PARTIAL_DIR).symlink_to(elsewhere)
    with pytest.raises(FileRefused, match="not a folder"):
        UserFolders(str(home)).upload_write(UPLOAD, "x", 1, 0, b"x")
    assert list(elsewhere.iterdir()) == []


def test_downloads_offer_plain_files_only(home, tmp_path):
    downloads = home / "Downloads"
    downloads.mkdir()
    (downloads / "a.txt").write_bytes(b"hello world")
    (downloads / ".hidden").write_text("h")
    (downloads / "bad\x1bname").write_text("b")
    (downloads / "folder").mkdir()
    (tmp_path / "secret").write_text("s")
    (downloads / "link").symlink_to(tmp_path / "secret")
    os.mkfifo(downloads / "fifo")
    folders = UserFolders(str(home))
    assert [f.name for f in folders.downloads()] == ["a.txt"]
    assert folders.download_read("a.txt", 6, 100) == (11, b"world")
    for name, reason in [("link", "symbolic link"), ("fifo", "not a regular file"), ("folder", "not a regular"),
                         (".hidden", "hidden"), ("../secret", "cannot hold"), ("gone", "no file")]:
        with pytest.raises(FileRefused, match=reason):
            folders.download_read(name, 0, 10)
