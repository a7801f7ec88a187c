"""Each desktop runs as its own Unix account, contained: tested from inside real desktops.

Desktops are started the way the worker starts them (``services.desktop_start``), as root,
for console users whose accounts WRD creates. A probe program (tests/desktop_probe.py) runs in
a desktop as its user and reports what it could reach; the tests say what must fail.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

from compositor import cgroups, processes, sandbox
from compositor.client import BlockingHostClient
from compositor.sound import SoundServer
from tests.conftest import OPERATOR_SECRETS, ROOT, session_home, wait_until
from webconsole.desktops import selectors, services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.geteuid() != 0, reason="desktops run as their own accounts only when WRD is root"),
]

PROBE = ROOT / "tests" / "desktop_probe.py"
# What a desktop's programs get (sandbox.USER_ENV and the session's own variables).
DESKTOP_ENV = {"HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG", "DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR",
               "XDG_SESSION_TYPE", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY", "WRD_SESSION_ID",
               processes.TOKEN_ENV, *SoundServer.ENV}


@pytest.fixture
def operator_env(monkeypatch):
    """The service's environment holds secrets (as a real operator's does)."""
    for key, value in OPERATOR_SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "webconsole.config.django.test")


@pytest.fixture
def start(operator_env):
    """Start a desktop for a console user (created on first use) through the service."""
    started: list[DesktopSession] = []

    def start_for(username: str, **size) -> DesktopSession:
        user = User.objects.filter(username=username).first() or User.objects.create_user(username, password="pw")
        session = services.desktop_create(user=user, width=size.get("width", 800), height=size.get("height", 600),
                                          enqueue=False)
        session = services.desktop_start(session=session)
        started.append(session)
        assert session.state == DesktopState.RUNNING, session.failure_reason
        return session

    yield start_for
    for session in started:
        services.desktop_stop(session=session)


def probe(session: DesktopSession, spec: dict | None = None, timeout: float = 30) -> dict:
    """Run the probe in ``session`` as its user; return its report."""
    home = session_home(session)
    token = uuid.uuid4().hex[:8]
    spec_path, out = home / f".probe-{token}.json", home / f".probe-{token}.out"
    spec_path.write_text(json.dumps(spec or {}))
    os.chown(spec_path, session.uid, pwd.getpwnam(session.unix_user).pw_gid)
    with BlockingHostClient(session.socket_path) as host:
        host.request("exec", argv=["python3", str(PROBE), str(out), str(spec_path)])
    wait_until(out.exists, timeout, 0.1, f"the probe in desktop {session.pk}")
    report = json.loads(out.read_text())
    out.unlink()
    spec_path.unlink()
    return report


def session_pids(session: DesktopSession) -> list[int]:
    record = sandbox.read_record(Path(session.runtime_dir))
    return cgroups.for_session(record["cgroup"]).procs()


def program_pid(session: DesktopSession, name: bytes) -> int:
    def find():
        return next((p for p in session_pids(session)
                     if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].endswith(name)), None)
    return wait_until(find, 15, message=f"{name!r} in desktop {session.pk}")


def test_each_desktop_runs_as_its_own_account_with_a_clean_environment(start):
    a, b = start("alice"), start("bob")
    ra, rb = probe(a), probe(b)
    low, high = settings.WRD_UID_RANGE
    assert ra["uid"] != rb["uid"]
    for session, report in ((a, ra), (b, rb)):
        assert report["uid"] == report["euid"] == session.uid != 0
        assert report["uid"] != os.geteuid()  # not the service's account either
        assert low <= report["uid"] <= high
        entry = pwd.getpwuid(report["uid"])
        assert entry.pw_name == session.unix_user
        assert report["env"]["HOME"] == entry.pw_dir == report["cwd"]  # programs start in the home
        home = os.stat(entry.pw_dir)
        assert (home.st_uid, home.st_mode & 0o777) == (report["uid"], 0o700)
        assert report["no_new_privs"] == "1"
        assert int(report["cap_eff"], 16) == 0
        env = report["env"]
        assert set(env) <= DESKTOP_ENV, f"unexpected variables: {set(env) - DESKTOP_ENV}"
        for secret in (*OPERATOR_SECRETS, "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH",
                       "WRD_RUNTIME_ROOT", "WRD_SECRET_KEY"):
            assert secret not in env
        assert env["XDG_RUNTIME_DIR"] == session.runtime_dir
        assert env["DBUS_SESSION_BUS_ADDRESS"].startswith("unix:path=")
    assert ra["env"]["HOME"] != rb["env"]["HOME"]
    # The session host is the user's process too, and began with the desktop's environment.
    for session in (a, b):
        status = Path(f"/proc/{session.host_pid}/status").read_text()
        assert f"Uid:\t{session.uid}\t{session.uid}\t{session.uid}\t{session.uid}" in status
        started_with = dict(item.split("=", 1) for item in
                            Path(f"/proc/{session.host_pid}/environ").read_text().split("\0") if "=" in item)
        assert not set(started_with) & {*OPERATOR_SECRETS, "DATABASE_URL", "REDIS_URL", "WRD_SECRET_KEY"}
    # The session bus answers (programs that expect one find it).
    with BlockingHostClient(a.socket_path) as host:
        out = session_home(a) / "dbus-id"
        host.request("exec", argv=["sh", "-c", f"dbus-send --session --print-reply --dest=org.freedesktop.DBus "
                                               f"/ org.freedesktop.DBus.GetId > {out}"])
    wait_until(lambda: out.exists() and "string" in out.read_text(), 10, message="a D-Bus reply")
    # Live usage comes from each desktop's own cgroup.
    usage = selectors.desktop_usage(session=a)
    assert usage is not None and usage.memory_bytes > 0 and usage.pids >= 3
    assert usage.memory_limit == settings.WRD_SESSION_MEMORY
    # Reconcile stores each running desktop's sample.
    DesktopSession.objects.filter(pk__in=(a.pk, b.pk)).update(memory_bytes=None, usage_sampled_at=None)
    services.desktop_reconcile()
    for session in (a, b):
        session.refresh_from_db()
        assert session.memory_bytes > 0 and session.usage_sampled_at is not None
        assert session.memory_limit == settings.WRD_SESSION_MEMORY


def _private_files() -> dict[str, Path]:
    """The service's secrets, where `serve` keeps them, private as `serve` makes them."""
    from rdpfront.server import ensure_certificate
    from webconsole.core.isolation import secure_var_dir

    var = Path(settings.WRD_LOG_DIR).parent
    secret = var / "secret_key"
    secret.write_text("a-secret-the-desktops-must-not-read")
    _, key = ensure_certificate(var / "tls")
    secure_var_dir(var)
    return {"database": Path(settings.DATABASES["default"]["NAME"]), "secret key": secret, "tls key": key}


