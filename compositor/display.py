"""X display allocation and the Xvfb process of one session.

Display numbers are claimed the way the X server itself does it: an exclusive
``/tmp/.X<n>-lock`` file holding the owner's pid. A number is free only when
neither the lock file nor the ``/tmp/.X11-unix/X<n>`` socket exists (a stale
lock whose pid is gone is left alone: somebody else's mess is not ours to clean).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

X11_UNIX_DIR = Path("/tmp/.X11-unix")
LOCK_DIR = Path("/tmp")
XWD_HEADER_SIZE = 3232  # 100-byte XWD header + name + 256 x 12-byte colour map (see docs/)


class DisplayError(RuntimeError):
    """The X server could not be started or reached."""


def display_in_use(number: int) -> bool:
    return (LOCK_DIR / f".X{number}-lock").exists() or (X11_UNIX_DIR / f"X{number}").exists()


def claim_display(first: int = 20, last: int = 999) -> int:
    """Atomically claim a free display number; the caller's Xvfb takes the lock over.

    We create the lock file ourselves with O_EXCL (Xvfb would refuse to start if
    it existed), then remove it just before Xvfb starts. The window between the
    two is milliseconds and Xvfb fails cleanly if somebody slips in, which the
    caller treats as "try the next number".
    """
    for number in range(first, last + 1):
        if display_in_use(number):
            continue
        try:
            fd = os.open(LOCK_DIR / f".X{number}-lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444)
        except FileExistsError:
            continue
        os.write(fd, f"{os.getpid():>10}\n".encode())
        os.close(fd)
        return number
    raise DisplayError(f"no free X display number in {first}..{last}")


def release_claim(number: int) -> None:
    try:
        (LOCK_DIR / f".X{number}-lock").unlink()
    except FileNotFoundError:
        pass


def write_xauthority(path: Path, number: int) -> str:
    """Write an MIT-MAGIC-COOKIE-1 authority file for ``:number``; return the cookie hex."""
    cookie = secrets.token_hex(16)
    path.touch(mode=0o600)
    xauth = shutil.which("xauth")
    if xauth is None:
        raise DisplayError("xauth is not installed (Debian package xauth)")
    subprocess.run(
        [xauth, "-q", "-f", str(path), "add", f":{number}", "MIT-MAGIC-COOKIE-1", cookie],
        check=True,
        capture_output=True,
        timeout=10,
    )
    # Also add the hostname/unix form so clients that look it up that way find it.
    subprocess.run(
        [xauth, "-q", "-f", str(path), "add", f"{socket.gethostname()}/unix:{number}",
         "MIT-MAGIC-COOKIE-1", cookie],
        check=True,
        capture_output=True,
        timeout=10,
    )
    return cookie


# [host]:number[.screen], as X clients take it from $DISPLAY; "unix" or no host is the local socket.
DISPLAY_NAME = re.compile(r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252})?:(?P<number>\d{1,5})(?:\.(?P<screen>\d{1,2}))?")


def canonical_display(name: str) -> str:
    """``name`` in one spelling per display (``unix:5.0`` and ``:5`` are both ``:5``), or
    ``DisplayError`` if it is no X display name."""
    match = DISPLAY_NAME.fullmatch(name.strip())
    if match is None:
        raise DisplayError(f"{name!r} is not an X display name (like :5, :5.0 or host:5)")
    host = "" if match["host"] in (None, "unix") else match["host"]
    screen = f".{int(match['screen'])}" if match["screen"] and int(match["screen"]) else ""
    return f"{host}:{int(match['number'])}{screen}"


def probe_display(name: str, cookie: bytes, timeout: float = 10.0) -> tuple[int, int]:
    """Connect to display ``name`` holding nothing but ``cookie`` (xauth entries), as its session
    host will, and return its screen size; ``DisplayError`` with the reason if it cannot."""
    fd, path = tempfile.mkstemp(prefix="wrd-probe-", suffix=".xauth")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cookie)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "XAUTHORITY": path}
        try:
            result = subprocess.run(["xdpyinfo", "-display", name], env=env, capture_output=True, text=True,
                                    timeout=timeout)
        except FileNotFoundError:
            raise DisplayError("xdpyinfo is not installed (Debian package x11-utils)") from None
        except subprocess.TimeoutExpired:
            raise DisplayError(f"display {name} did not answer within {timeout:.0f} s") from None
    finally:
        os.unlink(path)
    if result.returncode != 0:
        reason = " ".join(result.stderr.split()) or f"xdpyinfo exited with status {result.returncode}"
        raise DisplayError(f"cannot open display {name} with its cookie: {reason}")
    size = re.search(r"dimensions:\s+(\d+)x(\d+) pixels", result.stdout)
    if size is None:
        raise DisplayError(f"display {name} reported no screen size")
    return int(size[1]), int(size[2])


def wait_for_display(number: int, proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Wait until the X server's Unix socket accepts connections."""
    path = str(X11_UNIX_DIR / f"X{number}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DisplayError(f"Xvfb :{number} exited with status {proc.returncode} during start-up")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect(path)
                return
        except OSError:
            time.sleep(0.02)
    raise DisplayError(f"Xvfb :{number} did not accept connections within {timeout:.0f} s")


def wait_for_framebuffer(path: Path, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DisplayError(f"Xvfb exited with status {proc.returncode} during start-up")
        try:
            with open(path, "rb") as f:
                if f.read(8)[4:8] == b"\x00\x00\x00\x07":  # XWD file_version 7
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    raise DisplayError(f"Xvfb did not write its framebuffer {path} within {timeout:.0f} s")


@dataclass
class Xvfb:
    """A running Xvfb with its framebuffer file; ``stop()`` ends it and removes its files."""

    number: int
    width: int
    height: int
    xauthority: Path
    fbdir: Path
    proc: subprocess.Popen
    log_path: Path | None = None

    @property
    def name(self) -> str:
        return f":{self.number}"

    @property
    def framebuffer_path(self) -> Path:
        return self.fbdir / "Xvfb_screen0"

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.name, "XAUTHORITY": str(self.xauthority)}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        # Xvfb removes its own lock and socket on a clean exit, not after SIGKILL.
        release_claim(self.number)
        try:
            (X11_UNIX_DIR / f"X{self.number}").unlink()
        except FileNotFoundError:
            pass
        try:
            self.framebuffer_path.unlink()
        except FileNotFoundError:
            pass


def start_xvfb(
    *,
    width: int,
    height: int,
    workdir: Path,
    fbdir: Path | None = None,
    depth: int = 24,
    first_display: int = 20,
    last_display: int | None = None,
    attempts: int = 5,
    extra_args: tuple[str, ...] = (),
    binary: str = "Xvfb",
    glx: bool = False,
) -> Xvfb:
    """Start ``Xvfb :N -noreset -nolisten tcp -auth … -fbdir …`` on a free display.

    ``workdir`` receives the authority file (and the log); ``fbdir`` the XWD
    framebuffer file (defaults to ``workdir``; put it on tmpfs). With ``last_display`` only
    numbers up to it are tried (the sandbox hands the host exactly one). Without ``glx`` the
    server has no GLX: a headless desktop renders in software either way, and Mesa's llvmpipe
    behind GLX is most of an idle Xvfb's memory (PSS 70 MiB with it, 17 without).
    """
    path = shutil.which(binary)
    if path is None:
        raise DisplayError(f"Xvfb binary {binary!r} not found (Debian package xvfb)")
    fbdir = fbdir or workdir
    fbdir.mkdir(parents=True, exist_ok=True)
    xauthority = workdir / "Xauthority"
    last_error: Exception | None = None
    first = first_display
    last = 999 if last_display is None else last_display
    for _ in range(attempts):
        if first > last:
            break
        number = claim_display(first, last)
        first = number + 1
        write_xauthority(xauthority, number)
        log_path = workdir / "xvfb.log"
        release_claim(number)
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [path, f":{number}", "-screen", "0", f"{width}x{height}x{depth}",
                 "-noreset", "-nolisten", "tcp", "-nolisten", "local",
                 "-auth", str(xauthority), "-fbdir", str(fbdir),
                 "+extension", "DAMAGE", "+extension", "XFIXES", "+extension", "RANDR",
                 *(() if glx else ("-extension", "GLX")), *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        try:
            wait_for_display(number, proc)
            # Xvfb listens before it has initialised its screen: the framebuffer file is
            # complete (and the server ready for clients) once the XWD header is written.
            wait_for_framebuffer(fbdir / "Xvfb_screen0", proc)
        except DisplayError as exc:
            last_error = exc
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.warning("xvfb start failed display=:%d reason=%s", number, exc)
            continue
        log.info("xvfb started display=:%d pid=%d size=%dx%d", number, proc.pid, width, height)
        return Xvfb(number, width, height, xauthority, fbdir, proc, log_path)
    raise DisplayError(f"could not start Xvfb: {last_error}")
