"""The API and the pages of users, groups, policies and profiles: what they do, what they
refuse (400 with a message per field, 404 for unknown ids, 403 for non-staff), what they
record in the audit log, and no 500 whatever the input."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from webconsole.audit.models import AuditEvent
from webconsole.policies.effective import effective_policy
from webconsole.policies.models import DesktopProfile, Policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin) -> APIClient:
    client = APIClient()
    client.force_login(admin)
    return client


def test_users_create_disable_reset_delete(api, admin):
    response = api.post("/api/users/", {"username": "carol", "password": "Carol-pw-2026!", "groups": []},
                        format="json")
    assert response.status_code == 201, response.content
    carol = User.objects.get(username="carol")
    body = api.get(f"/api/users/{carol.pk}/").json()
    assert body["unix_account"] is None and body["effective_policy"]["max_desktops"] >= 1
    assert api.patch(f"/api/users/{carol.pk}/", {"is_active": False}, format="json").json()["is_active"] is False
    assert api.post(f"/api/users/{carol.pk}/password", {"password": "Another-pw-2026!"},
                    format="json").status_code == 204
    carol.refresh_from_db()
    assert carol.check_password("Another-pw-2026!") and not carol.is_active
    assert api.delete(f"/api/users/{carol.pk}/").status_code == 204
    assert not User.objects.filter(username="carol").exists()
    actions = list(AuditEvent.objects.exclude(action__startswith="login.").order_by("id")
                   .values_list("action", "target_label"))
    assert actions == [("user.create", "carol"), ("user.disable", "carol"), ("user.password_reset", "carol"),
                       ("user.delete", "carol")]
    assert AuditEvent.objects.filter(actor=admin).exclude(action__startswith="login.").count() == 4


def test_user_input_is_checked_field_by_field(api, admin, alice):
    response = api.post("/api/users/", {"username": "bad name!", "password": "x"}, format="json")
    assert response.status_code == 400 and set(response.json()["fields"]) == {"username"}
    response = api.post("/api/users/", {"username": "alice", "password": "123"}, format="json")
    assert response.status_code == 400 and set(response.json()["fields"]) == {"username", "password"}
    response = api.post("/api/users/", {"username": "dave", "password": "Dave-pw-2026!", "groups": ["nope"]},
                        format="json")
    assert response.status_code == 400 and set(response.json()["fields"]) == {"groups"}
    assert api.patch(f"/api/users/{admin.pk}/", {"is_active": False}, format="json").status_code == 400
    assert api.delete(f"/api/users/{admin.pk}/").status_code == 400  # not oneself
    for url in ("/api/users/999999/", "/api/users/999999/policy", "/api/groups/999999/", "/api/profiles/999999/",
                "/api/groups/999999/policy"):
        assert api.get(url).status_code == 404, url


def test_group_policy_and_user_override_through_the_api(api, alice, profiles):
    group = api.post("/api/groups/", {"name": "students"}, format="json").json()
    assert api.post("/api/groups/", {"name": "Students"}, format="json").status_code == 400  # exists
    assert api.patch(f"/api/groups/{group['id']}/", {"members": ["alice"]}, format="json").json()["members"] == [
        "alice"]
    response = api.put(f"/api/groups/{group['id']}/policy", {
        "max_desktops": 1, "max_width": 1024, "max_height": 768, "rdp_access": False, "clipboard": "to_desktop",
        "restrict_profiles": True, "profiles": ["minimal"], "default_profile": "minimal"}, format="json")
    assert response.status_code == 200, response.content
    policy = effective_policy(user=alice)
    assert (policy.max_desktops, policy.rdp_access, policy.clipboard) == (1, False, "to_desktop")
    assert policy.profiles == frozenset({"minimal"})
    response = api.put(f"/api/users/{alice.pk}/policy", {"rdp_access": True}, format="json")
    assert response.status_code == 200
    detail = api.get(f"/api/users/{alice.pk}/").json()
    assert detail["policy_override"]["rdp_access"] is True and detail["effective_policy"]["rdp_access"] is True
    assert detail["effective_policy"]["max_desktops"] == 1  # still the group's
    assert api.delete(f"/api/users/{alice.pk}/policy").status_code == 204
    assert effective_policy(user=alice).rdp_access is False
    assert api.delete(f"/api/groups/{group['id']}/").status_code == 204
    assert not Policy.objects.exists() and User.objects.filter(username="alice").exists()
    assert "policy.change" in set(AuditEvent.objects.values_list("action", flat=True))


@pytest.mark.parametrize(("body", "fields"), [
    ({"max_width": 100}, {"max_width"}),  # below the server's minimum
    ({"max_width": 99999}, {"max_width"}),
    ({"max_desktops": -1}, {"max_desktops"}),
    ({"cpus": "lots"}, {"cpus"}),
    ({"cpus": "nan"}, {"cpus"}),
    ({"memory_bytes": "2G"}, {"memory_bytes"}),  # bytes on the API (the pages take 2G)
    ({"clipboard": "sideways"}, {"clipboard"}),
    ({"profiles": ["no-such"]}, {"profiles"}),
    ({"restrict_profiles": True, "profiles": ["minimal"], "default_profile": "desktop"}, {"default_profile"}),
    ({"browser_access": "perhaps"}, {"browser_access"}),
    ({"memory_bytes": 1.5}, {"memory_bytes"}),
    # what the schema says, and only that: no strings for numbers or booleans, no object for a list
    ({"max_desktops": "2"}, {"max_desktops"}),
    ({"rdp_access": "true"}, {"rdp_access"}),
    ({"file_upload": 1}, {"file_upload"}),
    ({"cpus": True}, {"cpus"}),
    ({"profiles": {"minimal": 1}}, {"profiles"}),
    ({"profiles": "minimal"}, {"profiles"}),
    ({"default_profile": ""}, {"default_profile"}),
    ({"clipboard": 1}, {"clipboard"}),
])
def test_bad_policy_input_is_a_400_with_field_messages(api, profiles, body, fields):
    group = Group.objects.create(name="g")
    response = api.put(f"/api/groups/{group.pk}/policy", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == fields
    assert not Policy.objects.exists()


def test_the_other_inputs_take_only_what_the_schema_says(api, admin, alice, profiles):
    group = api.post("/api/groups/", {"name": "lab"}, format="json").json()
    for url, method, body, fields in (
        ("/api/groups/", "post", {"name": 5}, {"name"}),
        ("/api/users/", "post", {"username": 12345678, "password": "Dave-pw-2026!"}, {"username"}),
        ("/api/users/", "post", {"username": "dave", "password": "Dave-pw-2026!", "is_staff": "yes"}, {"is_staff"}),
        ("/api/users/", "post", {"username": "dave", "password": "Dave-pw-2026!", "groups": {"lab": 1}}, {"groups"}),
        (f"/api/users/{alice.pk}/", "patch", {"is_active": 0}, {"is_active"}),
        (f"/api/users/{alice.pk}/", "patch", {"groups": [5]}, {"groups"}),
        (f"/api/users/{alice.pk}/password", "post", {"password": 12345678901}, {"password"}),
        (f"/api/groups/{group['id']}/", "patch", {"members": "alice"}, {"members"}),
        ("/api/profiles/", "post", {"name": "k", "label": "K", "wayland": "false"}, {"wayland"}),
        ("/api/profiles/", "post", {"name": "k", "label": "K", "default_width": "800", "default_height": 600},
         {"default_width"}),
    ):
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 400, (url, body, response.content)
        assert set(response.json()["fields"]) == fields, (url, body, response.json())
    assert not User.objects.filter(username="dave").exists()
    # a PATCH without members leaves them; unknown query parameters and a bad with_home are refused
    api.patch(f"/api/groups/{group['id']}/", {"members": ["alice"]}, format="json")
    assert api.patch(f"/api/groups/{group['id']}/", {}, format="json").json()["members"] == ["alice"]
    assert set(api.get("/api/users/?sort=name").json()["fields"]) == {"sort"}
    assert set(api.delete(f"/api/users/{alice.pk}/?with_home=perhaps").json()["fields"]) == {"with_home"}
    assert User.objects.filter(pk=alice.pk).exists()


def test_a_policy_not_set_reads_as_every_field_null(api, alice):
    body = api.get(f"/api/v1/users/{alice.pk}/policy").json()
    assert body["profiles"] == [] and {k for k, v in body.items() if v is not None} == {"profiles"}
    assert api.get(f"/api/v1/users/{alice.pk}/").json()["policy_override"] is None


def test_profiles_through_the_api(api, profiles):
    response = api.post("/api/profiles/", {"name": "kiosk", "label": "Kiosk", "startup": "exec xterm",
                                           "wayland": False, "default_width": 1024, "default_height": 768},
                        format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert api.post("/api/profiles/", {"name": "kiosk", "label": "again"}, format="json").status_code == 400
    response = api.post("/api/profiles/", {"name": "half", "label": "x", "default_width": 800}, format="json")
    assert response.status_code == 400 and "default_width" in response.json()["fields"]
    response = api.patch(f"/api/profiles/{pk}/", {"label": "Kiosk 2", "default_width": 99999}, format="json")
    assert response.status_code == 400 and "default_width" in response.json()["fields"]
    assert api.patch(f"/api/profiles/{pk}/", {"label": "Kiosk 2"}, format="json").json()["label"] == "Kiosk 2"
    assert sorted(p["name"] for p in api.get("/api/profiles/").json()) == ["desktop", "kiosk", "minimal"]
    assert api.delete(f"/api/profiles/{pk}/").status_code == 204
    assert not DesktopProfile.objects.filter(name="kiosk").exists()


def test_non_staff_get_403_everywhere(alice):
    client = APIClient()
    client.force_login(alice)
    for url in ("/api/users/", f"/api/users/{alice.pk}/", "/api/groups/", "/api/profiles/"):
        assert client.get(url).status_code == 403, url
    assert client.post("/api/groups/", {"name": "mine"}, format="json").status_code == 403
    assert not Group.objects.exists()


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
                    | st.text(max_size=20), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=6)
POLICY_KEYS = st.sampled_from(["max_desktops", "max_width", "max_height", "idle_timeout", "max_lifetime",
                               "memory_bytes", "cpus", "pids", "restrict_profiles", "profiles", "default_profile",
                               "browser_access", "rdp_access", "clipboard", "file_upload", "file_download",
                               "share_view", "share_control", "junk"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(POLICY_KEYS, JSON, max_size=5))
def test_no_input_makes_a_500(api, profiles, body):
    group, _ = Group.objects.get_or_create(name="fuzz")
    raw = json.dumps(body)  # NaN and Infinity too, as a careless client writes them
    response = api.put(f"/api/groups/{group.pk}/policy", raw, content_type="application/json")
    assert response.status_code in (200, 400), response.content
    for url, method in ((f"/api/users/{group.pk}/", "patch"), ("/api/profiles/", "post"), ("/api/users/", "post")):
        response = getattr(api, method)(url, raw, content_type="application/json")
        assert response.status_code in (200, 201, 400, 404), (url, response.content)


def test_the_pages_create_a_group_with_a_policy_and_a_user_in_it(client, admin, profiles):
    client.force_login(admin)
    response = client.post("/manage/groups/", {"name": "lab"})
    group = Group.objects.get(name="lab")
    assert response["Location"] == f"/manage/groups/{group.pk}/"
    response = client.post(f"/manage/groups/{group.pk}/policy", {"max_desktops": "1", "memory_bytes": "2G",
                                                                  "rdp_access": "false", "clipboard": "off",
                                                                  "restrict_profiles": "true",
                                                                  "profiles": [profiles["desktop"].pk]})
    assert response.status_code == 302, response.content.decode()[:3000]
    response = client.post("/manage/users/", {"username": "erin", "password": "Erin-pw-2026!",
                                              "groups": [group.pk]})
    erin = User.objects.get(username="erin")
    assert response["Location"] == f"/manage/users/{erin.pk}/"
    page = client.get(f"/manage/users/{erin.pk}/").content.decode()
    assert 'data-effective="memory_bytes">2.0\xa0GB' in page and "RDP no" in page
    policy = effective_policy(user=erin)
    assert (policy.max_desktops, policy.memory_bytes, policy.clipboard) == (1, 2 << 30, "off")
    assert policy.profiles == frozenset({"desktop"})
    # bad input: the form again, 400, the field's message
    response = client.post(f"/manage/groups/{group.pk}/policy", {"max_width": "5", "memory_bytes": "lots"})
    assert response.status_code == 400
    form = response.context["policy_form"]
    assert set(form.errors) == {"max_width", "memory_bytes"}
    response = client.post("/manage/users/", {"username": "erin", "password": "x"})
    assert response.status_code == 400 and set(response.context["form"].errors) == {"username", "password"}
    assert client.get("/manage/users/999999/").status_code == 404


def test_the_pages_disable_reset_and_delete_a_user_and_manage_profiles(client, admin, alice, profiles):
    client.force_login(admin)
    assert client.post(f"/manage/users/{alice.pk}/active", {"active": "0"})["Location"] == f"/manage/users/{alice.pk}/"
    alice.refresh_from_db()
    assert not alice.is_active
    response = client.post(f"/manage/users/{alice.pk}/password", {"password": "short"})
    assert response.status_code == 400 and "password" in response.context["password_form"].errors
    client.post(f"/manage/users/{alice.pk}/password", {"password": "Alice-new-2026!"})
    alice.refresh_from_db()
    assert alice.check_password("Alice-new-2026!")
    page = client.get("/manage/users/").content.decode()
    assert 'data-user="alice"' in page and "disabled" in page
    response = client.post("/manage/profiles/", {"name": "kiosk", "label": "Kiosk", "startup": "exec xterm",
                                                 "default_width": "800"})
    assert response.status_code == 400 and "default_width" in response.context["form"].errors
    client.post("/manage/profiles/", {"name": "kiosk", "label": "Kiosk", "startup": "exec xterm", "wayland": "on"})
    kiosk = DesktopProfile.objects.get(name="kiosk")
    assert kiosk.wayland and kiosk.startup == "exec xterm"
    client.post(f"/manage/profiles/{kiosk.pk}/", {"name": "kiosk", "label": "Kiosk 2", "startup": ""})
    kiosk.refresh_from_db()
    assert (kiosk.label, kiosk.startup, kiosk.wayland) == ("Kiosk 2", "", False)
    client.post(f"/manage/profiles/{kiosk.pk}/delete")
    assert client.post(f"/manage/users/{alice.pk}/delete")["Location"] == "/manage/users/"
    assert not User.objects.filter(username="alice").exists()
    assert not DesktopProfile.objects.filter(name="kiosk").exists()
    assert list(AuditEvent.objects.exclude(action__startswith="login.").order_by("id")
                .values_list("action", flat=True)) == [
        "user.disable", "user.password_reset", "profile.create", "profile.change", "profile.delete", "user.delete"]


OPTIONAL = {
    "max_desktops": st.none() | st.integers(0, 10), "max_width": st.none() | st.integers(320, 1920),
    "max_height": st.none() | st.integers(240, 1200), "idle_timeout": st.none() | st.integers(0, 10**5),
    "max_lifetime": st.none() | st.integers(0, 10**5), "memory_bytes": st.none() | st.integers(0, 1 << 34),
    "cpus": st.none() | st.sampled_from([0.0, 0.5, 1.0, 2.0]), "pids": st.none() | st.integers(0, 5000),
    "browser_access": st.none() | st.booleans(), "rdp_access": st.none() | st.booleans(),
    "clipboard": st.none() | st.sampled_from(["both", "to_desktop", "from_desktop", "off"]),
    "file_upload": st.none() | st.booleans(), "file_download": st.none() | st.booleans(),
    "share_view": st.none() | st.booleans(), "share_control": st.none() | st.booleans(),
}
UNLIMITED_AT_ZERO = {"idle_timeout", "max_lifetime", "memory_bytes", "cpus", "pids"}


def _at_least(field: str, more, less) -> bool:
    if isinstance(more, bool):
        return more or not less
    if field == "clipboard":
        from webconsole.policies.effective import CLIPBOARD_WAYS
        return all(m or not s for m, s in zip(CLIPBOARD_WAYS[more], CLIPBOARD_WAYS[less], strict=True))
    if field in UNLIMITED_AT_ZERO:
        return more == 0 or (less != 0 and more >= less)
    return more >= less


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.fixed_dictionaries(OPTIONAL), second=st.fixed_dictionaries(OPTIONAL))
def test_joining_another_group_never_takes_anything_away(alice, first, second):
    """Most permissive wins: whatever a second group's policy says, every field the first group
    sets is at least what it was with the first group alone. (A field no group set is the
    server's default, which a group may well restrict: that is what group policies are for.)"""
    from tests.webconsole.policies.conftest import group_with_policy

    Group.objects.all().delete()
    group_with_policy("first", [alice], **first)
    before = effective_policy(user=alice)
    group_with_policy("second", [alice], **second)
    after = effective_policy(user=alice)
    for field in (f for f in OPTIONAL if first[f] is not None):
        assert _at_least(field, getattr(after, field), getattr(before, field)), (field, before, after)
