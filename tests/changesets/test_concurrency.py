"""Two managers publishing conflicting changesets at the same moment (PostgreSQL)."""

import pytest
from django.db import connection

from billing.roles import PRICING_MANAGERS
from pricing.changesets import publish as pub
from pricing.changesets import services as cs
from pricing.models import ChangesetState, PricingRule
from tests import factories
from tests.concurrency import at_once


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL concurrency")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rounds", range(3))
def test_two_conflicting_publishes_at_once_one_wins_the_other_gets_the_conflicts(rounds):
    """Both changesets edit one shared rule, and each another rule of its own: exactly one is
    published whole; the other is refused with the shared rule named as changed by the winner,
    and its own rule is untouched (nothing half-applied)."""
    alice = factories.user(f"alice{rounds}", role=PRICING_MANAGERS)
    bob = factories.user(f"bob{rounds}", role=PRICING_MANAGERS)
    shared = factories.rule(priority=10)
    only_a, only_b = factories.rule(priority=1), factories.rule(priority=2)
    sets = {}
    for user, own, priority in ((alice, only_a, 100), (bob, only_b, 200)):
        changeset = cs.changeset_create(title=f"by {user}", by=user)
        cs.change_rule(
            changeset=changeset, action="update", rule=shared, by=user, priority=priority
        )
        cs.change_rule(changeset=changeset, action="update", rule=own, by=user, priority=999)
        sets[user.username] = (user, changeset)

    def publish(name):
        user, changeset = sets[name]
        return lambda: pub.changeset_publish(changeset=changeset, by=user)

    results, errors = at_once(publish(alice.username), publish(bob.username))

    assert len(errors) == 1
    [error] = errors
    assert isinstance(error, pub.ChangesetConflict)
    winner = next(r for r in results if r is not None)
    loser_name = alice.username if winner.author == bob else bob.username
    winner_name = winner.author.username
    [conflict] = error.conflicts
    assert conflict.who == winner_name
    assert str(shared) in conflict.message

    shared.refresh_from_db()
    assert shared.priority == (100 if winner_name == alice.username else 200)
    assert shared.version == 2
    loser_own = only_a if loser_name == alice.username else only_b
    winner_own = only_b if loser_own is only_a else only_a
    assert PricingRule.objects.get(pk=loser_own.pk).priority == loser_own.priority
    assert PricingRule.objects.get(pk=winner_own.pk).priority == 999
    _, loser = sets[loser_name]
    loser.refresh_from_db()
    assert loser.state == ChangesetState.DRAFT
    assert not loser.events.filter(action="published").exists()
