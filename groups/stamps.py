"""The groups app's part of the rating inputs' stamp: public, for the caches of other apps.

Pricing caches what rating reads (rules with their group names, and memberships) and must know
when a group's name or its members changed. This module is the documented way to ask, without
reaching into groups' tables: each function returns one scalar SQL expression (no parameters)
whose value moves whenever that part changes through the models or the membership services.

- :func:`names_stamp_sql`: a group created, renamed, changed or deleted (the latest history row;
  every ``save()`` and ``delete()`` of a group writes one).
- :func:`members_stamp_sql`: a membership opened (the latest membership row) or closed, or any
  membership of a group changed (``CustomerGroup.members_changed_at``, kept by every membership
  service, indexed so the maximum is one index probe).

Writes that bypass both (raw SQL, ``QuerySet.update`` on memberships without touching
``members_changed_at``) are not seen; the services never do that.
"""

from groups.models import CustomerGroup, Membership


def _table(model) -> str:
    return model._meta.db_table


def names_stamp_sql() -> str:
    history = CustomerGroup.history.model
    return f"(SELECT MAX(history_id) FROM {_table(history)})"


def members_stamp_sql() -> str:
    return (
        f"(SELECT MAX(id) FROM {_table(Membership)}), "
        f"(SELECT MAX(members_changed_at) FROM {_table(CustomerGroup)})"
    )
