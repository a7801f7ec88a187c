"""Desktop accounts: the Unix account each console user's desktops run as."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UnixAccount(models.Model):
    # PROTECT: a console user is deleted through services.user_delete, which decides what
    # happens to the system account; a plain cascade would forget a uid that still owns files.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="unix_account")
    name = models.CharField(max_length=32, unique=True)
    uid = models.PositiveIntegerField(unique=True)
    gid = models.PositiveIntegerField()
    home = models.CharField(max_length=4096)
    shell = models.CharField(max_length=255, default="/bin/bash")
    managed = models.BooleanField(
        default=True, help_text="WRD created this account (otherwise an administrator linked an existing one)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Unix account"

    def __str__(self) -> str:
        return f"{self.name} (uid {self.uid})"


class NtHash(models.Model):
    """The NT hash (MD4 of the UTF-16LE password) of a user allowed to use RDP, which NLA's NTLM
    needs and Django's password hashes cannot give; encrypted with WRD_CREDENTIAL_KEYS
    (webconsole/accounts/nt_hash.py, docs/security.md)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nt_hash")
    encrypted = models.BinaryField(help_text="Fernet token of the 16-byte NT hash")
    # An HMAC of the Django password hash it was made with: a password changed without
    # set_password (a raw update) leaves it stale, and a stale hash is not used.
    password_stamp = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "NT hash for RDP (NLA)"

    def __str__(self) -> str:
        return f"NT hash of user {self.user_id}"
