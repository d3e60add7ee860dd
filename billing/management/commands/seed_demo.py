"""``python manage.py seed_demo [--scale N] [--usage N]``: demo data, safe to run twice."""

import time

from django.core.management.base import BaseCommand, CommandParser

from billing.demo import seed_price_models, seed_scale, seed_worked_example
from billing.demo_criteria import seed_vip_criteria


class Command(BaseCommand):
    help = (
        "Create the worked example (VIP Customers, Standard, Startup Program, Summer Promo 2026, "
        "their customers, price lists and rules) and the users manager, support and admin. "
        "--scale N adds N generated customers with proportionate groups, rules and memberships."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=int,
            default=0,
            metavar="N",
            help="also generate N customers (N/100 groups, N/20 rules, 10 memberships each)",
        )
        parser.add_argument(
            "--usage",
            type=int,
            default=None,
            metavar="N",
            help="with --scale: pending usage records to generate (default: N, the scale)",
        )

    def handle(self, *args, scale: int, usage: int | None, **options) -> None:
        if scale < 0 or (usage is not None and usage < 0):
            self.stderr.write("--scale and --usage must be zero or more.")
            raise SystemExit(2)
        report = seed_worked_example()
        self._print_created("Worked example", report.created)
        self._print_created("Price models", seed_price_models().created)
        self._print_created("VIP Customers by criteria", seed_vip_criteria())
        self.stdout.write("Users (user name / password / role):")
        for username, password, role in report.users:
            self.stdout.write(f"  {username:<8} {password:<18} {role}")
        if scale:
            started = time.perf_counter()
            scaled = seed_scale(scale, usage=scale if usage is None else usage)
            took = time.perf_counter() - started
            self._print_created(f"Scale {scale} ({took:.1f} s)", scaled.created)

    def _print_created(self, title: str, created: dict[str, int]) -> None:
        if not created:
            self.stdout.write(f"{title}: already present, nothing changed.")
            return
        summary = ", ".join(f"{n} {what}" for what, n in created.items())
        self.stdout.write(self.style.SUCCESS(f"{title}: created {summary}."))
