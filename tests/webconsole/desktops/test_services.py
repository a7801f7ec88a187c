"""Desktop lifecycle services with real session hosts (and a real Celery worker where named)."""

from __future__ import annotations

import itertools
import json
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone

from compositor import processes
from compositor.client import BlockingHostClient
from compositor.launcher import launch_host, stop_host
from tests.conftest import session_process_env, wait_until
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.desktops.tasks import desktop_start_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_session_home(monkeypatch):
    # Session hosts started in-process inherit our environment: give them the test home.
    monkeypatch.setenv("HOME", session_process_env()["HOME"])


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice")


@pytest.fixture
def bob():
    return User.objects.create_user("bob", password="pw-bob")


@pytest.fixture
def stop_all():
    yield
    for session in DesktopSession.objects.exclude(state__in=(DesktopState.STOPPED, DesktopState.FAILED)):
        services.desktop_stop(session=session)


def host_state(session: DesktopSession) -> dict:
    return json.loads((Path(session.runtime_dir) / "host.json").read_text())


def test_create_validates_size_and_changes_nothing(alice):
    for width, height in [(100, 100), (5000, 800), (1280, 9000)]:
        with pytest.raises(ValidationError, match="outside the allowed range"):
            services.desktop_create(user=alice, width=width, height=height, enqueue=False)
    assert DesktopSession.objects.count() == 0


@override_settings(WRD_MAX_SESSIONS_PER_USER=1)
def test_per_user_limit(alice, bob):
    services.desktop_create(user=alice, width=800, height=600, enqueue=False)
    with pytest.raises(ValidationError, match="already have 1 active"):
        services.desktop_create(user=alice, width=800, height=600, enqueue=False)
    services.desktop_create(user=bob, width=800, height=600, enqueue=False)  # others are unaffected
    assert DesktopSession.objects.filter(owner=alice).count() == 1


def test_stop_of_someone_elses_session_is_refused(alice, bob):
    session = services.desktop_create(user=alice, width=800, height=600, enqueue=False)
    with pytest.raises(PermissionDenied):
        services.desktop_stop_request(session=session, user=bob)
    session.refresh_from_db()
    assert session.state == DesktopState.REQUESTED
    staff = User.objects.create_user("root", is_staff=True)
    services.desktop_stop_request(session=session, user=staff)  # staff may
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED


def test_start_through_the_service_runs_and_stop_cleans_up(alice, stop_all):
    session = services.desktop_create(user=alice, width=1024, height=768, enqueue=False)
    session = services.desktop_start(session=session)
    assert session.state == DesktopState.RUNNING, session.failure_reason
    assert session.display.startswith(":") and processes.pid_alive(session.host_pid)
    with BlockingHostClient(session.socket_path) as client:
        status = client.request("status").header
    assert (status["width"], status["height"]) == (1024, 768)
    state = host_state(session)

    session = services.desktop_resize(session=session, user=alice, width=1280, height=720)
    assert (session.width, session.height) == (1280, 720)

    services.desktop_stop(session=session)
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED and session.stopped_at
    assert not processes.pid_alive(state["xvfb_pid"])
    assert [p for p in processes.pids_with_token(state["token"]) if processes.pid_alive(p)] == []
    assert not Path(session.runtime_dir).exists()


def test_xvfb_failure_marks_the_session_failed_and_leaves_nothing(alice, monkeypatch):
    monkeypatch.setenv("WRD_XVFB", "/nonexistent/Xvfb")
    session = services.desktop_create(user=alice, width=800, height=600, enqueue=False)
    session = services.desktop_start(session=session)
    assert session.state == DesktopState.FAILED
    assert "not found" in session.failure_reason
    assert not Path(session.runtime_dir).exists()
    wait_until(lambda: not [pid for pid, opts in processes.host_processes()
                            if opts.get("runtime-dir") == session.runtime_dir], 5, message="the failed host to exit")


def test_start_and_stop_through_celery(alice, celery_worker, stop_all):
    session = services.desktop_create(user=alice, width=800, height=600)  # enqueued on commit

    def running():
        session.refresh_from_db()
        return session.state in (DesktopState.RUNNING, DesktopState.FAILED)

    wait_until(running, 40, 0.2, "the worker to start the desktop")
    assert session.state == DesktopState.RUNNING, session.failure_reason
    assert processes.pid_alive(session.host_pid)
    state = host_state(session)

    services.desktop_stop_request(session=session, user=alice)

    def stopped():
        session.refresh_from_db()
        return session.state == DesktopState.STOPPED

    wait_until(stopped, 30, 0.2, "the worker to stop the desktop")
    assert not processes.pid_alive(session.host_pid)
    assert not processes.pid_alive(state["xvfb_pid"])


