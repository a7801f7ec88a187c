"""Desktop profiles (what a desktop starts) and policies (what a user may do), per group with
per-user overrides. How they combine into one user's effective policy: ``effective.py`` and
docs/admin.md."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class DesktopProfile(models.Model):
    """A named start-up definition: the session leader's shell command (the desktop ends when
    it exits; empty: the server's default, WRD_SESSION_STARTUP or openbox + xterm), whether the
    session gets its Wayland compositor, the size a desktop of it starts at, an icon name."""

    name = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    startup = models.TextField(blank=True, max_length=4000)
    wayland = models.BooleanField(default=True)
    default_width = models.PositiveIntegerField(null=True, blank=True)
    default_height = models.PositiveIntegerField(null=True, blank=True)
    icon = models.CharField(max_length=64, blank=True, help_text="a freedesktop icon name, e.g. computer")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name


class Clipboard(models.TextChoices):
    BOTH = "both", "both ways"
    TO_DESKTOP = "to_desktop", "to the desktop only"
    FROM_DESKTOP = "from_desktop", "from the desktop only"
    OFF = "off", "off"


class Policy(models.Model):
    """One group's policy, or one user's override (exactly one of ``group``/``user``). Every
    field may be empty (None): the group has no say on it, or the user inherits it."""

    group = models.OneToOneField(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="wrd_policy")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="wrd_policy")
    max_desktops = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    max_width = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    max_height = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    idle_timeout = models.PositiveIntegerField(null=True, blank=True, help_text="seconds; 0: never")
    max_lifetime = models.PositiveIntegerField(null=True, blank=True, help_text="seconds; 0: no limit")
    memory_bytes = models.PositiveBigIntegerField(null=True, blank=True, help_text="bytes; 0: no limit")
    cpus = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1024.0)],
                             help_text="cores; 0: no quota")
    pids = models.PositiveIntegerField(null=True, blank=True, help_text="processes and threads; 0: no limit")
    # Profiles: ``restrict_profiles`` False: any profile; True: only ``profiles``; None: no say.
    restrict_profiles = models.BooleanField(null=True, blank=True)
    profiles = models.ManyToManyField(DesktopProfile, blank=True, related_name="policies")
    default_profile = models.ForeignKey(DesktopProfile, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    browser_access = models.BooleanField(null=True, blank=True)
    rdp_access = models.BooleanField(null=True, blank=True)
    clipboard = models.CharField(max_length=16, choices=Clipboard.choices, null=True, blank=True)
    file_upload = models.BooleanField(null=True, blank=True)
    file_download = models.BooleanField(null=True, blank=True)
    share_view = models.BooleanField(null=True, blank=True)
    share_control = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(
            condition=(models.Q(group__isnull=False, user__isnull=True)
                       | models.Q(group__isnull=True, user__isnull=False)),
            name="policy_of_a_group_or_a_user")]

    def __str__(self) -> str:
        return f"policy of group {self.group}" if self.group_id else f"policy override of {self.user}"


class DesktopLaunch(models.Model):
    """What a desktop was created with: its profile (the name kept if the profile goes) and the
    start-up command and Wayland switch taken from it then."""

    desktop = models.OneToOneField("desktops.DesktopSession", on_delete=models.CASCADE, related_name="launch")
    profile = models.ForeignKey(DesktopProfile, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="launches")
    profile_name = models.CharField(max_length=40)
    startup = models.TextField(blank=True)
    wayland = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"desktop {self.desktop_id} as {self.profile_name}"
