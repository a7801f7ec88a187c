"""How many idle desktops fit: start N 1080p desktops through the product and print memory per
desktop by process, total memory, start time per desktop and idle CPU.

    sudo .venv/bin/python bench/bench_density.py [--count 100] [--idle-seconds 30] [--no-wayland]

Each desktop is started as the worker starts one (``services.desktop_start``: its own Unix
account, cgroup, private /tmp), for N console users of a throw-away WRD instance (its own
database, runtime root, uid range and homes, all removed at the end). Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_session import memory_kib  # noqa: E402


def configure(workdir: Path, wayland: bool) -> None:
    """A private WRD instance: nothing here touches a `make run` on the same machine."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webconsole.config.django.base",
        WRD_VAR_DIR=str(workdir / "var"), DATABASE_URL=f"sqlite:///{workdir / 'var' / 'db.sqlite3'}",
        WRD_RUNTIME_ROOT=f"/dev/shm/wrd-density-{os.getpid()}", WRD_NODE="density",
        WRD_UID_RANGE="270000-279999", WRD_ACCOUNT_PREFIX="wrdd-",
        WRD_HOME_ROOT=f"/var/tmp/wrd-density-homes-{os.getpid()}", WRD_SECRET_KEY="density-bench",
        WRD_MAX_SESSIONS_PER_USER="2", WRD_SESSION_WAYLAND="1" if wayland else "0",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def kind_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    text = b" ".join(argv)
    if b"compositor.sandbox" in text or b"compositor.host" in text:
        return "session host"
    if b"compositor.wayland" in text:
        return "wayland compositor"
    name = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else "?"
    return {"Xvfb": "Xvfb", "dbus-daemon": "dbus-daemon", "openbox": "openbox", "xterm": "xterm"}.get(name, name)


def mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--settle", type=float, default=10, help="seconds to wait after the last start")
    parser.add_argument("--no-wayland", action="store_true", help="desktops without the Wayland compositor")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: desktops run as accounts of their own")
    workdir = Path(tempfile.mkdtemp(prefix="wrd-density-"))
    configure(workdir, wayland=not args.no_wayland)

    from django.conf import settings
    from django.contrib.auth.models import User

    from compositor import cgroups, sandbox
    from webconsole.accounts.services import user_delete
    from webconsole.desktops import services

    available_before = mem_available_kib()
    sessions, starts, failed = [], [], []
    try:
        print(f"starting {args.count} idle 1920x1080 desktops "
              f"({'with' if not args.no_wayland else 'without'} the Wayland compositor) …", flush=True)
        for i in range(args.count):
            user = User.objects.create_user(f"density{i:03d}")
            session = services.desktop_create(user=user, width=1920, height=1080, enqueue=False)
            t0 = time.perf_counter()
            session = services.desktop_start(session=session)
            starts.append(time.perf_counter() - t0)
            (sessions if session.state == "running" else failed).append(session)
            if session.state != "running":
                print(f"  desktop {session.pk} {session.state}: {session.failure_reason}", flush=True)
        time.sleep(args.settle)

        by_kind: dict[str, list[int]] = defaultdict(list)  # kind -> PSS KiB of each desktop
        per_desktop = []
        groups = []
        for session in sessions:
            record = sandbox.read_record(Path(session.runtime_dir))
            group = cgroups.for_session(record["cgroup"]) if record and record.get("cgroup") else None
            pids = group.procs() if group else []
            groups.append(group)
            totals: dict[str, int] = defaultdict(int)
            for pid in pids:
                totals[kind_of(pid)] += memory_kib(pid)[0]
            for kind, kib in totals.items():
                by_kind[kind].append(kib)
            per_desktop.append(sum(totals.values()))
        used_kib = available_before - mem_available_kib()

        n = len(sessions)
        print(f"\n== {n} desktops running ({len(failed)} failed) ==")
        print(f"  start (desktop_start, launch -> host ready): median {statistics.median(starts) * 1000:6.0f} ms"
              f"   p95 {sorted(starts)[int(0.95 * (len(starts) - 1))] * 1000:6.0f} ms"
              f"   max {max(starts) * 1000:6.0f} ms")
        print(f"  first 10 median {statistics.median(starts[:10]) * 1000:6.0f} ms, "
              f"last 10 median {statistics.median(starts[-10:]) * 1000:6.0f} ms")
        print(f"\n== memory per idle desktop (PSS, MiB; averaged over {n}) ==")
        for kind, values in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
            print(f"  {kind:<20} {sum(values) / n / 1024:6.1f}")
        print(f"  {'total':<20} {statistics.mean(per_desktop) / 1024:6.1f}   "
              f"(min {min(per_desktop) / 1024:.1f}, max {max(per_desktop) / 1024:.1f})")
        print(f"  machine: MemAvailable fell by {used_kib / 1024:.0f} MiB = {used_kib / 1024 / max(n, 1):.1f} MiB "
              "per desktop (page cache and kernel included)")

        print(f"\n== idle CPU over {args.idle_seconds:.0f} s, no viewers ==")
        before = [g.usage().cpu_usage_ns if g else 0 for g in groups]
        time.sleep(args.idle_seconds)
        after = [g.usage().cpu_usage_ns if g else 0 for g in groups]
        used = sum(a - b for a, b in zip(after, before)) / 1e9
        print(f"  all desktops together: {used:.2f} s CPU = {100 * used / args.idle_seconds:.2f} % of one core "
              f"({100 * used / args.idle_seconds / max(n, 1):.3f} % per desktop)")

        # The console's upkeep of these desktops: Celery beat runs reconcile every
        # WRD_RECONCILE_SECONDS (cgroup usage of each, its host's status once in
        # WRD_HOST_STATUS_SECONDS, orphans); run here in this process, on its own database.
        period = settings.WRD_RECONCILE_SECONDS
        print(f"\n== the console's reconcile over {args.idle_seconds:.0f} s, every {period} s as beat runs it ==")
        before = [g.usage().cpu_usage_ns if g else 0 for g in groups]
        rounds, spent, started = 0, 0.0, time.monotonic()
        while time.monotonic() - started < args.idle_seconds:
            t0 = time.process_time()
            services.desktop_reconcile(node=settings.WRD_NODE)
            spent += time.process_time() - t0
            rounds += 1
            time.sleep(max(0.0, started + rounds * period - time.monotonic()))
        elapsed = time.monotonic() - started
        after = [g.usage().cpu_usage_ns if g else 0 for g in groups]
        hosts = sum(a - b for a, b in zip(after, before)) / 1e9
        print(f"  reconcile: {rounds} rounds, {spent * 1000 / max(rounds, 1):.1f} ms CPU per round "
              f"= {100 * spent / elapsed:.2f} % of one core ({100 * spent / elapsed / max(n, 1):.4f} % per desktop)")
        print(f"  the desktops meanwhile (answering status): {hosts:.2f} s CPU = "
              f"{100 * hosts / elapsed:.2f} % of one core")
    finally:
        print("\nstopping …", flush=True)
        for session in [*sessions, *failed]:
            try:
                services.desktop_stop(session=session)
            except Exception as exc:  # keep stopping the rest
                print(f"  desktop {session.pk}: {exc}")
        for user in User.objects.filter(username__startswith="density"):
            try:
                user_delete(user=user, with_home=True)
            except Exception as exc:
                print(f"  user {user.username}: {exc}")
        shutil.rmtree(os.environ["WRD_RUNTIME_ROOT"], ignore_errors=True)
        shutil.rmtree(os.environ["WRD_HOME_ROOT"], ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
