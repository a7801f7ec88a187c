from django.contrib import admin

from webconsole.desktops.models import DesktopSession


@admin.register(DesktopSession)
class DesktopSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "name", "state", "width", "height", "node", "display", "created_at")
    list_filter = ("state", "node")
    search_fields = ("owner__username", "name")
    readonly_fields = ("created_at", "started_at", "stopped_at", "last_activity_at", "host_pid", "runtime_dir")
