"""Fixtures of the policy tests: users, a group with a policy, the two seeded profiles (a
transactional test's flush removes the migration's rows, so they are made again here)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

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
