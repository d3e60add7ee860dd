from django.apps import AppConfig


class PricingConfig(AppConfig):
    """Price lists, pricing rules, the rating engine, rating, simulation and audit."""

    name = "pricing"
    verbose_name = "Pricing"

    def ready(self) -> None:
        from pricing import periodic

        periodic.register()
