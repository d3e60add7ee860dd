from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Project wiring: roles, base views, middleware and project-wide commands."""

    name = "billing"
    verbose_name = "Ratecard"