def test_task_fetches_by_id_and_calls_the_service(alice, stop_all):
    session = services.desktop_create(user=alice, width=800, height=600, enqueue=False)
    desktop_start_task.apply(args=(session.pk,))  # the task body, run here
    session.refresh_from_db()
    assert session.state == DesktopState.RUNNING, session.failure_reason
    desktop_start_task.apply(args=(999999,))  # a vanished row is not an error


def test_desktop_host_survives_a_worker_restart(alice, celery_worker, stop_all):
    """Hosts are detached: ending the worker that started one does not end the desktop."""
    session = services.desktop_create(user=alice, width=800, height=600)
    wait_until(lambda: DesktopSession.objects.get(pk=session.pk).state == DesktopState.RUNNING, 40, 0.2,
               "the desktop to run")
    session.refresh_from_db()
    assert os.getpgid(session.host_pid) != os.getpgid(celery_worker.pid)
    assert processes.pid_alive(session.host_pid)
    parent = int(Path(f"/proc/{session.host_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent != celery_worker.pid


@pytest.mark.parametrize("victim", ["host", "xvfb"])
def test_reconcile_marks_a_dead_host_failed_and_cleans_up(alice, victim, stop_all):
    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=800, height=600, enqueue=False))
    assert session.state == DesktopState.RUNNING
    state = host_state(session)
    os.kill(session.host_pid if victim == "host" else state["xvfb_pid"], signal.SIGKILL)
    wait_until(lambda: not processes.pid_alive(session.host_pid) or victim == "host", 15,
               message="the host to exit")
    if victim == "host":
        wait_until(lambda: not processes.pid_alive(session.host_pid), 5, message="the host to die")
    result = services.desktop_reconcile()
    session.refresh_from_db()
    assert session.state == DesktopState.FAILED
    assert result["failed"] == 1
    if victim == "xvfb":
        assert "Xvfb exited" in session.failure_reason or "X connection lost" in session.failure_reason
    else:
        assert session.failure_reason == "session host died"
    assert [p for p in processes.pids_with_token(state["token"]) if processes.pid_alive(p)] == []
    assert not processes.pid_alive(state["xvfb_pid"])
    assert not Path(session.runtime_dir).exists()
    assert not Path(f"/tmp/.X{session.display[1:]}-lock").exists()


def test_reconcile_ends_a_host_process_with_no_row(settings):
    runtime_dir = Path(settings.WRD_RUNTIME_ROOT) / "desktop-orphan"
    host = launch_host(session="orphan", runtime_dir=runtime_dir, width=800, height=600, max_width=800,
                       max_height=600, wayland=False, startup="exec sleep 600", env=session_process_env())
    assert processes.pid_alive(host.pid)
    result = services.desktop_reconcile()
    assert result["orphans"] == 1
    wait_until(lambda: not processes.pid_alive(host.pid), 15, message="the orphan host to end")
    wait_until(lambda: not runtime_dir.exists(), 5, message="its runtime directory to go")


def test_reconcile_ignores_hosts_of_other_roots(tmp_path):
    host = launch_host(session="elsewhere", runtime_dir=tmp_path / "rt", width=640, height=480, max_width=640,
                       max_height=480, wayland=False, startup="exec sleep 600", env=session_process_env())
    try:
        assert services.desktop_reconcile()["orphans"] == 0
        assert processes.pid_alive(host.pid)
    finally:
        stop_host(host.runtime_dir, host.pid)


@override_settings(WRD_IDLE_TIMEOUT=60)
def test_idle_reaper_stops_idle_sessions_only(alice, bob, stop_all):
    idle = services.desktop_start(session=services.desktop_create(user=alice, width=640, height=480, enqueue=False))
    busy = services.desktop_start(session=services.desktop_create(user=bob, width=640, height=480, enqueue=False))
    DesktopSession.objects.filter(pk=idle.pk).update(last_activity_at=timezone.now() - timedelta(minutes=5))
    services.desktop_touch(session=busy)
    reaped = services.desktop_reap_idle()
    assert reaped == [idle.pk]
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert idle.state == DesktopState.STOPPING  # its stop is queued for the node's worker
    assert busy.state == DesktopState.RUNNING
    services.desktop_stop(session=idle)
    idle.refresh_from_db()
    assert idle.state == DesktopState.STOPPED


