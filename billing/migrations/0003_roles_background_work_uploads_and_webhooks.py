"""Roles again: pricing managers get background work, uploads and webhook endpoints; support
staff see uploads."""

from django.db import migrations

from billing.roles import noop, sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_webhook_events"),
        ("background", "0001_work"),
        ("pricing", "0011_upload_records"),
    ]

    operations = [migrations.RunPython(sync_roles, noop)]
