"""Delivery of outbound events as tasks (at least once: a delivery is claimed under a lease)."""

from django.tasks import task

from billing.events import services


@task()
def deliver_endpoint(endpoint_id: str) -> dict:
    """Send an endpoint's due deliveries (idempotent: delivered ones are never sent again)."""
    return services.deliver_endpoint(endpoint_id=endpoint_id)