def test_a_desktop_reaches_nothing_of_another_desktop_nor_of_the_server(start, tmp_path):
    a, b = start("alice"), start("bob")
    b_rt = Path(b.runtime_dir)
    secrets = _private_files()
    for path in secrets.values():
        assert path.exists(), path
    # A setuid-root program the desktop can read and run: without no_new_privs it would run as root.
    suid_dir = Path(settings.WRD_HOME_ROOT).parent / f"{Path(settings.WRD_HOME_ROOT).name}-suid"
    suid_dir.mkdir(mode=0o755, exist_ok=True)
    suid_id = suid_dir / "id"
    shutil.copy("/usr/bin/id", suid_id)
    os.chmod(suid_id, 0o4755)
    try:
        control = subprocess.run(["setpriv", f"--reuid={a.uid}", f"--regid={a.uid}", "--clear-groups",
                                  str(suid_id), "-u"], capture_output=True, text=True, timeout=10)
        # Outside a desktop the copy does escalate: otherwise the check below would prove nothing.
        assert control.stdout.strip() == "0", control
        xterm_b = program_pid(b, b"xterm")
        secret_tmp = f"/tmp/alice-secret-{uuid.uuid4().hex[:6]}"
        targets = {
            "list": {"B's runtime dir": str(b_rt)},
            "read": {"B's framebuffer": str(b_rt / "fb" / "Xvfb_screen0"), "B's Xauthority": str(b_rt / "Xauthority"),
                     "B's log": str(Path(settings.WRD_LOG_DIR) / f"desktop-{b.pk}.log"),
                     **{name: str(path) for name, path in secrets.items()}},
            "connect": {"B's host socket": str(b.socket_path), "its own host socket": str(a.socket_path)},
            "signal": {"B's host": b.host_pid, "B's xterm": xterm_b},
        }
        report = probe(a, {**targets,
                           "x_no_cookie": {"B's display": int(b.display[1:])},
                           "run": {"setuid id": [str(suid_id), "-u"], "su": ["su", "-c", "id -u", "root"],
                                   "mount": ["mount", "-t", "tmpfs", "tmpfs", "/mnt"]},
                           "write": {"/tmp": secret_tmp}})
        rb = probe(b, {"exists": {"A's /tmp file": secret_tmp}})
        # The same attempts as A's uid outside any desktop's namespace: file modes alone refuse them.
        outside = probe_outside(a, targets, tmp_path)
    finally:
        shutil.rmtree(suid_dir, ignore_errors=True)
    checks = report["checks"]
    for name in [f"{kind} {target}" for kind, named in targets.items() for target in named]:
        # Inside the desktop B's runtime files and every host socket are not even there (its
        # /dev/shm is its own); what is there (the service's files, where they are not under
        # /tmp as in this test run) is closed.
        assert checks[name]["outcome"] in ("PermissionError", "FileNotFoundError"), (name, checks[name])
        assert outside["checks"][name]["outcome"] == "PermissionError", (name, outside["checks"][name])
    for name in ("signal B's host", "signal B's xterm"):  # processes are not hidden, only untouchable
        assert checks[name]["outcome"] == "PermissionError", (name, checks[name])
    assert checks["x B's display"] == {"outcome": "ok", "value": 0}  # refused without B's cookie
    assert checks["run setuid id"]["value"]["out"] == str(a.uid)  # the setuid bit gave nothing
    assert checks["run su"]["value"]["code"] != 0 and checks["run su"]["value"]["out"] != "0"
    assert checks["run mount"]["value"]["code"] != 0
    assert checks["write /tmp"]["outcome"] == "ok"  # A has a /tmp of its own ...
    assert rb["checks"]["exists A's /tmp file"]["value"] is False  # ... that B does not see
    assert not Path(secret_tmp).exists()  # nor does the machine


