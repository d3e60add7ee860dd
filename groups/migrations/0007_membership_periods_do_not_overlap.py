"""On PostgreSQL, two periods of the same customer in the same group may not overlap.

The services check it first (with a message); this exclusion constraint decides between
concurrent writers. ``tstzrange(joined_at, left_at)`` is the period as rating reads it
(``joined_at`` included, ``left_at`` excluded, open-ended while ``left_at`` is null); a period
left the moment it began is empty and overlaps nothing. SQLite has no such constraint: its
writers take turns (``transaction_mode = IMMEDIATE``), so the services' check is enough there.
"""

from django.db import migrations

CONSTRAINT = "groups_membership_periods_no_overlap"


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"ALTER TABLE groups_membership ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
        "(group_id WITH =, customer_id WITH =, tstzrange(joined_at, left_at, '[)') WITH &&)"
    )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE groups_membership DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("groups", "0006_membership_backdated_start")]

    operations = [migrations.RunPython(add, remove, elidable=False)]
