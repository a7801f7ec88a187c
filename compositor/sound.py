"""The desktop's sound server: one PulseAudio daemon per session, as the desktop's user.

The session host starts it with the desktop and ends it with the desktop (it carries the
session's token, compositor/processes.py). Everything it needs lives in
``<runtime dir>/pulse/``: its native socket, its client configuration (no autospawn: a program
that finds no server must not start a second one outside the session), the cookie path and
its state directory; nothing is written to the user's home. The session's programs find it
through ``PULSE_SERVER`` and the other variables of ``SoundServer.env()``.

What it loads (``SoundServer.script()``):

- the native protocol on the socket; the socket's directory is the user's alone (0700), so
  the file system is the access check (``auth-anonymous``) and no cookie is needed;
- a null sink, ``wrd_out``, 48 kHz stereo, the default sink: programs play into it and the
  session host records its monitor (compositor/audio.py) once for every listener;
- the sources: ``SoundServer.source_lines()`` is the one place where a virtual microphone
  (compositor/microphone.py, fed by the front ends) is added to the script.

Suspend-on-idle is loaded: a null sink nobody plays to (and whose monitor nobody records)
sleeps after ``SUSPEND_AFTER``, instead of waking about twice a second to render silence, so an
idle desktop's sound server costs nothing; a program that starts playing resumes it, and the
host records the monitor only while something plays (compositor/audio.py). Not loaded on
purpose: device discovery (there are no devices) and the restore modules (they write state).
The daemon never exits on idle (``--exit-idle-time=-1``) and a client cannot tell it to exit
(``--disallow-exit``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from compositor import microphone

log = logging.getLogger("compositor.host")  # the session host's log, whichever part writes the line

SINK = "wrd_out"
MONITOR = f"{SINK}.monitor"
SUSPEND_AFTER = 1  # seconds without a stream before a sink or source is suspended
RATE = 48000
CHANNELS = 2
READY_TIMEOUT = 10.0


class SoundServer:
    """One session's PulseAudio. ``spawn(argv, env)`` starts a process of the session (tagged
    with its token, in the user's sandbox); ``base_env`` is the session's environment."""

    def __init__(self, runtime: Path, *, session: str, binary: str | None = None) -> None:
        self.dir = runtime / "pulse"
        self.session = session
        self.binary = binary or shutil.which("pulseaudio")
        self.proc: subprocess.Popen | None = None

    # -- where it is ------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self.dir / "native"

    @property
    def server(self) -> str:
        return f"unix:{self.socket_path}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # The variables ``env`` gives the session's programs (its environment's allow-list grows by these).
    ENV = ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH", "PULSE_CLIENTCONFIG", "PULSE_COOKIE", "PULSE_SINK")

    def env(self) -> dict[str, str]:
        """What the session's programs (and the daemon) need to find the server: nothing when
        there is none, so no program tries to start one."""
        if self.proc is None:
            return {}
        return {
            "PULSE_SERVER": self.server,
            "PULSE_RUNTIME_PATH": str(self.dir),
            "PULSE_STATE_PATH": str(self.dir / "state"),
            "PULSE_CLIENTCONFIG": str(self.dir / "client.conf"),
            "PULSE_COOKIE": str(self.dir / "cookie"),
            "PULSE_SINK": SINK,
        }

    def status(self) -> dict[str, object]:
        return {"sound_server": self.server if self.running else None}

    # -- the configuration ----------------------------------------------------------------

    def script(self) -> str:
        """The daemon's start-up script (``-n -F``): protocol, sink, sources, defaults."""
        lines = [
            f"load-module module-native-protocol-unix socket={self.socket_path} auth-anonymous=1 "
            f"auth-cookie-enabled=0 auth-cookie={self.dir / 'cookie'}",
            f"load-module module-null-sink sink_name={SINK} rate={RATE} channels={CHANNELS} "
            "sink_properties=device.description=WRD-desktop-output",
            f"set-default-sink {SINK}",
            *self.source_lines(),
            # Sinks and sources nobody uses sleep: an idle null sink's thread otherwise wakes
            # about twice a second to render silence nobody hears.
            f"load-module module-suspend-on-idle timeout={SUSPEND_AFTER}",
        ]
        return "\n".join(lines) + "\n"

    def source_lines(self) -> list[str]:
        """The sources of the session (script lines). Without a microphone, the default source
        is the output's monitor, as on a machine without an input device. A virtual microphone
        is loaded here (e.g. ``load-module module-pipe-source source_name=wrd_mic file=...``
        followed by ``set-default-source wrd_mic``)."""
        return microphone.source_lines()

    def _write_config(self) -> Path:
        self.dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        (self.dir / "state").mkdir(mode=0o700, exist_ok=True)
        script = self.dir / "default.pa"
        script.write_text(self.script())
        # No shared memory: audio of a desktop is a few hundred kB/s, copied through the socket
        # at no measurable cost, and PulseAudio 16's memfd blocks fail between its clients and
        # the daemon in the desktop's private /dev/shm (pstream.c "non-registered memfd ID").
        (self.dir / "client.conf").write_text("autospawn = no\nenable-shm = no\n")
        (self.dir / "daemon.conf").write_text(f"default-sample-rate = {RATE}\ndefault-sample-channels = {CHANNELS}\n"
                                                  "enable-shm = no\n")
        return script

    # -- start and stop -------------------------------------------------------------------

    def start(self, base_env: dict[str, str], spawn: Callable[[list[str], dict[str, str]], subprocess.Popen]) -> None:
        """Start the daemon (``wait_ready`` tells when it answers). No PulseAudio installed:
        a warning, and a session without sound."""
        if self.binary is None:
            log.warning("pulseaudio not installed: the session has no sound session=%s", self.session)
            return
        script = self._write_config()
        argv = [self.binary, "--daemonize=no", "--system=no", "--use-pid-file=no", "-n", "-F", str(script),
                "--exit-idle-time=-1", "--disallow-exit=yes", "--realtime=no", "--high-priority=no",
                "--log-target=stderr", "--log-level=warn"]
        # The daemon keeps its files out of the home too (it makes its config folder there otherwise).
        self.proc = spawn(argv, {**base_env, **self.env(), "PULSE_CONFIG": str(self.dir / "daemon.conf"),
                                 "XDG_CONFIG_HOME": str(self.dir / "config")})

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        """Wait for the socket to accept connections; False (and the daemon ended) when it did not."""
        if self.proc is None:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                log.warning("pulseaudio exited at start status=%s session=%s", self.proc.returncode, self.session)
                self.proc = None
                return False
            if self.socket_path.exists():
                try:
                    _, writer = await asyncio.open_unix_connection(str(self.socket_path))
                    writer.close()
                    log.info("sound server ready session=%s pid=%d", self.session, self.proc.pid)
                    return True
                except OSError:
                    pass
            await asyncio.sleep(0.05)
        log.warning("pulseaudio did not become ready session=%s", self.session)
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        return False

    def exited(self) -> int | None:
        """The daemon's exit status once it has died (None while it runs or was never started);
        from then on the session goes on without sound."""
        if self.proc is None or self.proc.poll() is None:
            return None
        status = self.proc.returncode
        log.warning("sound server exited status=%s session=%s", status, self.session)
        self.proc = None
        return status
