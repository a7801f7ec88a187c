"""The audit log for admins: the page's filters and pages, the CSV export, the API with the
same filters, and the retention job run by a real Celery worker."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import wait_until
from webconsole.audit.models import AuditEvent
from webconsole.audit.services import record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff():
    return User.objects.create_user("auditor", password="pw-auditor-1", is_staff=True)


@pytest.fixture
def events(staff):
    alice = User.objects.create_user("alice-log")
    made = [
        record("login.failed", actor_name="=cmd|' /C calc'!A0", address="198.51.100.9", door="web"),
        record("login.success", actor=alice, address="192.0.2.1", door="web"),
        record("desktop.create", actor=alice, target_type="desktop", target_id=7, target_label="desktop 7 of alice",
               address="192.0.2.1", width=800, height=600),
        record("desktop.stop", actor=staff, target_type="desktop", target_id=7, target_label="desktop 7 of alice",
               address="10.0.0.2"),
        record("token.create", actor=alice, target_type="token", target_id=3, target_label="ci (wrd_1234…)"),
    ]
    old = record("desktop.create", actor=alice, target_type="desktop", target_id=1, target_label="desktop 1")
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=400))
    return [*made, old]


def _signed_in(staff) -> Client:
    """A console client of ``staff``, the login event it makes taken out of the way."""
    client = Client()
    client.force_login(staff)
    AuditEvent.objects.filter(actor_name=staff.username, action="login.success").delete()
    return client


def _page(client, query: str = "") -> tuple[int, list[str]]:
    answer = client.get(f"/manage/audit/{query}")
    html = answer.content.decode()
    return answer.status_code, [chunk.split('"')[0] for chunk in html.split('data-action="')[1:]
                                if not chunk.startswith("export")]


def test_the_page_filters_and_pages(staff, events):
    client = _signed_in(staff)
    status, actions = _page(client)
    assert status == 200 and actions == ["token.create", "desktop.stop", "desktop.create", "login.success",
                                         "login.failed", "desktop.create"]
    assert _page(client, "?action=desktop")[1] == ["desktop.stop", "desktop.create", "desktop.create"]
    assert _page(client, "?actor=alice-log&action=desktop.create")[1] == ["desktop.create", "desktop.create"]
    assert _page(client, "?target=desktop:7")[1] == ["desktop.stop", "desktop.create"]
    assert _page(client, "?target=of%20alice")[1] == ["desktop.stop", "desktop.create"]
    assert _page(client, "?address=192.0.2.")[1] == ["desktop.create", "login.success"]
    since = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert len(_page(client, f"?since={since}")[1]) == 5
    assert _page(client, f"?until={since}")[1] == ["desktop.create"]
    status, _ = _page(client, "?since=yesterday-ish")
    assert status == 400

    for i in range(60):
        record("desktop.resize", actor=staff, target_type="desktop", target_id=7, width=800 + i)
    first = client.get("/manage/audit/?action=desktop.resize").content.decode()
    assert "Page 1 of 2 · 60 events" in first and "page=2" in first
    second = client.get("/manage/audit/?action=desktop.resize&page=2").content.decode()
    assert second.count('data-action="desktop.resize"') == 10


def test_the_csv_export_streams_the_filtered_log_with_formulas_defused(staff, events):
    client = _signed_in(staff)
    answer = client.get("/manage/audit/export.csv?action=login")
    assert answer.status_code == 200 and answer.streaming
    assert answer["Content-Type"].startswith("text/csv") and "attachment" in answer["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert rows[0] == ["id", "at", "actor", "action", "target_type", "target_id", "target_label", "address", "details"]
    assert [r[3] for r in rows[1:]] == ["login.success", "login.failed"]
    assert rows[2][2] == "'=cmd|' /C calc'!A0"  # text, not a formula
    assert rows[1][8] == '{"door": "web"}'


def test_the_api_has_the_same_filters_and_is_for_staff_only(staff, events):
    api = APIClient()
    api.force_authenticate(staff)
    page = api.get("/api/v1/audit/?target=desktop:7&page_size=1").json()
    assert page["count"] == 2 and [e["action"] for e in page["results"]] == ["desktop.stop"]
    assert page["results"][0]["actor"] == "auditor" and page["results"][0]["address"] == "10.0.0.2"
    full = api.get("/api/v1/audit/?action=desktop.create&actor=alice-log").json()
    assert full["count"] == 2 and full["results"][0]["details"] == {"width": 800, "height": 600}
    bad = api.get("/api/v1/audit/?since=2026-12-31&until=2026-01-01")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"until"}
    bad = api.get("/api/v1/audit/?since=soon")
    assert bad.status_code == 400 and "since" in bad.json()["fields"]

    user = APIClient()
    user.force_authenticate(User.objects.get(username="alice-log"))
    assert user.get("/api/v1/audit/").status_code == 403


def test_retention_is_a_beat_job_that_a_worker_runs(staff, events, celery_worker, settings):
    from webconsole.audit.tasks import audit_prune_task

    schedule = django_settings.CELERY_BEAT_SCHEDULE["prune-audit-log"]
    assert schedule["task"] == "webconsole.audit.tasks.audit_prune_task"
    assert django_settings.WRD_AUDIT_RETENTION_DAYS == 365
    before = AuditEvent.objects.count()
    result = audit_prune_task.apply_async(queue="wrd")
    wait_until(lambda: AuditEvent.objects.count() == before - 1, 30, 0.2, "the worker to prune the old event")
    assert result.id and not AuditEvent.objects.filter(target_id="1").exists()
