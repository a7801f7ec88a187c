"""API tokens in the admin site: seen and revoked there, never made (a secret is shown once,
to its owner, on the API tokens page). DRF's own clear-text token admin is taken away: its
tokens no longer log anyone in (they were moved to hashed tokens, docs/api.md)."""

from django.contrib import admin
from django.utils import timezone

from webconsole.api.models import ApiToken
from webconsole.audit.services import record

try:
    from rest_framework.authtoken.admin import TokenProxy

    admin.site.unregister(TokenProxy)
except (ImportError, admin.sites.NotRegistered):
    pass


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "prefix", "digest", "created_at", "last_used_at", "last_used_address", "revoked_at")
    fields = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "last_used_address",
              "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at=None):
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
            record("token.revoke", actor=request.user, target=token, target_type="token",
                   address=request.META.get("REMOTE_ADDR", ""), owner=token.user.get_username(), via="admin site")
