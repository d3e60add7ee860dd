from django.apps import AppConfig


class GroupsConfig(AppConfig):
    """Customers, customer groups and memberships (with history)."""

    name = "groups"
    verbose_name = "Customers and groups"
