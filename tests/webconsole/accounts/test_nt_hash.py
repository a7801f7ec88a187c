"""The NT hashes NLA needs: stored on every way a password is set, encrypted at rest, stale or
forgotten when they must not be used, re-encrypted on key rotation; NLA logins through Django
(``rdp_nla.authenticate_nla``) with a real NTLM exchange (pyspnego's initiator)."""

from __future__ import annotations

import pytest
import spnego
from asgiref.sync import async_to_sync
from axes.models import AccessFailureLog
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from rdpfront.nla import NlaProof, Verdict
from rdpfront.ntlm import NtlmAcceptor, nt_hash
from webconsole.accounts.models import NtHash
from webconsole.accounts.nt_hash import default_key, nt_hash_for, nt_hash_forget, nt_hash_status
from webconsole.audit.models import AuditEvent
from webconsole.desktops import rdp_nla

pytestmark = pytest.mark.django_db

PASSWORD = "pw-nla-123"


def test_create_user_stores_it_encrypted() -> None:
    user = User.objects.create_user("ann", password=PASSWORD)
    row = NtHash.objects.get(user=user)
    assert nt_hash(PASSWORD) not in bytes(row.encrypted)
    assert nt_hash_for(user=user) == nt_hash(PASSWORD)


def test_create_superuser_and_set_password_store_it() -> None:
    admin = User.objects.create_superuser("root2", password=PASSWORD)
    assert nt_hash_for(user=admin) == nt_hash(PASSWORD)
    admin.set_password("another-pw-456")
    admin.save()
    assert nt_hash_for(user=admin) == nt_hash("another-pw-456")


def test_changepassword_command_stores_it(monkeypatch) -> None:
    user = User.objects.create_user("cmd", password=PASSWORD)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "new-cmd-pass-789")
    call_command("changepassword", "cmd")
    user.refresh_from_db()
    assert nt_hash_for(user=user) == nt_hash("new-cmd-pass-789")


def test_admin_password_change_stores_it(admin_user) -> None:
    user = User.objects.create_user("adm", password=PASSWORD)
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/admin/auth/user/{user.pk}/password/",
                           {"password1": "admin-set-pw-321", "password2": "admin-set-pw-321"})
    assert response.status_code == 302, response.content[:500]
    user.refresh_from_db()
    assert nt_hash_for(user=user) == nt_hash("admin-set-pw-321")


def test_a_user_from_before_gets_one_by_logging_in_on_the_web() -> None:
    user = User.objects.create_user("old", password=PASSWORD)
    NtHash.objects.filter(user=user).delete()
    assert nt_hash_status(user=user) == "missing"
    assert Client().post("/accounts/login/", {"username": "old", "password": "wrong-one"}).status_code == 200
    assert nt_hash_status(user=user) == "missing"
    assert Client().post("/accounts/login/", {"username": "old", "password": PASSWORD}).status_code == 302
    assert nt_hash_for(user=user) == nt_hash(PASSWORD)


def test_the_desktop_list_says_when_nla_cannot_log_the_user_in() -> None:
    user = User.objects.create_user("notice", password=PASSWORD)
    client = Client()
    client.force_login(user)
    assert b'data-nla="no-hash"' not in client.get("/desktops/").content
    NtHash.objects.filter(user=user).delete()
    page = client.get("/desktops/").content.decode()
    assert 'data-nla="no-hash"' in page and "log in again with your password" in page


def test_a_password_changed_behind_its_back_makes_it_stale() -> None:
    user = User.objects.create_user("raw", password=PASSWORD)
    User.objects.filter(pk=user.pk).update(password="md5$x$" + "0" * 32)
    user.refresh_from_db()
    assert nt_hash_status(user=user) == "stale" and nt_hash_for(user=user) is None


def test_deactivating_or_an_unusable_password_forgets_it() -> None:
    user = User.objects.create_user("gone", password=PASSWORD)
    user.is_active = False
    user.save()
    assert not NtHash.objects.filter(user=user).exists()
    other = User.objects.create_user("nopw", password=PASSWORD)
    other.set_unusable_password()
    other.save()
    assert not NtHash.objects.filter(user=other).exists()
    third = User.objects.create_user("withdrawn", password=PASSWORD)
    nt_hash_forget(user=third)
    assert nt_hash_status(user=third) == "missing"


