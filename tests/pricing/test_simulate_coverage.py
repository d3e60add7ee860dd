"""The coverage grid and a customer's effective pricing: engine answers over rules loaded once."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from pricing import simulation
from tests import factories

COVERAGE = "/simulate/coverage/"


def cells(response) -> dict:
    """{(category, column name): cell} from the grid in the response's context."""
    grid = response.context["grid"]
    names = ["no group", *(g.name for g in grid.groups)]
    return {
        (row.category, name): cell
        for row in grid.rows
        for name, cell in zip(names, row.cells, strict=True)
    }


def test_grid_shows_the_winning_rule_per_category_and_group(manager_client, worked_example):
    """Each cell is the rule that wins for a customer only in that group, with its price list."""
    response = manager_client.get(COVERAGE, {"date": "2026-03-01", "item-retail": "minute"})
    assert response.status_code == 200
    grid = cells(response)
    winners = {name: cell.result.rule.code for (_, name), cell in grid.items()}
    assert winners == {
        "no group": "BASE-RETAIL",
        "Standard": "STD-2026",
        "Startup Program": "STARTUP-2026",
        "Summer Promo 2026": "BASE-RETAIL",  # its rule starts in June
        "VIP Customers": "VIP-RETAIL-2026",
    }
    assert grid[("retail", "VIP Customers")].unit_price == "0.60"
    html = response.content.decode()
    assert "VIP-RETAIL-2026 · 0.60 CZK" in html
    assert "No group" in html


def test_grid_on_another_date_and_item(manager_client, worked_example):
    """In July the summer promo prices GB for its group; the item is chosen per category."""
    response = manager_client.get(COVERAGE, {"date": "2026-07-01", "item-retail": "GB"})
    grid = cells(response)
    assert grid[("retail", "Summer Promo 2026")].result.rule.code == "SUMMER-2026"
    assert grid[("retail", "Summer Promo 2026")].result.unit_price == Decimal("10")
    assert '<option value="GB" selected>' in response.content.decode()


def test_default_item_is_the_categorys_most_common(manager_client, worked_example):
    """GB is on all five retail price lists, minute and SMS on fewer."""
    response = manager_client.get(COVERAGE, {"date": "2026-03-01"})
    assert response.context["grid"].rows[0].item == "GB"
    assert response.context["grid"].rows[0].items == ["GB", "minute", "SMS"]


def test_unknown_item_falls_back_to_the_default(manager_client, worked_example):
    response = manager_client.get(COVERAGE, {"date": "2026-03-01", "item-retail": "<script>"})
    assert response.status_code == 200
    assert response.context["grid"].rows[0].item == "GB"


def test_tie_break_and_uncovered_cells_stand_out(manager_client, worked_example):
    """A group rule beating an everyone rule of equal priority is a warning; no rule is danger."""
    wholesale = factories.group("Wholesale partners")
    everyone = factories.price_list(items={"minute": "0.40"})
    partner = factories.price_list(items={"minute": "0.30"})
    factories.rule("W-BASE", billing_category="wholesale", price_list=everyone, priority=10)
    factories.rule(
        "W-PARTNER", billing_category="wholesale", price_list=partner, group=wholesale, priority=10
    )
    factories.rule("R-ONLY", billing_category="roaming", group=wholesale, priority=5)
    response = manager_client.get(COVERAGE, {"date": "2026-03-01"})
    grid = cells(response)
    tie = grid[("wholesale", "Wholesale partners")]
    assert tie.result.rule.code == "W-PARTNER"
    assert tie.tie_with.code == "W-BASE"
    assert tie.css == "table-warning"
    assert grid[("wholesale", "no group")].css == ""
    assert grid[("roaming", "no group")].css == "table-danger"
    assert not grid[("roaming", "no group")].result.rated
    assert grid[("roaming", "Wholesale partners")].css == ""
    html = response.content.decode()
    assert '<td class="table-warning">' in html
    assert '<td class="table-danger">' in html
    assert "Tie-break over" in html


def test_no_tie_when_the_equal_rule_does_not_price_the_item(worked_example):
    """An equal-priority rule that cannot price the item never competed."""
    group = factories.group()
    sms_only = factories.price_list(items={"SMS": "1"})
    factories.rule("X-EVERYONE", billing_category="x", priority=10, price_list=sms_only)
    factories.rule("X-GROUP", billing_category="x", priority=10, group=group)
    grid = simulation.coverage(
        day=datetime(2026, 3, 1).date(), groups=[group], items={"x": "minute"}
    )
    row = next(r for r in grid.rows if r.category == "x")
    assert row.items == ["SMS", "minute"]  # on one list each: by code
    assert row.cells[1].result.rule.code == "X-GROUP"
    assert row.cells[1].tie_with is None


