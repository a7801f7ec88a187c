"""The NT hashes NLA needs: set whenever a password is set, encrypted at rest, forgotten when
RDP access goes.

NLA's NTLM proves knowledge of MD4(UTF-16LE(password)); Django keeps only slow salted hashes
that cannot give it. So for each user allowed to use RDP an ``NtHash`` row holds it, encrypted
with ``cryptography``'s MultiFernet under ``WRD_CREDENTIAL_KEYS`` (the first key encrypts, all
decrypt; ``manage.py rotate_credential_keys`` re-encrypts under the first). Without that
setting a key derived from the secret key is used, so a fresh install works.

When it is set: ``user_saved`` (a post_save receiver) sees ``user._password``, which
``set_password`` leaves for ``AbstractBaseUser.save``, or the NT hash the password hasher noted
when it made the saved hash (``hashers.py``: ``create_user`` and ``createsuperuser`` use
``make_password`` directly) -- the console, the admin, ``changepassword``, ``createsuperuser``
and the API all go through one of them; ``PasswordBackend``
stores it at a password login when it is missing or stale (users created before NLA existed
get theirs by logging in once on the web). Each row carries a stamp of the Django password hash
it was made with: a password changed without ``set_password`` makes it stale, and a stale
hash is never used. The trade-off is written in docs/security.md.
"""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from rdpfront.ntlm import nt_hash as compute_nt_hash
from webconsole.accounts.hashers import take_noted
from webconsole.accounts.models import NtHash

log = logging.getLogger(__name__)

STAMP_SALT = "webconsole.accounts.nt_hash"
MISSING_ADVICE = "log in once on the web console with their password, or have their password reset"


def default_key() -> str:
    """The key used while WRD_CREDENTIAL_KEYS is empty: derived from the secret key (HKDF). Put
    it last in WRD_CREDENTIAL_KEYS when moving to keys of your own, then rotate."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"wrd credential key (NT hashes)").derive(settings.SECRET_KEY.encode())
    return base64.urlsafe_b64encode(derived).decode()


def _fernet() -> MultiFernet:
    keys = [k for k in getattr(settings, "WRD_CREDENTIAL_KEYS", []) if k] or [default_key()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured("WRD_CREDENTIAL_KEYS must hold Fernet keys (32 url-safe base64 bytes each), "
                                   "comma-separated") from None


def password_stamp(user: AbstractBaseUser) -> str:
    return salted_hmac(STAMP_SALT, user.password, algorithm="sha256").hexdigest()


def rdp_allowed(user: AbstractBaseUser) -> bool:
    """Whether ``user`` may log in over RDP, so their NT hash is kept: active, and RDP access
    in their effective policy (webconsole/policies)."""
    if not user.is_active:
        return False
    from webconsole.policies.effective import effective_policy

    return bool(effective_policy(user=user).rdp_access)


# ---- services ---------------------------------------------------------------------------

def nt_hash_set(*, user: AbstractBaseUser, password: str) -> None:
    """Store the NT hash of ``password``, the user's current password (or forget it when the
    user may not use RDP)."""
    _store(user, compute_nt_hash(password))


def _store(user: AbstractBaseUser, secret: bytes) -> None:
    if not rdp_allowed(user) or not user.has_usable_password():
        nt_hash_forget(user=user)
        return
    token = _fernet().encrypt(secret)
    NtHash.objects.update_or_create(user=user, defaults={"encrypted": token, "password_stamp": password_stamp(user)})
    log.info("nt hash stored user=%s", user.pk)


def nt_hash_forget(*, user: AbstractBaseUser) -> None:
    """Remove the user's NT hash (RDP access withdrawn, account deactivated, password unusable)."""
    deleted, _ = NtHash.objects.filter(user_id=user.pk).delete()
    if deleted:
        log.info("nt hash forgotten user=%s", user.pk)


def nt_hash_sync(*, users) -> int:
    """Forget the NT hashes of those of ``users`` who may no longer use RDP (their policy
    changed, a group with RDP turned off took them in); how many went."""
    gone = 0
    for user in users:
        if NtHash.objects.filter(user_id=user.pk).exists() and not rdp_allowed(user):
            nt_hash_forget(user=user)
            gone += 1
    return gone


def policy_saved(sender, instance, **kwargs) -> None:
    """post_save/post_delete of a policy: its user's, or its group's users', RDP access may have gone."""
    from django.contrib.auth import get_user_model

    # By ids: on a cascade delete the related user or group row may be gone already.
    users = get_user_model().objects.filter(nt_hash__isnull=False)
    if instance.user_id is not None:
        nt_hash_sync(users=users.filter(pk=instance.user_id))
    elif instance.group_id is not None:
        nt_hash_sync(users=users.filter(groups__id=instance.group_id))


def groups_changed(sender, instance, action: str, pk_set=None, **kwargs) -> None:
    """m2m_changed of users' groups (either side): a group's policy may turn RDP off for them."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if isinstance(instance, user_model):
        nt_hash_sync(users=[instance])
    elif pk_set:
        nt_hash_sync(users=user_model.objects.filter(pk__in=pk_set))


def nt_hash_rotate() -> int:
    """Re-encrypt every stored hash under the first of WRD_CREDENTIAL_KEYS; how many."""
    fernet = _fernet()
    count = 0
    for row in NtHash.objects.all():
        row.encrypted = fernet.rotate(bytes(row.encrypted))
        row.save(update_fields=["encrypted"])
        count += 1
    return count


# ---- selectors --------------------------------------------------------------------------

def nt_hash_status(*, user: AbstractBaseUser) -> str:
    """``stored``, ``missing`` or ``stale`` (the password changed without it being stored)."""
    row = NtHash.objects.filter(user_id=user.pk).only("password_stamp").first()
    if row is None:
        return "missing"
    return "stored" if row.password_stamp == password_stamp(user) else "stale"


def nt_hash_for(*, user: AbstractBaseUser) -> bytes | None:
    """The user's current NT hash, or None (missing, stale, or not readable with the keys)."""
    row = NtHash.objects.filter(user_id=user.pk).first()
    if row is None or row.password_stamp != password_stamp(user):
        return None
    try:
        return _fernet().decrypt(bytes(row.encrypted))
    except InvalidToken:
        log.error("nt hash of user=%s cannot be decrypted with WRD_CREDENTIAL_KEYS (a key removed too early?)",
                  user.pk)
        return None


# ---- hooks ------------------------------------------------------------------------------

def user_saved(sender, instance: AbstractBaseUser, created: bool = False, **kwargs) -> None:
    """post_save of the user model: ``set_password`` was called (``_password`` holds the new
    password until ``save`` clears it after this signal) or the password hash was made by one of
``hashers``' (``create_user``), or the user can no longer use RDP."""
    raw = getattr(instance, "_password", None)
    if raw is not None:
        nt_hash_set(user=instance, password=raw)
    elif (noted := take_noted(instance.password)) is not None:
        _store(instance, noted)
    elif not rdp_allowed(instance) or not instance.has_usable_password():
        nt_hash_forget(user=instance)
