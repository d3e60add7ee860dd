"""Pages for groups and customers (``/groups/``, ``/customers/``)."""

from django.urls import path  # noqa: F401

app_name = "groups"

urlpatterns: list = []
