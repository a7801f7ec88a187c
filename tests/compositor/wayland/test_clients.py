"""Real Wayland clients from Debian against the compositor in a real Xvfb session."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from tests.compositor.wayland.conftest import Session


def _region(session: Session, x: int, y: int, w: int, h: int) -> np.ndarray:
    return session.screen()[y:y + h, x:x + w, :3]


@pytest.mark.parametrize("upload", ["mit-shm", "core-putimage"])
def test_weston_simple_shm_animates(session: Session, need, upload: str) -> None:
    need("weston-simple-shm")
    if upload == "core-putimage":
        assert session.compositor is not None
        session.compositor.terminate()
        session.compositor.wait(10)
        session.start_compositor("--no-shm")
    session.spawn(["weston-simple-shm"])
    _, x, y, w, h = session.wait_window("simple-shm")
    assert (w, h) == (250, 250)
    session.wait_for(lambda: _region(session, x, y, w, h).any(), what="first frame on screen")
    frames = []
    for _ in range(5):
        frames.append(_region(session, x, y, w, h))
        time.sleep(0.1)
    changed = sum(not np.array_equal(a, b) for a, b in itertools.pairwise(frames))
    assert changed >= 3, "the animation should change the screen every 100 ms"
    listening = [line for line in session.log_text().splitlines() if "compositor listening" in line]
    assert listening[-1].endswith(f"upload={upload}")
    assert session.compositor is not None and session.compositor.poll() is None


def test_foot_shows_typed_text(session: Session, need) -> None:
    need("foot")
    session.spawn(["foot", "--", "sh"])
    _, x, y, w, h = session.wait_window("foot")
    session.xdotool("mousemove", str(x + w // 2), str(y + h // 2))
    before = _region(session, x, y, w, h)
    session.wait_for(lambda: session.xdotool("getwindowfocus", "getwindowname") == "foot", what="foot focused")
    time.sleep(0.3)
    session.xdotool("type", "--delay", "20", "echo wrd-$((6*7)) > typed.txt")
    session.xdotool("key", "Return")
    out = session.tmp / "typed.txt"
    session.wait_for(lambda: out.exists() and out.read_text() == "wrd-42\n", what="the typed command ran")
    assert not np.array_equal(before, _region(session, x, y, w, h)), "the typed text is on screen"
    warnings = [line for line in (session.tmp / "foot.log").read_text().splitlines() if line.startswith("warn:")]
    assert warnings == [], "foot finds every protocol it wants"


def test_gtk3_menu_opens_by_click_and_item_is_picked(session_factory, need) -> None:
    need("gtk3-widget-factory")
    session = session_factory(1600, 1000)
    session.spawn(["gtk3-widget-factory"])
    _, x, y, w, _h = session.wait_window("gtk3-widget-factory")
    assert w > 1000
    combo = (x + 420, y + 235, 140, 30)  # the "Andrea" combo box, first page
    time.sleep(1.0)
    before = _region(session, *combo)
    assert session.override_redirect_windows() == []
    session.xdotool("mousemove", str(x + 470), str(y + 249))
    session.xdotool("click", "1")
    popups = session.wait_for(session.override_redirect_windows, what="the menu popup")
    (px, py, _pw, _ph), = popups  # type: ignore[misc]
    assert abs(px - (x + 420)) < 80 and abs(py - (y + 235)) < 80, "menu placed at its combo box"
    # Second item of the menu ("Otto"), one row below the first.
    session.xdotool("mousemove", str(x + 470), str(y + 279))
    time.sleep(0.3)
    session.xdotool("click", "1")
    session.wait_for(lambda: session.override_redirect_windows() == [], what="menu closed")
    session.wait_for(lambda: not np.array_equal(before, _region(session, *combo)), what="combo shows the pick")


@pytest.mark.slow
def test_gtk3_menu_dismissed_by_outside_click(session_factory, need) -> None:
    need("gtk3-widget-factory")
    session = session_factory(1600, 1000)
    session.spawn(["gtk3-widget-factory"])
    _, x, y, w, h = session.wait_window("gtk3-widget-factory")
    time.sleep(1.0)
    session.xdotool("mousemove", str(x + 470), str(y + 249))
    session.xdotool("click", "1")
    session.wait_for(session.override_redirect_windows, what="the menu popup")
    session.xdotool("mousemove", str(x + w - 50), str(y + h - 50))
    session.xdotool("click", "1")
    session.wait_for(lambda: session.override_redirect_windows() == [], what="menu dismissed")
    # Again, clicking on the desktop (no window of ours): the click reaches the grab window.
    session.xdotool("mousemove", str(x + 470), str(y + 249))
    session.xdotool("click", "1")
    session.wait_for(session.override_redirect_windows, what="the menu popup again")
    session.xdotool("mousemove", "5", str(session.height - 5))
    session.xdotool("click", "1")
    session.wait_for(lambda: session.override_redirect_windows() == [], what="menu dismissed by a desktop click")


@pytest.mark.slow
def test_gtk3_menu_keyboard_navigation(session_factory, need) -> None:
    need("gtk3-widget-factory")
    session = session_factory(1600, 1000)
    session.spawn(["gtk3-widget-factory"])
    _, x, y, _w, _h = session.wait_window("gtk3-widget-factory")
    combo = (x + 420, y + 235, 140, 30)
    time.sleep(1.0)
    before = _region(session, *combo)
    session.xdotool("mousemove", str(x + 470), str(y + 249))
    session.xdotool("click", "1")
    session.wait_for(session.override_redirect_windows, what="the menu popup")
    time.sleep(0.3)
    for key in ("Down", "Down", "Return"):  # the grabbing popup has the keyboard focus
        session.xdotool("key", key)
        time.sleep(0.15)
    session.wait_for(lambda: session.override_redirect_windows() == [], what="menu closed by Return")
    session.wait_for(lambda: not np.array_equal(before, _region(session, *combo)), what="combo shows the pick")


def test_gtk4_starts_and_draws(session_factory, need) -> None:
    need("gtk4-demo")
    session = session_factory(1280, 900)
    session.spawn(["gtk4-demo"], env=dict(session.client_env, GSK_RENDERER="cairo"))
    _, x, y, w, h = session.wait_window("GTK Demo")

    def drawn() -> bool:
        pixels = _region(session, x, y, w, h).reshape(-1, 3)
        # Text, sidebar and header bar: many distinct colours, mostly light.
        return len(np.unique(pixels[::7], axis=0)) > 20 and pixels.mean() > 150

    session.wait_for(drawn, what="gtk4-demo drawn")


QT_QML = Path(__file__).with_name("qt6_window.qml")


def test_qt6_starts_and_draws(session: Session, need) -> None:
    need("/usr/lib/qt6/bin/qml")
    env = dict(session.client_env, QT_QPA_PLATFORM="wayland", QT_QUICK_BACKEND="software")
    session.spawn(["/usr/lib/qt6/bin/qml", str(QT_QML)], env=env, log="qml.log")
    _, x, y, w, h = session.wait_window("wrd-qt6-test")
    assert (w, h) == (400, 300)

    def drawn() -> bool:
        centre = _region(session, x + 200, y + 100, 1, 1)[0, 0]  # the yellow block, BGR
        corner = _region(session, x + 10, y + 10, 1, 1)[0, 0]  # the blue window colour
        return tuple(centre) == (0x20, 0xC0, 0xF0) and tuple(corner) == (0xC0, 0x40, 0x20)

    session.wait_for(drawn, what="qt6 window drawn")
    log = (session.tmp / "qml.log").read_text()
    assert "wrd-qt6-frame" in log
    assert "wayland" not in log.lower(), log  # no complaints about missing protocols