def test_rdp_access_withdrawn_by_a_policy_forgets_it() -> None:
    from django.contrib.auth.models import Group

    from webconsole.policies.models import Policy

    user = User.objects.create_user("pol", password=PASSWORD)
    policy = Policy.objects.create(user=user, rdp_access=False)
    assert nt_hash_status(user=user) == "missing"
    user.set_password("while-refused-1")
    user.save()
    assert nt_hash_status(user=user) == "missing"  # not stored while RDP is refused
    policy.delete()
    user.set_password("allowed-again-2")
    user.save()
    assert nt_hash_for(user=user) == nt_hash("allowed-again-2")
    no_rdp = Group.objects.create(name="no-rdp")
    Policy.objects.create(group=no_rdp, rdp_access=False)
    user.groups.add(no_rdp)
    assert nt_hash_status(user=user) == "missing"


def test_keys_rotate(settings) -> None:
    user = User.objects.create_user("rot", password=PASSWORD)
    old = bytes(NtHash.objects.get(user=user).encrypted)
    new_key = Fernet.generate_key().decode()
    settings.WRD_CREDENTIAL_KEYS = [new_key]
    assert nt_hash_for(user=user) is None  # the old (derived) key is gone: unreadable, not wrong
    settings.WRD_CREDENTIAL_KEYS = [new_key, default_key()]
    assert nt_hash_for(user=user) == nt_hash(PASSWORD)
    call_command("rotate_credential_keys")
    settings.WRD_CREDENTIAL_KEYS = [new_key]
    assert bytes(NtHash.objects.get(user=user).encrypted) != old
    assert nt_hash_for(user=user) == nt_hash(PASSWORD)


# ---- NLA logins through Django ------------------------------------------------------------

def proof_for(username: str, password: str) -> NlaProof:
    """An NLA proof as the CredSSP server hands it over, from a real NTLM exchange (the key
    binding is the server's concern: here it always holds)."""
    client = spnego.client(username, password, protocol="ntlm")
    acceptor = NtlmAcceptor()
    info = acceptor.authenticate(client.step(acceptor.negotiate(client.step())))
    return NlaProof(info.username, info.domain, info.workstation, acceptor.verify)


def nla_login(username: str, password: str, address: str = "192.0.2.7") -> Verdict:
    return async_to_sync(rdp_nla.authenticate_nla)(proof_for(username, password), address)


@pytest.mark.django_db(transaction=True)
def test_nla_logins_are_checked_counted_and_audited(settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("nla", password=PASSWORD)
    assert nla_login("nla", PASSWORD) is Verdict.OK
    assert nla_login("nla", "wrong") is Verdict.FAILED
    assert nla_login("nobody", PASSWORD) is Verdict.FAILED
    assert AccessFailureLog.objects.filter(username="nla", path_info="rdp-nla").count() == 1
    assert nla_login("nla", "wrong-2") is Verdict.THROTTLED  # the address's third failure locks it
    assert nla_login("nla", PASSWORD) is Verdict.THROTTLED
    assert nla_login("nla", PASSWORD, address="192.0.2.8") is Verdict.OK  # another address is not locked
    # one policy for every door: the web login page refuses the locked address too
    assert Client(REMOTE_ADDR="192.0.2.7").post("/accounts/login/", {"username": "nla", "password": PASSWORD}
                                                ).status_code == 429
    events = list(AuditEvent.objects.filter(actor_name="nla").values_list("action", "details"))
    assert events.count(("login.success", {"door": "rdp-nla"})) == 2
    assert ("login.failed", {"door": "rdp-nla", "throttled": True}) in events


@pytest.mark.django_db(transaction=True)
def test_nla_without_a_hash_and_for_inactive_users(caplog) -> None:
    user = User.objects.create_user("before", password=PASSWORD)
    NtHash.objects.filter(user=user).delete()
    assert nla_login("before", PASSWORD) is Verdict.NO_HASH
    assert "log in once on the web console" in caplog.text
    user.is_active = False
    user.save()
    assert nla_login("before", PASSWORD) is Verdict.FAILED


@pytest.mark.django_db(transaction=True)
def test_nla_for_a_user_whose_policy_refuses_rdp(caplog) -> None:
    from webconsole.policies.models import Policy

    user = User.objects.create_user("nordp", password=PASSWORD)
    Policy.objects.create(user=user, rdp_access=False)
    assert nla_login("nordp", PASSWORD) is Verdict.DENIED
    assert "refused by policy: RDP access is turned off" in caplog.text
