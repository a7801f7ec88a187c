"""Sessions with the Wayland compositor: Wayland apps beside X11 apps, a compositor crash, and
every key typed through the session host reaching a Wayland client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from compositor import processes
from compositor.protocol import encode_message
from tests.compositor.helpers import request, screenshot, session_env, start_host, stop_host, x_display
from tests.conftest import desktop_outdir, desktop_user, wait_until

REPO = Path(__file__).resolve().parents[2]
KEY_RECORDER = Path(__file__).parent / "wayland" / "key_recorder.py"

pytestmark = pytest.mark.skipif(shutil.which("weston-simple-shm") is None, reason="weston is not installed")


@pytest.fixture(scope="module")
def host():
    h = start_host(1024, 768, wayland=True)
    yield h
    stop_host(h)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # it ended between the listing and this read
        return b""


def compositor_pids(host) -> list[int]:
    token = json.loads((host.runtime_dir / "host.json").read_text())["token"]
    return [p for p in processes.pids_with_token(token)
            if b"compositor.wayland" in _cmdline(p) and processes.pid_alive(p)]


def end_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def animates(host) -> bool:
    first = screenshot(host).astype(int)
    for _ in range(20):
        later = screenshot(host).astype(int)
        if np.abs(later - first).sum() > 0:
            return True
    return False


def test_session_serves_wayland_and_a_wayland_app_draws(host):
    status = request(host, "status").header
    assert status["wayland_display"] == "wayland-0"
    assert (host.runtime_dir / "wayland-0").exists()
    # Socket activation: no compositor until a Wayland client connects.
    assert compositor_pids(host) == []
    out = host.runtime_dir / "wl-env.txt"
    request(host, "exec", argv=["sh", "-c", f"echo $WAYLAND_DISPLAY > {out}"])
    wait_until(lambda: out.exists() and out.read_text().strip() == "wayland-0", 10, message="WAYLAND_DISPLAY")
    assert compositor_pids(host) == []
    pid = request(host, "exec", argv=["weston-simple-shm"]).get("pid")
    try:
        wait_until(lambda: animates(host), 20, 0.2, "weston-simple-shm to animate on the session screen")
        assert len(compositor_pids(host)) == 1
    finally:
        end_pid(pid)


def test_a_dead_compositor_is_replaced_by_the_next_client_and_x_apps_are_unaffected(host):
    if not compositor_pids(host):
        request(host, "exec", argv=["weston-simple-shm"])
    (old,) = wait_until(lambda: compositor_pids(host), 10, message="the compositor process")
    xclock = subprocess.Popen(["xclock"], env=session_env(host), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: not processes.pid_alive(old), 10, message="the compositor to die")
        assert request(host, "status").get("wayland_display") == "wayland-0"  # still served
        pid = request(host, "exec", argv=["weston-simple-shm"]).get("pid")
        try:
            new = wait_until(lambda: [p for p in compositor_pids(host) if p != old], 20, 0.2,
                             "a new compositor for the next client")
            assert new
            wait_until(lambda: animates(host), 20, 0.2, "a Wayland app to draw after the restart")
        finally:
            end_pid(pid)
        assert xclock.poll() is None  # the X11 app kept running
    finally:
        xclock.terminate()
        xclock.wait()


# -- keys to a Wayland client ---------------------------------------------------------------


class KeyLog:
    """What the key recorder (tests/compositor/wayland/key_recorder.py), a Wayland client in
    the desktop, wrote about the wl_keyboard events it received."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def keys(self) -> list[dict]:
        return [e for e in self.events() if e["e"] == "key"]

    def focused(self) -> bool:
        focus = [e["e"] for e in self.events() if e["e"] in ("enter", "leave")]
        return bool(focus) and focus[-1] == "enter"


def typed(keys: list[dict]) -> str:
    """The text of ``keys`` as the client decoded it (libxkbcommon, the keymap it was sent)."""
    return "".join(k.get("utf8", "") for k in keys if k["state"] == 1)


def assert_well_formed(keys: list[dict]) -> None:
    """Serials increase, and each press is followed by its release before the key is pressed again."""
    serials = [k["serial"] for k in keys]
    assert serials == sorted(set(serials)), "key serials do not increase"
    down: set[int] = set()
    for k in keys:
        if k["state"] == 1:
            assert k["key"] not in down, f"key {k['key']} pressed twice without a release"
            down.add(k["key"])
        else:
            assert k["key"] in down, f"key {k['key']} released without a press"
            down.discard(k["key"])
    assert not down, f"keys left pressed: {sorted(down)}"


