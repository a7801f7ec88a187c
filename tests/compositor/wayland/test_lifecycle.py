"""The contract with the session host: ready line, clean SIGTERM, restart without hurting X apps."""

from __future__ import annotations

import signal

from tests.compositor.wayland.conftest import Session


def test_sigterm_cleans_up_and_restart_leaves_x_apps_alone(session: Session, need) -> None:
    need("weston-simple-shm", "xclock")
    socket = session.runtime / "wayland-0"
    lock = session.runtime / "wayland-0.lock"
    assert socket.exists() and lock.exists()
    xclock = session.spawn(["xclock", "-update", "1"], env=session.env)
    session.wait_window("xclock")
    client = session.spawn(["weston-simple-shm"])
    session.wait_window("simple-shm")

    first = session.compositor
    assert first is not None
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0
    assert not socket.exists() and not lock.exists()
    session.wait_for(lambda: "simple-shm" not in session.windows(), what="wayland window destroyed")
    client.wait(10)  # the client lost its compositor and exits
    assert xclock.poll() is None and "xclock" in session.windows()

    session.start_compositor()  # what the host does after a crash
    assert socket.exists()
    session.spawn(["weston-simple-shm"])
    session.wait_window("simple-shm")
    assert xclock.poll() is None


def test_sigkill_then_restart(session: Session, need) -> None:
    need("weston-simple-shm")
    first = session.compositor
    assert first is not None
    first.kill()
    first.wait(10)
    # A killed compositor leaves its socket and lock; libwayland takes over a stale pair.
    session.start_compositor()
    session.spawn(["weston-simple-shm"])
    session.wait_window("simple-shm")


def test_compositor_exits_when_the_x_server_goes(session: Session) -> None:
    compositor = session.compositor
    assert compositor is not None
    session.xvfb.proc.terminate()
    session.xvfb.proc.wait(10)
    assert compositor.wait(10) == 0
    assert not (session.runtime / "wayland-0").exists()
