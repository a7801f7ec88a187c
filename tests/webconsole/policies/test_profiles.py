"""Desktop profiles start what they say, with real session hosts: the "desktop" profile is a
real XFCE desktop (its panel, desktop and window manager windows appear in the session's
display) running as the user's own account under the limits of the user's policy."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.conftest import session_process_env, wait_until
from tests.webconsole.policies.conftest import group_with_policy
from webconsole.desktops import selectors, services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(shutil.which("xfce4-session") is None, reason="XFCE is not installed")]


@pytest.fixture(autouse=True)
def clean_session_home(monkeypatch):
    monkeypatch.setenv("HOME", session_process_env()["HOME"])


@pytest.fixture
def stop_all():
    yield
    for session in DesktopSession.objects.exclude(state__in=(DesktopState.STOPPED, DesktopState.FAILED)):
        services.desktop_stop(session=session)


def windows_of_class(session: DesktopSession, name: str) -> list[str]:
    env = dict(session_process_env(), DISPLAY=session.display, XAUTHORITY=f"{session.runtime_dir}/Xauthority")
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", name], env=env, capture_output=True,
                           text=True, timeout=10)
    return found.stdout.split()


def test_the_desktop_profile_starts_xfce_with_its_panel(alice, profiles, stop_all, settings):
    settings.WRD_SESSION_STARTUP = ""
    group_with_policy("xfce", [alice], memory_bytes=1536 << 20, pids=1024, restrict_profiles=True,
                      profiles=[profiles["desktop"]], default_profile=profiles["desktop"])
    session = services.desktop_create(user=alice, width=1280, height=800, enqueue=False)
    started = time.monotonic()
    session = services.desktop_start(session=session)
    assert session.state == DesktopState.RUNNING, session.failure_reason
    for cls in ("xfce4-panel", "xfdesktop", "xfwm4"):
        wait_until(lambda cls=cls: windows_of_class(session, cls), 45, 0.2, f"a visible {cls} window")
    print(f"XFCE panel, desktop and window manager visible {time.monotonic() - started:.1f} s after the start")
    assert session.unix_user and session.uid and session.uid >= 1000  # the user's own account, not root
    if session.containment.startswith("cgroup"):
        assert session.memory_limit == 1536 << 20  # the policy's, not the server's 4G
        usage = selectors.desktop_usage(session=session)
        print(f"XFCE desktop memory (cgroup): {usage.memory_bytes / 2**20:.0f} MiB, {usage.pids} tasks")


def test_the_minimal_profile_starts_the_window_manager_and_terminal(alice, profiles, stop_all, settings):
    settings.WRD_SESSION_STARTUP = ""
    session = services.desktop_start(session=services.desktop_create(user=alice, width=1024, height=768,
                                                                     profile="minimal", enqueue=False))
    assert session.state == DesktopState.RUNNING, session.failure_reason
    wait_until(lambda: windows_of_class(session, "xterm"), 30, 0.5, "the xterm")
    assert windows_of_class(session, "xfce4-panel") == []


def test_the_screen_cannot_grow_past_the_policy_whoever_resizes(alice, profiles, stop_all, settings):
    """The policy's largest size is the desktop's screen size limit (Xvfb's), so a resize that
    does not pass through the console (an RDP client's window, xrandr in the session) cannot
    pass it either."""
    from compositor import messages
    from compositor.client import HostError

    settings.WRD_SESSION_STARTUP = ""
    group_with_policy("small", [alice], max_width=1024, max_height=768)
    session = services.desktop_start(session=services.desktop_create(user=alice, width=800, height=600,
                                                                     profile="minimal", enqueue=False))
    assert session.state == DesktopState.RUNNING, session.failure_reason
    with services.host_client_for(session) as client:
        try:
            reply = client.call(messages.Resize(width=1600, height=1000))
        except HostError:
            reply = None
        assert reply is None or (reply.width <= 1024 and reply.height <= 768), reply
        assert client.call(messages.Resize(width=1024, height=768)).width == 1024  # up to the maximum it may
