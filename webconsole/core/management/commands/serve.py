"""Run the whole product on one machine: Redis, Daphne, Celery worker and beat, the RDP server.

This is what `make run` ends with. Ctrl-C stops the node's desktops and then every process
this command started, in reverse order.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webconsole.config import env


class Command(BaseCommand):
    help = "Start Redis (embedded default), Daphne, Celery worker + beat and the RDP server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-rdp", action="store_true", help="do not start the RDP server")
        parser.add_argument("--keep-desktops", action="store_true",
                            help="leave running desktops alone on exit (they are detached)")

    def handle(self, *args, **opts) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        # Everything the service writes (database, logs, Redis data) is its own alone.
        os.umask(0o077)
        self._check_files()
        self.log_dir = env.VAR_DIR / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            self._start_all(opts)
            self._wait_listening(opts)
            self._banner(opts)
            while not stop["now"]:
                for name, proc in self.children:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with status {proc.returncode}; "
                                          f"see {self.log_dir / (name + '.log')}. Stopping.")
                        stop["now"] = True
                        break
                time.sleep(0.5)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if not opts["keep_desktops"]:
                self._stop_desktops()
            self._stop_all()

    def _check_files(self) -> None:
        """var/ private to the service; the runtime root ours and closed to writers; homes
        somewhere desktops can see. Refuse to start otherwise, saying why."""
        from compositor import sandbox
        from webconsole.accounts.unix import AccountError, prepare_home_root
        from webconsole.core.isolation import UnsafeSetup, secure_var_dir

        try:
            for path in secure_var_dir(env.VAR_DIR):
                self.stdout.write(f"made private: {path}")
            sandbox.prepare_runtime_root(Path(settings.WRD_RUNTIME_ROOT), settings.WRD_SERVICE_GROUP)
            if sandbox.can_switch_users():
                prepare_home_root(Path(settings.WRD_HOME_ROOT))
        except (UnsafeSetup, sandbox.SandboxError, AccountError, OSError) as exc:
            raise CommandError(str(exc)) from None

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=settings.BASE_DIR, start_new_session=True)
        log.close()
        self.children.append((name, proc))
        return proc

    def _start_all(self, opts) -> None:
        py = sys.executable
        redis = settings.WRD_REDIS
        if redis["socket"] and redis["socket"].startswith(str(env.VAR_DIR)):
            self._start_redis(Path(redis["socket"]))
        self._wait_redis()
        self._spawn("daphne", [py, "-m", "webconsole.core.daphne_server", "-b", env.HTTP_HOST,
                               "-p", str(env.HTTP_PORT), "webconsole.asgi:application"])
        queues = f"wrd,wrd.node.{settings.WRD_NODE}"
        self._spawn("celery-worker", [py, "-m", "celery", "-A", "webconsole", "worker", "-Q", queues,
                                      "-n", f"wrd@{settings.WRD_NODE}", "--concurrency", "4",
                                      "--loglevel", "INFO"])
        self._spawn("celery-beat", [py, "-m", "celery", "-A", "webconsole", "beat", "--loglevel", "INFO"])
        if not opts["no_rdp"]:
            if find_spec("rdpfront.server"):
                self._spawn("rdpserver", [py, "manage.py", "rdpserver"])
            else:
                self.stderr.write("RDP server not available in this build (rdpfront.server missing).")

    def _start_redis(self, sock: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise CommandError("redis-server is not installed (run `make run`, which installs it)")
        sock.parent.mkdir(parents=True, exist_ok=True)
        data = env.VAR_DIR / "redis"
        data.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)
        self._spawn("redis", [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                              "--dir", str(data), "--save", "", "--appendonly", "no"])

    def _wait_redis(self, timeout: float = 15) -> None:
        import redis as redis_py

        client = redis_py.Redis.from_url(settings.WRD_REDIS["url"])
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return
            except redis_py.exceptions.ConnectionError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"Redis at {settings.WRD_REDIS['url']} is not reachable: {exc}") from None
                time.sleep(0.1)

    def _wait_listening(self, opts, timeout: float = 90) -> None:
        """Print the addresses only once they answer (Django's start-up takes seconds)."""
        targets = [(env.HTTP_HOST, env.HTTP_PORT)]
        if not opts["no_rdp"] and find_spec("rdpfront.server"):
            targets.append((env.RDP_HOST, env.RDP_PORT))
        deadline = time.monotonic() + timeout
        for host, port in targets:
            host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
            while True:
                if any(proc.poll() is not None for _, proc in self.children):
                    return  # the main loop reports which one died
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stderr.write(f"nothing is listening on {host}:{port} after {timeout:.0f} s")
                        break
                    time.sleep(0.2)

    def _stop_desktops(self) -> None:
        from webconsole.desktops import selectors, services

        for session in selectors.desktop_live_on_node(node=settings.WRD_NODE):
            self.stdout.write(f"stopping desktop {session.pk}")
            try:
                services.desktop_stop(session=session)
            except Exception as exc:  # keep stopping the rest
                self.stderr.write(f"desktop {session.pk}: {exc}")

    def _stop_all(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for name, proc in reversed(self.children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop; killing it")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.stdout.write("WRD stopped.")

    def _banner(self, opts) -> None:
        host = env.HTTP_HOST if env.HTTP_HOST not in ("0.0.0.0", "::") else "127.0.0.1"
        rdp_host = env.RDP_HOST if env.RDP_HOST not in ("0.0.0.0", "::") else "127.0.0.1"
        lines = [
            "",
            "WRD is running.",
            f"  Web console:  http://{host}:{env.HTTP_PORT}/",
            f"  REST API:     http://{host}:{env.HTTP_PORT}/api/desktops/",
        ]
        if not opts["no_rdp"] and find_spec("rdpfront.server"):
            lines.append(f"  RDP:          {rdp_host}:{env.RDP_PORT}   (mstsc / xfreerdp /v:{rdp_host}:{env.RDP_PORT})")
        from webconsole.core.isolation import isolation_summary

        lines += [f"  Logs:         {self.log_dir}/", ""]
        lines += [f"  {line}" for line in isolation_summary().lines()]
        lines += ["Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()  # at once, also when stdout is a file or a pipe (a supervisor, a log)
