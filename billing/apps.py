from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Project wiring: roles, base views, middleware, project-wide commands, and outbound events
    (webhooks, ``billing.events``)."""

    name = "billing"
    verbose_name = "Ratecard"

    def ready(self) -> None:
        from billing.events import periodic, receivers  # noqa: F401  (connects the receivers)

        periodic.register()
