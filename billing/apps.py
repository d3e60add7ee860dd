from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Project wiring: roles, base views, middleware, project-wide commands, and outbound events
    (webhooks, ``billing.events``)."""

    name = "billing"
    verbose_name = "Ratecard"

    def ready(self) -> None:
        from billing.events import periodic, receivers  # noqa: F401  (connects the receivers)

        periodic.register()

        from django.contrib.auth.signals import user_logged_in

        from billing.middleware import start_activity_clock

        user_logged_in.connect(start_activity_clock, dispatch_uid="billing_activity_clock")
