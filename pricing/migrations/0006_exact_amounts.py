"""Amounts exact on SQLite: stored as integer cents (see pricing.fields.ExactDecimalField).

PostgreSQL keeps numeric(20, 2): nothing changes there. On SQLite, altering the column rebuilds
the usage table, which drops its queue triggers (migration 0003): existing amounts are converted
to cents and the triggers installed again.
"""

from importlib import import_module

from django.db import migrations

import pricing.fields

queue = import_module("pricing.migrations.0003_usage_queue")


def to_cents(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(
        "UPDATE pricing_usagerecord SET amount = CAST(ROUND(amount * 100) AS INTEGER) "
        "WHERE amount IS NOT NULL"
    )
    queue._run(schema_editor, queue.SQLITE_INSTALL)


def from_cents(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(
        "UPDATE pricing_usagerecord SET amount = amount / 100.0 WHERE amount IS NOT NULL"
    )
    queue._run(schema_editor, queue.SQLITE_INSTALL)


class Migration(migrations.Migration):
    dependencies = [
        ("pricing", "0005_rule_valid_from_defaults_to_billing_today"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usagerecord",
            name="amount",
            field=pricing.fields.ExactDecimalField(
                blank=True, decimal_places=2, max_digits=20, null=True
            ),
        ),
        migrations.RunPython(to_cents, from_cents),
    ]
