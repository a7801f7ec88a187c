"""The processes of one session, and its runtime directory.

Xvfb (or, for an attached display, nothing but its cookie), the session's D-Bus daemon, its
sound server (compositor/sound.py), the session leader (when it exits the session ends, like
an X session script), the Wayland compositor (started when the first Wayland client connects)
and the programs front ends ``exec``. Every one carries the session's token (compositor/processes.py), so that stopping
ends them all, their descendants included; then the runtime directory is emptied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compositor import processes
from compositor.display import Xvfb, start_xvfb
from compositor.sandbox import DEFAULT_PATH, USER_ENV
from compositor.sound import SoundServer

if TYPE_CHECKING:
    from compositor.host import HostConfig

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line

# The session leader: when it exits the session ends (like an X session script).
DEFAULT_STARTUP = "exec openbox --startup 'xterm -fa Monospace -fs 12 -geometry 100x30+40+40'"
WAYLAND_RESTARTS = 5
WAYLAND_SOCKET = "wayland-0"
HELPERS_DIR = Path(__file__).resolve().parent / "bin"  # commands for the session: wrd-send


class SessionProcesses:
    """What a session host starts and ends. ``on_end`` is told when the session is over (Xvfb or
    the leader exited); once ``stopping`` is set nothing is started or restarted."""

    def __init__(self, cfg: HostConfig, *, stopping: asyncio.Event, on_end: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.runtime = cfg.runtime_dir
        self.attached = cfg.attach_display is not None
        self.token = cfg.token or processes.new_token()
        self.display_name = cfg.attach_display or ""
        self.xauthority = cfg.attach_xauthority or ""
        self.xvfb: Xvfb | None = None
        self.dbus: subprocess.Popen | None = None
        self.dbus_address: str | None = None
        self.leader: subprocess.Popen | None = None
        self.wayland: subprocess.Popen | None = None
        self.wayland_display: str | None = None
        self.wayland_restarts: list[float] = []
        self.execed: list[subprocess.Popen] = []
        self.sound = SoundServer(self.runtime, session=cfg.session)
        self._wayland_sock: socket.socket | None = None
        self._stopping = stopping
        self._on_end = on_end

    @property
    def home(self) -> str:
        return self.cfg.home or os.environ.get("HOME") or str(self.runtime)

    def session_env(self) -> dict[str, str]:
        """The environment of the session's programs: the allow-list (sandbox.USER_ENV) from
        ours, the configured extras, and what the session itself defines; nothing else."""
        env = {k: os.environ[k] for k in USER_ENV if k in os.environ}
        env.setdefault("PATH", DEFAULT_PATH)
        env["PATH"] = f"{HELPERS_DIR}:{env['PATH']}"  # wrd-send and the like
        env["HOME"] = self.home
        env.update(self.cfg.extra_env)
        env.update(
            DISPLAY=self.display_name,
            XAUTHORITY=self.xauthority,
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_SESSION_TYPE="x11",
            WRD_SESSION_ID=self.cfg.session,
            **{processes.TOKEN_ENV: self.token},
        )
        if self.dbus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.dbus_address
        if self.wayland_display:
            env["WAYLAND_DISPLAY"] = self.wayland_display
        env.update(self.sound.env())
        return env

    def status(self) -> dict[str, Any]:
        return {"display": self.display_name, "xvfb_pid": self.xvfb.proc.pid if self.xvfb else None,
                "runtime_dir": str(self.runtime), "wayland_display": self.wayland_display, "home": self.home,
                **self.sound.status()}

    # -- start-up -------------------------------------------------------------------------

    async def start_display(self) -> None:
        """The runtime directory and the display: the session's bus and our Xvfb, or an attached
        display's cookie. DISPLAY and XAUTHORITY in our own environment name it (python-xlib
        reads the cookie's file from there)."""
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        # An attached display is somebody's running session: it gets no Xvfb, bus, compositor
        # or session programs of ours, only what the front ends ask for (exec).
        if self.attached:
            self._take_attach_cookie()
        else:
            self._start_dbus()
            if self.cfg.sound:
                self.sound.start(self.session_env(), self._spawn_service)
            width = min(max(self.cfg.max_width, self.cfg.width), 8192)
            height = min(max(self.cfg.max_height, self.cfg.height), 8192)
            first = self.cfg.display_number or self.cfg.first_display
            self.xvfb = await asyncio.to_thread(
                start_xvfb, width=width, height=height, workdir=self.runtime,
                fbdir=self.runtime / "fb", first_display=first,
                last_display=self.cfg.display_number, binary=self.cfg.xvfb_binary,
            )
            self.display_name = self.xvfb.name
            self.xauthority = str(self.xvfb.xauthority)
        os.environ["DISPLAY"] = self.display_name
        os.environ["XAUTHORITY"] = self.xauthority

    @property
    def framebuffer_path(self) -> Path | None:
        """Our Xvfb's framebuffer file (None for an attached display)."""
        return self.xvfb.framebuffer_path if self.xvfb is not None else None

    async def start_session(self) -> None:
        """The session's programs, once the display is ready: the bus confirmed, the Wayland
        socket listening, the leader started. Nothing for an attached display."""
        if self.attached:
            return
        await self._wait_dbus()
        await self.sound.wait_ready()
        if self.cfg.wayland:
            self._listen_wayland()
        self._start_leader()

    def _take_attach_cookie(self) -> None:
        """The attached display's cookie, handed over on a descriptor by whoever could read the
        owner's authority file: kept in our runtime directory, readable by us alone."""
        if self.cfg.attach_xauthority_fd is None:
            return
        with os.fdopen(self.cfg.attach_xauthority_fd, "rb") as f:
            entries = f.read()
        path = self.runtime / "Xauthority"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(entries)
        self.xauthority = str(path)

    def _start_dbus(self) -> None:
        """The session's D-Bus daemon (programs that expect a session bus find one)."""
        binary = shutil.which("dbus-daemon")
        if binary is None:
            log.warning("dbus-daemon not installed: the session has no D-Bus session=%s", self.cfg.session)
            return
        address = f"unix:path={self.runtime / 'bus'}"
        self.dbus = processes.spawn([binary, "--session", "--nofork", "--nopidfile", "--nosyslog",
                                     f"--address={address}", "--print-address=1"], self.session_env(), self.runtime,
                                    stdout=subprocess.PIPE, stderr=None)
        self.dbus_address = address

    async def _wait_dbus(self) -> None:
        if self.dbus is None:
            return
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.dbus.stdout.readline), 10)
        except TimeoutError:
            line = b""
        self.dbus.stdout.close()
        if not line.startswith(b"unix:"):
            log.warning("dbus-daemon did not start session=%s", self.cfg.session)
            processes.end(self.dbus)
            self.dbus = None
            self.dbus_address = None

    def _spawn_service(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """A service of the session (the sound server): its stderr goes to the session's log."""
        return processes.spawn(argv, env, self.runtime, stderr=None)

    def _start_leader(self) -> None:
        self.leader = self._spawn_user(["/bin/sh", "-c", self.cfg.startup], self.session_env())
        log.info("session leader started session=%s pid=%d", self.cfg.session, self.leader.pid)

    def write_state(self) -> None:
        """host.json: how to find this host and its processes (the launcher and the sandbox read it)."""
        state = {"pid": os.getpid(), "display": self.display_name,
                 "session": self.cfg.session, "token": self.token,
                 "xvfb_pid": self.xvfb.proc.pid if self.xvfb else None}
        tmp = self.runtime / "host.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(self.runtime / "host.json")

    # -- programs -------------------------------------------------------------------------

    def exec(self, argv: list[str], env: dict[str, str] | None) -> int:
        """Start one of the user's programs in the session; its pid."""
        full_env = self.session_env()
        if env:
            full_env.update(env)
        proc = self._spawn_user(argv, full_env)
        self.execed.append(proc)
        return proc.pid

    def _spawn_user(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start one of the user's programs, in the home, first in line for the OOM killer."""
        cwd = Path(self.home) if Path(self.home).is_dir() else self.runtime
        proc = processes.spawn(argv, env, cwd)
        processes.set_oom_score_adj(proc.pid, 0)
        return proc

    # -- the Wayland compositor -----------------------------------------------------------

    def _listen_wayland(self) -> None:
        """Serve WAYLAND_DISPLAY from the start, but start the compositor only when the first
        Wayland client connects (socket activation): a desktop of X11 programs never pays for
        it (a Python process, about 29 MiB)."""
        path = self.runtime / WAYLAND_SOCKET
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(128)
        sock.setblocking(False)
        (self.runtime / f"{WAYLAND_SOCKET}.lock").touch()  # libwayland's convention beside the socket
        self._wayland_sock = sock
        self.wayland_display = WAYLAND_SOCKET
        self._arm_wayland()

    def _arm_wayland(self) -> None:
        if self._wayland_sock is not None and not self._stopping.is_set():
            asyncio.get_running_loop().add_reader(self._wayland_sock.fileno(), self._on_wayland_client)

    def _on_wayland_client(self) -> None:
        asyncio.get_running_loop().remove_reader(self._wayland_sock.fileno())
        now = time.monotonic()
        self.wayland_restarts = [t for t in self.wayland_restarts if now - t < 60] + [now]
        if len(self.wayland_restarts) > WAYLAND_RESTARTS:
            log.error("wayland compositor failed %d times in a minute: not started again session=%s",
                      WAYLAND_RESTARTS, self.cfg.session)
            self._close_wayland()
            return
        asyncio.get_running_loop().create_task(self._start_wayland())

    async def _start_wayland(self) -> None:
        """Start the compositor on our listening socket; the client waiting in its backlog is
        its first."""
        env = self.session_env()
        env.pop("WAYLAND_DISPLAY", None)
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        if level := os.environ.get("WRD_COMPOSITOR_LOG"):
            env["WRD_COMPOSITOR_LOG"] = level
        fd = self._wayland_sock.fileno()
        # stderr goes where ours goes (the session's log); stdout only carries "ready".
        proc = processes.spawn([sys.executable, "-m", "compositor.wayland", "--socket", WAYLAND_SOCKET,
                                "--socket-fd", str(fd)], env, self.runtime, stdout=subprocess.PIPE, stderr=None,
                               pass_fds=(fd,))
        self.wayland = proc
        log.info("wayland compositor started for a client session=%s pid=%d", self.cfg.session, proc.pid)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        except TimeoutError:
            line = b""
        proc.stdout.close()
        if line.strip() != b"ready" and proc.poll() is None:
            log.warning("wayland compositor did not become ready session=%s", self.cfg.session)
            processes.end(proc)  # its exit re-arms the socket (_check_children)

    def _close_wayland(self) -> None:
        if self._wayland_sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._wayland_sock.fileno())
            self._wayland_sock.close()
            self._wayland_sock = None
            self.wayland_display = None
            for name in (WAYLAND_SOCKET, f"{WAYLAND_SOCKET}.lock"):
                (self.runtime / name).unlink(missing_ok=True)

    # -- supervision ----------------------------------------------------------------------

    def supervise(self) -> None:
        """Watch the children: at each SIGCHLD."""
        # SIGCHLD (through asyncio's wakeup descriptor) is the only watch on the children: no
        # polling, so an idle desktop costs no wake-up. A child that ended before the handler
        # was in place is caught by the check right after.
        asyncio.get_running_loop().add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        asyncio.get_running_loop().call_soon(self._check_children)

    def _on_sigchld(self) -> None:
        asyncio.get_running_loop().call_soon(self._check_children)

    def _check_children(self) -> None:
        if self._stopping.is_set():
            return
        if self.xvfb is not None and not self.xvfb.alive():
            self._on_end(f"Xvfb exited with status {self.xvfb.proc.returncode}")
        elif self.leader is not None and self.leader.poll() is not None:
            self._on_end(f"session leader exited with status {self.leader.returncode}")
        else:
            # Each checked on its own: one SIGCHLD may stand for several children.
            self.sound.exited()  # logged; the desktop goes on without sound
            if self.wayland is not None and self.wayland.poll() is not None:
                log.warning("wayland compositor exited status=%s session=%s", self.wayland.returncode,
                            self.cfg.session)
                self.wayland = None
                self._arm_wayland()  # the next client starts a new one
        self.execed = [p for p in self.execed if p.poll() is None]

    # -- stopping -------------------------------------------------------------------------

    async def stop(self) -> None:
        """End every process of the session and remove its runtime files."""
        self._close_wayland()
        children = [p for p in (self.wayland, self.leader, *self.execed, self.sound.proc, self.dbus) if p is not None]
        await asyncio.to_thread(processes.end_all, children, self.token)
        if self.xvfb is not None:
            await asyncio.to_thread(self.xvfb.stop)
        if not self.attached:
            # Its contents: the directory itself is removed by whoever made it (the sandbox's
            # clean-up), as inside the desktop it is a mount point in a root-owned directory.
            for entry in list(self.runtime.iterdir()) if self.runtime.is_dir() else []:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.runtime.rmdir()
        else:
            for name in ("host.sock", "host.json"):
                (self.runtime / name).unlink(missing_ok=True)
