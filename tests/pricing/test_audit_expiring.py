"""The audit's "Expiring within 14 days": member counts and the rules that stop applying."""

from datetime import timedelta

import pytest

from pricing.clock import billing_today
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_expiring_groups_list_members_and_the_rules_that_stop_applying(support_client):
    today = billing_today()
    soon = f.group("Summer promo", expires_on=today + timedelta(days=5))
    later = f.group("Autumn promo", expires_on=today + timedelta(days=20))
    for _ in range(3):
        f.membership(soon, f.customer())
    f.rule("RUNS-ON", group=soon, valid_from=today - timedelta(days=10))
    f.rule("ENDS-WITH-IT", group=soon, valid_from=today, valid_to=soon.expires_on)
    f.rule("DISABLED", group=soon, is_active=False)
    f.rule("LATER", group=later)
    response = support_client.get("/audit/?finding=expiring_soon")
    assert response.status_code == 200
    rows = response.context["page"].rows
    assert [g.name for g in rows] == ["Summer promo"]
    assert rows[0].member_count == 3
    assert [r.code for r in rows[0].rules_stopping] == ["RUNS-ON"]
    body = response.content.decode()
    assert "Expiring within 14 days" in body
    assert "Stop applying:" in body
    assert "<code>RUNS-ON</code>" in body


def test_a_group_expiring_today_is_listed_and_one_expired_is_not(support_client):
    today = billing_today()
    f.group("Today", expires_on=today)
    f.group("Yesterday", expires_on=today - timedelta(days=1))
    rows = support_client.get("/audit/?finding=expiring_soon").context["page"].rows
    assert [g.name for g in rows] == ["Today"]
