"""The two profiles every server starts with: "minimal" (the server's default start-up: openbox
and an xterm, or WRD_SESSION_STARTUP) and "desktop" (XFCE from Debian's packages)."""

from django.db import migrations

PROFILES = [
    {"name": "minimal", "label": "Minimal (window manager + terminal)",
     "description": "openbox and a terminal: the server's default start-up (WRD_SESSION_STARTUP when set)",
     "startup": "", "wayland": True, "icon": "utilities-terminal"},
    {"name": "desktop", "label": "Desktop (XFCE)",
     "description": "XFCE: panel, desktop, Thunar file manager, Mousepad editor, terminal, Firefox",
     "startup": "exec xfce4-session", "wayland": False, "icon": "user-desktop"},
]


def seed(apps, schema_editor):
    profile = apps.get_model("policies", "DesktopProfile")
    for fields in PROFILES:
        profile.objects.get_or_create(name=fields["name"], defaults=fields)


def unseed(apps, schema_editor):
    apps.get_model("policies", "DesktopProfile").objects.filter(name__in=[p["name"] for p in PROFILES]).delete()


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