def probe_outside(session: DesktopSession, spec: dict, workdir: Path) -> dict:
    """The probe as ``session``'s account but in the machine's own namespaces (setpriv, no
    sandbox): what the account's uid alone may do."""
    out_dir = session_home(session)
    token = uuid.uuid4().hex[:8]
    spec_path, out = out_dir / f".outside-{token}.json", out_dir / f".outside-{token}.out"
    spec_path.write_text(json.dumps(spec))
    gid = pwd.getpwnam(session.unix_user).pw_gid
    os.chown(spec_path, session.uid, gid)
    subprocess.run(["setpriv", f"--reuid={session.uid}", f"--regid={gid}", "--clear-groups", "/usr/bin/python3",
                    str(PROBE), str(out), str(spec_path)], check=True, timeout=30, cwd="/")
    report = json.loads(out.read_text())
    out.unlink()
    spec_path.unlink()
    return report


def test_two_desktops_of_one_user_share_the_account_and_home_not_runtime_or_cgroup(start):
    first, second = start("carol"), start("carol")
    r1, r2 = probe(first), probe(second)
    assert r1["uid"] == r2["uid"] and r1["env"]["HOME"] == r2["env"]["HOME"]
    assert first.runtime_dir != second.runtime_dir
    assert r1["env"]["XDG_RUNTIME_DIR"] != r2["env"]["XDG_RUNTIME_DIR"]
    assert r1["cgroup"] != r2["cgroup"]


def test_the_home_survives_stop_and_start(start):
    first = start("dave")
    note = session_home(first) / "notes.txt"
    with BlockingHostClient(first.socket_path) as host:
        host.request("exec", argv=["sh", "-c", f"echo kept > {note}"])
    wait_until(note.exists, 10, message="the file written in the desktop")
    services.desktop_stop(session=first)
    assert not Path(first.runtime_dir).exists()
    second = start("dave")
    assert second.uid == first.uid
    assert probe(second, {"read": {"notes": str(note)}})["checks"]["read notes"]["outcome"] == "ok"
    assert note.read_text() == "kept\n"


def _answers(session: DesktopSession) -> bool:
    """The desktop takes input and gives a screenshot."""
    with BlockingHostClient(session.socket_path, timeout=10) as host:
        host.request("input", events=[{"t": "move", "x": 10, "y": 10}])
        return len(host.request("screenshot").payload) > 1000


HOG = ("import time\nchunks = []\nwhile True:\n    chunks.append(bytearray(32 << 20))\n"
       "    for i in range(0, len(chunks[-1]), 4096):\n        chunks[-1][i] = 1\n    time.sleep(0.01)\n")


