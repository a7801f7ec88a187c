"""Shares of running desktops: with a user, a group, or whoever opens a link."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webconsole.desktops.models import DesktopSession


class ShareKind(models.TextChoices):
    USER = "user"
    GROUP = "group"
    LINK = "link"


class ShareQuerySet(models.QuerySet):
    def active(self, now=None) -> ShareQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class Share(models.Model):
    """A grant by a desktop's owner: ``control`` False is view-only. A link share stores only the
    SHA-256 of its token; whoever opens the link (signed in) is noted in ``ShareRedemption``."""

    desktop = models.ForeignKey(DesktopSession, on_delete=models.CASCADE, related_name="shares")
    kind = models.CharField(max_length=8, choices=ShareKind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="desktop_shares")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="desktop_shares")
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    control = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ShareQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["desktop", "revoked_at"])]
        constraints = [
            models.CheckConstraint(name="share_grantee_matches_kind", condition=(
                Q(kind="user", user__isnull=False, group__isnull=True)
                | Q(kind="group", group__isnull=False, user__isnull=True)
                | Q(kind="link", user__isnull=True, group__isnull=True) & ~Q(token_hash=""))),
        ]

    def __str__(self) -> str:
        return f"{self.kind} share {self.pk} of desktop {self.desktop_id}"

    @property
    def grantee_label(self) -> str:
        if self.kind == ShareKind.USER:
            return self.user.get_username()
        if self.kind == ShareKind.GROUP:
            return f"group {self.group.name}"
        return "anyone signed in with the link"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ShareRedemption(models.Model):
    """A signed-in user who opened a link share: from then on the link's grant is theirs too."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["share", "user"], name="one_redemption_per_user")]


class ViewerControl(models.Model):
    """The owner's choice for one open shared viewer (a browser connection), over its share's
    ``control``: given control, or made view-only. A change of the share's control clears these."""

    connection = models.OneToOneField("recordings.Connection", on_delete=models.CASCADE, related_name="+")
    control = models.BooleanField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField(auto_now=True)
