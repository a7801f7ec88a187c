"""The compositor's one state object: Wayland display, X connection, windows, frame clock."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import Xlib.error
from pywayland import lib
from pywayland.server import Display
from Xlib import X
from Xlib import display as xdisplay_mod
from Xlib.ext import randr

from compositor.rects import Rect
from compositor.wayland import pywayland_fixes
from compositor.wayland.pywayland_fixes import address, make_global
from compositor.wayland.surface import Surface
from compositor.wayland.xwindow import XWindow
from compositor.xshm import ShmUploader

log = logging.getLogger("compositor.wayland")

FRAME_INTERVAL = 1 / 60

_c = pywayland_fixes.libwayland_server
_c.wl_event_loop_get_fd.argtypes = [ctypes.c_void_p]
_c.wl_event_loop_get_fd.restype = ctypes.c_int
_c.wl_display_add_socket_fd.argtypes = [ctypes.c_void_p, ctypes.c_int]
_c.wl_display_add_socket_fd.restype = ctypes.c_int


class Stats:
    """Counters for the benchmark (``--stats``): commits, frames, commit→screen latency."""

    def __init__(self) -> None:
        self.commits = 0
        self.frames = 0
        self.bytes = 0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self.latency_n = 0

    def line(self) -> str:
        mean = self.latency_sum / self.latency_n * 1000 if self.latency_n else 0.0
        return (f"stats commits={self.commits} frames={self.frames} bytes={self.bytes} "
                f"latency_mean_ms={mean:.2f} latency_max_ms={self.latency_max * 1000:.2f} "
                f"latency_n={self.latency_n} resources={pywayland_fixes.live_resources()}")


class Server:
    """Everything the compositor knows; handler modules hold references back to it."""

    def __init__(self, socket_name: str = "wayland-0", *, stats_interval: float = 0.0, use_shm: bool = True,
                 socket_fd: int | None = None) -> None:
        pywayland_fixes.apply()
        self.socket_name = socket_name
        self.socket_fd = socket_fd
        self.stats = Stats()
        self.stats_interval = stats_interval
        self.display = Display()
        self.event_loop = self.display.get_event_loop()
        self.globals: list[Any] = []
        self.windows: dict[int, XWindow] = {}
        self.dirty: dict[int, list[Rect]] = {}
        self.committed_windows: dict[int, float] = {}  # window id -> first commit time not yet drawn
        self.pending_frames: set[Surface] = set()
        self.draw_handle: asyncio.Handle | None = None
        self.frame_handle: asyncio.Handle | None = None
        self.last_frame = 0.0
        self.frame_target = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self._atoms: dict[str, int] = {}
        self.xdisplay = xdisplay_mod.Display()
        self.x_fd = self.xdisplay.fileno()
        self.shm: ShmUploader | None = None
        if use_shm:
            self.shm = ShmUploader.create(self.xdisplay, 4 * 1024 * 1024)
        self.xdisplay.set_error_handler(
            lambda error, request: log.warning("x error %s request=%s", type(error).__name__, request))
        self.x_alive = True
        self.xscreen = self.xdisplay.screen()
        self.root = self.xscreen.root
        self.screen_size = (self.xscreen.width_in_pixels, self.xscreen.height_in_pixels)
        self.x_event_handlers: list[Callable[[Any], bool]] = []
        self.on_screen_resize: list[Callable[[int, int], None]] = []
        self.serial_time = 0

        from compositor.wayland.handlers import (
            activation,
            compositor,
            cursor_shape,
            data_device,
            output,
            seat,
            text_input,
            touch,
            xdg_shell,
        )

        compositor.register(self)
        self.output = output.register(self)
        self.seat = seat.register(self)
        self.touch = touch.register(self)
        self.xdg = xdg_shell.register(self)
        self.data = data_device.register(self)
        self.activation = activation.register(self)
        text_input.register(self)
        cursor_shape.register(self)
        self._setup_x()

    # -- plumbing ------------------------------------------------------------

    def add_global(self, interface: Any, version: int, bind: Callable[[Any], None]) -> Any:
        glob = make_global(self.display, interface, version, bind)
        self.globals.append(glob)
        return glob

    def atom(self, name: str) -> int:
        if name not in self._atoms:
            self._atoms[name] = self.xdisplay.intern_atom(name)
        return self._atoms[name]

    def next_serial(self) -> int:
        return self.display.next_serial()

    def now_ms(self) -> int:
        return int(time.monotonic() * 1000) & 0xFFFFFFFF

    def _setup_x(self) -> None:
        self.root.change_attributes(event_mask=X.StructureNotifyMask)
        randr.select_input(self.root, randr.RRScreenChangeNotifyMask)
        self.xdisplay.flush()

    # -- surfaces and rendering ------------------------------------------------

    def surface_committed(self, surface: Surface, damage: list[Rect]) -> None:
        self.stats.commits += 1
        role = surface.role_object
        if role is not None and hasattr(role, "committed"):
            role.committed(surface, damage)
        root = surface.root()
        window = getattr(root.role_object, "xwindow", None)
        if window is not None and damage:
            ox, oy = surface.offset_in_root()
            gx, gy = window.geometry[0], window.geometry[1]
            rects = self.dirty.setdefault(window.id, [])
            rects.extend((x + ox - gx, y + oy - gy, w, h) for x, y, w, h in damage)
            self.committed_windows.setdefault(window.id, surface.commit_time)
            self.schedule_draw()
        if surface.frames:
            self.pending_frames.add(surface)
            self.schedule_frame()

    def schedule_redraw(self, surface: Surface) -> None:
        window = getattr(surface.root().role_object, "xwindow", None)
        if window is not None:
            self.dirty.setdefault(window.id, []).append((0, 0, window.width, window.height))
            self.schedule_draw()

    def surface_destroyed(self, surface: Surface) -> None:
        self.pending_frames.discard(surface)
        self.seat.surface_destroyed(surface)
        self.touch.surface_destroyed(surface)
        role = surface.role_object
        if role is not None and hasattr(role, "surface_destroyed"):
            role.surface_destroyed()

    def schedule_draw(self) -> None:
        """Damage goes to X at once (after this batch of requests): low latency."""
        if self.draw_handle is None and self.loop is not None:
            self.draw_handle = self.loop.call_soon(self.draw)

    def schedule_frame(self) -> None:
        """Frame callbacks are released on a 60 Hz clock: an animating client is paced."""
        if self.frame_handle is not None or self.loop is None:
            return
        now = time.monotonic()
        # The tick is the target, not the (up to a clock resolution early) wake-up time.
        self.frame_target = max(now, self.last_frame + FRAME_INTERVAL)
        self.frame_handle = self.loop.call_later(self.frame_target - now, self.release_frames)

    def draw(self) -> None:
        """Push the damaged rectangles of every window to X."""
        self.draw_handle = None
        if not self.x_alive:
            return
        try:
            self._draw()
        except Xlib.error.ConnectionClosedError:
            self._x_gone()

    def _draw(self) -> None:
        dirty, self.dirty = self.dirty, {}
        work: list[tuple[XWindow, list[Rect]]] = []
        for window_id, rects in dirty.items():
            window = self.windows.get(window_id)
            if window is not None:
                visible = window.visible_rects(_simplify(rects, window.width, window.height))
                if visible:
                    work.append((window, visible))
        if not work:
            return
        shm = self.shm
        if shm is not None and not shm.begin_frame(sum(w * h * 4 for _, rs in work for _, _, w, h in rs)):
            shm = self.shm = None
        for window, rects in work:
            self.stats.bytes += window.draw(rects, shm)
        drawn = [window for window, _ in work]
        if shm is not None or self.stats_interval:
            # The segment is reused next frame: wait until the server has read it.
            # (In stats mode this also measures until the X server has the pixels.)
            self.xdisplay.sync()
            self.after_x_request()
        else:
            self.xdisplay.flush()
        done = time.monotonic()
        committed, self.committed_windows = self.committed_windows, {}
        for window in drawn:
            if window.id not in committed:
                continue  # an Expose repaint, not a client commit
            latency = done - committed[window.id]
            self.stats.latency_sum += latency
            self.stats.latency_n += 1
            self.stats.latency_max = max(self.stats.latency_max, latency)
        self.stats.frames += 1

    def release_frames(self) -> None:
        self.frame_handle = None
        if self.dirty:
            self.draw()
        self.last_frame = self.frame_target
        now = self.now_ms()
        surfaces, self.pending_frames = self.pending_frames, set()
        for surface in surfaces:
            callbacks, surface.frames = surface.frames, []
            for callback in callbacks:
                if callback._ptr is not None:
                    callback.done(now)
                    callback.destroy()
        self.display.flush_clients()

    # -- X events --------------------------------------------------------------

    def handle_x(self) -> None:
        if not self.x_alive:
            return
        try:
            while self.xdisplay.pending_events():
                event = self.xdisplay.next_event()
                try:
                    self.dispatch_x_event(event)
                except Xlib.error.ConnectionClosedError:
                    raise
                except Exception:
                    log.exception("x event handling failed type=%s", type(event).__name__)
        except Xlib.error.ConnectionClosedError:
            self._x_gone()

    def dispatch_x_event(self, event: Any) -> None:
        for handler in self.x_event_handlers:
            if handler(event):
                return
        if isinstance(event, randr.ScreenChangeNotify) or (
                event.type == X.ConfigureNotify and event.window == self.root):
            self._screen_changed()
            return
        window = self.windows.get(getattr(event, "window", None) and event.window.id)
        if window is None:
            return
        if event.type == X.Expose:
            self.dirty.setdefault(window.id, []).append((event.x, event.y, event.width, event.height))
            self.schedule_draw()
        elif event.type in (X.KeyPress, X.KeyRelease, X.ButtonPress, X.ButtonRelease, X.MotionNotify,
                            X.EnterNotify, X.LeaveNotify, X.FocusIn, X.FocusOut):
            self.seat.x_input(window, event)
        if hasattr(window.owner, "x_event"):
            window.owner.x_event(event)

    def _screen_changed(self) -> None:
        try:
            geometry = self.root.get_geometry()
            size = (geometry.width, geometry.height)
        except Exception:
            return
        if size != self.screen_size:
            self.screen_size = size
            log.info("screen resized width=%d height=%d", *size)
            for callback in self.on_screen_resize:
                callback(*size)

    # -- main loop -------------------------------------------------------------

    def _dispatch_wayland(self) -> None:
        lib.wl_event_loop_dispatch(self.event_loop._ptr, 0)
        self.handle_x()
        self.display.flush_clients()

    def _dispatch_x(self) -> None:
        self.handle_x()
        self.display.flush_clients()

    def after_x_request(self) -> None:
        """Call after a round trip made outside X event handling: python-xlib may have read
        events while waiting for the reply, and the fd will not signal them."""
        if self.loop is not None:
            self.loop.call_soon(self._dispatch_x)

    def _x_gone(self) -> None:
        """The session's X server is gone: nothing is left to show windows on."""
        if self.x_alive:
            log.error("x connection closed, stopping")
            self.x_alive = False
            if self.loop is not None:
                self.loop.remove_reader(self.x_fd)
            if self.stopping is not None:
                self.stopping.set()

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if not runtime:
            raise RuntimeError("XDG_RUNTIME_DIR is not set")
        if self.socket_fd is not None:
            # A socket the session host bound (and keeps): libwayland serves it, never unlinks it.
            if _c.wl_display_add_socket_fd(address(self.display._ptr), self.socket_fd) != 0:
                raise RuntimeError(f"cannot serve the listening socket fd {self.socket_fd}")
        else:
            self.display.add_socket(self.socket_name)
        self.socket_path = Path(runtime) / self.socket_name
        wl_fd = _c.wl_event_loop_get_fd(address(self.event_loop._ptr))
        self.loop.add_reader(wl_fd, self._dispatch_wayland)
        self.loop.add_reader(self.x_fd, self._dispatch_x)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stopping.set)
        stats_task = None
        if self.stats_interval:
            stats_task = asyncio.ensure_future(self._stats_loop())
        log.info("compositor listening socket=%s display=%s upload=%s", self.socket_path,
                 os.environ.get("DISPLAY"), "mit-shm" if self.shm is not None else "core-putimage")
        if ready is not None:
            ready()
        self.handle_x()
        try:
            await self.stopping.wait()
        finally:
            if stats_task is not None:
                stats_task.cancel()
            log.info("%s", self.stats.line())
            self.loop.remove_reader(wl_fd)
            self.loop.remove_reader(self.x_fd)
            self.shutdown()

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            log.info("%s", self.stats.line())

    def shutdown(self) -> None:
        """Close clients, destroy X windows, remove the socket (wl_display_destroy does that)."""
        log.info("compositor stopping windows=%d", len(self.windows))
        for handle in (self.draw_handle, self.frame_handle):
            if handle is not None:
                handle.cancel()
        self.draw_handle = self.frame_handle = None
        self.loop = None
        try:
            self.data.shutdown()
        except Exception:
            log.debug("selection cleanup failed, x connection gone")
        lib.wl_display_destroy_clients(self.display._ptr)
        if self.x_alive:
            for window in list(self.windows.values()):
                window.destroy()
            try:
                if self.shm is not None:
                    self.shm.release()
            except Exception:
                log.debug("shm release failed")
        try:
            self.xdisplay.sync()
            self.xdisplay.close()
        except Exception:
            log.debug("x connection already gone")
        self.display.destroy()


def _simplify(rects: list[Rect], width: int, height: int) -> list[Rect]:
    from compositor.rects import clip
    from compositor.wayland.surface import merge_rects

    clipped = [c for c in (clip(r, width, height) for r in rects) if c is not None]
    area = sum(r[2] * r[3] for r in clipped)
    if area >= width * height // 2:
        return [(0, 0, width, height)]
    return merge_rects(clipped, limit=6)
