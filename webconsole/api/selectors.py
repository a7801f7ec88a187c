"""Reads of API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from webconsole.api.models import ApiToken


def token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """``user``'s own tokens, newest first (staff too see only their own here)."""
    return ApiToken.objects.filter(user=user)
