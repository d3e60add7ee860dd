"""The criteria card of the group page: show, preview, save, add a row, refresh, history."""

import pytest
from django.urls import reverse

from background.models import Work
from groups.criteria.models import GroupCriteria
from groups.criteria.refresh import refresh
from groups.criteria.services import criteria_save
from groups.models import Membership
from tests import factories as f

HX = {"HTTP_HX_REQUEST": "true"}


def url(group, name="groups:group_criteria") -> str:
    return reverse(name, args=[group.pk])


def attr_row(n, field="country", op="equals", value="CZ") -> dict:
    return {
        f"c-{n}-kind": "attribute",
        f"c-{n}-field": field,
        f"c-{n}-op": op,
        f"c-{n}-value": value,
    }


def form(action="preview", **extra) -> dict:
    return {"action": action, "minimum_stay_days": "0", "enabled": "on", **extra}


@pytest.fixture
def setup(db):
    group = f.group("VIP")
    cz = [f.customer(f"CZ {n}", country="CZ") for n in range(3)]
    de = f.customer("DE 1", country="DE")
    f.membership(group, de)
    return group, cz, de


def test_preview_names_who_would_join_and_leave_and_saves_nothing(manager_client, setup):
    group, _, _ = setup
    response = manager_client.post(url(group), form(**attr_row(0)), **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<strong>3</strong> would join, <strong>1</strong> would leave" in body
    assert "CZ 0, CZ 1, CZ 2" in body
    assert "Leaving: DE 1" in body
    assert not GroupCriteria.objects.exists()


def test_save_stores_the_criteria_as_data_and_shows_them(manager_client, setup):
    group, _, _ = setup
    data = form("save", **attr_row(5, op="in", value="cz, sk"), always_include="")
    response = manager_client.post(url(group), data, **HX)
    assert response.status_code == 200
    criteria = GroupCriteria.objects.get(group=group)
    assert criteria.conditions == [
        {"kind": "attribute", "field": "country", "op": "in", "value": ["CZ", "SK"]}
    ]
    assert criteria.enabled
    assert "country is one of CZ, SK" in response.content.decode()


def test_rows_marked_remove_are_dropped_and_order_is_kept(manager_client, setup):
    group, _, _ = setup
    data = form("save", **attr_row(900, "segment", value="smb"), **attr_row(3, value="DE"))
    data["c-3-remove"] = "1"
    manager_client.post(url(group), data, **HX)
    assert [c["value"] for c in GroupCriteria.objects.get().conditions] == ["smb"]


def test_invalid_conditions_come_back_with_messages_not_a_500(manager_client, setup):
    group, _, _ = setup
    data = form("save", **attr_row(0, field="signed_up_on", op="after", value="someday"))
    data.update(
        {
            "c-1-kind": "usage",
            "c-1-measure": "amount",
            "c-1-window": "previous_month",
            "c-1-op": "gt",
            "c-1-threshold": "lots",
        }
    )
    data["never_include"] = "NO-SUCH-ID"
    response = manager_client.post(url(group), data, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Condition 1: “someday” is not a date" in body
    assert "Condition 2: the threshold is a number" in body
    assert "Unknown customers" in body
    assert 'value="someday"' in body  # what was typed stays
    assert not GroupCriteria.objects.exists()


def test_add_a_condition_row_with_htmx_and_without(manager_client, setup):
    group, _, _ = setup
    row = manager_client.get(url(group, "groups:group_criteria_row") + "?kind=usage", **HX)
    assert row.status_code == 200
    assert 'data-kind="usage"' in row.content.decode()
    page = manager_client.post(url(group), form(add="group", **attr_row(0)))
    body = page.content.decode()
    assert 'data-kind="group"' in body
    assert 'data-kind="attribute"' in body
    assert not GroupCriteria.objects.exists()


def test_support_staff_see_criteria_but_cannot_save(support_client, setup):
    group, _, _ = setup
    criteria_save(
        group=group,
        enabled=True,
        conditions=[{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
    )
    page = support_client.get(url(group), **HX)
    assert "country equals CZ" in page.content.decode()
    assert "Save criteria" not in page.content.decode()
    assert support_client.post(url(group), form("save", **attr_row(0)), **HX).status_code == 403


def test_stale_save_is_refused(manager_client, setup):
    group, _, _ = setup
    criteria_save(group=group, conditions=[])
    criteria_save(group=group, conditions=[])
    response = manager_client.post(url(group), form("save", version="1"), **HX)
    assert "changed by somebody else" in response.content.decode()
    assert GroupCriteria.objects.get().version == 2


def test_refresh_button_starts_work_that_applies_the_criteria(support_client, setup, run_queue):
    group, _, _ = setup
    criteria_save(
        group=group,
        enabled=True,
        conditions=[{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
    )
    response = support_client.post(url(group, "groups:group_criteria_refresh"), **HX)
    assert response.status_code == 200
    assert "Refreshing the members of VIP" in response.content.decode()
    run_queue()
    work = Work.objects.get()
    assert work.result["summary"] == "VIP: 3 joined, 1 left (criteria v1)."
    assert Membership.objects.current().filter(group=group).count() == 3


def test_history_names_the_criteria_version(support_client, setup):
    group, _, _ = setup
    criteria = criteria_save(
        group=group,
        enabled=True,
        conditions=[{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
    )
    refresh(criteria)
    page = support_client.get(reverse("groups:group_detail", args=[group.pk]))
    body = page.content.decode()
    assert body.count("criteria v1") == 4  # three joins, one leave


@pytest.mark.parametrize("rows", [1, 12])
def test_card_query_count_does_not_grow(support_client, django_assert_num_queries, rows):
    group = f.group("Many")
    conditions = [
        {"kind": "attribute", "field": "segment", "op": "equals", "value": f"s{n}"}
        for n in range(rows)
    ]
    criteria = criteria_save(
        group=group, conditions=conditions, always_include=[f.customer().pk for _ in range(rows)]
    )
    assert criteria.version == 1
    support_client.get(url(group), **HX)  # warm the session
    with django_assert_num_queries(9):
        assert support_client.get(url(group), **HX).status_code == 200


def test_versions_say_what_each_criteria_version_meant(support_client, setup):
    group, _, _ = setup
    criteria_save(group=group, conditions=[CZ_CONDITION])
    criteria_save(group=group, conditions=[{**CZ_CONDITION, "value": "DE"}], minimum_stay_days=30)
    body = support_client.get(url(group), **HX).content.decode()
    assert "<strong>v1</strong>" in body
    assert "country equals CZ" in body
    assert "country equals DE; minimum stay 30 days" in body


CZ_CONDITION = {"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}
