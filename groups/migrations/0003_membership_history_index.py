from django.conf import settings
from django.db import migrations, models
from django.db.models.functions import Coalesce


def analyze_memberships(apps, schema_editor) -> None:
    """Give the planner statistics for the new expression index straight away.

    On an analysed SQLite database without statistics for this index, the planner was seen
    sorting a 100,000-member group's current members in a temporary B-tree until the next
    ANALYZE; PostgreSQL collects statistics on index expressions only when it analyses the
    table.
    """
    if schema_editor.connection.vendor in ("sqlite", "postgresql"):
        schema_editor.execute("ANALYZE groups_membership")


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0002_open_membership_customer_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                models.F("group"),
                Coalesce("left_at", "joined_at"),
                models.F("id"),
                name="groups_membership_change_idx",
            ),
        ),
        migrations.RunPython(analyze_memberships, migrations.RunPython.noop, elidable=True),
    ]
