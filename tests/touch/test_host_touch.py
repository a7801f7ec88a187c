"""Touch through the session host: wl_touch to Wayland clients (wev, a GTK app), pointer
emulation for X11 programs, and the bounds on bad touch input."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compositor.client import BlockingHostClient, HostError
from tests.compositor.helpers import request, session_env, start_host, stop_host, x_display
from tests.conftest import desktop_outdir, desktop_user, wait_until
from tests.touch.helpers import (
    FRAME,
    GtkApp,
    JsonLog,
    Wev,
    end_pid,
    host_log,
    popup_shown,
    tap,
    touch,
    window_origin,
)

REPO = Path(__file__).resolve().parents[2]
POINTER_RECORDER = Path(__file__).parent / "pointer_recorder.py"

pytestmark = pytest.mark.skipif(shutil.which("wev") is None, reason="wev is not installed")


@pytest.fixture(scope="module")
def host():
    h = start_host(1024, 768, wayland=True, startup="exec openbox")
    yield h
    stop_host(h)


@pytest.fixture
def wev(host):
    w = Wev(host)
    yield w
    w.stop()
    wait_until(lambda: window_origin(host, "wev") is None, 10, message="wev's window to close")


def send(host, *batches: list[dict]) -> None:
    """Input requests on one connection, each answered before the next (a sequence belongs to
    the connection that started it, and is cancelled when that connection closes)."""
    with BlockingHostClient(host.socket_path) as client:
        for events in batches:
            assert client.request("input", events=events).op == "ok"


def test_a_touch_reaches_a_wayland_client_as_wl_touch(host, wev):
    x, y = wev.centre()
    sent_ms = int(time.monotonic() * 1000) & 0xFFFFFFFF  # the compositor stamps events on this clock
    send(host, [touch("down", 0, x, y), FRAME], [touch("motion", 0, x + 5, y + 3), FRAME],
         [touch("up", 0, x + 5, y + 3), FRAME])
    wev.wait(lambda k: k.count("frame") >= 3)
    kinds = wev.kinds()
    assert kinds[:6] == ["down", "frame", "motion", "frame", "up", "frame"], kinds
    down = dict(wev.events())["down"]
    # Surface-local: the centre of wev's window, not the screen position.
    _, _, width, height = wev.frame
    assert "id: 0" in down and f"x, y: {width // 2:.6f}, {height // 2:.6f}" in down, down
    latency = int(down.split("time: ")[1].split(";")[0]) - sent_ms
    print(f"input request to wl_touch.down: {latency} ms")
    assert 0 <= latency < 1000
    motion = dict(wev.events())["motion"]
    assert f"x, y: {width // 2 + 5:.6f}, {height // 2 + 3:.6f}" in motion, motion


def test_two_contacts_in_one_frame(host, wev):
    x, y = wev.centre()
    send(host, [touch("down", 0, x - 20, y), touch("down", 1, x + 20, y), FRAME],
         [touch("motion", 0, x - 25, y), touch("motion", 1, x + 25, y), FRAME],
         [touch("up", 0, x - 25, y), touch("up", 1, x + 25, y), FRAME])
    wev.wait(lambda k: k.count("frame") >= 3)
    kinds = wev.kinds()
    assert kinds == ["down", "down", "frame", "motion", "motion", "frame", "up", "up", "frame"], kinds
    ids = [rest for e, rest in wev.events() if e == "down"]
    assert "id: 0" in ids[0] and "id: 1" in ids[1]


def test_a_frame_never_closed_is_cancelled(host, wev):
    x, y = wev.centre()
    with BlockingHostClient(host.socket_path) as client:
        client.request("input", events=[touch("down", 3, x, y)])  # no touch_frame, ever
        wev.wait(lambda k: "cancel" in k, 5, "wl_touch.cancel")
        assert "touch sequence cancelled: its frame was not closed within 1 s" in host_log(host)
        # The sequence is over: the contact's up is refused, the next tap works.
        client.request("input", events=[touch("up", 3, x, y), FRAME])
        for events in tap(x, y, contact=3):
            client.request("input", events=events)
    wev.wait(lambda k: k.count("frame") >= 2, 5, "the next tap")
    assert wev.kinds() == ["down", "cancel", "down", "frame", "up", "frame"]


def test_bad_touch_is_refused_with_an_error_and_the_session_goes_on(host, wev):
    x, y = wev.centre()
    with BlockingHostClient(host.socket_path) as client:
        with pytest.raises(HostError, match=r"input touch: id 10 out of range 0\.\.9"):
            client.request("input", events=[touch("down", 10, x, y)])
        with pytest.raises(HostError, match="input touch: phase must be down, motion, up or cancel"):
            client.request("input", events=[{"t": "touch", "phase": "press", "id": 0}])
        # Motion of a contact that is not down: dropped, logged.
        assert client.request("input", events=[touch("motion", 4, x, y), FRAME]).op == "ok"
    assert "touch refused: touch motion for contact 4, which is not down" in host_log(host)
    send(host, *tap(x, y))
    wev.wait(lambda k: k.count("frame") >= 2, 5, "a tap after the refusals")
    assert wev.kinds() == ["down", "frame", "up", "frame"]


def test_a_forged_touch_message_from_an_x_client_is_logged_and_dropped(host, wev):
    """Any client of the display can send the compositor a ``_WRD_TOUCH`` ClientMessage (as it
    can inject input with XTEST): a malformed one is dropped with a log line, and touch goes on."""
    from Xlib.error import XError
    from Xlib.protocol import event as xevent

    d = x_display(session_env(host))
    try:
        root = d.screen().root
        target = None
        stack = [root]
        while stack and target is None:
            window = stack.pop()
            try:  # windows come and go while the tree is walked
                if window.get_wm_name() == "wev":
                    target = window
                stack.extend(window.query_tree().children)
            except XError:
                continue
        atom = d.intern_atom("_WRD_TOUCH")
        for words in ([7, 0, 0, 0, 0], [0 | (200 << 8), 1, 1, 0, 0]):  # unknown kind; contact 200
            target.send_event(xevent.ClientMessage(window=target, client_type=atom, data=(32, words)),
                              event_mask=0, propagate=False)
        d.sync()
    finally:
        d.close()
    wait_until(lambda: host_log(host).count("touch message ignored: malformed") >= 2, 5,
               message="the compositor's log line")
    x, y = wev.centre()
    send(host, *tap(x, y))
    wev.wait(lambda k: k.count("frame") >= 2, 5, "a tap after the forged messages")
    assert wev.kinds() == ["down", "frame", "up", "frame"]


def test_a_second_client_cannot_touch_into_anothers_sequence_and_a_closed_client_is_cancelled(host, wev):
    x, y = wev.centre()
    with BlockingHostClient(host.socket_path) as first:
        first.request("input", events=[touch("down", 0, x, y), FRAME])
        request(host, "input", events=[touch("down", 1, x + 10, y), FRAME])
        assert "touch refused: touch from a second client" in host_log(host)
    wev.wait(lambda k: "cancel" in k, 5, "cancel when the owner left")
    assert wev.kinds() == ["down", "frame", "cancel"]
    assert "touch sequence cancelled: its connection closed" in host_log(host)


def test_a_tap_clicks_a_gtk_button_and_arrives_as_touch(host):
    app = GtkApp(host)
    try:
        assert app.log.events("ready")[0]["backend"] == "GdkWaylandDisplay"
        x, y = app.button_point()
        send(host, *tap(x, y))
        wait_until(lambda: app.log.events("clicked"), 10, message="the button's clicked signal")
        kinds = [e["type"] for e in app.log.events("touch")]
        assert "touch-begin" in kinds and "touch-end" in kinds, kinds
    finally:
        app.stop()


def test_a_wayland_client_without_wl_touch_gets_the_first_contact_as_its_pointer(host):
    """A client that never asked for a wl_touch (foot, weston-simple-shm) is not left without
    input: the compositor makes the first contact the X pointer, which reaches it as wl_pointer."""
    log = JsonLog(desktop_outdir(desktop_user(), "pointer") / "pointer.jsonl")
    pid = request(host, "exec", argv=[sys.executable, str(POINTER_RECORDER), str(log.path)],
                  env={"PYTHONPATH": str(REPO)}).get("pid")
    try:
        wait_until(lambda: log.events("ready"), 20, message="the pointer-only client")
        x, y, w, h = wait_until(lambda: window_origin(host, "wrd-pointer-only"), 10, message="its window")
        send(host, [touch("down", 0, x + 40, y + 30), touch("down", 1, x + 90, y + 30), FRAME],
             [touch("motion", 0, x + 50, y + 35), FRAME],
             [touch("up", 0, x + 50, y + 35), touch("up", 1, x + 90, y + 30), FRAME])
        wait_until(lambda: len(log.events("button")) >= 2, 10, message="button press and release")
        press, release = log.events("button")
        assert (press["button"], press["state"], press["x"], press["y"]) == (0x110, 1, 40, 30)
        assert (release["button"], release["state"], release["x"], release["y"]) == (0x110, 0, 50, 35)
    finally:
        end_pid(pid)


def test_a_touch_outside_a_grabbing_popup_dismisses_it(host):
    app = GtkApp(host)
    try:
        send(host, *tap(*app.menu_button_point()))
        wait_until(lambda: app.log.events("menu") and app.log.events("menu")[-1]["shown"], 10,
                   message="the menu to open")
        wait_until(lambda: popup_shown(host), 10, message="the menu's popup on the screen")
        send(host, *tap(*app.list_point()))  # outside the menu
        wait_until(lambda: not app.log.events("menu")[-1]["shown"], 10, message="the menu to close")
        assert "touch outside the grabbing popups dismissed them" in host_log(host)
    finally:
        app.stop()


def test_touch_on_an_x11_window_is_a_pointer_click(host):
    xev = subprocess.Popen(["xev", "-geometry", "300x300+600+300", "-event", "button"], env=session_env(host),
                           stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: window_origin(host, "Event Tester"), 10, message="xev's window")
        x, y, w, h = window_origin(host, "Event Tester")
        send(host, *tap(x + w // 2, y + h // 2))
        time.sleep(0.5)
    finally:
        xev.terminate()
        out, _ = xev.communicate(timeout=10)
    assert "ButtonPress event" in out and "button 1," in out
    assert "ButtonRelease event" in out
