"""The domain in the database: constraints, protected deletes, rating that stores prices."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from groups import services as group_services
from groups.models import Customer, CustomerGroup, Membership
from pricing import services
from pricing.models import PriceList, PricingRule, UsageRecord, UsageStatus
from pricing.selectors import evaluate
from tests import factories

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _integrity_error(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


# --- Constraints, on SQLite and PostgreSQL alike ------------------------------------------------


def test_group_names_and_codes_are_unique_case_insensitively_in_the_database():
    CustomerGroup.objects.create(name="VIP", code="vip")
    _integrity_error(lambda: CustomerGroup.objects.create(name="vip", code="other"))
    _integrity_error(lambda: CustomerGroup.objects.create(name="Other", code="VIP"))


def test_only_one_open_membership_per_group_and_customer():
    group, customer = factories.group(), factories.customer()
    factories.membership(group, customer)
    _integrity_error(lambda: factories.membership(group, customer))
    # Closed periods do not count: history may hold many.
    Membership.objects.filter(group=group).update(left_at=MARCH)
    factories.membership(group, customer, joined_at=MARCH + timedelta(days=1))
    assert Membership.objects.filter(group=group, customer=customer).count() == 2


def test_membership_cannot_end_before_it_starts():
    group, customer = factories.group(), factories.customer()
    _integrity_error(
        lambda: factories.membership(
            group, customer, joined_at=MARCH, left_at=MARCH - timedelta(seconds=1)
        )
    )


def test_external_id_is_unique_when_set_and_many_customers_may_have_none():
    factories.customer(external_id="A-1")
    _integrity_error(lambda: factories.customer(external_id="A-1"))
    factories.customer(external_id=None)
    factories.customer(external_id=None)


def test_rule_targets_a_group_or_a_customer_never_both():
    _integrity_error(lambda: factories.rule(group=factories.group(), customer=factories.customer()))


def test_rule_validity_window_and_priority_are_checked_in_the_database():
    _integrity_error(
        lambda: factories.rule(valid_from=date(2026, 2, 1), valid_to=date(2026, 1, 31))
    )
    factories.rule(valid_from=date(2026, 2, 1), valid_to=date(2026, 2, 1))  # one day is fine
    _integrity_error(lambda: factories.rule(priority=-1))


def test_rule_codes_are_unique_case_insensitively():
    factories.rule(code="VIP-2026")
    _integrity_error(lambda: factories.rule(code="vip-2026"))


def test_unit_prices_are_not_negative_and_items_unique_per_list():
    price_list = factories.price_list(items={"minute": "1"})
    _integrity_error(lambda: price_list.items.create(item_code="GB", unit="GB", unit_price=-1))
    _integrity_error(lambda: price_list.items.create(item_code="minute", unit="m", unit_price=2))


def test_usage_quantity_must_be_positive():
    customer = factories.customer()
    _integrity_error(lambda: factories.usage(customer, quantity=Decimal(0)))


# --- Services: friendly validation -----------------------------------------------------------


def test_duplicate_group_name_in_another_case_names_the_existing_group():
    group_services.group_create(name="VIP Customers")
    with pytest.raises(ValidationError) as exc:
        group_services.group_create(name="vip customers")
    assert exc.value.message_dict["name"] == [
        group_services.GROUP_NAME_TAKEN.format(name="vip customers", existing="VIP Customers")
    ]


def test_group_code_is_derived_from_the_name_and_kept_unique():
    first = group_services.group_create(name="Summer Promo 2026")
    assert first.code == "summer-promo-2026"
    second = group_services.group_create(name="Summer  promo 2026!")
    assert second.code == "summer-promo-2026-2"
    with pytest.raises(ValidationError) as exc:
        group_services.group_create(name="Another", code="SUMMER-PROMO-2026")
    assert "code" in exc.value.message_dict


def test_rule_service_gives_field_messages_for_bad_windows_and_double_targets():
    price_list = factories.price_list()
    with pytest.raises(ValidationError) as exc:
        services.rule_create(
            name="Bad",
            code="BAD",
            billing_category="retail",
            price_list=price_list,
            valid_from=date(2026, 2, 1),
            valid_to=date(2026, 1, 1),
            group=factories.group(),
            customer=factories.customer(),
        )
    assert set(exc.value.message_dict) >= {"valid_to", "customer"}
    assert not PricingRule.objects.exists()


def test_rule_service_rejects_categories_that_are_not_lower_case_slugs():
    with pytest.raises(ValidationError) as exc:
        services.rule_create(
            name="Bad", code="BAD", billing_category="Retail EU", price_list=factories.price_list()
        )
    assert "billing_category" in exc.value.message_dict


def test_price_list_currency_must_be_iso_4217():
    with pytest.raises(ValidationError) as exc:
        services.price_list_create(name="X", code="X", currency="XXQ")
    assert "currency" in exc.value.message_dict
    assert services.price_list_create(name="Y", code="Y", currency="eur").currency == "EUR"


def test_price_list_items_are_validated_all_or_nothing():
    with pytest.raises(ValidationError):
        services.price_list_create(
            name="X",
            code="X",
            currency="EUR",
            items=[
                {"item_code": "minute", "unit": "minute", "unit_price": Decimal("1")},
                {"item_code": "GB", "unit": "GB", "unit_price": Decimal("-1")},
            ],
        )
    assert not PriceList.objects.exists()


def test_deleting_a_group_used_by_rules_is_refused_naming_the_rules():
    group = factories.group(name="VIP")
    factories.rule(code="VIP-RETAIL", group=group)
    with pytest.raises(ProtectedError) as exc:
        group_services.group_delete(group=group)
    assert "VIP-RETAIL" in exc.value.args[0]
    assert CustomerGroup.objects.filter(pk=group.pk).exists()


def test_deleting_a_price_list_used_by_rules_is_refused_naming_the_rules():
    price_list = factories.price_list()
    factories.rule(code="STD-2026", price_list=price_list)
    with pytest.raises(ProtectedError) as exc:
        services.price_list_delete(price_list=price_list)
    assert "STD-2026" in exc.value.args[0]


def test_removing_an_unused_group_with_members_keeps_its_membership_history():
    """It is archived, not deleted (tests/groups/test_archive.py has the details)."""
    group = factories.group()
    factories.membership(group, factories.customer())
    group_services.group_delete(group=group)
    assert Membership.objects.filter(group=group).count() == 1


# --- Membership history -----------------------------------------------------------------------


def test_removing_and_adding_again_keeps_history_and_as_of_queries_answer_the_past(manager):
    group, customer = factories.group(), factories.customer()
    first, created = group_services.membership_add(group=group, customer=customer, by=manager)
    assert created
    again, created = group_services.membership_add(group=group, customer=customer, by=manager)
    assert not created
    assert again.pk == first.pk

    group_services.membership_remove(group=group, customer=customer, by=manager)
    first.refresh_from_db()
    assert first.left_at is not None
    assert first.left_by == manager
    middle = first.joined_at + (first.left_at - first.joined_at) / 2

    second, created = group_services.membership_add(group=group, customer=customer)
    assert created
    assert Membership.objects.filter(group=group, customer=customer).count() == 2
    assert Membership.objects.current().get(group=group, customer=customer) == second
    assert Membership.objects.as_of(middle).filter(customer=customer).get() == first
    assert Membership.objects.as_of(first.left_at).filter(customer=customer).count() == 0


def test_removing_a_non_member_is_a_validation_error():
    with pytest.raises(ValidationError):
        group_services.membership_remove(group=factories.group(), customer=factories.customer())


def test_customer_set_groups_records_the_changes_in_history():
    vip = factories.group(code="vip")
    standard = factories.group(code="standard")
    customer = group_services.customer_create(name="Acme", group_codes=["VIP", "standard"])
    assert set(customer.current_groups()) == {vip, standard}
    group_services.customer_update(customer=customer, group_codes=["standard"])
    assert set(customer.current_groups()) == {standard}
    assert Membership.objects.filter(customer=customer, group=vip, left_at__isnull=False).exists()
    with pytest.raises(ValidationError) as exc:
        group_services.customer_update(customer=customer, group_codes=["nope"])
    assert "nope" in str(exc.value)


def test_bulk_plan_and_apply_add_remove_sync():
    group = factories.group()
    a, b, c = (factories.customer(external_id=x) for x in ("A", "B", "C"))
    factories.membership(group, a)
    plan = group_services.membership_bulk_plan(
        group=group, external_ids=["A", "B", "B", "ZZZ"], mode="add"
    )
    assert ([x.external_id for x in plan.to_add], plan.already, plan.unknown) == (
        ["B"],
        1,
        ["ZZZ"],
    )
    assert plan.duplicates == 1
    assert not Membership.objects.filter(customer=b).exists()  # a plan writes nothing

    group_services.membership_bulk_apply(group=group, external_ids=["B"], mode="add")
    sync = group_services.membership_bulk_apply(group=group, external_ids=["C", "B"], mode="sync")
    assert {x.external_id for x in sync.to_add} == {"C"}
    assert {x.external_id for x in sync.to_remove} == {"A"}
    current = set(
        Membership.objects.current().filter(group=group).values_list("customer_id", flat=True)
    )
    assert current == {b.pk, c.pk}


# --- Rating: the worked example, with the database ------------------------------------------


def _rate(customer: Customer, item: str = "minute", at: datetime = MARCH, quantity: str = "10"):
    return evaluate(
        customer=customer,
        billing_category="retail",
        item_code=item,
        quantity=Decimal(quantity),
        occurred_at=at,
    )


def test_worked_example_is_priced_by_priority(worked_example):
    startup = _rate(worked_example["startup"])
    assert startup.result.rule.code == "STARTUP-2026"
    assert startup.result.amount == Decimal("8.00")
    assert [g.name for g in startup.groups] == ["Standard", "Startup Program"]
    assert _rate(worked_example["tech_corp"]).result.rule.code == "STD-2026"
    assert _rate(worked_example["end_customer"]).result.rule.code == "VIP-RETAIL-2026"
    # The startup list has no SMS price: Startup XYZ falls back to the standard list.
    assert _rate(worked_example["startup"], item="SMS").result.rule.code == "STD-2026"


def test_single_rating_takes_two_queries_once_the_rules_are_cached(
    worked_example, django_assert_num_queries
):
    """The rules' stamp and the memberships; the first rating after a change also loads the
    rules and their prices."""
    customer = worked_example["startup"]
    with django_assert_num_queries(4):
        _rate(customer)
    with django_assert_num_queries(2):
        _rate(customer)


def test_leaving_the_promotion_group_changes_new_records_but_not_rated_ones(worked_example):
    """Removing a customer from a group makes new records fall back; rated ones keep their price."""
    startup, program = worked_example["startup"], worked_example["startup_program"]
    # Open-ended rules, so the test reads the same in any year.
    PricingRule.objects.update(valid_to=None)
    before = timezone.now()
    [record] = services.usage_records_create(
        records=[
            {
                "customer": startup,
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": Decimal("10"),
                "occurred_at": before,
            }
        ]
    )
    assert record.rule_code == "STARTUP-2026"
    assert record.amount == Decimal("8.00")

    group_services.membership_remove(group=program, customer=startup)
    after = timezone.now() + timedelta(seconds=1)
    assert _rate(startup, at=after).result.rule.code == "STD-2026"
    # History answers the past: at the first record's instant the customer was still a member.
    assert _rate(startup, at=before).result.rule.code == "STARTUP-2026"

    # Later changes to rules and price lists never touch the stored price either.
    PricingRule.objects.filter(code="STARTUP-2026").update(priority=1, is_active=False)
    PriceList.objects.get(code="STARTUP-RETAIL-2026").items.update(unit_price=Decimal("9"))
    record.refresh_from_db()
    assert (record.status, record.rule_code, record.unit_price, record.amount) == (
        UsageStatus.RATED,
        "STARTUP-2026",
        Decimal("0.800000"),
        Decimal("8.00"),
    )


def test_stored_records_keep_codes_when_the_rule_is_deleted(worked_example):
    [record] = services.usage_records_create(
        records=[
            {
                "customer": worked_example["tech_corp"],
                "billing_category": "retail",
                "item_code": "SMS",
                "quantity": Decimal("3"),
                "occurred_at": MARCH,
            }
        ]
    )
    PricingRule.objects.filter(code="STD-2026").delete()
    record.refresh_from_db()
    assert record.rule_id is None
    assert (record.rule_code, record.amount) == ("STD-2026", Decimal("1.50"))


def test_unrated_records_carry_a_reason(worked_example):
    [record] = services.usage_records_create(
        records=[
            {
                "customer": worked_example["tech_corp"],
                "billing_category": "roaming",
                "item_code": "minute",
                "quantity": Decimal("1"),
                "occurred_at": MARCH,
            }
        ]
    )
    assert record.status == UsageStatus.UNRATED
    assert "No active roaming rule" in record.unrated_reason
    assert UsageRecord.objects.get(pk=record.pk).amount is None
