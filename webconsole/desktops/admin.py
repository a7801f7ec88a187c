from django.contrib import admin

from webconsole.desktops.models import DesktopSession


@admin.register(DesktopSession)
class DesktopSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "name", "state", "width", "height", "node", "display", "unix_user", "uid",
                    "containment", "oom_kills", "created_at")
    list_filter = ("state", "node", "containment")
    search_fields = ("owner__username", "name", "unix_user")
    readonly_fields = ("created_at", "started_at", "stopped_at", "last_activity_at", "host_pid", "runtime_dir",
                       "unix_user", "uid", "containment", "private_tmp", "memory_limit", "memory_bytes",
                       "cpu_usage_ns", "usage_sampled_at", "oom_kills", "notice", "attach_display", "attach_xauthority")
