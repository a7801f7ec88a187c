"""The audit log: who did what to which object, from where, and when. Rows are only added."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One recorded action. ``actor`` is the user who acted (None for the system or an
    unknown name, whose text is then in ``actor_name``); ``target_*`` name the object acted on
    by type, id and a readable label kept even after the object is gone."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)  # dotted: "login.failed", "desktop.start"
    target_type = models.CharField(max_length=32, blank=True)  # "desktop", "user", "group", ...
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "at"]), models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target_type} {self.target_label}"
