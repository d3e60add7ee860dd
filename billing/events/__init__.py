"""Outbound events (webhooks): endpoints, an outbox of events, signed deliveries with retries.

Events are recorded by signal receivers (``receivers``) inside the transaction of the change
that causes them, with one delivery per subscribed endpoint; tasks deliver them after the
commit (``tasks``), signed the way Stripe signs webhooks (``signing``), retried with exponential
backoff for up to 24 hours. Nothing is recorded for a change that was rolled back.
"""
