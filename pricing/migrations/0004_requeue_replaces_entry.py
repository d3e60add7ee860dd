# A record set back to pending gets a fresh queue entry, replacing any entry it still has.
#
# The old trigger kept an existing entry (ON CONFLICT DO NOTHING). An entry whose record was
# rated is settled, and a sweep's clean-up (or a queue run that wrote fewer rows than it
# claimed) deletes settled entries: if the record was set back to pending while that delete
# ran, the delete still saw it as rated and removed the entry the record now needed. Deleting
# the old entry and inserting a new row instead means the clean-up either waits for this
# transaction and finds its entry already gone, or never sees the new row.
# SQLite serialises writers: its trigger cannot race and is left as it is.

from django.db import migrations

NEW_BODY = """
CREATE OR REPLACE FUNCTION pricing_usage_enqueue_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pricing_pendingusage WHERE record_id = NEW.id;
    INSERT INTO pricing_pendingusage (record_id) VALUES (NEW.id);
    RETURN NULL;
END $$
"""
OLD_BODY = """
CREATE OR REPLACE FUNCTION pricing_usage_enqueue_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pricing_pendingusage (record_id) VALUES (NEW.id)
    ON CONFLICT (record_id) DO NOTHING;
    RETURN NULL;
END $$
"""


def _replace(body: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(body)

    return run


class Migration(migrations.Migration):
    dependencies = [("pricing", "0003_usage_queue")]

    operations = [migrations.RunPython(_replace(NEW_BODY), _replace(OLD_BODY))]
