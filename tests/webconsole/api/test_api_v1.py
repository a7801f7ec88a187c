"""The versioned API: one error body, 404 alike for others' objects and missing ones, desktop
lists with filters and pages, the old unversioned paths, the schema and its docs."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def unconsumed_queue(redis_server, settings):
    settings.WRD_NODE = "node-without-worker"


@pytest.fixture
def alice():
    return User.objects.create_user("alice-v1", password="pw-alice-v1-1")


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


def _desktops(owner, *states):
    return [DesktopSession.objects.create(owner=owner, width=800, height=600, state=s, name=f"d-{i}-{s}")
            for i, s in enumerate(states)]


def test_input_errors_say_which_field_and_why(api):
    bad = api.post("/api/v1/desktops/start", {"width": "wide", "height": -5, "name": "x" * 101}, format="json")
    assert bad.status_code == 400
    body = bad.json()
    assert body["code"] == "invalid" and set(body["fields"]) == {"width", "name"}
    assert body["fields"]["width"] == ["A whole number is required (not a string)."]
    assert body["detail"].startswith("Invalid input: ")

    service_refusal = api.post("/api/v1/desktops/start", {"width": 10, "height": 10}, format="json")
    assert service_refusal.status_code == 400  # the policy's refusal, by field
    assert "outside the allowed range" in service_refusal.json()["fields"]["size"][0]
    limit = api.post(f"/api/v1/desktops/{_desktops(User.objects.get(username='alice-v1'), 'requested')[0].pk}/stop")
    assert limit.status_code == 202
    stopped = api.post("/api/v1/desktops/start", {"width": 800, "height": 600}, format="json")
    assert stopped.status_code == 202
    for _ in range(5):  # past the policy's count: a refusal with its code and no fields
        refused = api.post("/api/v1/desktops/start", {"width": 800, "height": 600}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "limit" and "fields" not in refused.json()

    broken = api.generic("POST", "/api/v1/desktops/start", b"{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    deep = api.generic("POST", "/api/v1/desktops/start", b'{"name":' + b"[" * 5000 + b"]" * 5000 + b"}",
                       content_type="application/json")  # past json's recursion: not a 500
    assert deep.status_code == 400 and deep.json()["code"] == "parse_error"
    assert api.put("/api/v1/desktops/start", {}, format="json").json()["code"] == "method_not_allowed"


def test_unknown_ids_and_other_users_objects_get_the_same_404(api):
    bob = User.objects.create_user("bob-v1")
    (theirs,) = _desktops(bob, DesktopState.STOPPED)
    answers = [api.get(f"/api/v1/desktops/{pk}/") for pk in (theirs.pk, 987654)]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json() == {"detail": "No such desktop.", "code": "not_found"}
    for verb in ("stop", "restart", "resize"):
        assert api.post(f"/api/v1/desktops/{theirs.pk}/{verb}", {"width": 800, "height": 600},
                        format="json").status_code == 404
    nowhere = Client().get("/api/v1/no-such-endpoint/")
    assert nowhere.status_code == 404 and nowhere.json() == {"detail": "Not found.", "code": "not_found"}
    assert Client().get("/api/v1/desktops/").json()["code"] == "not_authenticated"


def test_desktop_list_filters_and_pages(api, alice):
    _desktops(alice, DesktopState.STOPPED, DesktopState.FAILED, DesktopState.STOPPED, DesktopState.REQUESTED)
    _desktops(User.objects.create_user("carol-v1"), DesktopState.STOPPED)
    page = api.get("/api/v1/desktops/?page_size=3").json()
    assert page["count"] == 4 and len(page["results"]) == 3 and page["next"] and page["previous"] is None
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1
    assert {d["state"] for d in api.get("/api/v1/desktops/?state=stopped,failed").json()["results"]} == \
        {"stopped", "failed"}
    assert api.get("/api/v1/desktops/?state=stopped,failed").json()["count"] == 3
    assert [d["state"] for d in api.get("/api/v1/desktops/?all=false").json()["results"]] == ["requested"]
    assert api.get("/api/v1/desktops/?name=1-failed").json()["count"] == 1
    # another user's desktops stay out of a non-staff list, whatever is asked
    assert api.get("/api/v1/desktops/?everyone=true").json()["count"] == 4
    assert api.get("/api/v1/desktops/?owner=carol-v1").json()["count"] == 4
    bad = api.get("/api/v1/desktops/?state=sleeping&all=maybe")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"state", "all"}
    for query in ("state=", "state=stopped,", "state=stopped&state=nap", "state=stopped&state="):
        answer = api.get(f"/api/v1/desktops/?{query}")
        assert answer.status_code == 400 and set(answer.json()["fields"]) == {"state"}, query
    assert api.get("/api/v1/desktops/?state=stopped&state=failed").json()["count"] == 3
    for path in ("/api/v1/desktops/?stat=stopped", "/api/v1/tokens/?x=1", "/api/v1/audit/?actr=bob"):
        answer = api.get(path)
        assert answer.status_code in (400, 403) and (answer.status_code == 403 or answer.json()["fields"]), path
    unknown = api.get("/api/v1/desktops/?stat=stopped").json()
    assert unknown["fields"] == {"stat": ["Unknown parameter."]}
    assert api.get("/api/v1/desktops/?page=99").status_code == 404
    for size in ("0", "201", "x", "true", "1&page_size=2"):
        answer = api.get(f"/api/v1/desktops/?page_size={size}")
        assert answer.status_code == 400 and set(answer.json()["fields"]) == {"page_size"}, size
    form = api.post("/api/v1/desktops/start", {"width": 800, "height": 600}, format="multipart")
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"

    legacy = api.get("/api/desktops/").json()  # the unversioned path keeps its plain list
    assert isinstance(legacy, list) and len(legacy) == 4

    staff = APIClient()
    staff.force_authenticate(User.objects.create_user("root-v1", is_staff=True))
    assert staff.get("/api/v1/desktops/?everyone=true").json()["count"] == 5
    assert staff.get("/api/v1/desktops/?owner=carol-v1").json()["count"] == 1


def test_restart_of_a_stopped_desktop_queues_it_and_is_audited(api, alice):
    from webconsole.audit.models import AuditEvent

    stopped, requested = _desktops(alice, DesktopState.STOPPED, DesktopState.REQUESTED)
    answer = api.post(f"/api/v1/desktops/{stopped.pk}/restart", REMOTE_ADDR="192.0.2.9")
    assert answer.status_code == 202 and answer.json()["state"] == "requested"
    event = AuditEvent.objects.get(action="desktop.restart")
    assert (event.actor_name, event.target_id, event.details["was"]) == ("alice-v1", str(stopped.pk), "stopped")
    refused = api.post(f"/api/v1/desktops/{requested.pk}/restart")
    assert refused.status_code == 400 and refused.json()["code"] == "state"


def test_me_tells_who_is_signed_in(api):
    me = api.get("/api/v1/me/").json()
    assert me["username"] == "alice-v1" and me["is_staff"] is False and me["groups"] == []


def test_schema_and_docs_are_served_here(alice):
    client = Client()
    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for path in ("/api/v1/desktops/", "/api/v1/desktops/{desktop_id}/restart", "/api/v1/me/", "/api/v1/tokens/",
                 "/api/v1/audit/", "/api/v1/health/"):
        assert path in paths
    assert not any(p.startswith("/api/desktops") for p in paths)  # the old mount is not described
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "basicAuth"}
    stop = schema["paths"]["/api/v1/desktops/{desktop_id}/stop"]["post"]["responses"]
    assert {"202", "400", "401", "403", "404"} <= set(stop)
    assert stop["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")

    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower() and "//" not in docs.split("src=")[1][:3]
    asset = docs.split('src="')[1].split('"')[0]
    assert asset.startswith("/static/") and client.get(asset).status_code == 200
