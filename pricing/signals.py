"""Domain signals of the pricing app, sent inside the transaction of the change.

``billing.events`` listens and records outbound events (webhooks) in the same transaction;
this app imports nothing from ``billing``.
"""

from django.dispatch import Signal

# kwargs: rule (PricingRule, before deletion for "deleted"), action
# ("created" | "updated" | "deleted" | "disabled" | "enabled").
rule_changed = Signal()
# kwargs: price_list (PriceList), action ("created" | "updated" | "deleted" | "items_changed").
price_list_changed = Signal()
# An upload's records are all rated. kwargs: upload (Upload, counts fresh).
usage_batch_rated = Signal()
# Records that no rule prices. kwargs: records (a UsageRecord queryset, or a list of records).
usage_unrated = Signal()
# A changeset was published (inside its transaction). kwargs: changeset (Changeset).
changeset_published = Signal()
