"""Criteria groups: attribute and group conditions, include/exclude lists, minimum stay,
history, validation, idempotent refresh, and expiry at the end of the billing day."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from groups.criteria import refresh
from groups.criteria.attributes import parse_attributes
from groups.criteria.services import criteria_save, group_expire
from groups.models import Membership
from tests import factories as f

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def members(group) -> set[str]:
    return set(
        Membership.objects.current().filter(group=group).values_list("customer__name", flat=True)
    )


def save(group, conditions, **kwargs):
    return criteria_save(group=group, conditions=conditions, **kwargs)


@pytest.fixture
def people(db):
    return {
        "cz_ent": f.customer(
            "CZ Enterprise",
            country="CZ",
            segment="enterprise",
            signed_up_on=date(2024, 5, 1),
            attributes={"industry": "telecom"},
        ),
        "de_ent": f.customer(
            "DE Enterprise",
            country="DE",
            segment="enterprise",
            signed_up_on=date(2025, 6, 1),
            attributes={"industry": "retail"},
        ),
        "cz_smb": f.customer(
            "CZ Small", country="CZ", segment="smb", signed_up_on=date(2026, 1, 5)
        ),
        "blank": f.customer("No Attributes"),
    }


def test_attribute_equals_in_not_in(people):
    """equals / in / not in over country, segment and a free attribute (missing = not in)."""
    g = f.group("Attr")
    cases = [
        (
            [{"kind": "attribute", "field": "country", "op": "equals", "value": "cz"}],
            {"CZ Enterprise", "CZ Small"},
        ),
        (
            [{"kind": "attribute", "field": "segment", "op": "in", "value": ["enterprise", "x"]}],
            {"CZ Enterprise", "DE Enterprise"},
        ),
        (
            [{"kind": "attribute", "field": "country", "op": "not_in", "value": "CZ, DE"}],
            {"No Attributes"},
        ),
        (
            [
                {
                    "kind": "attribute",
                    "field": "attribute",
                    "key": "industry",
                    "op": "equals",
                    "value": "telecom",
                }
            ],
            {"CZ Enterprise"},
        ),
        (
            [
                {
                    "kind": "attribute",
                    "field": "attribute",
                    "key": "industry",
                    "op": "not_in",
                    "value": ["telecom"],
                }
            ],
            {"DE Enterprise", "CZ Small", "No Attributes"},
        ),
    ]
    for conditions, expected in cases:
        criteria = save(g, conditions)
        spec = refresh.Spec.of(criteria)
        assert (
            set(refresh.should_be_members(g, spec, NOW).values_list("name", flat=True)) == expected
        )


def test_attribute_before_after_dates(people):
    """Signup date before / after / on a day (customers without one match none)."""
    g = f.group("Dates")
    for op, value, expected in [
        ("before", "2025-01-01", {"CZ Enterprise"}),
        ("after", "2025-06-01", {"CZ Small"}),
        ("equals", "2025-06-01", {"DE Enterprise"}),
    ]:
        criteria = save(
            g, [{"kind": "attribute", "field": "signed_up_on", "op": op, "value": value}]
        )
        found = refresh.should_be_members(g, refresh.Spec.of(criteria), NOW)
        assert set(found.values_list("name", flat=True)) == expected


def test_group_membership_conditions(people):
    """in / not in another group: current membership counts, past periods do not."""
    partners = f.group("Partners")
    f.membership(partners, people["cz_ent"])
    f.membership(partners, people["de_ent"], left_at=datetime(2026, 2, 1, tzinfo=UTC))
    g = f.group("Derived")
    criteria = save(g, [{"kind": "group", "op": "in", "group": str(partners.pk)}])
    found = refresh.should_be_members(g, refresh.Spec.of(criteria), NOW)
    assert set(found.values_list("name", flat=True)) == {"CZ Enterprise"}
    criteria = save(g, [{"kind": "group", "op": "not_in", "group": partners.code}])
    found = refresh.should_be_members(g, refresh.Spec.of(criteria), NOW)
    assert set(found.values_list("name", flat=True)) == {
        "DE Enterprise",
        "CZ Small",
        "No Attributes",
    }


def test_all_conditions_must_hold(people):
    g = f.group("Both")
    criteria = save(
        g,
        [
            {"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"},
            {"kind": "attribute", "field": "segment", "op": "equals", "value": "enterprise"},
        ],
    )
    found = refresh.should_be_members(g, refresh.Spec.of(criteria), NOW)
    assert list(found.values_list("name", flat=True)) == ["CZ Enterprise"]


def test_refresh_writes_history_with_criteria_version_and_twice_changes_nothing(people):
    """Joins and leaves name the criteria version; a second refresh changes nothing."""
    g = f.group("VIP")
    f.membership(g, people["cz_smb"], joined_at=NOW - timedelta(days=90))
    criteria = save(
        g,
        [{"kind": "attribute", "field": "segment", "op": "equals", "value": "enterprise"}],
        enabled=True,
    )
    result = refresh.refresh(criteria, now=NOW)
    assert (result["joined"], result["left"]) == (2, 1)
    assert members(g) == {"CZ Enterprise", "DE Enterprise"}
    joined = Membership.objects.get(group=g, customer=people["cz_ent"])
    assert joined.joined_at == NOW
    assert joined.joined_by_criteria_version == 1
    left = Membership.objects.get(group=g, customer=people["cz_smb"])
    assert left.left_at == NOW
    assert left.left_reason == "criteria"
    assert left.left_by_criteria_version == 1
    g.refresh_from_db()
    assert g.members_changed_at == NOW
    count = Membership.objects.count()
    again = refresh.refresh(criteria, now=NOW + timedelta(hours=1))
    assert (again["joined"], again["left"]) == (0, 0)
    assert Membership.objects.count() == count
    # A new version: joins are recorded under it.
    criteria = save(
        g, [{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}], enabled=True
    )
    assert criteria.version == 2
    refresh.refresh(criteria, now=NOW + timedelta(days=1))
    rejoined = Membership.objects.current().get(group=g, customer=people["cz_smb"])
    assert rejoined.joined_by_criteria_version == 2
    assert criteria.history.count() == 2
    assert criteria.history.earliest().conditions[0]["value"] == "enterprise"


def test_refresh_of_disabled_criteria_changes_nothing(people):
    g = f.group("Manual")
    criteria = save(
        g, [{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}], enabled=False
    )
    assert refresh.refresh(criteria, now=NOW)["joined"] == 0
    assert members(g) == set()


def test_always_and_never_include(people):
    """Always-include joins without qualifying; never-include leaves despite the minimum stay."""
    g = f.group("Lists")
    f.membership(g, people["de_ent"], joined_at=NOW - timedelta(days=1))
    criteria = save(
        g,
        [{"kind": "attribute", "field": "segment", "op": "equals", "value": "enterprise"}],
        enabled=True,
        always_include=[people["blank"].pk],
        never_include=[people["de_ent"].external_id],
        minimum_stay_days=30,
    )
    refresh.refresh(criteria, now=NOW)
    assert members(g) == {"CZ Enterprise", "No Attributes"}
    with pytest.raises(ValidationError) as error:
        save(g, [], always_include=[people["blank"].pk], never_include=[people["blank"].pk])
    assert "both lists" in str(error.value)


def test_minimum_stay_keeps_members_who_stop_qualifying(people):
    """A member who stops qualifying stays until the minimum stay after its join has passed."""
    g = f.group("Sticky")
    criteria = save(
        g,
        [{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
        enabled=True,
        minimum_stay_days=30,
    )
    refresh.refresh(criteria, now=NOW)
    people["cz_smb"].country = "SK"
    people["cz_smb"].save()
    later = NOW + timedelta(days=10)
    spec = refresh.Spec.of(criteria)
    preview = refresh.preview(g, spec, later)
    assert (preview.leaving, preview.held) == (0, 1)
    assert refresh.refresh(criteria, now=later)["left"] == 0
    assert "CZ Small" in members(g)
    assert refresh.refresh(criteria, now=NOW + timedelta(days=30))["left"] == 1
    assert members(g) == {"CZ Enterprise"}


def test_preview_counts_and_names_before_saving(people):
    """The preview of unsaved criteria names who would join and leave, and changes nothing."""
    g = f.group("Preview")
    f.membership(g, people["blank"])
    spec = refresh.Spec(
        conditions=[{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}]
    )
    result = refresh.preview(g, spec, NOW)
    assert (result.joining, result.leaving, result.members_after) == (2, 1, 2)
    assert result.joining_names == ["CZ Enterprise", "CZ Small"]
    assert result.leaving_names == ["No Attributes"]
    assert members(g) == {"No Attributes"}


def test_refresh_adds_nobody_after_expiry(people):
    g = f.group("Expired", expires_on=date(2026, 3, 1))
    criteria = save(g, [], enabled=True)
    assert refresh.refresh(criteria, now=NOW)["joined"] == 0


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ("nope", "list"),
        ([{"kind": "magic"}], "unknown kind"),
        (
            [{"kind": "attribute", "field": "shoe", "op": "equals", "value": "x"}],
            "unknown attribute",
        ),
        ([{"kind": "attribute", "field": "country", "op": "before", "value": "x"}], "comparison"),
        (
            [{"kind": "attribute", "field": "signed_up_on", "op": "after", "value": "May"}],
            "not a date",
        ),
        (
            [
                {
                    "kind": "attribute",
                    "field": "attribute",
                    "key": "Bad Key",
                    "op": "in",
                    "value": "x",
                }
            ],
            "free attribute",
        ),
        ([{"kind": "attribute", "field": "segment", "op": "equals", "value": ""}], "value"),
        ([{"kind": "group", "op": "in", "group": "no-such-group"}], "no group"),
        (
            [
                {
                    "kind": "usage",
                    "measure": "amount",
                    "window": "previous_month",
                    "op": "gt",
                    "threshold": "10",
                }
            ],
            "currency",
        ),
        (
            [
                {
                    "kind": "usage",
                    "measure": "quantity",
                    "window": "last_days",
                    "days": 0,
                    "op": "gt",
                    "threshold": "10",
                }
            ],
            "days",
        ),
        (
            [
                {
                    "kind": "usage",
                    "measure": "quantity",
                    "window": "previous_month",
                    "op": "gt",
                    "threshold": "-1",
                }
            ],
            "threshold",
        ),
    ],
)
def test_invalid_conditions_are_refused_with_a_message(db, conditions, message):
    g = f.group("Invalid")
    with pytest.raises(ValidationError) as error:
        save(g, conditions)
    assert message in " ".join(error.value.messages)
    assert not hasattr(g, "criteria") or g.criteria is None


def test_group_conditions_cannot_form_a_cycle(db):
    a, b = f.group("A"), f.group("B")
    with pytest.raises(ValidationError, match="itself"):
        save(a, [{"kind": "group", "op": "in", "group": str(a.pk)}])
    save(a, [{"kind": "group", "op": "in", "group": str(b.pk)}])
    with pytest.raises(ValidationError, match="cycle"):
        save(b, [{"kind": "group", "op": "not_in", "group": str(a.pk)}])


def test_stale_criteria_edit_is_refused(db):
    g = f.group("Stale")
    save(g, [])
    save(g, [], version=1)
    with pytest.raises(ValidationError, match="somebody else"):
        save(g, [], version=1)


def test_expire_ends_open_memberships_at_the_given_instant_as_expiry(people):
    g = f.group("Promo", expires_on=date(2026, 3, 1))
    f.membership(g, people["cz_ent"])
    late = f.membership(g, people["de_ent"], joined_at=datetime(2026, 3, 5, tzinfo=UTC))
    at = datetime(2026, 3, 1, 23, tzinfo=UTC)
    assert group_expire(group=g, at=at) == 2
    ended = Membership.objects.get(group=g, customer=people["cz_ent"])
    assert (ended.left_at, ended.left_reason) == (at, "expiry")
    late.refresh_from_db()
    assert late.left_at == late.joined_at  # joined after the end: never counted
    assert group_expire(group=g, at=at) == 0


def test_parse_attributes():
    assert parse_attributes("industry=telecom; tier = gold\n") == {
        "industry": "telecom",
        "tier": "gold",
    }
    with pytest.raises(ValidationError):
        parse_attributes("industry")
    with pytest.raises(ValidationError):
        parse_attributes("Bad Key=x")


# --- Adding members by hand to a criteria group -------------------------------------------------


def _criteria_page_add(client, group, customer):
    from django.urls import reverse

    return client.post(
        reverse("groups:group_detail", args=[group.pk]) + "members/add/",
        {"customer": customer.pk, "q": customer.name[:4]},
        HTTP_HX_REQUEST="true",
    ).content.decode()


def test_adding_by_hand_to_a_criteria_group_warns_what_the_next_refresh_does(
    people, support_client
):
    group = f.group("Enterprise CZ")
    save(group, [{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}])
    body = _criteria_page_add(support_client, group, people["de_ent"])
    assert "keeps its members by its criteria" in body
    assert "never-include" not in body


def test_no_warning_for_a_group_without_criteria_or_an_always_included_customer(
    people, support_client
):
    plain, kept = f.group("Plain"), f.group("Kept")
    save(
        kept,
        [{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
        always_include=[people["de_ent"]],
    )
    for group in (plain, kept):
        body = _criteria_page_add(support_client, group, people["de_ent"])
        assert "Added “DE Enterprise”" in body
        assert "keeps its members" not in body


def test_a_never_included_customer_is_named(people, manager_client):
    from django.urls import reverse

    group = f.group("Enterprise CZ")
    save(
        group,
        [{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
        never_include=[people["de_ent"]],
    )
    body = manager_client.post(
        reverse("groups:member_bulk", args=[group.pk]),
        {"confirm": "1", "mode": "add", "ids": people["de_ent"].external_id},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "added 1" in body
    assert "“DE Enterprise” is on its never-include list" in body
