"""Drive redirection end to end: xfreerdp shares a folder (``/drive:share,DIR``), the desktop
sees it at ``~/Drives/share`` (FUSE served by the session host, as the desktop's user) and
reads, writes, lists, renames and deletes in it."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.rdpfront.drive_helpers import session_sh, wait_in_session

pytestmark = pytest.mark.timeout(180)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_shared_folder_both_ways(rdp, host, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    from_client = os.urandom(3 * 1024 * 1024 + 12345)
    (share / "from-client.bin").write_bytes(from_client)
    (share / "sub").mkdir()
    (share / "sub" / "note.txt").write_text("hello from the client\n")
    (share / "old-name.txt").write_text("to be renamed\n")
    (share / "doomed.txt").write_text("to be deleted\n")

    await rdp.client(f"/drive:share,{share}")
    await rdp.wait_first_frame()
    await wait_in_session(host, 'test -d "$HOME/Drives/share"')

    # Read in the desktop what the client wrote: the same bytes.
    out = await wait_in_session(host, 'sha256sum "$HOME/Drives/share/from-client.bin"')
    assert out.split()[0] == sha256(from_client)

    # Listing, and a file in a subfolder.
    out = await wait_in_session(host, 'ls -1a "$HOME/Drives/share"; cat "$HOME/Drives/share/sub/note.txt"')
    names = out.splitlines()
    assert {"from-client.bin", "sub", "old-name.txt", "doomed.txt"} <= set(names)
    assert "hello from the client" in out
    code, out = await session_sh(host, 'stat -c "%s %F" "$HOME/Drives/share/from-client.bin"')
    assert code == 0 and out.split()[0] == str(len(from_client)), out

    # Several MB written in the desktop arrive whole on the client.
    code, out = await session_sh(host, 'head -c 9000000 /dev/urandom > "$HOME/Drives/share/from-desktop.bin" '
                                       '&& sha256sum "$HOME/Drives/share/from-desktop.bin"')
    assert code == 0, out
    written = (share / "from-desktop.bin").read_bytes()
    assert len(written) == 9000000
    assert sha256(written) == out.split()[0]

    # Rename, delete, make and remove a folder, truncate.
    code, out = await session_sh(host, 'cd "$HOME/Drives/share" && mv old-name.txt new-name.txt && rm doomed.txt '
                                       '&& mkdir made-here && echo x > made-here/f && truncate -s 3 from-client.bin')
    assert code == 0, out
    assert not (share / "old-name.txt").exists()
    assert (share / "new-name.txt").read_text() == "to be renamed\n"
    assert not (share / "doomed.txt").exists()
    assert (share / "made-here" / "f").read_text() == "x\n"
    assert (share / "from-client.bin").read_bytes() == from_client[:3]
    code, out = await session_sh(host, 'cd "$HOME/Drives/share" && rm made-here/f && rmdir made-here')
    assert code == 0, out
    assert not (share / "made-here").exists()

    # A non-empty folder is not removed; names that cannot exist on the client are refused.
    code, out = await session_sh(host, 'rmdir "$HOME/Drives/share/sub"')
    assert code != 0 and (share / "sub" / "note.txt").exists()
    code, out = await session_sh(host, 'echo x > "$HOME/Drives/share/a:b"')
    assert code != 0 and not any(":" in p.name for p in share.iterdir())

    # Names too long, paths too deep, control characters: refused in the desktop, nothing made
    # on the client.
    before = sorted(p.name for p in share.iterdir())
    code, out = await session_sh(host, f'touch "$HOME/Drives/share/{"n" * 300}"')
    assert code != 0 and "File name too long" in out, out
    code, out = await session_sh(host, 'touch "$HOME/Drives/share/$(printf "tab\\there")"')
    assert code != 0 and "Invalid argument" in out, out
    code, out = await session_sh(host, 'mkdir -p "$HOME/Drives/share/deep/$(printf "d/%.0s" $(seq 80))"')
    assert code != 0 and "File name too long" in out, out
    depth = sum(1 for _ in (share / "deep").rglob("*")) + 1
    assert depth == 64, depth  # as deep as a path may be, no deeper
    await session_sh(host, 'rm -r "$HOME/Drives/share/deep"')
    assert sorted(p.name for p in share.iterdir()) == before

    # Nothing can be made at the top of the drives folder.
    code, out = await session_sh(host, 'mkdir "$HOME/Drives/extra"')
    assert code != 0

    # The client goes: so does its folder.
    await rdp.stop_clients()
    await wait_in_session(host, 'test ! -e "$HOME/Drives/share" && test -z "$(ls -A "$HOME/Drives")"')


async def test_drives_folder_is_the_users_mount(rdp, host):
    """~/Drives is a FUSE mount of the desktop's user in the desktop's namespace only: the
    machine's own namespace (where the RDP server runs) has no such mount."""
    out = await wait_in_session(host, 'grep " $HOME/Drives " /proc/self/mounts; stat -c "%u %a" "$HOME/Drives"')
    assert "fuse.wrd-drives" in out and "nosuid" in out and "nodev" in out
    assert f"user_id={host.uid}" in out
    uid, mode = out.splitlines()[-1].split()
    assert int(uid) == host.uid and mode == "500"
    with open("/proc/self/mounts") as mounts:
        assert f" {host.home}/Drives " not in mounts.read()
