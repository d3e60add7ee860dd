"""Roles again: pricing managers get the criteria of groups; support staff see them."""

from django.db import migrations

from billing.roles import noop, sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_roles_changesets"),
        ("groups", "0012_criteria_groups_and_customer_attributes"),
    ]

    operations = [migrations.RunPython(sync_roles, noop)]
