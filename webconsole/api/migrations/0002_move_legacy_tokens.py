"""Moves the keys of ``rest_framework.authtoken`` (stored in clear) into hashed API tokens,
so scripts using them keep working, and deletes the clear copies."""

import hashlib

from django.db import migrations


def move(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("api", "ApiToken")
    for old in Token.objects.all():
        digest = hashlib.sha256(old.key.encode()).hexdigest()
        if not ApiToken.objects.filter(digest=digest).exists():
            made = ApiToken.objects.create(user_id=old.user_id, name="Token from before versioned tokens",
                                           prefix=old.key[:8], digest=digest)
            ApiToken.objects.filter(pk=made.pk).update(created_at=old.created)
    Token.objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(move, migrations.RunPython.noop)]
