"""The /audit/ page: who sees what, the actions and their permissions, filters, export, and a
query count that does not grow with the data."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups.models import CustomerGroup, Membership
from pricing import audit
from pricing.models import PricingRule
from tests import factories

pytestmark = pytest.mark.django_db
AUDIT = "/audit/"


def today():
    return timezone.localdate()


def empty_group(name=None, **fields):
    return factories.group(name, **fields)


def populated_group(name=None, members=1, **fields):
    group = factories.group(name, **fields)
    for _ in range(members):
        factories.membership(group, factories.customer(), joined_at=timezone.now())
    return group


def live_rule(**fields):
    fields.setdefault("valid_from", today() - timedelta(days=30))
    return factories.rule(**fields)


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


# --- Seeing the audit -------------------------------------------------------------------------


def test_page_shows_a_count_for_every_finding(manager_client):
    """The summary names every finding with its count, linking to its list."""
    empty_group("Forgotten")
    response = manager_client.get(AUDIT)
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("empty", "unused", "tie", "hidden", "no_group", "review_overdue"):
        assert f'id="count-{key}"' in html
        assert f"?finding={key}" in html
    assert "Forgotten" in html  # the default list is the empty groups


def test_support_staff_see_the_audit_without_delete_or_rule_controls(support_client):
    """Support staff read the findings but get no delete checkboxes or disable buttons."""
    empty_group("Forgotten")
    live_rule(valid_to=today() - timedelta(days=1))
    html = support_client.get(AUDIT).content.decode()
    assert "Forgotten" in html
    assert 'name="ids"' not in html
    assert "Delete selected groups" not in html
    html = support_client.get(AUDIT + "?finding=never_applies").content.decode()
    assert "audit/actions/rules/" not in html


def test_manager_gets_delete_and_disable_controls(manager_client):
    """Pricing managers get the checkboxes of the Empty list and the Disable buttons."""
    group = empty_group("Forgotten")
    rule = live_rule(valid_from=today() - timedelta(days=60), valid_to=today() - timedelta(days=40))
    html = manager_client.get(AUDIT).content.decode()
    assert f'name="ids" value="{group.pk}"' in html
    assert "hx-confirm=" in html
    html = manager_client.get(AUDIT + "?finding=never_applies").content.decode()
    assert reverse("pricing:audit_disable_rule", args=[rule.pk]) in html


def test_a_rule_that_ended_lately_is_not_offered_for_disabling(manager_client):
    """Issue 21, "Also": late usage of its window still needs a rule that ended in the last 30
    days, so the audit says until when to keep it instead of offering "Disable"."""
    lately = live_rule(valid_to=today() - timedelta(days=3))
    html = manager_client.get(AUDIT + "?finding=never_applies").content.decode()
    assert reverse("pricing:audit_disable_rule", args=[lately.pk]) not in html
    until = (today() - timedelta(days=3) + timedelta(days=30)).isoformat()
    assert f"Keep it until {until}: late usage of its window still needs it." in html


def test_empty_groups_that_rules_target_name_them_instead_of_a_checkbox(manager_client):
    """Issue 21 item 10: "Delete selected groups" was offered, confirmed, then refused for a
    group that rules target. Such a group has no checkbox and its rules are named."""
    free = empty_group("Forgotten")
    targeted = empty_group("Still targeted")
    rule = factories.rule("KEEP-ME", group=targeted)
    html = manager_client.get(AUDIT + "?finding=empty").content.decode()
    assert f'name="ids" value="{free.pk}"' in html
    assert f'name="ids" value="{targeted.pk}"' not in html
    row = html.split("Still targeted", 1)[1].split("</tr>", 1)[0]
    assert "Kept, rules target it:" in row
    assert reverse("pricing:rule_detail", args=[rule.pk]) in row
    # Without JavaScript the confirmation page names the rules before anything happens.
    confirm = manager_client.post(
        reverse("pricing:audit_delete_groups"),
        {"ids": [str(free.pk), str(targeted.pk)], "next": AUDIT},
    ).content.decode()
    assert "Remove 1 group?" in confirm
    assert "Still targeted — kept: rules target it (KEEP-ME)" in confirm
    assert CustomerGroup.objects.filter(pk=free.pk).exists()


def test_a_delete_started_from_the_audit_returns_to_the_audit(manager_client):
    group = factories.group("Unused one")
    back = AUDIT + "?finding=unused"
    html = manager_client.get(back).content.decode()
    link = reverse("groups:group_delete", args=[group.pk]) + "?next=/audit/%3Ffinding%3Dunused"
    assert link in html
    page = manager_client.get(link).content.decode()
    assert 'name="next" value="/audit/?finding=unused"' in page
    response = manager_client.post(reverse("groups:group_delete", args=[group.pk]), {"next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    assert not CustomerGroup.objects.filter(pk=group.pk).exists()
    # Elsewhere than this site, "next" is ignored.
    other = factories.group("Another")
    response = manager_client.post(
        reverse("groups:group_delete", args=[other.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("groups:group_list")


def test_many_groups_are_marked_reviewed_at_once(support_client, support):
    old = [
        factories.group(f"Old {n}", created_at=timezone.now() - timedelta(days=200))
        for n in range(3)
    ]
    html = support_client.get(AUDIT + "?finding=review_overdue").content.decode()
    assert 'form="audit-review-groups"' in html
    assert "Mark selected groups reviewed" in html
    response = support_client.post(
        reverse("pricing:audit_review_groups"),
        {"ids": [str(old[0].pk), str(old[2].pk)], "next": AUDIT + "?finding=review_overdue"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Marked 2 groups reviewed: Old 0, Old 2." in body
    reviewed = set(CustomerGroup.objects.filter(reviewed_by=support).values_list("name", flat=True))
    assert reviewed == {"Old 0", "Old 2"}


def test_users_without_a_role_cannot_see_the_audit(client, nobody):
    """Viewing needs the view permissions both roles hold."""
    client.force_login(nobody)
    assert client.get(AUDIT).status_code == 403
    assert client.get(reverse("pricing:audit_export")).status_code == 403


def test_each_finding_links_to_where_it_is_fixed(manager_client):
    """Group rows link to the group page, rule rows to the rule and its target."""
    group = empty_group("Forgotten")
    rule = factories.rule(group=group, valid_from=today() - timedelta(days=5))
    html = manager_client.get(AUDIT + "?finding=empty").content.decode()
    assert f"/groups/{group.pk}/" in html
    html = manager_client.get(AUDIT + "?finding=never_applies").content.decode()
    assert f"/pricing/rules/{rule.pk}/" in html
    assert f"/groups/{group.pk}/" in html
    assert "has no members" in html


def test_group_rows_show_the_strongest_rules_and_how_many_more(manager_client):
    """A group row names its three strongest rules and counts the rest."""
    group = populated_group("Busy")
    for n in range(5):
        factories.rule(f"OLD-{n}", group=group, priority=n, valid_to=today() - timedelta(days=1))
    html = manager_client.get(AUDIT + "?finding=dead_rules_only").content.decode()
    assert "0 of 5 live" in html
    assert "OLD-4" in html
    assert "OLD-2" in html
    assert "OLD-1" not in html
    assert "and 2 more" in html


def test_customers_in_no_group_list_the_categories_they_miss(manager_client):
    """The customer list names the categories where only everyone-rules apply to them."""
    live_rule(group=populated_group(), billing_category="roaming")
    alone = factories.customer("Lonely Ltd")
    html = manager_client.get(AUDIT + "?finding=no_group").content.decode()
    assert "Lonely Ltd" in html
    assert f"/customers/{alone.pk}/" in html
    assert "roaming" in html


# --- Tabs, filters, pages ---------------------------------------------------------------------


def test_htmx_tab_returns_only_the_panel(manager_client):
    """An htmx request for a finding renders the panel, not the page or the summary."""
    empty_group("Forgotten")
    response = manager_client.get(AUDIT + "?finding=unused", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="audit-panel"' in html
    assert "<html" not in html
    assert 'id="count-empty"' not in html
    assert "Forgotten" in html


def test_filter_narrows_the_list_and_lives_in_the_url(manager_client):
    """The search filter is read from the query string, alongside the finding."""
    empty_group("Summer leftovers")
    empty_group("Winter leftovers")
    html = manager_client.get(AUDIT + "?finding=empty&q=summer").content.decode()
    assert "Summer leftovers" in html
    assert "Winter leftovers" not in html
    assert 'value="summer"' in html


def test_summary_counts_ignore_the_list_filters(manager_client):
    """The summary counts a finding in full even while its list on screen is filtered."""
    empty_group("Summer leftovers")
    empty_group("Winter leftovers")
    response = manager_client.get(AUDIT + "?finding=empty&q=summer")
    assert response.context["page"].count == 1
    assert 'id="count-empty">2<' in response.content.decode()


def test_rule_filters_by_category(manager_client):
    """Rule lists filter by category (choices from the categories in use)."""
    factories.rule("OLD-RETAIL", valid_to=today() - timedelta(days=3))
    factories.rule("OLD-ROAM", billing_category="roaming", valid_to=today() - timedelta(days=3))
    html = manager_client.get(AUDIT + "?finding=never_applies&category=roaming").content.decode()
    assert "OLD-ROAM" in html
    assert "OLD-RETAIL" not in html


def test_long_lists_are_paginated(manager_client):
    """25 rows a page; the next page keeps the finding and the filters."""
    for n in range(30):
        empty_group(f"Empty {n:02d}")
    html = manager_client.get(AUDIT + "?finding=empty&q=Empty").content.decode()
    assert "Empty 24" in html
    assert "Empty 25" not in html
    assert "Page 1 of 2" in html
    assert "finding=empty&amp;q=Empty&amp;page=2" in html
    html = manager_client.get(AUDIT + "?finding=empty&q=Empty&page=2").content.decode()
    assert "Empty 29" in html
    assert "Empty 24" not in html
    html = manager_client.get(AUDIT + "?finding=empty&q=Empty&page=9").content.decode()
    assert "Page 2 of 2" in html


def test_unknown_finding_falls_back_to_empty_groups(manager_client):
    """A mistyped finding shows the default list rather than an error."""
    empty_group("Forgotten")
    response = manager_client.get(AUDIT + "?finding=nope")
    assert response.status_code == 200
    assert "Forgotten" in response.content.decode()


# --- Query counts -----------------------------------------------------------------------------


def _messy_data(scale: int) -> None:
    """Something for every finding, ``scale`` times over."""
    now = timezone.now()
    everyone_list = factories.price_list(items={"minute": "1", "SMS": "1"})
    small_list = factories.price_list(items={"minute": "2"})
    live_rule(priority=500, price_list=everyone_list)
    for n in range(scale):
        empty = empty_group(created_at=now - timedelta(days=400))
        live_rule(group=empty, priority=n % 3, price_list=small_list)
        a = populated_group(members=2, expires_on=today() - timedelta(days=3))
        b = populated_group(members=1)
        shared = factories.customer()
        factories.membership(a, shared, joined_at=now)
        factories.membership(b, shared, joined_at=now)
        live_rule(group=a, priority=700 + n, price_list=small_list)
        live_rule(group=b, priority=700 + n, price_list=small_list)
        live_rule(group=b, valid_to=today() - timedelta(days=2))
        populated_group()  # unused
        live_rule(group=populated_group(), valid_to=today() - timedelta(days=2))  # dead rules only
        customer = factories.customer()
        factories.membership(a, customer, joined_at=now)
        live_rule(customer=customer, priority=900, price_list=small_list)
        live_rule(customer=factories.customer(is_active=False), price_list=small_list)
        factories.customer()  # in no group
        expiring = populated_group(members=1, expires_on=today() + timedelta(days=5))
        live_rule(group=expiring, priority=600 + n, price_list=small_list)  # stops applying


def _count(client, url, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **headers).status_code == 200
    return len(captured.captured_queries)


# Session, user and permissions (4); the summary's group counts (1) and, unless the list on
# screen is "never applies" (which counted itself), its one immediate rule count (1); the page
# of ids with its total (1), then the rows: groups 2 (groups, their rules), customers 3
# (customers, group-rule categories, their direct rules), rules 1 (+2 for the partners and
# partner rules of tie, shadowed and hidden), and the rule filter's category choices (1).
# "Customers in no group" first fetches who has no open membership (1). The deferred counts
# cost nothing here: the page fetches each in a request of its own (tested below).
# PostgreSQL adds ``SET LOCAL jit = off``.
EXPECTED = {
    "empty": 9,
    "unused": 9,
    "dead_rules_only": 9,
    "past_expiry": 9,
    # The rules that stop applying after the expiry, one query for the page (1).
    "expiring_soon": 10,
    "review_overdue": 9,
    "stale_membership": 9,
    "no_group": 11,
    "never_applies": 8,
    "shadowed": 11,
    "tie": 11,
    "hidden": 11,
}


def _expected(key: str, *, fragment: bool = False) -> int:
    summary = 1 if key == "never_applies" else 2
    return EXPECTED[key] - (summary if fragment else 0)  # a fragment skips the summary


@pytest.mark.parametrize("key", list(EXPECTED))
def test_page_query_count_does_not_grow_with_data(manager_client, django_assert_num_queries, key):
    """Full page and htmx list: the same number of queries for 1 and for 12 of everything."""
    _messy_data(1)
    url = f"{AUDIT}?finding={key}"
    with django_assert_num_queries(_expected(key)):
        manager_client.get(url)
    with django_assert_num_queries(_expected(key, fragment=True)):
        manager_client.get(url, HTTP_HX_REQUEST="true")
    _messy_data(12)
    assert PricingRule.objects.count() > 80
    with django_assert_num_queries(_expected(key)):
        response = manager_client.get(url)
    assert response.context["page"].count > 0
    with django_assert_num_queries(_expected(key, fragment=True)):
        manager_client.get(url, HTTP_HX_REQUEST="true")


def _deferred_count(client, key: str) -> int:
    response = client.get(f"{AUDIT}?count={key}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="count-{key}"' in html
    assert 'id="audit-body"' not in html  # the badge only
    return response.context["count"]


@pytest.mark.parametrize("key", sorted(audit.DEFERRED_COUNTS))
def test_deferred_counts_load_on_their_own_in_constant_queries(
    manager_client, django_assert_num_queries, key
):
    """The page shows a placeholder that fetches the count; the count matches the list and
    costs the same number of queries for 1 and for 12 of everything."""
    _messy_data(1)
    html = manager_client.get(AUDIT).content.decode()
    assert f'hx-get="{AUDIT}?count={key}"' in html
    assert 'hx-trigger="load"' in html
    # Session, user and permissions (4), the count (1; "no group" first finds who has no
    # open membership, 1 more).
    queries = 6 if key == "no_group" else 5
    with django_assert_num_queries(queries):
        count = _deferred_count(manager_client, key)
    assert count == manager_client.get(f"{AUDIT}?finding={key}").context["page"].count > 0
    _messy_data(12)
    with django_assert_num_queries(queries):
        count = _deferred_count(manager_client, key)
    assert count == manager_client.get(f"{AUDIT}?finding={key}").context["page"].count


def test_a_deferred_count_is_shown_at_once_on_its_own_list(manager_client):
    """The list on screen counted its rows, so its summary badge needs no second request."""
    _messy_data(1)
    html = manager_client.get(f"{AUDIT}?finding=tie").content.decode()
    assert f'hx-get="{AUDIT}?count=tie"' not in html
    assert f'hx-get="{AUDIT}?count=hidden"' in html
    assert 'id="count-tie">2<' in html


def test_a_count_request_without_htmx_gets_the_page(manager_client):
    """``?count=`` only answers htmx; a plain visit gets the whole page."""
    html = manager_client.get(f"{AUDIT}?count=tie").content.decode()
    assert 'id="audit-body"' in html


def test_every_finding_is_found_in_the_messy_data(manager_client):
    """The query-count data exercises every finding (else the counts above prove little)."""
    _messy_data(2)
    counts = {
        finding.key: count
        for section in manager_client.get(AUDIT).context["summary"]
        for finding, count in section[1]
    }
    for key in audit.DEFERRED_COUNTS:
        assert counts[key] is None  # a placeholder on the page
        counts[key] = _deferred_count(manager_client, key)
    missing = [key for key, count in counts.items() if not count]
    assert not missing, counts


# --- Actions ----------------------------------------------------------------------------------


def test_manager_deletes_selected_empty_groups(manager_client):
    """The selected empty groups go; the refreshed body comes back with a message."""
    a, b = empty_group("Empty A"), empty_group("Empty B")
    keep = empty_group("Empty C")
    response = manager_client.post(
        reverse("pricing:audit_delete_groups"),
        {"ids": [a.pk, b.pk], "next": "/audit/?finding=empty"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert not CustomerGroup.objects.filter(pk__in=[a.pk, b.pk]).exists()
    html = response.content.decode()
    assert 'id="audit-body"' in html
    assert (
        "Removed 2 groups (archived where they had membership history): Empty A, Empty B." in html
    )
    assert "Empty C" in html
    assert CustomerGroup.objects.filter(pk=keep.pk).exists()


def test_delete_keeps_groups_with_rules_or_members_and_says_why(manager_client):
    """A group a rule uses, or one that got a member since, is kept and reported."""
    used = empty_group("Used by a rule")
    factories.rule("USES-IT", group=used)
    refilled = populated_group("Refilled")
    response = manager_client.post(
        reverse("pricing:audit_delete_groups"),
        {"ids": [used.pk, refilled.pk], "next": "/audit/"},
        HTTP_HX_REQUEST="true",
    )
    assert CustomerGroup.objects.filter(pk__in=[used.pk, refilled.pk]).count() == 2
    html = response.content.decode()
    assert "cannot be deleted while pricing rules use it" in html
    assert "USES-IT" in html
    assert "“Refilled” was not deleted: it has members again." in html


def test_delete_without_javascript_asks_for_confirmation_first(manager_client):
    """A plain POST shows a confirmation page; confirming deletes and returns to the list."""
    group = empty_group("Forgotten")
    url = reverse("pricing:audit_delete_groups")
    response = manager_client.post(url, {"ids": [group.pk], "next": "/audit/?finding=empty"})
    assert response.status_code == 200
    assert "Forgotten" in response.content.decode()
    assert 'name="confirmed" value="yes"' in response.content.decode()
    assert CustomerGroup.objects.filter(pk=group.pk).exists()
    response = manager_client.post(
        url, {"ids": [group.pk], "next": "/audit/?finding=empty", "confirmed": "yes"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/audit/?finding=empty"
    assert not CustomerGroup.objects.filter(pk=group.pk).exists()


def test_actions_only_return_to_the_audit(manager_client):
    """``next`` pointing elsewhere is ignored: the action redirects to /audit/."""
    group = empty_group()
    response = manager_client.post(
        reverse("pricing:audit_review_group", args=[group.pk]),
        {"next": "https://evil.example/audit/"},
    )
    assert response["Location"] == "/audit/"


def test_support_staff_cannot_delete_groups_end_promotions_or_disable_rules(support_client):
    """403 for the manager-only actions, and nothing changes."""
    group = populated_group("Promo", expires_on=today() - timedelta(days=1))
    rule = live_rule(valid_to=today() - timedelta(days=1))
    empty = empty_group()
    for url, data in (
        (reverse("pricing:audit_delete_groups"), {"ids": [empty.pk]}),
        (reverse("pricing:audit_end_promotion", args=[group.pk]), {}),
        (reverse("pricing:audit_disable_rule", args=[rule.pk]), {}),
    ):
        assert support_client.post(url, data, HTTP_HX_REQUEST="true").status_code == 403
    assert CustomerGroup.objects.filter(pk=empty.pk).exists()
    assert Membership.objects.current().filter(group=group).count() == 1
    rule.refresh_from_db()
    assert rule.is_active


def test_support_staff_can_mark_a_group_reviewed(support_client, support):
    """Reviewing is theirs too: who and when are recorded, the group leaves the overdue list."""
    group = empty_group("Old", created_at=timezone.now() - timedelta(days=200))
    html = support_client.get(AUDIT + "?finding=review_overdue").content.decode()
    assert reverse("pricing:audit_review_group", args=[group.pk]) in html
    response = support_client.post(
        reverse("pricing:audit_review_group", args=[group.pk]),
        {"next": "/audit/?finding=review_overdue"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    group.refresh_from_db()
    assert group.reviewed_by == support
    assert timezone.now() - group.reviewed_at < timedelta(minutes=1)
    html = response.content.decode()
    assert "Marked “Old” reviewed." in html
    assert 'id="count-review_overdue">0<' in html


def test_review_needs_the_review_permission(client, nobody):
    """Without groups.review_customergroup marking reviewed is refused."""
    client.force_login(nobody)
    group = empty_group()
    assert client.post(reverse("pricing:audit_review_group", args=[group.pk])).status_code == 403


def test_manager_ends_a_promotion_and_history_keeps_the_members(manager_client, manager):
    """Ending a promotion closes every open membership, recorded as left by the manager."""
    promo = populated_group("Summer", members=3, expires_on=today() - timedelta(days=2))
    html = manager_client.get(AUDIT + "?finding=past_expiry").content.decode()
    assert reverse("pricing:audit_end_promotion", args=[promo.pk]) in html
    response = manager_client.post(
        reverse("pricing:audit_end_promotion", args=[promo.pk]),
        {"next": "/audit/?finding=past_expiry"},
        HTTP_HX_REQUEST="true",
    )
    assert "removed 3 members" in response.content.decode()
    assert not Membership.objects.current().filter(group=promo).exists()
    closed = Membership.objects.filter(group=promo)
    assert closed.count() == 3
    assert {m.left_by for m in closed} == {manager}


def test_end_promotion_without_javascript_confirms_first(manager_client):
    """A plain POST asks first and changes nothing until confirmed."""
    promo = populated_group("Summer", members=2, expires_on=today() - timedelta(days=2))
    url = reverse("pricing:audit_end_promotion", args=[promo.pk])
    response = manager_client.post(url, {"next": "/audit/?finding=past_expiry"})
    assert response.status_code == 200
    assert "End the promotion “Summer”" in response.content.decode()
    assert Membership.objects.current().filter(group=promo).count() == 2
    manager_client.post(url, {"next": "/audit/", "confirmed": "yes"})
    assert Membership.objects.current().filter(group=promo).count() == 0


def test_manager_disables_a_dead_rule(manager_client, manager):
    """Disable from the never-applies list; the rule leaves the list and the history says who."""
    rule = live_rule(code="DEAD-1", valid_to=today() - timedelta(days=1))
    response = manager_client.post(
        reverse("pricing:audit_disable_rule", args=[rule.pk]),
        {"next": "/audit/?finding=never_applies"},
        HTTP_HX_REQUEST="true",
    )
    rule.refresh_from_db()
    assert not rule.is_active
    assert rule.history.first().history_user == manager
    html = response.content.decode()
    assert "Disabled DEAD-1." in html
    assert 'id="count-never_applies">0<' in html


# --- Export -----------------------------------------------------------------------------------


def test_export_lists_every_finding(manager_client):
    """One row per finding and subject, with a link to fix it."""
    group = empty_group("Forgotten")
    rule = live_rule(code="OLD", valid_to=today() - timedelta(days=1))
    response = manager_client.get(reverse("pricing:audit_export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == ["finding", "subject", "id", "code", "name", "details", "link"]
    by_finding = {(row[0], row[2]) for row in rows[1:]}
    assert ("empty", str(group.pk)) in by_finding
    assert ("unused", str(group.pk)) in by_finding
    assert ("never_applies", str(rule.pk)) in by_finding
    line = next(row for row in rows if row[0] == "never_applies")
    assert "validity ended" in line[5]
    assert line[6] == f"/pricing/rules/{rule.pk}/"


def test_export_of_one_list_keeps_its_filters(manager_client):
    """``?finding=…&q=…`` exports just that filtered list."""
    empty_group("Summer leftovers")
    empty_group("Winter leftovers")
    rows = csv_rows(manager_client.get(reverse("pricing:audit_export") + "?finding=empty&q=sum"))
    assert [row[4] for row in rows[1:]] == ["Summer leftovers"]


def test_export_defuses_spreadsheet_formulas(manager_client):
    """A name that starts like a formula is written as text."""
    empty_group("=HYPERLINK(1)")
    rows = csv_rows(manager_client.get(reverse("pricing:audit_export") + "?finding=empty"))
    assert rows[1][4] == "'=HYPERLINK(1)"


def test_a_passed_expiry_is_red_only_while_something_still_runs(support_client):
    """Issue 21, "Also": "Past planned expiry 0" beside a red date. A group past its planned
    expiry with nothing running is not in that finding, so its date is not red either."""
    done = empty_group("Done promo", expires_on=today() - timedelta(days=5))
    running = populated_group("Running promo", expires_on=today() - timedelta(days=5))
    html = support_client.get(AUDIT + "?finding=review_overdue&q=promo").content.decode()
    html += support_client.get(AUDIT + "?finding=empty").content.decode()
    done_row = html.split("Done promo", 1)[1].split("</tr>", 1)[0]
    assert "text-danger" not in done_row
    assert "passed; nothing left running" in done_row
    past = support_client.get(AUDIT + "?finding=past_expiry").content.decode()
    running_row = past.split("Running promo", 1)[1].split("</tr>", 1)[0]
    assert '<span class="text-danger">' in running_row
    assert done.name not in past.split('id="audit-panel"', 1)[1]
    assert running.pk
