"""Touch test helpers: a desktop with a GTK app and wev, their logs, touch events to send."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

from Xlib import X
from Xlib.error import XError

from tests.compositor.helpers import request, session_env, x_display
from tests.conftest import desktop_outdir, desktop_user, wait_until

HERE = Path(__file__).parent
GTK_APP = HERE / "gtk_touch_app.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # PyGObject is Debian's (python3-gi), not the venv's


def end_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def window_origin(host, title: str) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) on the screen of the first window titled ``title`` that is
    viewable (mapped, and its window manager frame too)."""
    d = x_display(session_env(host))
    try:
        root = d.screen().root
        stack = [root]
        while stack:
            window = stack.pop()
            try:  # windows come and go while the tree is walked
                if window.get_wm_name() == title and window.get_attributes().map_state == X.IsViewable:
                    geometry = window.get_geometry()
                    origin = root.translate_coords(window, 0, 0)
                    if geometry.width > 1:
                        return origin.x, origin.y, geometry.width, geometry.height
                stack.extend(window.query_tree().children)
            except XError:
                continue
        return None
    finally:
        d.close()


def popup_shown(host) -> bool:
    """Whether a popup of the Wayland compositor (an override-redirect window it marked) is on
    the screen."""
    d = x_display(session_env(host))
    try:
        mark = d.intern_atom("_WRD_TOUCH_WINDOW")
        for window in d.screen().root.query_tree().children:
            try:
                attributes = window.get_attributes()
                if (attributes.override_redirect and attributes.map_state == X.IsViewable
                        and window.get_full_property(mark, X.AnyPropertyType) is not None):
                    return True
            except XError:
                continue
        return False
    finally:
        d.close()


def focus_window(host, title: str) -> None:
    """Give the X input focus to the window titled ``title`` (a desktop without a window
    manager leaves it nowhere when the focused window closes)."""
    d = x_display(session_env(host))
    try:
        stack = [d.screen().root]
        while stack:
            window = stack.pop()
            try:
                if window.get_wm_name() == title:
                    window.set_input_focus(X.RevertToParent, X.CurrentTime)
                    d.sync()
                    return
                stack.extend(window.query_tree().children)
            except XError:
                continue
    finally:
        d.close()


class JsonLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self, kind: str | None = None) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        items = [json.loads(line) for line in lines if line.endswith("}")]
        return [e for e in items if kind is None or e["e"] == kind]


class GtkApp:
    """The GTK app of ``gtk_touch_app.py`` running in the desktop, on the Wayland backend."""

    def __init__(self, host, user=None) -> None:
        self.host = host
        self.log = JsonLog(desktop_outdir(user or desktop_user(), "gtk") / "gtk.jsonl")
        self.pid = request(host, "exec", argv=[SYSTEM_PYTHON, str(GTK_APP), str(self.log.path)],
                           env={"GDK_BACKEND": "wayland", "NO_AT_BRIDGE": "1"}).get("pid")
        wait_until(lambda: self.log.events("ready"), 30, message="the GTK app's window")
        self.frame = wait_until(lambda: window_origin(host, "wrd-touch"), 10, message="the GTK window on X")

    def button_point(self) -> tuple[int, int]:
        x, y, w, _ = self.frame
        return x + 200, y + 60

    def menu_button_point(self) -> tuple[int, int]:
        x, y, w, _ = self.frame
        return x + w - 50, y + 60

    def list_point(self) -> tuple[int, int]:
        x, y, w, h = self.frame
        return x + w // 2, y + 150 + (h - 150) // 2

    def stop(self) -> None:
        end_pid(self.pid)


_WEV_LINE = re.compile(r"\[\s*\d+:\s*(\w+)\] (\w+):?(.*)")


class Wev:
    """``wev`` (a Wayland event viewer) in the desktop, its stdout line-buffered into a file."""

    def __init__(self, host, user=None) -> None:
        self.host = host
        self.path = desktop_outdir(user or desktop_user(), "wev") / "wev.txt"
        self.pid = request(host, "exec", argv=["sh", "-c", f"exec stdbuf -oL wev > {self.path} 2>&1"]).get("pid")
        self.frame = wait_until(lambda: window_origin(host, "wev"), 20, message="the wev window")

    def events(self, interface: str = "wl_touch") -> list[tuple[str, str]]:
        """(event, the rest of the line) of every ``interface`` event wev printed."""
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text(errors="replace").splitlines():
            m = _WEV_LINE.match(line)
            if m and m.group(1) == interface:
                found.append((m.group(2), m.group(3).strip()))
        return found

    def kinds(self) -> list[str]:
        return [e for e, _ in self.events()]

    def wait(self, predicate, timeout: float = 10.0, message: str = "wl_touch events") -> None:
        """Until ``predicate(kinds)``; on failure the test fails with what wev printed."""
        deadline = time.monotonic() + timeout
        while not predicate(self.kinds()):
            if time.monotonic() > deadline:
                tail = self.path.read_text(errors="replace")[-1500:] if self.path.exists() else ""
                raise AssertionError(f"timed out waiting for {message}; wev printed:\n{tail}\n"
                                     f"host log:\n{host_log(self.host)[-2000:]}")
            time.sleep(0.05)

    def centre(self) -> tuple[int, int]:
        x, y, w, h = self.frame
        return x + w // 2, y + h // 2

    def stop(self) -> None:
        end_pid(self.pid)


def touch(phase: str, contact: int, x: int = 0, y: int = 0) -> dict:
    return {"t": "touch", "phase": phase, "id": contact, "x": x, "y": y}


FRAME = {"t": "touch_frame"}


def tap(x: int, y: int, contact: int = 0) -> list[list[dict]]:
    """A tap as two input requests (down, then up), each a closed frame."""
    return [[touch("down", contact, x, y), FRAME], [touch("up", contact, x, y), FRAME]]


def host_log(host) -> str:
    """The session host's log file (the host, as the desktop's account, appends to it)."""
    path = Path(os.environ["WRD_VAR_DIR"]) / "log" / f"{host.runtime_dir.name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


__all__ = [
    "FRAME",
    "GtkApp",
    "JsonLog",
    "Wev",
    "end_pid",
    "focus_window",
    "host_log",
    "popup_shown",
    "tap",
    "touch",
    "window_origin",
]
