from django.contrib import admin

from webconsole.recordings.models import Connection, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("id", "desktop", "state", "started_at", "ended_at", "duration", "size", "has_audio",
                    "requested_by")
    list_filter = ("state",)
    readonly_fields = [f.name for f in Recording._meta.fields]



@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("id", "desktop", "user", "kind", "address", "opened_at", "closed_at")
    list_filter = ("kind",)
    readonly_fields = [f.name for f in Connection._meta.fields]
