"""A real session for compositor tests: Xvfb + openbox + ``python -m compositor.wayland``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from compositor.display import XWD_HEADER_SIZE, Xvfb, start_xvfb
from tests.compositor.helpers import x_display

REPO = Path(__file__).resolve().parents[3]


def _need(*binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")


class Session:
    """One desktop session with a running compositor; every process it starts is ended by ``close``."""

    def __init__(self, tmp: Path, width: int, height: int, wm: bool = True) -> None:
        self.tmp = tmp
        self.runtime = tmp / "runtime"
        self.runtime.mkdir(mode=0o700)
        self.xvfb: Xvfb = start_xvfb(width=width, height=height, workdir=tmp)
        self.width, self.height = width, height
        self.procs: list[subprocess.Popen] = []
        self.env = dict(os.environ, **self.xvfb.env(), XDG_RUNTIME_DIR=str(self.runtime))
        self.env.pop("WAYLAND_DISPLAY", None)
        self.client_env = dict(self.env, WAYLAND_DISPLAY="wayland-0", NO_AT_BRIDGE="1",
                               GDK_BACKEND="wayland", QT_QPA_PLATFORM="wayland", LIBGL_ALWAYS_SOFTWARE="1")
        if wm:
            self.spawn(["openbox", "--sm-disable"], env=self.env)
        self.compositor: subprocess.Popen | None = None
        self.compositor_log = tmp / "compositor.log"
        self.start_compositor()

    # -- processes ----------------------------------------------------------------

    def start_compositor(self, *extra: str) -> subprocess.Popen:
        log = open(self.compositor_log, "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "compositor.wayland", "--socket", "wayland-0", *extra],
            cwd=REPO, env=dict(self.env, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=log)
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"ready\n", f"compositor said {line!r}; log: {self.log_text()[-2000:]}"
        self.compositor = proc
        return proc

    def log_text(self) -> str:
        return self.compositor_log.read_text(errors="replace")

    def spawn(self, argv: list[str], *, env: dict[str, str] | None = None, log: str | None = None,
              **kwargs: object) -> subprocess.Popen:
        out = open(self.tmp / (log or f"{Path(argv[0]).name}.log"), "ab")
        proc = subprocess.Popen(argv, env=env or self.client_env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=self.tmp, **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def run(self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 10,
            input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=env or self.env, capture_output=True, timeout=timeout, input=input)

    def xdotool(self, *args: str) -> str:
        result = self.run(["xdotool", *args])
        return result.stdout.decode().strip()

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.xvfb.stop()

    # -- looking at the screen ---------------------------------------------------------

    def screen(self) -> np.ndarray:
        """The framebuffer (height × width × BGRX), copied."""
        fb = np.memmap(self.xvfb.framebuffer_path, dtype=np.uint8, mode="r", offset=XWD_HEADER_SIZE,
                       shape=(self.xvfb.height, self.xvfb.width, 4))
        return np.array(fb)

    def windows(self) -> dict[str, tuple[int, int, int, int, int]]:
        """Named windows: name -> (id, x, y, w, h) in root coordinates."""
        out = self.run(["xwininfo", "-root", "-tree"]).stdout.decode(errors="replace")
        found = {}
        for match in re.finditer(r'(0x[0-9a-f]+) "([^"]*)": \([^)]*\)\s+(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)',
                                 out):
            wid, name, w, h, x, y = match.groups()
            found[name] = (int(wid, 16), int(x), int(y), int(w), int(h))
        return found

    def override_redirect_windows(self) -> list[tuple[int, int, int, int]]:
        """Mapped override-redirect windows of the compositor's X client (popups): (x, y, w, h)."""
        from Xlib import X

        d = x_display(self.env)
        try:
            result = []
            for child in d.screen().root.query_tree().children:
                attrs = child.get_attributes()
                if attrs.override_redirect and attrs.map_state == X.IsViewable:
                    g = child.get_geometry()
                    if g.width > 2 and g.height > 2 and child.get_wm_class() is None:
                        result.append((g.x, g.y, g.width, g.height))
            return result
        finally:
            d.close()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}; compositor log:\n"
                             f"{self.log_text()[-3000:]}")

    def wait_window(self, name: str, timeout: float = 15.0) -> tuple[int, int, int, int, int]:
        """Wait for a window and for the WM to have placed it (same geometry twice in a row)."""
        last: list[object] = [None]

        def settled() -> object:
            now = self.windows().get(name)
            stable = now is not None and now == last[0]
            last[0] = now
            if not stable:
                time.sleep(0.1)
            return now if stable else None

        return self.wait_for(settled, timeout, f"window {name!r}")  # type: ignore[return-value]


@pytest.fixture
def session_factory(tmp_path: Path) -> Iterator[Callable[..., Session]]:
    _need("Xvfb", "xauth", "openbox", "xwininfo", "xdotool")
    made: list[Session] = []

    def make(width: int = 1024, height: int = 768, wm: bool = True) -> Session:
        s = Session(tmp_path / f"s{len(made)}", width, height, wm)
        made.append(s)
        return s

    (tmp_path).mkdir(exist_ok=True)
    for i in range(4):
        (tmp_path / f"s{i}").mkdir()
    try:
        yield make
    finally:
        for s in made:
            s.close()


@pytest.fixture
def session(session_factory: Callable[..., Session]) -> Session:
    return session_factory()


@pytest.fixture
def need() -> Callable[..., None]:
    return _need
