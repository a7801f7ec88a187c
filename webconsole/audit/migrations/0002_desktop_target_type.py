"""Events about a desktop recorded from its model (shares, RDP reconnections, admins opening
it) said ``desktopsession``; every other desktop event says ``desktop``, which is what the
audit log's filters take. One name for all."""

from django.db import migrations


def rename(apps, schema_editor):
    apps.get_model("audit", "AuditEvent").objects.filter(target_type="desktopsession").update(target_type="desktop")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