def eventually(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def window_center(host, title: str) -> tuple[int, int] | None:
    d = x_display(session_env(host))
    try:
        root = d.screen().root
        stack = [root]
        while stack:
            window = stack.pop()
            if window.get_wm_name() == title:
                geometry = window.get_geometry()
                origin = root.translate_coords(window, 0, 0)
                return origin.x + geometry.width // 2, origin.y + geometry.height // 2
            stack.extend(window.query_tree().children)
        return None
    finally:
        d.close()


@pytest.fixture(scope="module")
def keys_host():
    """A desktop with a window manager and nothing else, so no window of its own start-up
    (the default's xterm) takes the focus from the recorder while it is typed into."""
    h = start_host(1024, 768, wayland=True, startup="exec openbox")
    yield h
    stop_host(h)


@pytest.fixture(scope="module")
def key_log(keys_host) -> Iterator[KeyLog]:
    """The key recorder running in the desktop (it gets the focus when it maps)."""
    path = desktop_outdir(desktop_user(), "keys") / "keys.jsonl"
    pid = request(keys_host, "exec", argv=[sys.executable, str(KEY_RECORDER), str(path), "--title", "wrd-keys"],
                  env={"PYTHONPATH": str(REPO)}).get("pid")
    log = KeyLog(path)
    try:
        wait_until(lambda: any(e["e"] == "ready" for e in log.events()), 20, message="the key recorder's window")
        yield log
    finally:
        end_pid(pid)


def type_and_collect(host, log: KeyLog, send, expected: str) -> list[dict]:
    """Make sure the recorder has the focus, run ``send()``, and return the key events it
    caused once the client has decoded as many characters as ``expected`` has and every
    key pressed is released again (or fail after a while, with what did arrive)."""
    if not eventually(log.focused, 3):
        x, y = wait_until(lambda: window_center(host, "wrd-keys"), 10, message="the recorder's window")
        request(host, "input", events=[{"t": "move", "x": x, "y": y}, {"t": "button", "button": 1, "down": True},
                                       {"t": "button", "button": 1, "down": False}])
        wait_until(log.focused, 10, message="the recorder to get the keyboard focus")
    before = len(log.keys())
    send()

    def arrived() -> bool:
        keys = log.keys()[before:]
        presses = sum(1 for k in keys if k["state"] == 1)
        return len(typed(keys)) >= len(expected) and 2 * presses == len(keys)

    if not eventually(arrived, 30):
        pytest.fail(f"the client decoded {typed(log.keys()[before:])!r}, expected {expected!r}")
    assert log.focused(), "the recorder lost the keyboard focus while keys were typed"
    return log.keys()[before:]


def type_text(host, log: KeyLog, text: str) -> list[dict]:
    """Type ``text`` as ``desktop input --text`` does: one input request, one text event."""
    return type_and_collect(host, log, lambda: request(host, "input", events=[{"t": "text", "text": text}]), text)


def test_a_long_line_reaches_a_wayland_client_whole(keys_host, key_log):
    line = ("Wayland-42! The QUICK brown fox jumps over 13 lazy dogs; (a+b)*c = {x} ~ 'quoted' "
            '"double" <tag> [0-9] #hash $5 50% a^b & c|d \\back/slash_under `tick` @home? ')
    line = (line * 3)[:260]
    keys = type_text(keys_host, key_log, line)
    assert typed(keys) == line
    assert_well_formed(keys)


def test_fast_typing_loses_no_key(keys_host, key_log):
    """Many input messages sent back to back, none waited for, as a fast typist's front end
    sends them, while the X server does not read the host's requests for a moment (here
    another client grabs it, as a window manager does while it manages a window; a busy
    server does the same). What the host cannot write at once must still go out: python-xlib's
    flush() keeps it, and a host that hears nothing from X would keep it until the next input."""
    # Not the session's first key: the X server answers that one with a MappingNotify (the
    # XTEST keyboard's mapping becomes the core keyboard's), which wakes the host and would
    # hide keys left unwritten.
    type_text(keys_host, key_log, "warm-up ")
    chunks = [f"w{i}X!y " for i in range(80)]
    expected = "".join(chunks) + "Done!"

    def send() -> None:
        grabber = x_display(session_env(keys_host))
        try:
            grabber.grab_server()
            grabber.sync()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(keys_host.socket_path))
                for chunk in chunks:
                    sock.sendall(encode_message({"op": "input", "events": [{"t": "text", "text": chunk}]}))
                # One-character text events in one message as well.
                sock.sendall(encode_message({"op": "input", "events": [{"t": "text", "text": c} for c in "Done!"]}))
                time.sleep(1.0)  # the host writes what it can meanwhile
            grabber.ungrab_server()
            grabber.sync()
        finally:
            grabber.close()

    keys = type_and_collect(keys_host, key_log, send, expected)
    assert typed(keys) == expected
    assert_well_formed(keys)


def test_characters_outside_the_layout_reach_a_wayland_client(keys_host, key_log):
    """These have no key on the US layout: the session host types them through spare keycodes it
    remaps on the fly, and the client must have the new keymap before the key."""
    text = "é ß € Ω 你好 (é again) Ωmega, naïve 你好!"
    keys = type_text(keys_host, key_log, text)
    assert typed(keys) == text
    assert_well_formed(keys)
    keymaps = [e for e in key_log.events() if e["e"] == "keymap"]
    assert keymaps and all(e["ok"] for e in keymaps)


def test_keys_by_code_reach_a_wayland_client(keys_host, key_log):
    KEY_W, KEY_R, KEY_D, KEY_1, KEY_LEFTSHIFT, KEY_SPACE = 17, 19, 32, 2, 42, 57
    codes = [KEY_W, KEY_R, KEY_D, KEY_SPACE]
    events = [{"t": "key", "code": c, "down": down} for c in codes for down in (True, False)]
    events += [{"t": "key", "code": KEY_LEFTSHIFT, "down": True}, {"t": "key", "code": KEY_W, "down": True},
               {"t": "key", "code": KEY_W, "down": False}, {"t": "key", "code": KEY_1, "down": True},
               {"t": "key", "code": KEY_1, "down": False}, {"t": "key", "code": KEY_LEFTSHIFT, "down": False}]
    keys = type_and_collect(keys_host, key_log, lambda: request(keys_host, "input", events=events), "wrd W!")
    assert [(k["key"], k["state"]) for k in keys] == [(e["code"], int(e["down"])) for e in events]
    assert typed(keys) == "wrd W!"
    assert_well_formed(keys)
