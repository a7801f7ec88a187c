"""Reads of desktop accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from webconsole.accounts.models import UnixAccount


def unix_account_for(*, user: AbstractBaseUser) -> UnixAccount | None:
    return UnixAccount.objects.filter(user=user).first()


def unix_account_list() -> QuerySet[UnixAccount]:
    return UnixAccount.objects.select_related("user")
