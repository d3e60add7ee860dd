"""Create the two roles, Pricing managers and Support staff, with their permissions."""

from django.db import migrations

from billing.roles import noop, sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("groups", "0001_initial"),
        ("pricing", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync_roles, noop)]
