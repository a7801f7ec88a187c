"""The admin's account pages and user delete paths, through the Django test client."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse

from tests.webconsole.accounts.conftest import make_system_account, needs_root
from webconsole.accounts import selectors, services, unix
from webconsole.accounts.models import UnixAccount

pytestmark = [needs_root, pytest.mark.django_db]


@pytest.fixture
def admin_client_(client):
    admin = User.objects.create_superuser("admin", password="pw-admin")
    client.force_login(admin)
    return client


def test_delete_with_homes_asks_then_deletes(admin_client_, managed_accounts):
    users = [User.objects.create_user(name) for name in ("rita", "sam")]
    accounts = [services.unix_account_ensure(user=user) for user in users]
    changelist = reverse("admin:auth_user_changelist")
    form = {"action": "delete_with_homes", ACTION_CHECKBOX_NAME: [u.pk for u in users]}

    page = admin_client_.post(changelist, form)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Delete users and their desktop homes?" in body
    for account in accounts:
        assert account.name in body and account.home in body and str(account.uid) in body
    assert User.objects.filter(pk__in=[u.pk for u in users]).count() == 2  # nothing happened yet
    assert all(unix.lookup(a.name) for a in accounts)

    done = admin_client_.post(changelist, {**form, "post": "yes"})
    assert done.status_code == 302
    assert not User.objects.filter(pk__in=[u.pk for u in users]).exists()
    assert not UnixAccount.objects.exists()
    for account in accounts:
        assert unix.lookup(account.name) is None and not os.path.lexists(account.home)


def test_normal_delete_keeps_the_system_account(admin_client_, managed_accounts):
    user = User.objects.create_user("tom")
    account = services.unix_account_ensure(user=user)
    managed_accounts.append(account.name)
    url = reverse("admin:auth_user_delete", args=[user.pk])
    page = admin_client_.get(url)
    assert page.status_code == 200 and "Are you sure" in page.content.decode()
    assert admin_client_.post(url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=user.pk).exists() and not UnixAccount.objects.exists()
    assert pwd.getpwnam(account.name).pw_uid == account.uid and Path(account.home).is_dir()


def test_bulk_delete_goes_through_the_service(admin_client_, managed_accounts):
    user = User.objects.create_user("uma")
    account = services.unix_account_ensure(user=user)
    managed_accounts.append(account.name)
    changelist = reverse("admin:auth_user_changelist")
    form = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [user.pk]}
    page = admin_client_.post(changelist, form)
    assert page.status_code == 200 and "Are you sure" in page.content.decode()
    admin_client_.post(changelist, {**form, "post": "yes"})
    assert not User.objects.filter(pk=user.pk).exists()
    assert unix.lookup(account.name) is not None


def test_user_page_shows_the_account(admin_client_, managed_accounts):
    user = User.objects.create_user("vic")
    account = services.unix_account_ensure(user=user)
    page = admin_client_.get(reverse("admin:auth_user_change", args=[user.pk]))
    assert page.status_code == 200 and account.name in page.content.decode()
    listing = admin_client_.get(reverse("admin:accounts_unixaccount_changelist"))
    assert listing.status_code == 200 and account.name in listing.content.decode()


def test_adding_an_account_links_a_system_account(admin_client_, managed_accounts, home_root):
    user = User.objects.create_user("wes")
    add = reverse("admin:accounts_unixaccount_add")
    refused = admin_client_.post(add, {"user": user.pk, "name": "root"})
    assert refused.status_code == 200 and "desktops never run as root" in refused.content.decode()
    assert selectors.unix_account_for(user=user) is None

    name = "wrdtlink-wes"
    low, _high = settings.WRD_UID_RANGE
    uid = make_system_account(managed_accounts, name, home_root, low=low - 10000, high=low - 1)
    assert admin_client_.post(add, {"user": user.pk, "name": name}).status_code == 302
    account = selectors.unix_account_for(user=user)
    assert (account.name, account.uid, account.managed) == (name, uid, False)

    # A link can be removed from the admin; the system account stays.
    delete = reverse("admin:accounts_unixaccount_delete", args=[account.pk])
    assert admin_client_.post(delete, {"post": "yes"}).status_code == 302
    assert selectors.unix_account_for(user=user) is None and unix.lookup(name) is not None
