"""The billing app's models: outbound events (``billing.events``)."""

from billing.events.models import Delivery, DeliveryState, Endpoint, Event

__all__ = ["Delivery", "DeliveryState", "Endpoint", "Event"]
