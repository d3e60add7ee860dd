"""Roles again: pricing managers may approve and publish changesets; support staff see them."""

from django.db import migrations

from billing.roles import noop, sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_roles_background_work_uploads_and_webhooks"),
        ("pricing", "0015_changesets"),
    ]

    operations = [migrations.RunPython(sync_roles, noop)]