def test_reconcile_records_activity_from_the_host(alice, stop_all):
    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=640, height=480, enqueue=False))
    DesktopSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(hours=1))
    with BlockingHostClient(session.socket_path) as client:
        client.request("input", events=[{"t": "move", "x": 10, "y": 10}])
    assert services.desktop_reconcile()["refreshed"] == 1
    session.refresh_from_db()
    assert timezone.now() - session.last_activity_at < timedelta(minutes=1)


def test_reconcile_records_a_size_changed_outside_the_console(alice, stop_all):
    """An RDP client's window (or xrandr in the session) resized the session behind the
    console's back: reconcile brings the recorded size in line with the host's."""
    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=640, height=480, enqueue=False))
    with BlockingHostClient(session.socket_path) as client:
        assert client.request("resize", width=800, height=600).get("width") == 800
    assert services.desktop_reconcile()["refreshed"] == 1
    session.refresh_from_db()
    assert (session.width, session.height) == (800, 600)
    assert services.desktop_reconcile()["refreshed"] == 0  # nothing new


def test_reconcile_task_on_the_worker_notices_a_killed_host(alice, celery_worker, stop_all):
    """The periodic job as beat sends it: onto the node's queue, run by the real worker."""
    from webconsole.desktops.tasks import desktop_reconcile_task

    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=640, height=480, enqueue=False))
    state = host_state(session)
    os.kill(session.host_pid, signal.SIGKILL)
    wait_until(lambda: not processes.pid_alive(session.host_pid), 5, message="the host to die")
    desktop_reconcile_task.apply_async(queue=services.node_queue(session.node))

    def failed():
        session.refresh_from_db()
        return session.state == DesktopState.FAILED

    wait_until(failed, 30, 0.2, "the worker's reconcile to mark the desktop failed")
    assert session.failure_reason == "session host died"
    wait_until(lambda: not processes.pid_alive(state["xvfb_pid"]), 10, message="Xvfb to be ended")


# -- jobs that run twice or are lost (acks_late; reconcile settles what they left) -----------


def test_start_and_stop_jobs_run_twice_do_it_once(alice, stop_all):
    """Tasks are acknowledged after they run, so a worker lost mid-job means the job runs
    again: a second start or stop of the same desktop changes nothing."""
    from webconsole.desktops.tasks import desktop_stop_task

    session = services.desktop_create(user=alice, width=640, height=480, enqueue=False)
    desktop_start_task(session.pk)
    session.refresh_from_db()
    assert session.state == DesktopState.RUNNING
    first = (session.host_pid, session.display, session.started_at)
    desktop_start_task(session.pk)
    session.refresh_from_db()
    assert (session.state, session.host_pid, session.display, session.started_at) == (DesktopState.RUNNING, *first)
    hosts = [pid for pid, opts in processes.host_processes() if opts.get("runtime-dir") == session.runtime_dir]
    assert hosts == [session.host_pid]

    desktop_stop_task(session.pk)
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED
    stopped_at = session.stopped_at
    desktop_stop_task(session.pk)
    session.refresh_from_db()
    assert (session.state, session.stopped_at) == (DesktopState.STOPPED, stopped_at)
    assert not processes.pid_alive(first[0])


@override_settings(WRD_REQUESTED_DEADLINE=120, WRD_MAX_SESSIONS_PER_USER=1)
def test_reconcile_queues_a_lost_start_once_then_fails_it(alice, monkeypatch):
    queued = []
    monkeypatch.setattr(desktop_start_task, "apply_async", lambda args, queue: queued.append((args, queue)))
    lost = services.desktop_create(user=alice, width=640, height=480, enqueue=False)  # its job never ran
    assert services.desktop_reconcile()["requeued"] == 0  # young: its job may just be waiting
    DesktopSession.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=3))

    assert services.desktop_reconcile()["requeued"] == 1
    assert queued == [((lost.pk,), services.node_queue(lost.node))]
    assert services.desktop_reconcile()["requeued"] == 0  # once
    lost.refresh_from_db()
    assert lost.state == DesktopState.REQUESTED

    DesktopSession.objects.filter(pk=lost.pk).update(requeued_at=timezone.now() - timedelta(minutes=3))
    assert services.desktop_reconcile()["failed"] == 1
    lost.refresh_from_db()
    assert lost.state == DesktopState.FAILED
    assert "no worker took its start job" in lost.failure_reason
    # It no longer holds the owner's only desktop.
    assert services.desktop_create(user=alice, width=640, height=480, enqueue=False).state == DesktopState.REQUESTED
    assert len(queued) == 1


