"""On PostgreSQL, the usage table is partitioned by month of occurred_at (pricing.partitions).

A table of up to CONVERT_IN_MIGRATION_MAX rows is converted here, in place. A larger one is left
as it is, with a notice: convert it on the live database with ``manage.py usage_partitions
--convert`` (chunked, writes allowed meanwhile), as README explains. SQLite keeps one table.
The queue's foreign key goes first: a partitioned table cannot be referenced by id alone.
"""

from datetime import UTC, datetime

from django.db import migrations, models

CONVERT_IN_MIGRATION_MAX = 200_000


QUEUE_KEY = "pricing_pendingusage_record_id_fk"


def drop_queue_key(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'pricing_pendingusage'::regclass "
            "AND confrelid = 'pricing_usagerecord'::regclass"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE pricing_pendingusage DROP CONSTRAINT "{name}"')


def restore_queue_key(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE pricing_pendingusage ADD CONSTRAINT {QUEUE_KEY} FOREIGN KEY (record_id) "
        "REFERENCES pricing_usagerecord (id) DEFERRABLE INITIALLY DEFERRED"
    )


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from pricing import partitions

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM pricing_usagerecord LIMIT %s) t",
            [CONVERT_IN_MIGRATION_MAX + 1],
        )
        rows = cursor.fetchone()[0]
    if rows > CONVERT_IN_MIGRATION_MAX:
        print(
            "\n  The usage table holds more than "
            f"{CONVERT_IN_MIGRATION_MAX:,} records: it is left unpartitioned. Convert it on "
            "the live database with `manage.py usage_partitions --convert` (see README)."
        )
        return
    partitions.convert(
        today=datetime.now(UTC).date(),
        live=False,
    )
    partitions.drop_old()


def unpartition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from pricing import partitions

    partitions.unconvert()


class Migration(migrations.Migration):
    atomic = False  # the conversion commits in steps (pricing.partitions.convert)

    dependencies = [("pricing", "0012_price_models_and_derived_lists")]

    operations = [
        # In the state everywhere; in the database on PostgreSQL only (SQLite, which keeps one
        # table, would rebuild the queue table under the usage table's triggers for nothing).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pendingusage",
                    name="record",
                    field=models.OneToOneField(
                        db_constraint=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="pricing.usagerecord",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_queue_key, restore_queue_key)],
        ),
        migrations.RunPython(partition, unpartition),
    ]