def test_groups_are_paginated_and_searchable(manager_client, worked_example):
    for n in range(25):
        factories.group(f"Bulk group {n:02d}")
    first = manager_client.get(COVERAGE, {"date": "2026-03-01"})
    assert len(first.context["grid"].groups) == simulation.COVERAGE_PAGE_SIZE
    assert first.context["page_obj"].paginator.count == 29
    html = first.content.decode()
    # The links keep the inputs and carry one question mark ({% querystring %} alone).
    assert 'href="?date=2026-03-01&amp;page=2" rel="next"' in html
    assert "??" not in html
    found = manager_client.get(COVERAGE, {"date": "2026-03-01", "q": "vip"})
    assert [g.name for g in found.context["grid"].groups] == ["VIP Customers"]
    targeted = manager_client.get(COVERAGE, {"date": "2026-03-01", "targeted": "true"})
    assert [g.name for g in targeted.context["grid"].groups] == [
        "Standard",
        "Startup Program",
        "Summer Promo 2026",
        "VIP Customers",
    ]


def test_htmx_request_gets_the_grid_only(manager_client, worked_example):
    response = manager_client.get(COVERAGE, {"date": "2026-03-01"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="coverage-grid">')
    assert "<html" not in html


@pytest.mark.parametrize("value", ["31/02/2026", "0001-01-01", "tomorrow"])
def test_bad_date_is_a_message_not_an_error(manager_client, worked_example, value):
    response = manager_client.get(COVERAGE, {"date": value})
    assert response.status_code == 422
    errors = re.search(r'id="id_date-errors"[^>]*>(.*?)</div>', response.content.decode(), re.S)
    assert errors.group(1).strip()


@pytest.mark.parametrize("n_groups", [2, 10])
@pytest.mark.parametrize("uncovered", [False, True])
def test_grid_query_count_does_not_grow_with_groups(
    manager_client, worked_example, django_assert_num_queries, n_groups, uncovered
):
    """Session, user, two permission reads, group count, group page, items, rules, prices.

    Two more (every rule of the category, for the engine's full reason) when a cell is unrated.
    """
    for n in range(n_groups):
        group = factories.group(f"Extra {n:02d}")
        factories.rule(billing_category=f"cat-{n % 3}", group=group, priority=n)
    if not uncovered:
        for n in range(3):
            factories.rule(billing_category=f"cat-{n}", priority=0)
    with django_assert_num_queries(11 if uncovered else 9):
        response = manager_client.get(COVERAGE, {"date": "2026-03-01", "q": "Extra"})
    assert len(response.context["grid"].groups) == n_groups
    css = {cell.css for row in response.context["grid"].rows for cell in row.cells}
    assert ("table-danger" in css) is uncovered


def test_uncovered_cell_reason_names_the_nearest_miss_among_all_rules(
    manager_client, worked_example
):
    """Only the page's groups' rules decide winners, but a reason may name any group's rule."""
    for n in range(12):
        factories.group(f"Filler {n:02d}")
    factories.rule("FAR-AWAY", billing_category="roaming", group=worked_example["vip"])
    response = manager_client.get(COVERAGE, {"date": "2026-03-01", "q": "Filler"})
    reasons = {cell.result.reason for row in response.context["grid"].rows for cell in row.cells}
    assert reasons >= {
        "No active roaming rule prices item minute for a customer in no group on 2026-03-01; "
        "nearest: FAR-AWAY needs membership of VIP Customers."
    }


# --- Effective pricing -----------------------------------------------------------------------


def effective_url(customer) -> str:
    return f"/simulate/customers/{customer.pk}/pricing/"


def test_effective_pricing_lists_the_winner_for_each_item(manager_client, worked_example):
    """Startup XYZ: Startup prices for minute and GB, Standard's for SMS (Startup has none)."""
    startup = worked_example["startup"]
    response = manager_client.get(
        effective_url(startup), {"date": "2026-03-01"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    rows = {
        (row.category, row.item_code): (row.result.rule.code, row.unit_price)
        for row in response.context["pricing"].rows
    }
    assert rows == {
        ("retail", "GB"): ("STARTUP-2026", "18.00"),
        ("retail", "minute"): ("STARTUP-2026", "0.80"),
        ("retail", "SMS"): ("STD-2026", "0.50"),
    }
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="effective-pricing"' in html
    assert "STARTUP-RETAIL-2026" in html
    link = re.search(r'href="(/simulate/\?[^"]+item=SMS)"', html).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(link).query)
    assert query == {"customer": [str(startup.pk)], "category": ["retail"], "item": ["SMS"]}


def test_effective_pricing_page_without_htmx(manager_client, worked_example):
    """The fragment's URL opened directly is a page of its own (the embed works without JS)."""
    response = manager_client.get(effective_url(worked_example["tech_corp"]))
    assert response.status_code == 200
    assert b"<html" in response.content
    assert b"Effective pricing of" in response.content


def test_effective_pricing_shows_unrated_items(manager_client, worked_example):
    """A category nobody's rule covers for this customer shows the engine's reason."""
    factories.rule("VIP-ROAMING", billing_category="roaming", group=worked_example["vip"])
    response = manager_client.get(
        effective_url(worked_example["tech_corp"]), {"date": "2026-03-01"}
    )
    row = next(r for r in response.context["pricing"].rows if r.category == "roaming")
    assert not row.result.rated
    assert "nearest: VIP-ROAMING needs membership of VIP Customers" in row.result.reason
    assert 'class="table-danger"' in response.content.decode()


def test_effective_pricing_uses_membership_now(worked_example):
    tech = worked_example["tech_corp"]
    factories.membership(worked_example["vip"], tech, joined_at=datetime(2026, 2, 1, tzinfo=UTC))
    pricing = simulation.effective_pricing(tech, at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert {r.result.rule.code for r in pricing.rows} == {"VIP-RETAIL-2026"}
    assert [g.name for g in pricing.groups] == ["Standard", "VIP Customers"]


def test_effective_pricing_of_unknown_customer_is_404(manager_client, worked_example):
    response = manager_client.get(
        "/simulate/customers/00000000-0000-0000-0000-000000000000/pricing/"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("n_categories", [1, 8])
def test_effective_pricing_query_count_does_not_grow(
    manager_client, worked_example, django_assert_num_queries, n_categories
):
    """Session, user, two permission reads, customer, items, rules' stamp, memberships.

    The first request after the rules changed also loads them and their prices (two more).
    """
    startup = worked_example["startup"]
    for n in range(n_categories):
        for priority in range(3):
            factories.rule(
                billing_category=f"cat-{n}",
                priority=priority,
                group=worked_example["standard"] if priority else None,
            )
    with django_assert_num_queries(10):
        response = manager_client.get(
            effective_url(startup), {"date": "2026-03-01"}, HTTP_HX_REQUEST="true"
        )
    assert len(response.context["pricing"].rows) == 3 + n_categories
    with django_assert_num_queries(8):
        manager_client.get(effective_url(startup), {"date": "2026-03-01"}, HTTP_HX_REQUEST="true")


def _messy_rules(worked_example) -> None:
    """Rules beyond the demo: another category, customer deals, expired and disabled rules."""
    vip, standard = worked_example["vip"], worked_example["standard"]
    factories.rule("ROAM-VIP", billing_category="roaming", group=vip, priority=20)
    factories.rule(
        "ROAM-OLD", billing_category="roaming", priority=5, valid_to=datetime(2026, 2, 1).date()
    )
    factories.rule("ROAM-OFF", billing_category="roaming", group=standard, is_active=False)
    factories.rule(
        "TECH-DEAL",
        customer=worked_example["tech_corp"],
        priority=10,
        price_list=factories.price_list(items={"SMS": "0.10", "minute": "0.90"}),
    )


@pytest.mark.parametrize("who", ["startup", "tech_corp", "end_customer"])
def test_effective_pricing_matches_evaluate_row_by_row(worked_example, who):
    """Effective pricing gives evaluate's winner, price and reason for every row."""
    from pricing.selectors import evaluate

    _messy_rules(worked_example)
    customer = worked_example[who]
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for row in simulation.effective_pricing(customer, at=at).rows:
        expected = evaluate(
            customer=customer,
            billing_category=row.category,
            item_code=row.item_code,
            quantity=Decimal(1),
            occurred_at=at,
        ).result
        got = row.result
        assert (got.rated, got.rule and got.rule.id, got.unit_price, got.reason) == (
            expected.rated,
            expected.rule and expected.rule.id,
            expected.unit_price,
            expected.reason,
        ), (row.category, row.item_code)


def test_coverage_cells_match_evaluate_for_a_customer_only_in_that_group(worked_example):
    """Each cell is what rating answers for a real customer whose only group is the column's."""
    from pricing.selectors import evaluate

    _messy_rules(worked_example)
    groups = [worked_example[k] for k in ("standard", "startup_program", "summer", "vip")]
    day = datetime(2026, 7, 1).date()
    grid = simulation.coverage(day=day, groups=groups, items={"retail": "SMS"})
    members = [factories.customer("Nobody in particular")]
    for group in groups:
        member = factories.customer(f"Only in {group.name}")
        factories.membership(group, member)
        members.append(member)
    for row in grid.rows:
        for member, cell in zip(members, row.cells, strict=True):
            expected = evaluate(
                customer=member,
                billing_category=row.category,
                item_code=row.item,
                quantity=Decimal(1),
                occurred_at=simulation.noon_on(day),
            ).result
            got = cell.result
            assert (got.rated, got.rule and got.rule.id, got.unit_price) == (
                expected.rated,
                expected.rule and expected.rule.id,
                expected.unit_price,
            ), (row.category, member.name)
