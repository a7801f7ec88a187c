"""Authentication backends that keep the NT hashes of NLA (webconsole/accounts/nt_hash.py).

``PasswordBackend`` is Django's ``ModelBackend`` that, after a good password, stores the
user's NT hash when it is missing or stale: a user created before NLA existed gets one by
logging in once (web, API, or RDP over TLS). ``NtlmBackend`` checks an NLA login
(``nla_proof``: ``rdpfront.nla.NlaProof``) against the stored hash; it runs in Django's
``authenticate`` behind axes like every other login, so its failures are counted and a
locked-out address is refused before any check.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from webconsole.accounts import nt_hash

log = logging.getLogger(__name__)


class PasswordBackend(ModelBackend):
    """Django's ModelBackend, which also stores a missing or stale NT hash after a good password.
    A password it checked and refused raises ``PermissionDenied``, which ends Django's backend
    chain as a failed login (the same ``user_login_failed`` signal, so axes counts it): Django's
    own ModelBackend stays listed after it only so that sessions it made remain valid, and must
    not check the password a second time."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        if nt_hash.nt_hash_status(user=user) != "stored":
            nt_hash.nt_hash_set(user=user, password=password)
        return user


class NtlmBackend(ModelBackend):
    """``authenticate(request, username=..., nla_proof=...)``. When the user exists but may not
    use RDP (their policy), ``request.nla_denied`` is set; when they may but have no usable NT
    hash, ``request.nla_no_hash``: the caller says what to do."""

    def authenticate(self, request, username=None, nla_proof=None, **kwargs):
        if nla_proof is None or not username:
            return None
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if not nt_hash.rdp_allowed(user):
            if request is not None:
                request.nla_denied = True
            return None
        secret = nt_hash.nt_hash_for(user=user)
        if secret is None:
            if request is not None:
                request.nla_no_hash = True
            return None
        return user if nla_proof.verify(secret) else None