def test_a_memory_hog_is_stopped_at_its_desktops_limit_and_the_owner_is_told(start):
    with override_settings(WRD_SESSION_MEMORY=450 << 20):
        a = start("erin")
    b = start("frank")
    assert a.memory_limit == 450 << 20
    with BlockingHostClient(a.socket_path) as host:
        hog = host.request("exec", argv=["python3", "-c", HOG]).get("pid")
    deadline = time.monotonic() + 60
    answered = 0
    while processes.pid_alive(hog) and time.monotonic() < deadline:
        assert _answers(b)  # the other desktop is untouched meanwhile
        answered += 1
    assert not processes.pid_alive(hog), "the hog outlived its desktop's memory limit"
    assert answered >= 1
    usage = sandbox.usage(Path(a.runtime_dir))
    assert usage.oom_kills >= 1 and usage.memory_bytes <= 450 << 20
    assert processes.pid_alive(a.host_pid) and _answers(a)  # the desktop itself goes on
    services.desktop_reconcile()
    a.refresh_from_db()
    assert a.oom_kills >= 1 and "Memory limit" in a.notice
    client = Client()
    client.force_login(a.owner)
    page = client.get("/desktops/").content.decode()
    assert "Memory limit" in page and a.unix_user in page
    api = client.get(f"/api/desktops/{a.pk}/").json()
    assert api["usage"]["oom_kills"] >= 1 and api["unix_user"] == a.unix_user


def test_a_fork_bomb_stops_at_the_pids_limit_and_stop_ends_it(start):
    with override_settings(WRD_SESSION_PIDS=120):
        a = start("grace")
    b = start("heidi")
    with BlockingHostClient(a.socket_path) as host:
        host.request("exec", argv=["bash", "-c", "bomb() { bomb | bomb & }; bomb"])
    group = cgroups.for_session(sandbox.read_record(Path(a.runtime_dir))["cgroup"])
    wait_until(lambda: group.usage().pids >= 100, 20, message="the bomb to fill its desktop")
    time.sleep(1)
    assert group.usage().pids <= 120
    assert _answers(b)
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the server still starts processes
    services.desktop_stop(session=a)
    a.refresh_from_db()
    assert a.state == DesktopState.STOPPED
    assert not group.exists()
    assert [p for p in processes_of_uid(a.uid)] == []


def processes_of_uid(uid: int) -> list[int]:
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if processes.uid_of(pid) == uid and processes.pid_alive(pid)]


def _leftovers(session: DesktopSession) -> list[str]:
    runtime_dir = Path(session.runtime_dir) if session.runtime_dir else None
    if runtime_dir is None:
        return []
    left = [str(p) for p in (runtime_dir, sandbox.socket_path(runtime_dir), sandbox.record_path(runtime_dir))
            if p.exists()]
    group = cgroups.for_session(sandbox.cgroup_relpath(runtime_dir))
    return left + ([group.relpath] if group.exists() else [])


@pytest.mark.parametrize("broken", ["uid range exhausted", "home root is a file"])
def test_a_desktop_that_cannot_get_its_account_fails_with_the_reason_and_leaves_nothing(broken, operator_env,
                                                                                          tmp_path):
    from webconsole.accounts.models import UnixAccount

    user = User.objects.create_user(f"ivan-{broken.split()[0]}", password="pw")
    if broken.startswith("uid"):
        taken = next(e.pw_uid for e in pwd.getpwall() if e.pw_uid >= 1000)
        overrides = {"WRD_UID_RANGE": (taken, taken)}
    else:
        not_a_dir = Path(settings.WRD_HOME_ROOT).parent / f"{Path(settings.WRD_HOME_ROOT).name}-file"
        not_a_dir.write_text("")
        overrides = {"WRD_HOME_ROOT": not_a_dir}
    try:
        with override_settings(**overrides):
            session = services.desktop_create(user=user, width=800, height=600, enqueue=False)
            session = services.desktop_start(session=session)
    finally:
        if not broken.startswith("uid"):
            not_a_dir.unlink()
    assert session.state == DesktopState.FAILED
    reason = {"uid range exhausted": "uid", "home root is a file": "home root"}[broken]
    assert reason in session.failure_reason, session.failure_reason
    assert _leftovers(session) == []
    assert not UnixAccount.objects.filter(user=user).exists()
    assert not any(e.pw_name.startswith(f"{settings.WRD_ACCOUNT_PREFIX}ivan") for e in pwd.getpwall())


