"""Domain signals of the groups app, sent inside the transaction of the change.

Other layers listen (``billing.events`` records outbound events in the same transaction, so an
event exists exactly when its change committed); this app imports none of them.
"""

from django.dispatch import Signal

# A set of customers joined or left one group at one instant.
# kwargs: change ("joined" | "left"), group_id, customer_ids (list), at (datetime).
membership_changed = Signal()


def send_membership_changed(*, change: str, group_id, customer_ids, at) -> None:
    ids = list(customer_ids)
    if ids:
        membership_changed.send(
            sender=None, change=change, group_id=group_id, customer_ids=ids, at=at
        )
