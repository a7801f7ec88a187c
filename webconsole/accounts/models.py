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
