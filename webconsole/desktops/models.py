"""Desktop sessions: the console's record of every session host."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models


class DesktopState(models.TextChoices):
    REQUESTED = "requested"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


ACTIVE_STATES = (DesktopState.REQUESTED, DesktopState.STARTING, DesktopState.RUNNING, DesktopState.STOPPING)
LIVE_STATES = (DesktopState.STARTING, DesktopState.RUNNING, DesktopState.STOPPING)


class DesktopSession(models.Model):
    audit_type = "desktop"  # what the audit log calls it (its filters take "desktop:12")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desktops")
    name = models.CharField(max_length=100, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=DesktopState.choices, default=DesktopState.REQUESTED)
    failure_reason = models.TextField(blank=True)
    node = models.CharField(max_length=255)
    display = models.CharField(max_length=32, blank=True)
    runtime_dir = models.CharField(max_length=512, blank=True)
    host_pid = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # For reconcile to settle rows whose job was lost: when the start was queued again (once),
    # when a stop was last asked for.
    requeued_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    # Who the desktop runs as and how it is contained (from its launch).
    unix_user = models.CharField(max_length=64, blank=True)
    uid = models.PositiveIntegerField(null=True, blank=True)
    containment = models.CharField(max_length=32, blank=True)
    private_tmp = models.BooleanField(default=False)
    memory_limit = models.BigIntegerField(null=True, blank=True)
    # The last resource sample (reconcile takes one each round): live CPU % is measured against it.
    memory_bytes = models.BigIntegerField(null=True, blank=True)
    cpu_usage_ns = models.BigIntegerField(null=True, blank=True)
    usage_sampled_at = models.DateTimeField(null=True, blank=True)
    oom_kills = models.PositiveIntegerField(default=0)
    notice = models.TextField(blank=True)
    # An existing X display served as this desktop (staff attach it for an owner): empty for a
    # desktop of its own Xvfb. The authority file is read by the worker at each start.
    attach_display = models.CharField(max_length=64, blank=True)
    attach_xauthority = models.CharField(max_length=1024, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "state"]), models.Index(fields=["node", "state"])]

    def __str__(self) -> str:
        return f"desktop {self.pk} of {self.owner} ({self.state})"

    @property
    def socket_path(self) -> Path | None:
        from compositor.sandbox import socket_path

        return socket_path(Path(self.runtime_dir)) if self.runtime_dir else None

    @property
    def is_attached(self) -> bool:
        return bool(self.attach_display)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES
