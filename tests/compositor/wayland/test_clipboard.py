"""wl-copy / wl-paste against X clients (xclip): CLIPBOARD and PRIMARY, both directions."""

from __future__ import annotations

import subprocess

import pytest

from tests.compositor.wayland.conftest import Session


def _xclip_out(session: Session, selection: str) -> bytes:
    result = session.run(["xclip", "-o", "-selection", selection], timeout=5)
    return result.stdout


@pytest.mark.parametrize("selection", ["clipboard", "primary"])
def test_wayland_copy_x_paste(session: Session, need, selection: str) -> None:
    need("wl-copy", "xclip")
    text = f"from wayland to x ({selection}) ✓"
    argv = ["wl-copy", "--foreground"] + (["--primary"] if selection == "primary" else []) + ["--", text]
    session.spawn(argv)
    session.wait_for(lambda: _xclip_out(session, selection) == text.encode(), what="xclip sees wl-copy's text")


@pytest.mark.parametrize("selection", ["clipboard", "primary"])
def test_x_copy_wayland_paste(session: Session, need, selection: str) -> None:
    need("wl-paste", "xclip")
    text = f"from x to wayland ({selection})"
    xclip = session.spawn(["xclip", "-quiet", "-selection", selection, "-i"], env=session.env,
                          stdin=subprocess.PIPE)
    assert xclip.stdin is not None
    xclip.stdin.write(text.encode())
    xclip.stdin.close()
    session.wait_for(lambda: f"selection set by x selection={selection.upper()}" in session.log_text(),
                     what="the compositor saw the X owner")
    argv = ["wl-paste", "--no-newline"] + (["--primary"] if selection == "primary" else [])
    result = session.run(argv, env=session.client_env, timeout=10)
    assert result.stdout.decode() == text


def test_wayland_to_wayland_and_large_x_transfer(session: Session, need) -> None:
    need("wl-copy", "wl-paste", "xclip")
    session.spawn(["wl-copy", "--foreground", "--", "wayland only"])
    session.wait_for(lambda: _xclip_out(session, "clipboard") == b"wayland only", what="copy visible")
    result = session.run(["wl-paste", "--no-newline"], env=session.client_env, timeout=10)
    assert result.stdout == b"wayland only"
    # 1 MB from X: xclip uses INCR for it.
    big = ("0123456789abcdef" * 65536).encode()
    xclip = session.spawn(["xclip", "-quiet", "-selection", "clipboard", "-i"], env=session.env,
                          stdin=subprocess.PIPE)
    assert xclip.stdin is not None
    xclip.stdin.write(big)
    xclip.stdin.close()
    session.wait_for(lambda: session.log_text().count("selection set by x selection=CLIPBOARD") >= 1,
                     what="X owner seen")
    result = session.run(["wl-paste", "--no-newline"], env=session.client_env, timeout=15)
    assert result.stdout == big


def test_large_wayland_copy_reaches_x_by_incr(session: Session, need) -> None:
    need("wl-copy", "xclip")
    big = ("wayland→x INCR " * 40000).encode()  # ~0.7 MB, several INCR chunks
    wl_copy = session.spawn(["wl-copy", "--foreground"], stdin=subprocess.PIPE)
    assert wl_copy.stdin is not None
    wl_copy.stdin.write(big)
    wl_copy.stdin.close()
    session.wait_for(lambda: "selection set by wayland selection=CLIPBOARD" in session.log_text(), what="copied")
    assert _xclip_out(session, "clipboard") == big
