"""The event types an endpoint can subscribe to."""

MEMBERSHIP_JOINED = "membership.joined"
MEMBERSHIP_LEFT = "membership.left"
RULE_CHANGED = "rule.changed"
PRICE_LIST_CHANGED = "price_list.changed"
USAGE_BATCH_RATED = "usage_batch.rated"
USAGE_UNRATED = "usage.unrated"
CHANGESET_PUBLISHED = "changeset.published"
# Sent by "Send a test event" to one endpoint only.
ENDPOINT_TEST = "endpoint.test"

EVENT_TYPES = [
    (MEMBERSHIP_JOINED, "A customer joined a group"),
    (MEMBERSHIP_LEFT, "A customer left a group"),
    (RULE_CHANGED, "A pricing rule was created, changed, disabled, enabled or deleted"),
    (PRICE_LIST_CHANGED, "A price list or its items changed"),
    (USAGE_BATCH_RATED, "An upload of usage records finished rating (with counts)"),
    (USAGE_UNRATED, "A usage record that no rule prices"),
    (CHANGESET_PUBLISHED, "A changeset was published (its rule and price list changes are live)"),
]
EVENT_TYPE_NAMES = [name for name, _ in EVENT_TYPES]
