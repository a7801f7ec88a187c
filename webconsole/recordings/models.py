"""Recordings of desktops, and the desktops' connection history (who watched, when)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models

from webconsole.desktops.models import DesktopSession


class RecordingState(models.TextChoices):
    RECORDING = "recording"  # a recorder process should be writing it
    FINISHED = "finished"
    FAILED = "failed"


class Recording(models.Model):
    """One MP4 file of one desktop, which one recorder process writes (``manage.py record``).

    A recording whose recorder died while its desktop runs on is finished as it is (the
    fragmented file plays up to where it stopped) and continued in a new one by reconcile."""

    desktop = models.ForeignKey(DesktopSession, on_delete=models.CASCADE, related_name="recordings")
    file = models.CharField(max_length=255)  # name inside WRD_RECORDINGS_DIR
    state = models.CharField(max_length=16, choices=RecordingState.choices, default=RecordingState.RECORDING)
    # Who asked: an admin (on demand), or nobody (the WRD_RECORD_ALL_DESKTOPS policy).
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    size = models.BigIntegerField(default=0)
    duration = models.FloatField(default=0.0)  # seconds of picture (and sound) in the file
    has_audio = models.BooleanField(default=False)
    # The session host's monotonic clock (µs) at the file's time zero: frames' pts minus this
    # is their time in the file.
    origin_us = models.BigIntegerField(null=True, blank=True)
    video_started_at = models.DateTimeField(null=True, blank=True)  # the wall-clock time of that zero
    recorder_pid = models.PositiveIntegerField(null=True, blank=True)
    node = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["desktop", "state"]), models.Index(fields=["state", "node"])]

    def __str__(self) -> str:
        return f"recording {self.pk} of desktop {self.desktop_id} ({self.state})"

    @property
    def path(self) -> Path:
        return Path(settings.WRD_RECORDINGS_DIR) / self.file

    @property
    def is_live(self) -> bool:
        return self.state == RecordingState.RECORDING


class ConnectionKind(models.TextChoices):
    BROWSER = "browser"
    RDP = "rdp"


class Connection(models.Model):
    """A viewer of a desktop: a browser viewer socket or an RDP connection, opened and closed."""

    desktop = models.ForeignKey(DesktopSession, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=ConnectionKind.choices)
    address = models.CharField(max_length=64, blank=True)
    view_only = models.BooleanField(default=False)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["desktop", "opened_at"])]

    def __str__(self) -> str:
        return f"{self.kind} connection to desktop {self.desktop_id}"
