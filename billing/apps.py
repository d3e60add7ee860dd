from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Project wiring: roles, base views, middleware and project-wide commands."""

    name = "billing"
    verbose_name = "Ratecard"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from billing.middleware import start_activity_clock

        user_logged_in.connect(start_activity_clock, dispatch_uid="billing_activity_clock")
