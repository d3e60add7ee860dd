"""Fixtures shared by the pricing tests."""

import pytest
from django.db import connection


@pytest.fixture
def rating_log(transactional_db):
    """A PostgreSQL trigger logging every pending -> rated/unrated transition with the backend
    that made it; yields ``counts()``: (transitions, distinct records, distinct backends)."""
    if connection.vendor != "postgresql":
        pytest.skip("the transition log is a PostgreSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE rating_log (id uuid NOT NULL, pid int NOT NULL);
            CREATE FUNCTION rating_log_write() RETURNS trigger AS $$
            BEGIN INSERT INTO rating_log VALUES (NEW.id, pg_backend_pid()); RETURN NEW; END $$
            LANGUAGE plpgsql;
            CREATE TRIGGER rating_log AFTER UPDATE ON pricing_usagerecord FOR EACH ROW
            WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
            EXECUTE FUNCTION rating_log_write();
            """
        )

    def counts() -> tuple[int, int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*), COUNT(DISTINCT id), COUNT(DISTINCT pid) FROM rating_log"
            )
            return cursor.fetchone()

    try:
        yield counts
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER rating_log ON pricing_usagerecord; "
                "DROP FUNCTION rating_log_write(); DROP TABLE rating_log;"
            )