@override_settings(WRD_REQUESTED_DEADLINE=60)
def test_reconcile_resolves_a_requested_row_left_by_a_lost_task(alice, celery_worker, stop_all):
    """The start job was lost (a Redis without AOF restarted, say): reconcile queues it again
    and the real worker starts the desktop."""
    session = services.desktop_create(user=alice, width=640, height=480, enqueue=False)
    DesktopSession.objects.filter(pk=session.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    assert services.desktop_reconcile()["requeued"] == 1

    def running():
        session.refresh_from_db()
        return session.state == DesktopState.RUNNING

    wait_until(running, 60, 0.2, "the worker to start the re-queued desktop")
    assert processes.pid_alive(session.host_pid)


@override_settings(WRD_STOP_RETRY_SECONDS=30)
def test_reconcile_resolves_a_stopping_row_left_by_a_lost_task(alice, stop_all):
    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=640, height=480, enqueue=False))
    state = host_state(session)
    # A stop was asked for and its job lost: the row says stopping, the host still runs.
    DesktopSession.objects.filter(pk=session.pk).update(state=DesktopState.STOPPING,
                                                        stop_requested_at=timezone.now())
    assert services.desktop_reconcile()["stopped"] == 0  # its job may still be on its way
    assert processes.pid_alive(session.host_pid)

    DesktopSession.objects.filter(pk=session.pk).update(stop_requested_at=timezone.now() - timedelta(minutes=1))
    assert services.desktop_reconcile()["stopped"] == 1
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED
    assert not processes.pid_alive(session.host_pid)
    assert [p for p in processes.pids_with_token(state["token"]) if processes.pid_alive(p)] == []
    assert not Path(session.runtime_dir).exists()
    assert services.desktop_reconcile()["stopped"] == 0


def test_a_stop_that_leaves_the_host_running_stays_stopping(alice, stop_all, monkeypatch):
    """desktop_stop only records `stopped` once the host's process is gone; until then the
    row stays `stopping`, for reconcile to try again."""
    session = services.desktop_start(session=services.desktop_create(
        user=alice, width=640, height=480, enqueue=False))
    with monkeypatch.context() as patched:
        patched.setattr(services, "_end_host", lambda session, timeout: None)  # a host that will not go
        assert services.desktop_stop(session=session).state == DesktopState.STOPPING
    assert processes.pid_alive(session.host_pid)
    DesktopSession.objects.filter(pk=session.pk).update(stop_requested_at=timezone.now() - timedelta(minutes=5))
    assert services.desktop_reconcile()["stopped"] == 1
    session.refresh_from_db()
    assert session.state == DesktopState.STOPPED


def test_reconcile_asks_each_host_once_a_minute_each_in_its_own_round():
    """Reconcile runs every 5 s; a desktop's host is asked for its status in one round of 12."""
    for pk in (1, 2, 7, 12, 13):
        rounds = [t for t in range(0, 600, 5) if services.host_status_due(pk=pk, now=1e9 + t, every=60, period=5)]
        assert len(rounds) == 10  # 600 s / 60 s
        assert all(b - a == 60 for a, b in itertools.pairwise(rounds))
    firsts = {pk: next(t for t in range(0, 60, 5) if services.host_status_due(pk=pk, now=1e9 + t, every=60, period=5))
              for pk in range(1, 13)}
    assert len(set(firsts.values())) == 12  # twelve desktops, twelve different rounds
    assert all(services.host_status_due(pk=pk, now=t, every=0, period=5) for pk in (1, 5) for t in (0, 5, 7))


@override_settings(WRD_IDLE_TIMEOUT=60, WRD_HOST_STATUS_SECONDS=60)
def test_the_idle_reaper_asks_the_host_before_stopping_a_desktop_somebody_watches(alice, stop_all, redis_server):
    """Reconcile records a watched desktop's activity only once a minute now: a desktop whose
    recorded activity is old is reaped only if its host, asked then, has nobody watching."""
    watched = services.desktop_start(session=services.desktop_create(user=alice, width=640, height=480,
                                                                     enqueue=False))
    DesktopSession.objects.filter(pk=watched.pk).update(last_activity_at=timezone.now() - timedelta(minutes=5))
    with BlockingHostClient(watched.socket_path) as viewer:
        viewer.request("subscribe", format="damage")
        assert services.desktop_reap_idle() == []
    watched.refresh_from_db()
    assert watched.state == DesktopState.RUNNING
    assert timezone.now() - watched.last_activity_at < timedelta(minutes=1)
    DesktopSession.objects.filter(pk=watched.pk).update(last_activity_at=timezone.now() - timedelta(minutes=5))
    wait_until(lambda: services.desktop_reap_idle() == [watched.pk], 10, 0.5, "the unwatched desktop to be reaped")
    services.desktop_stop(session=DesktopSession.objects.get(pk=watched.pk))
