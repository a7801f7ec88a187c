"""Several monitors on one Xvfb screen, as RandR 1.5 monitors (docs/multimonitor.md).

Xvfb has one output (``screen``) whose mode is the whole framebuffer. A layout of several
monitors is a set of client-defined RandR monitors over it (``xrandr --setmonitor``): the X
server then reports them through RandR 1.5 ``GetMonitors`` and through its RandR-backed
Xinerama, which is what window managers (openbox among them) read to place and maximise
windows, and it sends RRScreenChangeNotify so a running window manager rereads them.

The first monitor defined owns the output, which hides the output's own automatic monitor
(else it would stand for the whole screen beside the defined ones); the others own none.
Monitors are named ``WRD-<n>``; only those are ever deleted. A layout of fewer than two
monitors leaves the screen as one monitor.
"""

from __future__ import annotations

import logging
import subprocess

from compositor.messages import Monitor

log = logging.getLogger(__name__)

NAME_PREFIX = "WRD-"


def fit(monitors: tuple[Monitor, ...], width: int, height: int, *, session: str = "") -> tuple[Monitor, ...]:
    """The monitors of a requested layout that can be applied to a ``width`` x ``height``
    screen: one outside the screen or overlapping an earlier one is left out with a log line;
    exactly one is primary (the first primary, else the first); fewer than two left means the
    screen is one monitor (``()``)."""
    kept: list[Monitor] = []
    for m in monitors:
        if m.x + m.width > width or m.y + m.height > height:
            log.warning("monitor skipped session=%s monitor=%dx%d+%d+%d screen=%dx%d: outside the screen",
                        session, m.width, m.height, m.x, m.y, width, height)
            continue
        if any(overlap(m, k) for k in kept):
            log.warning("monitor skipped session=%s monitor=%dx%d+%d+%d: overlaps another",
                        session, m.width, m.height, m.x, m.y)
            continue
        kept.append(m)
    if len(kept) < 2:
        return ()
    primary = next((i for i, m in enumerate(kept) if m.primary), 0)
    return tuple(Monitor(m.x, m.y, m.width, m.height, i == primary) for i, m in enumerate(kept))


def overlap(a: Monitor, b: Monitor) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def xrandr_monitor_names(env: dict[str, str]) -> list[str]:
    """The RandR monitors this module defined (``xrandr --listmonitors``)."""
    out = subprocess.run(["xrandr", "--listmonitors"], env=env, capture_output=True, text=True, timeout=10,
                         check=True).stdout
    names = []
    for line in out.splitlines()[1:]:  # " 0: +*WRD-1 1024/0x768/0+0+0  screen"
        parts = line.split()
        if len(parts) >= 2:
            name = parts[1].lstrip("+*")
            if name.startswith(NAME_PREFIX):
                names.append(name)
    return names


def xrandr_output_name(env: dict[str, str]) -> str:
    query = subprocess.run(["xrandr", "-q"], env=env, capture_output=True, text=True, timeout=10, check=True)
    return next((line.split()[0] for line in query.stdout.splitlines() if " connected" in line), "screen")


def xrandr_set_monitors(env: dict[str, str], monitors: tuple[Monitor, ...]) -> None:
    """Replace this module's RandR monitors by ``monitors`` (a ``fit`` result), primary first."""
    for name in xrandr_monitor_names(env):
        subprocess.run(["xrandr", "--delmonitor", name], env=env, capture_output=True, timeout=10, check=True)
    if not monitors:
        return
    output = xrandr_output_name(env)
    ordered = sorted(monitors, key=lambda m: not m.primary)
    for i, m in enumerate(ordered, 1):
        name = ("*" if m.primary else "") + f"{NAME_PREFIX}{i}"
        geometry = f"{m.width}/0x{m.height}/0+{m.x}+{m.y}"
        result = subprocess.run(["xrandr", "--setmonitor", name, geometry, output if i == 1 else "none"],
                                env=env, capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise OSError(f"xrandr could not set monitor {geometry}: {result.stderr.strip()}")
