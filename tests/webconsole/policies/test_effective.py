"""How the server's defaults, a user's groups and their override combine (effective.py)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.webconsole.policies.conftest import group_with_policy, override
from webconsole.policies.effective import effective_policy, server_default

pytestmark = pytest.mark.django_db


@override_settings(WRD_MAX_SESSIONS_PER_USER=3, WRD_IDLE_TIMEOUT=600, WRD_MAX_SIZE=(1920, 1200),
                   WRD_SESSION_MEMORY=1 << 30, WRD_SESSION_CPUS=1.5, WRD_SESSION_PIDS=500,
                   WRD_FILE_TRANSFER=("download",))
def test_without_any_policy_the_settings_decide(alice):
    policy = effective_policy(user=alice)
    assert policy == server_default()
    assert (policy.max_desktops, policy.idle_timeout, policy.max_width, policy.max_height) == (3, 600, 1920, 1200)
    assert (policy.memory_bytes, policy.cpus, policy.pids) == (1 << 30, 1.5, 500)
    assert (policy.file_upload, policy.file_download) == (False, True)
    assert policy.profiles is None and policy.default_profile == "minimal"
    assert policy.browser_access and policy.rdp_access and policy.clipboard == "both"


def test_groups_combine_to_the_most_permissive_value(alice, profiles):
    group_with_policy("students", [alice], max_desktops=1, max_width=1024, max_height=768, idle_timeout=600,
                      memory_bytes=1 << 30, rdp_access=False, clipboard="to_desktop", restrict_profiles=True,
                      profiles=[profiles["minimal"]], share_control=False)
    group_with_policy("staff-lab", [alice], max_desktops=2, max_width=800, idle_timeout=0, memory_bytes=2 << 30,
                      clipboard="from_desktop", restrict_profiles=True, profiles=[profiles["desktop"]])
    policy = effective_policy(user=alice)
    assert policy.max_desktops == 2
    assert (policy.max_width, policy.max_height) == (1024, 768)  # height: only the first group says
    assert policy.idle_timeout == 0  # "never" is the most permissive timeout
    assert policy.memory_bytes == 2 << 30
    assert policy.rdp_access is False  # one group said no, none said yes
    assert policy.clipboard == "both"  # to the desktop from one group, from it from the other
    assert policy.profiles == frozenset({"minimal", "desktop"})
    assert policy.share_control is False and policy.share_view is True


def test_a_group_that_sets_nothing_has_no_say(alice):
    group_with_policy("empty", [alice])
    group_with_policy("strict", [alice], browser_access=False, max_desktops=0)
    policy = effective_policy(user=alice)
    assert policy.browser_access is False and policy.max_desktops == 0


def test_the_user_override_wins_field_by_field(alice, profiles):
    group_with_policy("students", [alice], max_desktops=1, clipboard="off", restrict_profiles=True,
                      profiles=[profiles["minimal"]], default_profile=profiles["minimal"])
    override(alice, max_desktops=5, restrict_profiles=False, default_profile=profiles["desktop"])
    policy = effective_policy(user=alice)
    assert policy.max_desktops == 5
    assert policy.clipboard == "off"  # not overridden: the group's
    assert policy.profiles is None and policy.default_profile == "desktop"
    assert not policy.clipboard_to_desktop and not policy.clipboard_from_desktop


def test_policies_of_other_users_and_groups_do_not_apply(alice, admin):
    group_with_policy("others", [admin], max_desktops=0)
    override(admin, rdp_access=False)
    assert effective_policy(user=alice) == server_default()
