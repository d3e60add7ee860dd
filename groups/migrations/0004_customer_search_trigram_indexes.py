"""Trigram indexes for the customer search (PostgreSQL only; nothing happens on SQLite).

``Customer.objects.search`` filters with ``icontains`` on name, external ID and email, which
PostgreSQL runs as ``UPPER(col::text) LIKE UPPER('%term%')``: a B-tree cannot answer that, so
every search read the whole customer table. A GIN ``gin_trgm_ops`` index on exactly that
expression lets the planner answer each of the three conditions from an index and OR the
bitmaps. The indexes live outside the model state (they are a PostgreSQL access path, not
part of the schema the app relies on), so SQLite and ``makemigrations`` never see them.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

COLUMNS = ("name", "external_id", "email")


def _index(column: str) -> str:
    return f"groups_customer_{column}_trgm"


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {_index(column)} ON groups_customer "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {_index(column)}")


class Migration(migrations.Migration):
    dependencies = [("groups", "0003_membership_history_index")]

    operations = [
        # CREATE EXTENSION IF NOT EXISTS pg_trgm; a no-op on other databases.
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
