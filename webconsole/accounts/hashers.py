"""Password hashers that also note the NT hash of each password they make a hash for, so the
NT hash NLA needs is stored however a password is set (``nt_hash.user_saved`` takes it when
the user row with that password hash is saved).

``set_password`` leaves the raw password for the save; ``UserManager.create_user`` (and so
``createsuperuser``) calls ``make_password`` directly and leaves nothing. Both call the
default hasher's ``salt()`` then ``encode()``; checking a password calls ``encode()`` without
``salt()``, so only hashes being made are noted. The notes are per thread, a few at most, and
each is taken once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher

from rdpfront.ntlm import nt_hash

MAX_NOTES = 16
_local = threading.local()


def _notes() -> OrderedDict[str, bytes]:
    notes = getattr(_local, "notes", None)
    if notes is None:
        notes = _local.notes = OrderedDict()
    return notes


def take_noted(encoded: str) -> bytes | None:
    """The NT hash of the password ``encoded`` was made from, if this thread made it."""
    return _notes().pop(encoded, None)


class NtHashNotingMixin:
    def salt(self) -> str:
        _local.making = True
        return super().salt()  # type: ignore[misc]

    def encode(self, password, salt, *args, **kwargs) -> str:
        encoded = super().encode(password, salt, *args, **kwargs)  # type: ignore[misc]
        if getattr(_local, "making", False):
            _local.making = False
            if isinstance(password, str):
                notes = _notes()
                notes[encoded] = nt_hash(password)
                while len(notes) > MAX_NOTES:
                    notes.popitem(last=False)
        return encoded


class PBKDF2NtHashNotingHasher(NtHashNotingMixin, PBKDF2PasswordHasher):
    """Django's default hasher (same algorithm name: existing hashes stay valid)."""


class MD5NtHashNotingHasher(NtHashNotingMixin, MD5PasswordHasher):
    """The test suite's fast hasher."""
