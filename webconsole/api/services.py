"""Making, checking and revoking API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from webconsole.api.models import ApiToken
from webconsole.audit.services import record

TOKEN_SCHEME = "wrd"
PREFIX_CHARS = 8
SECRET_BYTES = 32
MAX_TOKENS_PER_USER = 50
# A token's use is written back at most this often (a write per request would be wasted work).
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    value: str  # the whole secret token: shown once, never stored


def token_create(*, user: AbstractBaseUser, name: str, expires_at: datetime | None = None,
                 address: str = "") -> NewToken:
    """A new token of ``user``: ``wrd_<8 public characters>_<43 characters of a 32-byte secret>``."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give the token a name."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    live = ApiToken.objects.filter(user=user, revoked_at=None)
    if live.count() >= MAX_TOKENS_PER_USER:
        raise ValidationError(f"you already have {MAX_TOKENS_PER_USER} tokens; revoke one first", code="limit")
    public = secrets.token_hex(PREFIX_CHARS // 2)
    value = f"{TOKEN_SCHEME}_{public}_{secrets.token_urlsafe(SECRET_BYTES)}"
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=f"{TOKEN_SCHEME}_{public}",
                                    digest=token_digest(value), expires_at=expires_at)
    record("token.create", actor=user, target=token, target_type="token", address=address,
           expires_at=expires_at.isoformat() if expires_at else None)
    return NewToken(token=token, value=value)


def token_revoke(*, token: ApiToken, actor: AbstractBaseUser, address: str = "") -> ApiToken:
    """Revoke ``token`` (its owner or staff); revoking twice is no error."""
    if token.user_id != actor.pk and not actor.is_staff:
        raise PermissionDenied("this token belongs to another user")
    if ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now()):
        record("token.revoke", actor=actor, target=token, target_type="token", address=address,
               owner=token.user.get_username())
    token.refresh_from_db()
    return token


def token_authenticate(*, value: str, address: str = "") -> ApiToken | None:
    """The usable token whose secret is ``value`` (its use noted), or None."""
    if not value or len(value) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(value)).first()
    if token is None or not token.is_usable:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION \
            or token.last_used_address != address[:64]:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_address=address[:64])
        token.last_used_at, token.last_used_address = now, address[:64]
    return token
