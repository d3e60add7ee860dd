"""``python manage.py usage_partitions``: the usage table's monthly partitions on PostgreSQL.

    python manage.py usage_partitions                    # list the partitions and their rows
    python manage.py usage_partitions --ahead 3          # create this month's and 3 more
    python manage.py usage_partitions --convert          # partition a plain table, live
    python manage.py usage_partitions --convert --chunk 20000
    python manage.py usage_partitions --drop-old         # drop the table --convert left
    python manage.py usage_partitions --detach 2025-01   # detach a month to archive it

``--convert`` runs on a live database: writes made while it copies reach the new table through
a trigger, rows are copied in chunks (each its own transaction), and the swap holds the table's
lock for one short transaction. Interrupted, it starts again from the beginning next time. The
old table stays as ``pricing_usagerecord_old`` until ``--drop-old``. See ``pricing.partitions``.
On SQLite there is one table and the command says so.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pricing import partitions
from pricing.clock import billing_today


def _month(value: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise CommandError(f"--detach takes a month as YYYY-MM, not {value!r}.") from None


class Command(BaseCommand):
    help = "List, create ahead, convert to, or detach the usage table's monthly partitions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--ahead",
            type=int,
            metavar="MONTHS",
            help="create this month's partition and this many months after it",
        )
        parser.add_argument(
            "--convert", action="store_true", help="partition a plain usage table (live, chunked)"
        )
        parser.add_argument(
            "--chunk",
            type=int,
            default=50_000,
            help="rows per transaction of --convert (default %(default)s)",
        )
        parser.add_argument(
            "--drop-old", action="store_true", help="drop the table a --convert left behind"
        )
        parser.add_argument("--detach", metavar="YYYY-MM", help="detach one month's partition")

    def handle(self, *args, **options) -> None:
        if not partitions.applies():
            self.stdout.write("SQLite keeps usage records in one table: nothing to partition.")
            return
        if options["convert"]:
            self._convert(options["chunk"])
        if options["ahead"] is not None:
            if options["ahead"] < 0:
                raise CommandError("--ahead takes a number of months, 0 or more.")
            self._need_partitioned()
            created = partitions.ensure_ahead(billing_today(), ahead=options["ahead"])
            self.stdout.write(f"Created {len(created)} partition(s): {', '.join(created) or '-'}")
        if options["detach"]:
            self._need_partitioned()
            month = _month(options["detach"])
            known = {p.first for p in partitions.partitions()}
            if month not in known:
                raise CommandError(f"There is no partition for {month:%Y-%m}.")
            name = partitions.detach_month(month)
            self.stdout.write(
                f"Detached {name}: it is a plain table now. Archive it (pg_dump -t {name}) "
                "and drop it when done."
            )
        if options["drop_old"]:
            dropped = partitions.drop_old()
            self.stdout.write(
                f"Dropped {partitions.OLD}." if dropped else "There is no old table to drop."
            )
        self._list()

    def _need_partitioned(self) -> None:
        if not partitions.is_partitioned():
            raise CommandError(
                "The usage table is not partitioned yet: run `manage.py usage_partitions "
                "--convert` first."
            )

    def _convert(self, chunk: int) -> None:
        if chunk < 1:
            raise CommandError("--chunk takes a number of rows, 1 or more.")
        if partitions.is_partitioned():
            self.stdout.write("The usage table is already partitioned.")
            return

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  copied {done:,} of about {total:,} records")

        (copied, seconds) = partitions.timed(
            partitions.convert, today=billing_today(), chunk=chunk, progress=progress
        )
        self.stdout.write(
            f"Converted: {copied:,} records copied in {seconds:.1f} s. The old table is kept as "
            f"{partitions.OLD}; check the counts, then run --drop-old."
        )

    def _list(self) -> None:
        found = partitions.partitions()
        if not found:
            self.stdout.write("The usage table is one plain table (not partitioned).")
            return
        sizes = partitions.row_estimates([p.name for p in found])
        self.stdout.write(f"{'partition':<36} {'month':<8} {'rows (estimate)':>16}")
        for p in found:
            self.stdout.write(f"{p.name:<36} {p.label:<8} {sizes.get(p.name, 0):>16,}")
