"""Operator commands for desktop sessions, usable without a browser.

    manage.py desktop start --user NAME [--size WxH] [--name N] [--profile P] [--wait]
    manage.py desktop list [--all]
    manage.py desktop screenshot ID FILE.png
    manage.py desktop stop ID [--wait]
    manage.py desktop resize ID WxH
    manage.py desktop input ID --text "..."
    manage.py desktop exec ID -- COMMAND [ARGS...]
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compositor import messages
from compositor.client import BlockingHostClient, HostError
from webconsole.desktops import selectors, services
from webconsole.desktops.models import DesktopSession, DesktopState


def parse_size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise CommandError(f"size must look like 1280x800, got {value!r}") from None
    return width, height


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}MiB"


class Command(BaseCommand):
    help = "Start, list, stop and drive desktop sessions."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        start = sub.add_parser("start", help="start a desktop for a user (prints its id)")
        start.add_argument("--user", required=True)
        start.add_argument("--size", type=parse_size)
        start.add_argument("--name", default="")
        start.add_argument("--profile", help="a desktop profile (default: the user's policy's)")
        start.add_argument("--wait", action="store_true", help="wait until it runs (or fails)")
        start.add_argument("--timeout", type=float, default=60)
        lst = sub.add_parser("list", help="list desktops")
        lst.add_argument("--all", action="store_true", help="include stopped and failed ones")
        shot = sub.add_parser("screenshot", help="save a PNG of the desktop's screen")
        shot.add_argument("id", type=int)
        shot.add_argument("file")
        stop = sub.add_parser("stop", help="stop a desktop")
        stop.add_argument("id", type=int)
        stop.add_argument("--wait", action="store_true")
        stop.add_argument("--timeout", type=float, default=60)
        resize = sub.add_parser("resize", help="change a desktop's screen size")
        resize.add_argument("id", type=int)
        resize.add_argument("size", type=parse_size)
        inp = sub.add_parser("input", help="type text into a desktop")
        inp.add_argument("id", type=int)
        inp.add_argument("--text", required=True)
        ex = sub.add_parser("exec", help="run a program inside a desktop")
        ex.add_argument("id", type=int)
        ex.add_argument("argv", nargs="+", metavar="COMMAND")

    def handle(self, *args, **opts) -> None:
        try:
            getattr(self, f"do_{opts['action']}")(opts)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except HostError as exc:
            raise CommandError(f"session host: {exc}") from None

    # -- actions --------------------------------------------------------------------------

    def do_start(self, opts) -> None:
        user = get_user_model().objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"no user named {opts['user']!r}")
        width, height = opts["size"] or (None, None)
        session = services.desktop_create(user=user, width=width, height=height, name=opts["name"],
                                          profile=opts["profile"])
        self.stdout.write(str(session.pk))
        if opts["wait"]:
            session = self._wait(session, (DesktopState.RUNNING, DesktopState.FAILED, DesktopState.STOPPED),
                                 opts["timeout"], "start")
            if session.state != DesktopState.RUNNING:
                raise CommandError(f"desktop {session.pk} {session.state}: {session.failure_reason}")

    def do_list(self, opts) -> None:
        qs = DesktopSession.objects.select_related("owner").order_by("pk")
        if not opts["all"]:
            qs = qs.exclude(state__in=(DesktopState.STOPPED, DesktopState.FAILED))
        self.stdout.write(f"{'ID':>5}  {'USER':<16} {'STATE':<10} {'SIZE':<10} {'DISPLAY':<8} "
                          f"{'RUNS AS':<20} {'CPU':>6} {'MEMORY':>17}  NAME")
        for s in qs:
            usage = selectors.desktop_usage(session=s)
            cpu = f"{usage.cpu_percent:.1f}%" if usage and usage.cpu_percent is not None else "-"
            memory = "-"
            if usage:
                memory = _mib(usage.memory_bytes) + (f"/{_mib(usage.memory_limit)}" if usage.memory_limit else "")
            runs_as = f"{s.unix_user}({s.uid})" if s.unix_user else "-"
            self.stdout.write(f"{s.pk:>5}  {s.owner.username:<16} {s.state:<10} "
                              f"{f'{s.width}x{s.height}':<10} {s.display or '-':<8} {runs_as:<20} {cpu:>6} "
                              f"{memory:>17}  {s.name}")
            if s.notice and s.is_active:
                self.stdout.write(f"       ! {s.notice}")

    def do_screenshot(self, opts) -> None:
        with self._client(opts["id"]) as client:
            png = client.call(messages.Screenshot()).png
        with open(opts["file"], "wb") as f:
            f.write(png)
        self.stdout.write(f"wrote {len(png)} bytes to {opts['file']}")

    def do_stop(self, opts) -> None:
        session = self._session(opts["id"])
        session = services.desktop_stop_request(session=session, user=None)
        if opts["wait"]:
            self._wait(session, (DesktopState.STOPPED, DesktopState.FAILED), opts["timeout"], "stop")
        self.stdout.write(f"desktop {session.pk} stopping")

    def do_resize(self, opts) -> None:
        width, height = opts["size"]
        session = services.desktop_resize(session=self._session(opts["id"]), user=None, width=width, height=height)
        self.stdout.write(f"desktop {session.pk} is {session.width}x{session.height}")

    def do_input(self, opts) -> None:
        text = opts["text"].encode().decode("unicode_escape") if "\\" in opts["text"] else opts["text"]
        with self._client(opts["id"]) as client:
            client.call(messages.Input(events=(messages.TextEvent(text),)))

    def do_exec(self, opts) -> None:
        argv = opts["argv"]
        if argv and argv[0] == "--":
            argv = argv[1:]
        if not argv:
            raise CommandError("exec needs a command")
        with self._client(opts["id"]) as client:
            pid = client.call(messages.Exec(argv=tuple(argv))).pid
        self.stdout.write(str(pid))

    # -- helpers --------------------------------------------------------------------------

    def _session(self, desktop_id: int) -> DesktopSession:
        session = DesktopSession.objects.filter(pk=desktop_id).first()
        if session is None:
            raise CommandError(f"no desktop {desktop_id}")
        return session

    def _client(self, desktop_id: int) -> BlockingHostClient:
        session = self._session(desktop_id)
        if session.state != DesktopState.RUNNING:
            raise CommandError(f"desktop {desktop_id} is {session.state}, not running")
        return services.host_client_for(session)

    def _wait(self, session: DesktopSession, states, timeout: float, what: str) -> DesktopSession:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            session.refresh_from_db()
            if session.state in states:
                return session
            time.sleep(0.2)
        hint = " (is a Celery worker running? `make run` starts one)" if session.state == "requested" else ""
        raise CommandError(f"desktop {session.pk} did not {what} within {timeout:.0f} s: "
                           f"still {session.state}{hint}")
