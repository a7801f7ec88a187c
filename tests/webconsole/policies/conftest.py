"""Fixtures of the policy tests: users, a group with a policy, the two seeded profiles (a
transactional test's flush removes the migration's rows, so they are made again here)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from tests.compositor.helpers import start_host, stop_host
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.policies.models import DesktopProfile, Policy

SEEDED = {
    "minimal": {"label": "Minimal (window manager + terminal)", "startup": "", "wayland": True},
    "desktop": {"label": "Desktop (XFCE)", "startup": "exec xfce4-session", "wayland": False},
}


@pytest.fixture
def profiles(db) -> dict[str, DesktopProfile]:
    return {name: DesktopProfile.objects.get_or_create(name=name, defaults=fields)[0]
            for name, fields in SEEDED.items()}


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def admin(db) -> User:
    return User.objects.create_user("boss", password="pw-boss-123", is_staff=True, is_superuser=True)


def group_with_policy(name: str, members: list[User], **fields) -> Group:
    group = Group.objects.create(name=name)
    group.user_set.set(members)
    profiles = fields.pop("profiles", None)
    policy = Policy.objects.create(group=group, **fields)
    if profiles is not None:
        policy.profiles.set(profiles)
    return group


def override(user: User, **fields) -> Policy:
    profiles = fields.pop("profiles", None)
    policy, _ = Policy.objects.update_or_create(user=user, defaults=fields)
    if profiles is not None:
        policy.profiles.set(profiles)
    return policy


@pytest.fixture(scope="module")
def host():
    """A real session host (800x600) for a module's tests (``test_rdp_policy`` has its own)."""
    launched = start_host(800, 600)
    try:
        yield launched
    finally:
        stop_host(launched)


@pytest.fixture
def desktop(alice, host) -> DesktopSession:
    """alice's running desktop: ``host`` as the console sees it."""
    return DesktopSession.objects.create(owner=alice, width=800, height=600, state=DesktopState.RUNNING,
                                         runtime_dir=str(host.runtime_dir), node="node-without-worker")
