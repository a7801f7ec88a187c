"""Login throttling on every door: 20 wrong passwords from one address are refused on the login
page, the admin, REST Basic auth and RDP; the same user from another address still gets in;
cool-off and an admin's reset lift it; the count lives in the database."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import AsyncClient, Client
from rest_framework.test import APIClient

from tests.conftest import ROOT, session_process_env
from webconsole.desktops import rdp

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKER, OTHER = "127.0.0.1", "127.0.0.2"
GUESSES = 20
PASSWORD = "pw-alice-123"


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def admin():
    return User.objects.create_superuser("root-admin", password="pw-admin-123")


def web_login(address: str, password: str, username: str = "alice", path: str = "/accounts/login/"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def api_get(address: str, password: str, username: str = "alice"):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return APIClient(REMOTE_ADDR=address).get("/api/desktops/", HTTP_AUTHORIZATION=f"Basic {token}")


def rdp_login(address: str, password: str, username: str = "alice") -> bool:
    return async_to_sync(rdp.authenticate)(username, password, address)


def expire_attempts() -> None:
    """As if the cool-off had passed since the last failure."""
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time
                                 - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


def test_the_default_policy_counts_per_address_and_persists():
    assert settings.AXES_LOCKOUT_PARAMETERS == ["ip_address", ["username", "ip_address"]]
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"
    assert settings.AXES_FAILURE_LIMIT < GUESSES
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_web_login_locks_the_guessing_address_only(alice):
    answers = [web_login(ATTACKER, f"guess-{n}").status_code for n in range(GUESSES)]
    assert answers[0] == 200  # the form again, with its error
    assert answers[-1] == 429
    # locked out: even the right password is refused from that address, with a page saying why
    locked = web_login(ATTACKER, PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed logins from your address" in locked.content
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    # the real user, elsewhere, logs in
    elsewhere = web_login(OTHER, PASSWORD)
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/desktops/"
    # after the cool-off the first address works again
    expire_attempts()
    assert web_login(ATTACKER, PASSWORD).status_code == 302


def test_guesses_at_many_names_lock_the_address(alice):
    """Per address first: spreading guesses over user names does not get around the limit."""
    for n in range(GUESSES):
        web_login(ATTACKER, "guess", username=f"someone-{n}")
    assert web_login(ATTACKER, PASSWORD).status_code == 429
    assert web_login(OTHER, PASSWORD).status_code == 302


def test_admin_login_is_locked_too(admin):
    for n in range(GUESSES):
        web_login(ATTACKER, f"guess-{n}", username="root-admin", path="/admin/login/")
    locked = web_login(ATTACKER, "pw-admin-123", username="root-admin", path="/admin/login/")
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert web_login(OTHER, "pw-admin-123", username="root-admin", path="/admin/login/").status_code == 302


def test_api_basic_auth_answers_429_with_a_reason(alice):
    answers = [api_get(ATTACKER, f"guess-{n}") for n in range(GUESSES)]
    assert answers[0].status_code in (401, 403)
    assert answers[-1].status_code == 429
    locked = api_get(ATTACKER, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed logins from your address" in locked.json()["detail"]
    assert int(locked["Retry-After"]) > 0
    assert api_get(OTHER, PASSWORD).status_code == 200
    # the lockout is shared: the login page refuses that address as well
    assert web_login(ATTACKER, PASSWORD).status_code == 429
    expire_attempts()
    assert api_get(ATTACKER, PASSWORD).status_code == 200


def test_rdp_logins_are_throttled_per_address(alice, caplog):
    assert not any(rdp_login(ATTACKER, f"guess-{n}") for n in range(GUESSES))
    assert not rdp_login(ATTACKER, PASSWORD)
    assert "rdp login throttled user='alice' address=127.0.0.1" in caplog.text
    assert rdp_login(OTHER, PASSWORD)
    assert rdp_login("::1", PASSWORD)
    # RDP's failures are the web's too: one policy, one count
    assert web_login(ATTACKER, PASSWORD).status_code == 429
    assert AccessFailureLog.objects.filter(ip_address=ATTACKER, path_info="rdp", locked_out=True).exists()


def test_an_admin_reset_lifts_the_lockout(alice):
    for n in range(GUESSES):
        web_login(ATTACKER, f"guess-{n}")
    assert not rdp_login(ATTACKER, PASSWORD)
    call_command("axes_reset_ip", ATTACKER)
    assert rdp_login(ATTACKER, PASSWORD)


def test_the_lockout_survives_a_new_process(alice):
    """The count is in the database: another process (a restarted server) sees the lockout."""
    for n in range(GUESSES):
        rdp_login(ATTACKER, f"guess-{n}")
    assert AccessFailureLog.objects.filter(ip_address=ATTACKER, locked_out=True).exists()
    check = ("import django; django.setup(); from webconsole.core.login_throttle import check_login; "
             f"print(check_login(username='alice', password={PASSWORD!r}, address={ATTACKER!r}, door='rdp'), "
             f"check_login(username='alice', password={PASSWORD!r}, address={OTHER!r}, door='rdp')[0])")
    env = session_process_env(DJANGO_SETTINGS_MODULE="webconsole.config.django.test",
                              DATABASE_URL=f"sqlite:///{settings.DATABASES['default']['NAME']}")
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "(None, True) alice"


def test_admins_see_the_lockout_and_can_lift_it_in_the_admin(alice, admin):
    for n in range(GUESSES):
        web_login(ATTACKER, f"guess-{n}")
    console = Client(REMOTE_ADDR=OTHER)
    console.force_login(admin)
    listing = console.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and ATTACKER.encode() in listing.content
    failures = console.get("/admin/axes/accessfailurelog/")
    assert failures.status_code == 200 and ATTACKER.encode() in failures.content
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    deleted = console.post("/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": attempts,
                                                          "post": "yes"})
    assert deleted.status_code == 302
    assert web_login(ATTACKER, PASSWORD).status_code == 302


class AsyncClientAt(AsyncClient):
    """An ASGI test client whose requests come from ``address`` (the scope's ``client``)."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def _base_scope(self, **request):
        return {**super()._base_scope(**request), "client": [self.address, 0]}


async def test_the_lockout_page_under_asgi(alice):
    """Daphne serves the console over ASGI, where the axes middleware takes its async path."""
    attacker, other = AsyncClientAt(ATTACKER), AsyncClientAt(OTHER)
    form = {"username": "alice", "password": "wrong"}
    for _ in range(GUESSES):
        await attacker.post("/accounts/login/", form)
    locked = await attacker.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429 and b"Too many failed logins from your address" in locked.content
    assert (await other.post("/accounts/login/", {"username": "alice", "password": PASSWORD})).status_code == 302


def test_failure_records_are_pruned_by_age_by_the_daily_job(alice):
    from django.utils import timezone

    from webconsole.core.tasks import login_failure_logs_prune_task

    for address in ("192.0.2.1", "192.0.2.2"):
        Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": "alice", "password": "wrong"})
    old, recent = AccessFailureLog.objects.order_by("pk")
    AccessFailureLog.objects.filter(pk=old.pk).update(
        attempt_time=timezone.now() - timedelta(days=settings.WRD_LOGIN_FAILURE_LOG_DAYS + 1))
    assert login_failure_logs_prune_task() == 1
    assert list(AccessFailureLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert "prune-login-failure-logs" in settings.CELERY_BEAT_SCHEDULE


def test_guesses_at_one_name_from_many_addresses_slow_it_down_without_locking_it(alice, settings):
    """Past the per-address limit's worth of failures at one name (spread over addresses, so no
    address is locked), a login to that name waits, doubling per failure up to the maximum;
    the right password still gets in, from the web and over RDP."""
    import time

    from webconsole.core.login_throttle import account_delay

    settings.WRD_LOGIN_ACCOUNT_DELAY_MAX = 2
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        Client(REMOTE_ADDR=f"198.51.100.{i + 1}").post("/accounts/login/", {"username": "alice", "password": "no"})
    assert account_delay(username="alice") == 0.0
    Client(REMOTE_ADDR="198.51.100.200").post("/accounts/login/", {"username": "alice", "password": "no"})
    assert account_delay(username="alice") == 1.0
    Client(REMOTE_ADDR="198.51.100.201").post("/accounts/login/", {"username": "alice", "password": "no"})
    assert account_delay(username="alice") == 2.0  # and never more than the maximum
    assert account_delay(username="bob") == 0.0  # other names are not slowed

    started = time.monotonic()
    response = Client(REMOTE_ADDR="203.0.113.5").post("/accounts/login/", {"username": "alice",
                                                                           "password": PASSWORD})
    assert response.status_code == 302 and time.monotonic() - started >= 1.9  # in, after the wait
    started = time.monotonic()
    assert async_to_sync(rdp.authenticate)("alice", PASSWORD, "203.0.113.6")
    assert time.monotonic() - started >= 1.9
