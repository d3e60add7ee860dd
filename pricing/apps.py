from django.apps import AppConfig


class PricingConfig(AppConfig):
    """Price lists, pricing rules, the rating engine, rating, simulation and audit."""

    name = "pricing"
    verbose_name = "Pricing"

    def ready(self) -> None:
        from pricing import criteria, periodic

        periodic.register()
        # The rated-usage condition of criteria groups, their daily refresh and expiry.
        criteria.register()

        # The range of supported dates is the engine's; groups checks its dates by it too.
        from groups.validation import install_range
        from pricing import engine
        from pricing.clock import billing_tz

        install_range(
            check_day=engine.check_day,
            check_instant=lambda value: engine.check_instant(value, billing_tz()),
        )
