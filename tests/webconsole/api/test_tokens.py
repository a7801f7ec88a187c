"""API tokens: made once and shown once, stored hashed, expiring, revoked, throttled like
passwords, audited; DRF's clear-text tokens moved into them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from webconsole.api import services
from webconsole.api.models import ApiToken
from webconsole.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice():
    return User.objects.create_user("alice-tok", password="pw-alice-tok-1")


def _client(value: str, scheme: str = "Token", address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {value}")
    return client


def test_a_token_is_shown_once_stored_hashed_and_logs_in_with_either_scheme(alice):
    made = services.token_create(user=alice, name="backup script")
    assert made.value.startswith("wrd_") and len(made.value) > 50
    row = ApiToken.objects.get(pk=made.token.pk)
    assert row.digest == hashlib.sha256(made.value.encode()).hexdigest()
    assert made.value not in (row.digest, row.prefix) and made.value.startswith(row.prefix + "_")

    for scheme in ("Token", "Bearer", "bearer"):
        me = _client(made.value, scheme).get("/api/v1/me/")
        assert me.status_code == 200, me.content
        assert (me.json()["username"], me.json()["auth"]) == ("alice-tok", "token")
    row.refresh_from_db()
    assert row.last_used_at is not None and row.last_used_address == "127.0.0.1"

    listed = _client(made.value).get("/api/v1/tokens/").json()
    assert listed["count"] == 1 and listed["results"][0]["prefix"] == row.prefix
    assert made.value not in str(listed)  # never shown again


def test_tokens_made_revoked_and_expired_through_the_api(alice):
    first = services.token_create(user=alice, name="first").value
    api = _client(first)
    created = api.post("/api/v1/tokens/", {"name": "ci", "expires_at": (timezone.now() + timedelta(days=1))
                                           .isoformat()}, format="json")
    assert created.status_code == 201, created.content
    second = created.json()["token"]
    assert _client(second).get("/api/v1/me/").status_code == 200

    revoked = api.post(f"/api/v1/tokens/{created.json()['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = _client(second).get("/api/v1/me/")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Invalid, expired or revoked token.", "code": "authentication_failed"}
    assert refused["WWW-Authenticate"] == "Token"

    ApiToken.objects.filter(user=alice, name="first").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/api/v1/me/").status_code == 401

    bad = APIClient()
    bad.force_authenticate(alice)
    past = bad.post("/api/v1/tokens/", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and "expires_at" in past.json()["fields"]
    nameless = bad.post("/api/v1/tokens/", {"name": "  "}, format="json")
    assert nameless.status_code == 400 and set(nameless.json()["fields"]) == {"name"}

    actions = list(AuditEvent.objects.filter(action__startswith="token.").values_list("action", flat=True))
    assert sorted(actions) == ["token.create", "token.create", "token.revoke"]


def test_another_users_token_is_not_found_and_cannot_be_revoked(alice):
    theirs = services.token_create(user=User.objects.create_user("bob-tok"), name="bob's").token
    api = APIClient()
    api.force_authenticate(alice)
    missing = api.get("/api/v1/tokens/999999/")
    assert api.get(f"/api/v1/tokens/{theirs.pk}/").json() == missing.json() == {"detail": "No such token.",
                                                                                "code": "not_found"}
    assert api.post(f"/api/v1/tokens/{theirs.pk}/revoke").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_guessing_tokens_locks_out_the_address_like_guessing_passwords(alice, settings):
    good = services.token_create(user=alice, name="good").value
    limit = django_settings.AXES_FAILURE_LIMIT
    for i in range(limit):
        answer = _client(f"wrd_deadbeef_guess{i}", address="192.0.2.50").get("/api/v1/me/")
        assert answer.status_code in (401, 429)
    locked = _client(good, address="192.0.2.50").get("/api/v1/me/")
    assert locked.status_code == 429, locked.content
    assert locked.json()["code"] == "login_throttled" and int(locked["Retry-After"]) > 0
    assert _client(good, address="192.0.2.51").get("/api/v1/me/").status_code == 200  # another address

    failures = AuditEvent.objects.filter(action="login.failed", address="192.0.2.50")
    assert failures.count() >= limit - 1
    assert {e.details["door"] for e in failures} == {"api-token"}
    assert {e.actor_name for e in failures} == {"wrd_deadbeef"}  # the public part, never a whole secret


def test_drf_clear_text_tokens_are_moved_into_hashed_ones(alice):
    import importlib

    from django.apps import apps
    from rest_framework.authtoken.models import Token

    old = Token.objects.create(user=alice)
    importlib.import_module("webconsole.api.migrations.0002_move_legacy_tokens").move(apps, None)
    assert not Token.objects.exists()
    moved = ApiToken.objects.get(user=alice)
    assert moved.prefix == old.key[:8] and moved.digest == hashlib.sha256(old.key.encode()).hexdigest()
    assert _client(old.key).get("/api/desktops/").status_code == 200


def test_the_tokens_page_shows_a_new_token_once_and_revokes(alice):
    client = Client()
    client.force_login(alice)
    page = client.post("/account/tokens/", {"name": "laptop", "expires_in_days": "30"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    value = page.content.decode().split("data-token>")[1].split("<")[0]
    assert value.startswith("wrd_") and _client(value).get("/api/v1/me/").status_code == 200
    again = client.get("/account/tokens/").content.decode()
    assert value not in again and "laptop" in again and value[:12] in again

    bad = client.post("/account/tokens/", {"name": "", "expires_in_days": "7"})
    assert bad.status_code == 400 and b"This field is required" in bad.content

    token = ApiToken.objects.get(user=alice)
    assert client.post(f"/account/tokens/{token.pk}/revoke").status_code == 302
    assert _client(value).get("/api/v1/me/").status_code == 401
