"""Run the whole product on one machine: Redis, Daphne, Celery worker and beat, the RDP server.

This is what `make run` ends with. Each part is supervised (webconsole/core/supervisor.py): one
that exits is restarted with back-off and logged; desktops are not children of serve and keep
running. Ctrl-C or SIGTERM stops the node's desktops (unless --keep-desktops) and then every
process this command started, in reverse order. On start, reconcile re-adopts desktops that
are still running (left by --keep-desktops) and cleans up after those that are not.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from importlib.util import find_spec
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webconsole.config import env
from webconsole.core.daphne_server import daphne_listen
from webconsole.core.supervisor import Supervisor


class Command(BaseCommand):
    help = "Start Redis (embedded default), Daphne, Celery worker + beat and the RDP server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-rdp", action="store_true", help="do not start the RDP server")
        parser.add_argument("--keep-desktops", action="store_true",
                            help="leave running desktops alone on exit; the next serve re-adopts them")

    def handle(self, *args, **opts) -> None:
        # Everything the service writes (database, logs, Redis data) is its own alone.
        os.umask(0o077)
        self._check_files()
        self.log_dir = env.VAR_DIR / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        run_dir = env.VAR_DIR / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(log_dir=self.log_dir, cwd=Path(settings.BASE_DIR), say=self._say,
                                     state_file=run_dir / "serve.json", on_exit=self._metrics_dir(run_dir))
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            self._start_all(opts)
            self._wait_listening(opts, stop)
            if not stop["now"]:
                self._banner(opts)
            while not stop["now"]:
                self.supervisor.poll()
                time.sleep(0.2)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if opts["keep_desktops"]:
                self.stdout.write("leaving desktops running (--keep-desktops): the next serve re-adopts them")
            else:
                self._stop_desktops()
            self.supervisor.stop_all()
            self.stdout.write("WRD stopped.")

    @staticmethod
    def _metrics_dir(run_dir: Path):
        """One fresh ``PROMETHEUS_MULTIPROC_DIR`` for every part (they inherit the variable), so
        ``/metrics`` sums what each process counts (webconsole/core/metrics.py); the function
        that drops a dead part's gauges (its counters stay in the sums)."""
        from prometheus_client import multiprocess

        path = run_dir / "metrics"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        return lambda pid: multiprocess.mark_process_dead(pid, str(path))

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

    def _say(self, line: str) -> None:
        self.stdout.write(f"serve: {line}")
        self.stdout.flush()

    def _start_all(self, opts) -> None:
        py = sys.executable
        redis = settings.WRD_REDIS
        if redis["socket"] and redis["socket"].startswith(str(env.VAR_DIR)):
            self._start_redis(Path(redis["socket"]))
        self._wait_redis()
        self._readopt_desktops()
        self.supervisor.add("daphne", [py, "-m", "webconsole.core.daphne_server", *daphne_listen(),
                                       "webconsole.asgi:application"])
        queues = f"wrd,wrd.node.{settings.WRD_NODE}"
        self.supervisor.add("celery-worker", [py, "-m", "celery", "-A", "webconsole", "worker", "-Q", queues,
                                              "-n", f"wrd@{settings.WRD_NODE}", "--concurrency", "4",
                                              "--loglevel", "INFO"])
        self.supervisor.add("celery-beat", [py, "-m", "celery", "-A", "webconsole", "beat", "--loglevel", "INFO"])
        if not opts["no_rdp"]:
            if find_spec("rdpfront.server"):
                self.supervisor.add("rdpserver", [py, "manage.py", "rdpserver"])
            else:
                self.stderr.write("RDP server not available in this build (rdpfront.server missing).")

    def _start_redis(self, sock: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise CommandError("redis-server is not installed (run `make run`, which installs it)")
        sock.parent.mkdir(parents=True, exist_ok=True)
        data = env.VAR_DIR / "redis"
        data.mkdir(parents=True, exist_ok=True)
        # AOF (fsync every second): queued jobs survive a Redis restart, kill -9 included.
        self.supervisor.add("redis", [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                                      "--dir", str(data), "--save", "", "--appendonly", "yes",
                                      "--appendfsync", "everysec"],
                            before_start=lambda: sock.unlink(missing_ok=True))

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

    def _readopt_desktops(self) -> None:
        """Desktops left running by a serve with --keep-desktops are this node's again; rows
        whose host is gone, or stranded by a lost job, are settled (reconcile)."""
        from webconsole.desktops import selectors, services

        try:
            result = services.desktop_reconcile()
        except Exception as exc:  # a start must not fail on it; beat runs reconcile again
            self.stderr.write(f"reconcile at start failed: {exc}")
            return
        running = selectors.desktop_live_on_node(node=settings.WRD_NODE).count()
        self._say(f"reconcile at start: {running} live desktop(s) re-adopted, {result}")

    def _wait_listening(self, opts, stop: dict, timeout: float = 90) -> None:
        """Print the addresses only once they answer (Django's start-up takes seconds)."""
        targets = [(env.HTTP_HOST, env.HTTP_PORT)]
        if not opts["no_rdp"] and find_spec("rdpfront.server"):
            targets.append((env.RDP_HOST, env.RDP_PORT))
        deadline = time.monotonic() + timeout
        for host, port in targets:
            host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
            while not stop["now"]:
                self.supervisor.poll()  # one that dies while starting is restarted
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

    def _banner(self, opts) -> None:
        host = env.HTTP_HOST if env.HTTP_HOST not in ("0.0.0.0", "::") else "127.0.0.1"
        rdp_host = env.RDP_HOST if env.RDP_HOST not in ("0.0.0.0", "::") else "127.0.0.1"
        lines = [
            "",
            "WRD is running.",
            f"  Web console:  {env.HTTP_SCHEME}://{host}:{env.HTTP_PORT}/",
            f"  REST API:     {env.HTTP_SCHEME}://{host}:{env.HTTP_PORT}/api/v1/   (docs: /api/docs/)",
        ]
        if not opts["no_rdp"] and find_spec("rdpfront.server"):
            lines.append(f"  RDP:          {rdp_host}:{env.RDP_PORT}   (mstsc / xfreerdp /v:{rdp_host}:{env.RDP_PORT})")
        from webconsole.core.isolation import isolation_summary

        lines += [f"  Logs:         {self.log_dir}/", ""]
        lines += [f"  {line}" for line in isolation_summary().lines()]
        lines += ["Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()  # at once, also when stdout is a file or a pipe (a supervisor, a log)
