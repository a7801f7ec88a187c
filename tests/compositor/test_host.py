"""The session host with a real Xvfb, real openbox + xterm, real X clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from Xlib import X

from compositor import cgroups, messages, processes, sandbox
from compositor.client import BlockingHostClient, HostClient, HostError
from compositor.launcher import LaunchError, read_display_cookie
from compositor.protocol import HostProtocol, encode_message
from tests.compositor.helpers import (
    Subscriber,
    clipboard_text,
    request,
    screenshot,
    session_env,
    set_clipboard,
    start_host,
    stop_host,
    x_display,
    xclip,
)
from tests.conftest import session_process_env, wait_until


@pytest.fixture(scope="module")
def host():
    h = start_host(1024, 768)
    yield h
    stop_host(h)


def terminal_geometry(host) -> tuple[int, int, int, int]:
    """Where the xterm is on screen (found through the X server, not assumed)."""
    d = x_display(session_env(host))
    try:
        def find():
            for w in d.screen().root.query_tree().children:
                for child in [w, *w.query_tree().children]:
                    cls = child.get_wm_class()
                    if cls and "XTerm" in cls and child.get_attributes().map_state == X.IsViewable:
                        g = child.get_geometry()
                        pos = child.translate_coords(d.screen().root, 0, 0)
                        return (-pos.x, -pos.y, g.width, g.height)
            return None
        return wait_until(find, 20, 0.2, "the xterm window")
    finally:
        d.close()


def focus_terminal(host) -> tuple[int, int, int, int]:
    """Click into the xterm once its shell has drawn a prompt."""
    x, y, w, h = terminal_geometry(host)
    wait_until(lambda: (screenshot(host)[y:y + 40, x:x + w] < 100).any(), 20, 0.2, "the shell prompt")
    request(host, "input", events=[
        {"t": "move", "x": x + w // 2, "y": y + h // 2},
        {"t": "button", "button": 1, "down": True}, {"t": "button", "button": 1, "down": False},
    ])
    return x, y, w, h


def test_status_reports_the_session(host):
    status = request(host, "status").header
    assert status["display"] == host.display
    assert (status["width"], status["height"]) == (1024, 768)
    assert status["max_width"] == 1920 and status["max_height"] == 1200
    assert processes.pid_alive(status["xvfb_pid"])
    assert status["runtime_dir"] == str(host.runtime_dir)
    assert oct(host.runtime_dir.stat().st_mode & 0o777) == "0o700"


def test_screenshot_shows_the_terminal(host):
    x, y, w, h = terminal_geometry(host)
    shot = screenshot(host)
    assert shot.shape == (768, 1024, 3)
    region = shot[y:y + h, x:x + w]
    # xterm's background is white and the root window black: a blank screen fails both.
    assert (region > 240).all(axis=2).mean() > 0.8
    assert (shot[:y, :] < 16).all(axis=2).mean() > 0.5


def test_typing_runs_a_command_in_the_terminal(host):
    x, y, w, h = focus_terminal(host)
    before = screenshot(host)[y:y + h, x:x + w].astype(int)
    request(host, "input", events=[{"t": "text", "text": "echo hello-wrd\n"}])

    def changed_rows():
        after = screenshot(host)[y:y + h, x:x + w].astype(int)
        rows = np.nonzero(np.abs(after - before).sum(axis=(1, 2)))[0]
        # The typed line, the command's output line and the next prompt: > 2 text lines.
        return (rows.min(), rows.max()) if len(rows) and rows.max() - rows.min() > 30 else None

    top, bottom = wait_until(changed_rows, 10, 0.1, "the command's output to appear")
    assert bottom - top > 30


def test_text_without_keys_types_through_spare_keycodes(host):
    focus_terminal(host)
    out = host.runtime_dir / "typed.txt"
    text = "ä€日本ß→"
    request(host, "input", events=[{"t": "text", "text": f"printf '%s' '{text}' > {out}\n"}])
    wait_until(lambda: out.exists() and out.read_text(encoding="utf-8") == text, 10,
               message="the unicode text in the file")


def test_clipboard_round_trips_unicode_with_x_apps(host):
    text = "héllo ☃ 日本 — wrd"
    set_clipboard(host, text)
    assert clipboard_text(host) == text
    assert xclip(host, "-o", "-selection", "clipboard") == text
    # and the other way: an X app owns the clipboard, the host reads it
    other = "from xclip: ünïcödé ✓"
    env = session_env(host)
    proc = subprocess.Popen(["xclip", "-i", "-selection", "clipboard", "-quiet"], stdin=subprocess.PIPE,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(other.encode())
    proc.stdin.close()
    try:
        wait_until(lambda: clipboard_text(host) == other, 10, message="xclip's text")
    finally:
        proc.terminate()
        proc.wait()
    clipboard_text(host, "PRIMARY")  # answered (an error reply raises), whatever PRIMARY holds


def test_clipboard_carries_megabytes_both_ways(host):
    """Past the X request size (256 KiB) the selection is served and read in INCR chunks,
    and past the host protocol's 64 KiB header the text rides in the payload."""
    text = "".join(f"line {i:06d}: ünïcödé ✓ 日本\n" for i in range(40000))  # ~1.3 MB of UTF-8
    assert len(text.encode()) > 1_000_000
    set_clipboard(host, text)
    assert clipboard_text(host) == text
    assert xclip(host, "-o", "-selection", "clipboard") == text
    other = text.upper()
    proc = subprocess.Popen(["xclip", "-i", "-selection", "clipboard", "-quiet"], stdin=subprocess.PIPE,
                            env=session_env(host), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(other.encode())
    proc.stdin.close()
    try:
        wait_until(lambda: clipboard_text(host) == other, 20, 0.2, message="xclip's megabyte")
    finally:
        proc.terminate()
        proc.wait()


class InputProbe:
    """An X window of the test's own that records the pointer and key events it gets."""

    def __init__(self, host, geometry=(300, 300, 200, 150)):
        self.d = x_display(session_env(host))
        x, y, w, h = geometry
        self.geometry = geometry
        self.w = self.d.screen().root.create_window(
            x, y, w, h, 0, self.d.screen().root_depth, X.InputOutput, X.CopyFromParent,
            override_redirect=True, background_pixel=self.d.screen().white_pixel,
            event_mask=X.ButtonPressMask | X.ButtonReleaseMask | X.PointerMotionMask | X.KeyPressMask,
        )
        self.w.map()
        self.w.raise_window()
        self.d.sync()
        self.events = []

    def collect(self, until, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.d.pending_events():
                e = self.d.next_event()
                self.events.append(e)
            if until(self.events):
                return self.events
            time.sleep(0.02)
        pytest.fail(f"probe saw only {[(e.type, getattr(e, 'detail', None)) for e in self.events]}")

    def close(self):
        self.w.destroy()
        self.d.close()


def test_pointer_buttons_and_wheel_reach_an_x_app(host):
    probe = InputProbe(host)
    try:
        x, y, w, h = probe.geometry
        request(host, "input", events=[
            {"t": "move", "x": x + 50, "y": y + 40},
            {"t": "button", "button": 1, "down": True}, {"t": "button", "button": 1, "down": False},
            {"t": "button", "button": 3, "down": True}, {"t": "button", "button": 3, "down": False},
            {"t": "wheel", "dy": 1}, {"t": "wheel", "dy": -2}, {"t": "wheel", "dx": 1},
            {"t": "wheel", "dx": -0.5}, {"t": "wheel", "dx": -0.5},  # fractions add up to a notch
            {"t": "button", "button": 8, "down": True}, {"t": "button", "button": 8, "down": False},
        ])

        def presses(events):
            return [e.detail for e in events if e.type == X.ButtonPress]

        events = probe.collect(lambda ev: len(presses(ev)) >= 8)
        assert presses(events) == [1, 3, 5, 4, 4, 7, 6, 8]
        motion = [e for e in events if e.type == X.MotionNotify]
        assert motion and (motion[-1].event_x, motion[-1].event_y) == (50, 40)
    finally:
        probe.close()


def test_keys_by_evdev_code_and_keysym_reach_an_x_app(host):
    probe = InputProbe(host)
    try:
        x, y, w, h = probe.geometry
        probe.w.set_input_focus(X.RevertToParent, X.CurrentTime)
        probe.d.sync()
        request(host, "input", events=[
            {"t": "move", "x": x + 5, "y": y + 5},
            {"t": "key", "code": 30, "down": True}, {"t": "key", "code": 30, "down": False},  # KEY_A
            {"t": "keysym", "keysym": 0xFF0D, "down": True}, {"t": "keysym", "keysym": 0xFF0D, "down": False},
        ])
        events = probe.collect(lambda ev: sum(e.type == X.KeyPress for e in ev) >= 2)
        keys = [probe.d.keycode_to_keysym(e.detail, 0) for e in events if e.type == X.KeyPress]
        assert keys[:2] == [ord("a"), 0xFF0D]
    finally:
        probe.close()


async def test_raw_frames_follow_damage_with_flow_control(host):
    sub = await Subscriber().connect(host)
    try:
        reply = await sub.client.request("subscribe", format="raw", window=2)
        stream, width, height = reply.get("stream"), reply.get("width"), reply.get("height")
        cursor = await sub.next("cursor")
        assert cursor.get("width") > 0 and len(cursor.payload) == 4 * cursor.get("width") * cursor.get("height")
        first = await sub.next("frame", stream=stream)
        assert first.get("rects") == [[0, 0, width, height]]
        pixels = np.frombuffer(first.payload, np.uint8).reshape(height, width, 4)[:, :, 2::-1]
        assert np.abs(pixels.astype(int) - screenshot(host).astype(int)).mean() < 2

        # Unacknowledged, the host sends at most `window` frames however much changes.
        env = session_env(host)
        for colour in ("red", "green", "blue", "yellow"):
            subprocess.run(["xsetroot", "-solid", colour], env=env, check=True)
            await asyncio.sleep(0.1)
        second = await sub.next("frame", stream=stream)
        assert second.get("seq") == 2
        with pytest.raises(asyncio.TimeoutError):
            await sub.next("frame", timeout=0.6, stream=stream)
        # Acknowledging lets the merged damage through as one more frame.
        sub.client.send(messages.Ack(stream=stream, seq=2))
        third = await sub.next("frame", stream=stream)
        assert third.get("seq") == 3
        x, y, w, h = third.get("rects")[0]
        px = np.frombuffer(third.payload[: 4 * w * h], np.uint8).reshape(h, w, 4)
        assert tuple(px[0, 0, :3]) == (0, 255, 255)  # yellow in BGRX: the latest colour
    finally:
        subprocess.run(["xsetroot", "-solid", "black"], env=session_env(host))
        await sub.client.close()


async def test_selection_change_is_pushed_to_subscribers(host):
    sub = await Subscriber().connect(host)
    try:
        await sub.client.request("subscribe", format="damage")
        proc = subprocess.Popen(["xclip", "-i", "-selection", "clipboard", "-quiet"], stdin=subprocess.PIPE,
                                env=session_env(host), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.stdin.write("pushed ✓".encode())
        proc.stdin.close()
        try:
            msg = await sub.next("clipboard", selection="CLIPBOARD")
            assert msg.get("is_text") is True and msg.payload.decode() == "pushed ✓"
        finally:
            proc.terminate()
            proc.wait()
    finally:
        await sub.client.close()


def test_exec_runs_inside_the_session(host):
    out = host.runtime_dir / "env.txt"
    pid = request(host, "exec", argv=["sh", "-c", f"env > {out}"]).get("pid")
    assert pid > 0
    env = dict(line.split("=", 1) for line in wait_until(
        lambda: out.exists() and out.read_text().strip() and out.read_text(), 10, message="env file").splitlines()
        if "=" in line)
    assert env["DISPLAY"] == host.display
    assert env["XDG_RUNTIME_DIR"] == str(host.runtime_dir)
    assert Path(env["XAUTHORITY"]).exists()


def test_bad_requests_get_clear_errors_and_lose_nothing(host):
    with BlockingHostClient(host.socket_path) as client:
        for op, fields, text in [
            ("nonsense", {}, "unknown op"),
            ("input", {"events": [{"t": "warp"}]}, "unknown input event"),
            ("input", {"events": [{"t": "button", "button": 99, "down": True}]}, "out of range"),
            ("input", {"events": "typing"}, "list of events"),
            ("subscribe", {"format": "nope"}, "unknown format"),
            ("clipboard_set", {"selection": "SECONDARY"}, "CLIPBOARD or PRIMARY"),
            ("exec", {"argv": []}, "non-empty"),
        ]:
            with pytest.raises(HostError, match=text):
                client.request(op, **fields)
        assert client.request("status").get("display") == host.display
    # Garbage closes that one connection; the host keeps serving others.
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(host.socket_path))
        raw.sendall(b"\xff\xff\xff\xff garbage")
        raw.settimeout(5)
        assert raw.recv(100) == b""
    assert request(host, "status").get("display") == host.display


async def test_resize_changes_randr_and_the_frame_source():
    h = start_host(1024, 768)
    try:
        sub = await Subscriber().connect(h)
        await sub.client.request("subscribe", format="raw")
        await sub.next("frame")
        reply = request(h, "resize", width=1280, height=720)
        assert (reply.get("width"), reply.get("height")) == (1280, 720)
        resized = await sub.next("resized")
        assert (resized.get("width"), resized.get("height")) == (1280, 720)
        frame = await sub.next("frame")
        assert frame.get("rects") == [[0, 0, 1280, 720]]
        assert len(frame.payload) == 1280 * 720 * 4
        xrandr = subprocess.run(["xrandr", "-q"], env=session_env(h), capture_output=True, text=True).stdout
        assert "current 1280 x 720" in xrandr
        assert screenshot(h).shape == (720, 1280, 3)
        # Bigger than the start (maximum) size is clamped, not an error.
        assert request(h, "resize", width=5000, height=5000).get("width") == 1920
        await sub.client.close()
    finally:
        stop_host(h)


def _x_lock_exists(display: str) -> bool:
    return Path(f"/tmp/.X{display[1:]}-lock").exists() or Path(f"/tmp/.X11-unix/X{display[1:]}").exists()


def test_stop_leaves_nothing_behind():
    h = start_host(800, 600)
    state = json.loads((h.runtime_dir / "host.json").read_text())
    token, xvfb_pid = state["token"], state["xvfb_pid"]
    request(h, "exec", argv=["sh", "-c", "sleep 300 & sleep 300"])
    # openbox, xterm, its shell, sh and two sleeps all carry the session's token
    wait_until(lambda: len(processes.pids_with_token(token)) >= 5, 10, message="session processes")
    request(h, "stop")
    wait_until(lambda: not processes.pid_alive(h.pid), 15, message="the host to exit")
    assert not processes.pid_alive(xvfb_pid)
    assert [p for p in processes.pids_with_token(token) if processes.pid_alive(p)] == []
    # The host, as the desktop's user, empties its runtime dir; what the sandbox made with
    # privileges (the dir itself, cgroup, control socket and record, display claim) goes next.
    assert not h.runtime_dir.exists() or list(h.runtime_dir.iterdir()) == []
    _assert_privileged_cleanup(h)


def _assert_privileged_cleanup(h) -> None:
    record = sandbox.read_record(h.runtime_dir)
    stop_host(h)
    assert not h.runtime_dir.exists()
    assert not h.socket_path.exists()
    assert sandbox.read_record(h.runtime_dir) is None
    assert not _x_lock_exists(h.display)
    if record and record.get("cgroup"):
        assert not cgroups.for_session(record["cgroup"]).exists()


@pytest.mark.parametrize("victim", ["xvfb", "leader"])
def test_host_ends_the_session_when_a_vital_child_dies(victim):
    h = start_host(800, 600)
    state = json.loads((h.runtime_dir / "host.json").read_text())
    if victim == "xvfb":
        os.kill(state["xvfb_pid"], signal.SIGKILL)
    else:
        def openbox():
            return [p for p in processes.pids_with_token(state["token"])
                    if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"openbox")]
        os.kill(wait_until(openbox, 10, message="the session leader (openbox)")[0], signal.SIGKILL)
    wait_until(lambda: not processes.pid_alive(h.pid), 15, message="the host to notice and exit")
    assert [p for p in processes.pids_with_token(state["token"]) if processes.pid_alive(p)] == []
    assert not h.runtime_dir.exists() or list(h.runtime_dir.iterdir()) == []
    _assert_privileged_cleanup(h)  # what reconcile does for a desktop that ended by itself


def test_attach_mode_serves_an_existing_display_and_leaves_it_running(xvfb, tmp_path):
    """The display and its authority file belong to the test (root); the host runs as a desktop
    account that cannot read that file: it gets the display's cookie on a pipe."""
    env = dict(os.environ, **xvfb.env())
    subprocess.run(["xsetroot", "-solid", "#3366cc"], env=env, check=True)
    h = start_host(800, 600, attach=xvfb.name, attach_cookie=read_display_cookie(xvfb.xauthority, xvfb.name))
    try:
        assert h.display == xvfb.name
        status = request(h, "status")
        assert status.get("attached") and status.get("xvfb_pid") is None
        assert status.get("capture") == "mit-shm"  # the server (root) shares memory with the account
        # Nothing of ours runs on somebody else's display: no bus, no compositor, no programs.
        token = json.loads((h.runtime_dir / "host.json").read_text())["token"]
        assert [p for p in processes.pids_with_token(token) if p != h.pid] == []
        assert status.get("wayland_display") is None
        shot = screenshot(h)
        assert shot.shape == (600, 800, 3)
        assert tuple(shot[300, 400]) == (0x33, 0x66, 0xCC)
        subprocess.run(["xsetroot", "-solid", "#cc3300"], env=env, check=True)
        wait_until(lambda: tuple(screenshot(h)[300, 400]) == (0xCC, 0x33, 0x00), 5,
                   message="the MIT-SHM capture to see the change")
        # A viewer cannot change the size of somebody's real display.
        assert request(h, "resize", width=640, height=480).get("width") == 800
    finally:
        stop_host(h)
    assert xvfb.alive()
    assert not h.socket_path.exists()
    subprocess.run(["xdpyinfo"], env=env, check=True, capture_output=True, timeout=10)


def test_attach_mode_falls_back_to_xgetimage_without_mit_shm(tmp_path):
    from compositor.display import start_xvfb

    xvfb = start_xvfb(width=640, height=480, workdir=tmp_path, extra_args=("-extension", "MIT-SHM"))
    try:
        subprocess.run(["xsetroot", "-solid", "#3366cc"], env=dict(os.environ, **xvfb.env()), check=True)
        h = start_host(640, 480, attach=xvfb.name, attach_cookie=read_display_cookie(xvfb.xauthority, xvfb.name))
        try:
            assert request(h, "status").get("capture") == "xgetimage"
            assert tuple(screenshot(h)[200, 300]) == (0x33, 0x66, 0xCC)
        finally:
            stop_host(h)
        assert "MIT-SHM capture unavailable" in (Path(os.environ["WRD_VAR_DIR"]) / "log").joinpath(
            f"{h.runtime_dir.name}.log").read_text()
    finally:
        xvfb.stop()


def test_a_failed_start_is_reported_and_leaves_nothing(tmp_path):
    before = set(os.listdir("/tmp/.X11-unix")) if os.path.isdir("/tmp/.X11-unix") else set()
    with pytest.raises(LaunchError, match="not found"):
        start_host(800, 600, env=session_process_env(WRD_XVFB="/nonexistent/Xvfb"))
    after = set(os.listdir("/tmp/.X11-unix")) if os.path.isdir("/tmp/.X11-unix") else set()
    assert after <= before


async def test_many_subscribers_share_one_encoder(host):
    subs = [await Subscriber().connect(host) for _ in range(3)]
    try:
        streams = [(await s.client.request("subscribe", format="raw")).get("stream") for s in subs]
        for s, stream in zip(subs, streams):
            await s.next("frame", stream=stream)
        assert request(host, "status").get("subscribers") == 3
    finally:
        for s in subs:
            await s.client.close()
    wait_until(lambda: request(host, "status").get("subscribers") == 0, 5, message="unsubscribe on close")


async def test_host_client_fails_cleanly_when_host_is_gone(tmp_path):
    with pytest.raises(HostError, match="cannot reach"):
        await HostClient().connect(tmp_path / "nothing.sock")
    with pytest.raises(HostError, match="cannot reach"):
        BlockingHostClient(tmp_path / "nothing.sock")


async def test_a_drawing_flood_does_not_starve_requests(host):
    """`yes` in a terminal draws as fast as X allows; the host still answers and frames flow."""
    sub = await Subscriber().connect(host)
    pid = request(host, "exec", argv=["xterm", "-geometry", "80x24+0+0", "-e", "yes"]).get("pid")
    try:
        stream = (await sub.client.request("subscribe", format="damage", window=2)).get("stream")
        await asyncio.sleep(2)
        for _ in range(5):
            started = time.monotonic()
            await sub.client.request("status", timeout=5)
            assert time.monotonic() - started < 2.0
            frame = await sub.next("frame", stream=stream)
            sub.client.send(messages.Ack(stream=stream, seq=frame.get("seq")))
        assert screenshot(host).shape == (768, 1024, 3)
    finally:
        os.kill(pid, signal.SIGTERM)
        await sub.client.close()


# -- one client's bad request never takes the session down ---------------------------------

HOSTILE = [  # (header, what the error reply says)
    ({"op": "resize", "width": -640, "height": -480}, "resize: width -640 out of range"),
    ({"op": "resize", "width": [1], "height": {}}, "resize: width must be an integer"),
    ({"op": "input", "events": [{"t": "text", "text": "x" * 60000}]}, "input text: text longer than 10000"),
    ({"op": "input", "events": [{"t": "move", "x": {"x": 1}, "y": None}]}, "input move: x must be an integer"),
    ({"op": "input", "events": [None, 5]}, "events must be objects"),
    ({"op": "exec", "argv": "xterm"}, "exec: argv must be a non-empty list"),
    ({"op": "exec", "argv": ["true"], "env": ["A=1"]}, "exec: env must be an object"),
    ({"op": "subscribe", "format": "nope"}, "unknown format 'nope'"),
    ({"op": "subscribe", "format": {"raw": True}}, "subscribe: format must be a string"),
    ({"op": "subscribe", "format": "jpeg", "options": {"quality": "best"}}, "invalid literal"),
    ({"op": "clipboard_set", "selection": "SECONDARY"}, "selection must be CLIPBOARD or PRIMARY"),
    ({"op": "clipboard_get", "selection": 1}, "selection must be CLIPBOARD or PRIMARY"),
    ({"op": "ack", "stream": "1", "seq": 1.5}, "ack: stream must be an integer"),
    ({"op": "keyframe"}, "keyframe: stream is missing"),
    ({"op": "status", "id": {"nested": [1, 2]}}, None),  # any JSON id is echoed
    ({"op": 1.5e300}, "closed"),  # not a protocol message at all: that connection ends
]


async def _raw_exchange(path, header: dict) -> dict | str:
    """Send one hand-made header; the reply's header, or "closed"."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(encode_message({"id": 1, **header}))
        protocol = HostProtocol()
        while data := await asyncio.wait_for(reader.read(1 << 16), 10):
            protocol.receive_data(data)
            for msg in protocol.events():
                if msg.op in ("ok", "error"):
                    return msg.header
        return "closed"
    finally:
        writer.close()


async def _exercise_hostile(path) -> None:
    """Every hostile request gets its error (or its id back) and the host answers the next
    valid request, on the same connection and on another."""
    bystander = await HostClient().connect(path)
    try:
        for header, error in HOSTILE:
            got = await _raw_exchange(path, header)
            if error == "closed":
                assert got == "closed", header
            elif error is None:
                assert got["op"] == "ok" and got["id"] == header["id"], got
            else:
                assert got["op"] == "error" and error in got["error"], (header, got)
            assert (await bystander.call(messages.Status())).session
        # The same connection stays usable after a refused request.
        with pytest.raises(HostError, match="out of range"):
            await bystander.request("resize", width=0, height=10)
        assert (await bystander.call(messages.Status())).width > 0
    finally:
        await bystander.close()


class _FakeFramebuffer:
    width, height, max_width, max_height = 1024, 768, 1920, 1200
    capture = "xwd-mmap"


class _FakeInput:
    last_input = None

    def __init__(self) -> None:
        self.events: list[dict] = []

    def handle(self, events) -> None:
        self.events.extend(events)


@pytest.fixture
async def bare_host(tmp_path):
    """A SessionHost serving its control socket with no X behind it: the dispatch alone."""
    from compositor.encoders import load_builtin_encoders
    from compositor.host import HostConfig, SessionHost

    load_builtin_encoders()
    host = SessionHost(HostConfig(runtime_dir=tmp_path, session="bare-42"))
    host.capture.fb, host.input = _FakeFramebuffer(), _FakeInput()
    host.capture.after_x_request = host.capture.drain = lambda: None
    path = tmp_path / "host.sock"
    server = await asyncio.start_unix_server(host._serve, path=str(path))
    yield host, path
    server.close()
    await server.wait_closed()


async def test_dispatch_refuses_hostile_requests_and_keeps_serving(bare_host):
    host, path = bare_host
    await _exercise_hostile(path)


async def test_pointer_positions_are_clamped_to_the_screen(bare_host):
    host, path = bare_host
    client = await HostClient().connect(path)
    try:
        await client.call(messages.Input(events=(messages.MoveEvent(5, 6),)))
        await client.request("input", events=[{"t": "move", "x": 40000, "y": -7}, {"t": "release_all"}])
        assert host.input.events == [{"t": "move", "x": 5, "y": 6}, {"t": "move", "x": 1023, "y": 0},
                                     {"t": "release_all"}]
    finally:
        await client.close()


async def test_a_bug_in_a_handler_closes_only_that_connection(bare_host, monkeypatch, caplog):
    host, path = bare_host

    async def broken(self, conn, request, rid):
        raise struct.error("a bug of ours")

    monkeypatch.setitem(type(host).HANDLERS, messages.Stop, broken)
    victim = await HostClient().connect(path)
    bystander = await HostClient().connect(path)
    try:
        with pytest.raises(HostError, match="connection closed"):
            await victim.call(messages.Stop())
        await asyncio.wait_for(victim.closed.wait(), 5)
        assert not host.stopping.is_set()
        assert (await bystander.call(messages.Status())).session == "bare-42"
        assert await bystander.call(messages.Unsubscribe(stream=99)) == messages.Ok()
        (record,) = [r for r in caplog.records if "request failed; closing its connection" in r.getMessage()]
        assert "session=bare-42" in record.getMessage() and record.exc_info
    finally:
        await victim.close()
        await bystander.close()


async def test_a_real_host_survives_hostile_requests(host):
    await _exercise_hostile(host.socket_path)
    # x beyond the 16-bit range (it once raised struct.error inside the host): clamped.
    request(host, "input", events=[{"t": "move", "x": 40000, "y": 40000}])
    d = x_display(session_env(host))
    try:
        pointer = d.screen().root.query_pointer()
        assert (pointer.root_x, pointer.root_y) == (1023, 767)
    finally:
        d.close()
