"""Windows in a session, as its window manager places them: open one, maximise it (EWMH),
read its frame's geometry; and the screen's RandR monitors as ``xrandr`` lists them."""

from __future__ import annotations

import re
import subprocess
import time

from Xlib import X, protocol

from tests.compositor.helpers import x_display

MONITOR_LINE = re.compile(r"^\s*\d+: [+*]*(\S+) (\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)")


def randr_monitors(env: dict[str, str]) -> list[tuple[int, int, int, int]]:
    """``(x, y, width, height)`` of every RandR monitor (``xrandr --listmonitors``), sorted."""
    out = subprocess.run(["xrandr", "--listmonitors"], env=env, capture_output=True, text=True, timeout=10,
                         check=True).stdout
    found = []
    for line in out.splitlines()[1:]:
        m = MONITOR_LINE.match(line)
        if m:
            w, h, x, y = (int(v) for v in m.groups()[1:])
            found.append((x, y, w, h))
    return sorted(found)


def find_window(env: dict[str, str], instance: str, timeout: float = 20.0) -> int:
    """The window whose WM_CLASS instance is ``instance`` (xterm's ``-name``: a shell may
    retitle it)."""
    out = subprocess.run(["xdotool", "search", "--sync", "--classname", instance], env=env, capture_output=True,
                         text=True, timeout=timeout, check=True).stdout
    return int(out.split()[0])


def maximise(env: dict[str, str], window: int) -> None:
    """Ask the window manager to maximise ``window`` both ways (_NET_WM_STATE, EWMH)."""
    d = x_display(env)
    try:
        root = d.screen().root
        win = d.create_resource_object("window", window)
        state = d.intern_atom("_NET_WM_STATE")
        vert, horz = d.intern_atom("_NET_WM_STATE_MAXIMIZED_VERT"), d.intern_atom("_NET_WM_STATE_MAXIMIZED_HORZ")
        event = protocol.event.ClientMessage(window=win, client_type=state, data=(32, [1, vert, horz, 1, 0]))
        root.send_event(event, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        d.flush()
    finally:
        d.close()


def frame_geometry(env: dict[str, str], window: int) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` on the screen of ``window``'s outermost frame (the window
    manager's decoration included)."""
    d = x_display(env)
    try:
        root = d.screen().root
        win = d.create_resource_object("window", window)
        while (parent := win.query_tree().parent) != root:
            win = parent
        g = win.get_geometry()
        return g.x, g.y, g.width, g.height
    finally:
        d.close()


def framed(env: dict[str, str], window: int) -> bool:
    """Whether the window manager has reparented ``window`` into its frame (it manages it)."""
    d = x_display(env)
    try:
        return d.create_resource_object("window", window).query_tree().parent != d.screen().root
    finally:
        d.close()


def maximise_and_wait(env: dict[str, str], window: int, expected: tuple[int, int, int, int],
                      timeout: float = 15.0) -> tuple[int, int, int, int]:
    """Maximise ``window`` once the window manager manages it (asked again every 2 s: a request
    that reaches it while it is still mapping the window can be lost); its frame's geometry
    once it is ``expected``, or what it is after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not framed(env, window) and time.monotonic() < deadline:
        time.sleep(0.05)
    asked = 0.0
    while True:
        if time.monotonic() - asked > 2.0:
            maximise(env, window)
            asked = time.monotonic()
        geometry = frame_geometry(env, window)
        if geometry == expected or time.monotonic() > deadline:
            return geometry
        time.sleep(0.1)