def test_the_runtime_root_is_refused_when_someone_else_owns_or_can_write_it(tmp_path):
    nobody = pwd.getpwnam("nobody")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(sandbox.SandboxError, match="belongs to uid"):
        sandbox.prepare_runtime_root(theirs)
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    os.chmod(open_to_all, 0o777)
    with pytest.raises(sandbox.SandboxError, match="world-writable"):
        sandbox.prepare_runtime_root(open_to_all)
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(sandbox.SandboxError, match="not a directory"):
        sandbox.prepare_runtime_root(link)
    ours = tmp_path / "ours"
    sandbox.prepare_runtime_root(ours, "wrd")
    assert os.stat(ours).st_mode & 0o777 == 0o711
    control = os.stat(sandbox.control_dir(ours))
    assert control.st_mode & 0o777 == 0o750 and control.st_gid == grp.getgrnam("wrd").gr_gid


def test_single_user_mode_runs_every_desktop_as_the_service_account(tmp_path):
    """The whole product (`manage.py serve`) started by an ordinary account: it says it is in
    single-user mode, and its desktops run as that account, with a private /tmp where user
    namespaces allow one."""
    from webconsole.accounts import unix

    low, high = settings.WRD_UID_RANGE
    home_root = unix.prepare_home_root(Path(settings.WRD_HOME_ROOT))
    # A name of this test's own: an account left by an interrupted run, or another run's on
    # this machine, is never taken for it.
    name = f"{settings.WRD_ACCOUNT_PREFIX}solo-{uuid.uuid4().hex[:6]}"
    with unix.account_lock():
        uid = unix.lowest_free_uid(low=low, high=high, reserved=set())
        uid, gid = unix.create_system_account(name=name, uid=uid, home=home_root / name, home_root=home_root)
    home = home_root / name
    try:
        _run_single_user_product(uid, gid, home)
    finally:
        for pid in processes_of_uid(uid):
            os.kill(pid, 9)
        unix.delete_system_account(name=name, remove_home=True, home_root=home_root)


def _run_single_user_product(uid: int, gid: int, home: Path) -> None:
    from tests.conftest import free_port

    var = home / "var"
    runtime_root = Path(f"/dev/shm/wrd-test-solo-{uid}")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "DJANGO_SETTINGS_MODULE": "webconsole.config.django.base", "WRD_VAR_DIR": str(var),
           "WRD_RUNTIME_ROOT": str(runtime_root), "WRD_HTTP_PORT": str(free_port()),
           "WRD_RDP_PORT": str(free_port()), "WRD_RDP_HOST": "127.0.0.1", "WRD_NODE": "solo",
           "WRD_SESSION_WAYLAND": "0", "WRD_SECRET_KEY": "single-user-test"}
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]

    def manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)

    assert manage("migrate", "--no-input", "-v", "0").returncode == 0
    assert manage("bootstrap_admin").returncode == 0
    log_path = home / "serve.log"
    log = open(log_path, "wb")
    serve = subprocess.Popen([*as_user, sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + 90
        while b"WRD is running" not in log_path.read_bytes() and serve.poll() is None:
            assert time.monotonic() < deadline, f"serve did not start: {log_path.read_text()[-3000:]}"
            time.sleep(0.2)
        banner = log_path.read_text()
        assert "Single-user mode" in banner and home.name in banner, banner[-2000:]
        started = manage("desktop", "start", "--user", "admin", "--size", "800x600", "--wait")
        assert started.returncode == 0, started.stderr
        desktop = started.stdout.strip()
        marker = home / "desktop-id"
        secret_tmp = f"/tmp/solo-{uuid.uuid4().hex[:6]}"
        ran = manage("desktop", "exec", desktop, "--", "sh", "-c", f"id -u > {marker}; touch {secret_tmp}")
        assert ran.returncode == 0, ran.stderr
        wait_until(lambda: marker.exists() and marker.read_text().strip(), 15, message="the desktop's id")
        assert marker.read_text().strip() == str(uid)
        listing = manage("desktop", "list").stdout
        assert f"{home.name}({uid})" in listing
        time.sleep(0.5)
        assert not Path(secret_tmp).exists()  # its /tmp is its own (a user namespace)
    finally:
        serve.send_signal(2)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        shutil.rmtree(runtime_root, ignore_errors=True)
    assert "WRD stopped." in log_path.read_text()
    wait_until(lambda: processes_of_uid(uid) == [], 15, message="every process of the account to end")
