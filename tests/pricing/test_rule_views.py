"""Rule pages: the list in evaluation order, a rule's page, create and edit with live validation.

Every page and action is tried as a pricing manager, as support staff (reads only, 403 on
writes) and as a signed-in user without a role (403 everywhere).
"""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pricing import services
from pricing.models import PricingRule
from tests import factories

HX = {"HTTP_HX_REQUEST": "true"}
TODAY = timezone.localdate()


def list_url() -> str:
    return reverse("pricing:rule_list")


def detail_url(rule) -> str:
    return reverse("pricing:rule_detail", args=[rule.pk])


@pytest.fixture
def nobody_client(client, nobody):
    client.force_login(nobody)
    return client


@pytest.fixture
def price_list(db):
    return factories.price_list("STD", name="Standard", items={"minute": "1"})


def form_data(pl, **overrides) -> dict:
    data = {
        "name": "VIP retail",
        "code": "VIP-RETAIL",
        "billing_category": "retail",
        "price_list": str(pl.pk),
        "target_kind": "everyone",
        "group": "",
        "customer": "",
        "customer_q": "",
        "priority": "10",
        "valid_from": "2026-01-01",
        "valid_to": "",
        "is_active": "on",
        "description": "",
    }
    data.update(overrides)
    return data


def codes_in(body: str, codes) -> list[str]:
    """The codes in the order they appear on the page."""
    return sorted((c for c in codes if f"<code>{c}</code>" in body), key=body.index)


# --- The list ---------------------------------------------------------------------------------


def test_list_is_in_evaluation_order(manager_client):
    """Priority first, then customer before group before everyone at the same priority."""
    group = factories.group("VIP")
    customer = factories.customer("Acme")
    factories.rule("LOW", priority=0)
    factories.rule("EVERYONE-10", priority=10)
    factories.rule("GROUP-10", priority=10, group=group)
    factories.rule("CUSTOMER-10", priority=10, customer=customer)
    factories.rule("HIGH", priority=100)
    body = manager_client.get(list_url()).content.decode()
    codes = ["HIGH", "CUSTOMER-10", "GROUP-10", "EVERYONE-10", "LOW"]
    assert codes_in(body, codes) == codes


def test_list_columns(manager_client):
    group = factories.group("VIP Customers")
    pl = factories.price_list(name="VIP list", currency="EUR")
    rule = factories.rule(
        "VIP-1",
        name="VIP retail",
        group=group,
        price_list=pl,
        priority=77,
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    body = manager_client.get(list_url()).content.decode()
    assert detail_url(rule) in body
    assert "VIP retail" in body
    assert "retail" in body
    assert f'Group <a href="/groups/{group.pk}/">VIP Customers</a>' in body
    assert ">77</td>" in body
    assert "VIP list" in body
    assert "2026-01-01</span> \N{EN DASH} <span" in body


def test_list_filters_by_category_group_customer_and_price_list(manager_client):
    group = factories.group("VIP")
    customer = factories.customer("Acme")
    pl = factories.price_list(name="Special")
    factories.rule("RETAIL", billing_category="retail")
    factories.rule("WHOLESALE", billing_category="wholesale")
    factories.rule("FOR-GROUP", group=group)
    factories.rule("FOR-CUSTOMER", customer=customer)
    factories.rule("ON-SPECIAL", price_list=pl)
    all_codes = ["RETAIL", "WHOLESALE", "FOR-GROUP", "FOR-CUSTOMER", "ON-SPECIAL"]

    def shown(**params) -> list[str]:
        return codes_in(manager_client.get(list_url(), params).content.decode(), all_codes)

    assert shown(billing_category="wholesale") == ["WHOLESALE"]
    assert shown(group=group.pk) == ["FOR-GROUP"]
    assert shown(customer=customer.pk) == ["FOR-CUSTOMER"]
    assert shown(price_list=pl.pk) == ["ON-SPECIAL"]
    assert shown(target="group") == ["FOR-GROUP"]
    assert shown(target="customer") == ["FOR-CUSTOMER"]
    assert set(shown(target="everyone")) == {"RETAIL", "WHOLESALE", "ON-SPECIAL"}
    assert shown(q="wholes") == ["WHOLESALE"]


def test_list_filters_by_status(manager_client):
    """Active, scheduled, expired and disabled as of today."""
    factories.rule("ACTIVE", valid_from=TODAY - timedelta(days=1))
    factories.rule("SCHEDULED", valid_from=TODAY + timedelta(days=5))
    factories.rule(
        "EXPIRED", valid_from=TODAY - timedelta(days=30), valid_to=TODAY - timedelta(days=1)
    )
    factories.rule("DISABLED", valid_from=TODAY - timedelta(days=1), is_active=False)
    codes = ["ACTIVE", "SCHEDULED", "EXPIRED", "DISABLED"]
    for status in ("active", "scheduled", "expired", "disabled"):
        body = manager_client.get(list_url(), {"status": status}).content.decode()
        assert codes_in(body, codes) == [status.upper()], status
    body = manager_client.get(list_url()).content.decode()
    for label in ("Active", "Scheduled", "Expired", "Disabled"):
        assert f">{label}</span>" in body


def test_customer_filter_offers_only_targeted_customers(manager_client):
    """The customer select lists customers that rules target, not the whole customer table."""
    targeted = factories.customer("Targeted Ltd")
    factories.customer("Untargeted Ltd")
    factories.rule(customer=targeted)
    body = manager_client.get(list_url()).content.decode()
    assert "Targeted Ltd" in body
    assert "Untargeted Ltd" not in body


def test_list_filter_state_is_kept_in_pagination_links(manager_client):
    for n in range(55):
        factories.rule(f"R{n:02d}", billing_category="retail")
    body = manager_client.get(list_url(), {"billing_category": "retail"}).content.decode()
    assert "?billing_category=retail&amp;page=2" in body


def test_list_htmx_gets_the_results_fragment(manager_client):
    factories.rule("ONE")
    response = manager_client.get(list_url(), {"q": "ONE"}, **HX)
    body = response.content.decode()
    assert 'id="rule-results"' in body
    assert "<html" not in body
    assert "<code>ONE</code>" in body


def test_list_empty_states(manager_client, support_client):
    assert "Create the first rule" in manager_client.get(list_url()).content.decode()
    assert "Pricing managers create them" in support_client.get(list_url()).content.decode()
    factories.rule("ONE")
    body = manager_client.get(list_url(), {"q": "zzz"}).content.decode()
    assert "No rule matches these filters" in body


def test_support_sees_rules_without_edit_controls(support_client):
    rule = factories.rule("ONE")
    body = support_client.get(list_url()).content.decode()
    assert "<code>ONE</code>" in body
    assert "New rule" not in body
    body = support_client.get(detail_url(rule)).content.decode()
    assert "Simulate" in body
    for control in ("Edit", "Disable", "Delete"):
        assert f">{control}</a>" not in body


def test_user_without_role_is_refused_everywhere(nobody_client):
    rule = factories.rule("ONE")
    gets = [
        list_url(),
        detail_url(rule),
        reverse("pricing:rule_create"),
        reverse("pricing:rule_update", args=[rule.pk]),
        reverse("pricing:rule_disable", args=[rule.pk]),
        reverse("pricing:rule_enable", args=[rule.pk]),
        reverse("pricing:rule_delete", args=[rule.pk]),
        reverse("pricing:rule_customer_options") + "?customer_q=a",
        reverse("pricing:rule_group_options") + "?group_q=a",
    ]
    for url in gets:
        assert nobody_client.get(url).status_code == 403, url
    posts = [
        reverse("pricing:rule_create"),
        reverse("pricing:rule_update", args=[rule.pk]),
        reverse("pricing:rule_disable", args=[rule.pk]),
        reverse("pricing:rule_enable", args=[rule.pk]),
        reverse("pricing:rule_delete", args=[rule.pk]),
    ]
    for url in posts:
        assert nobody_client.post(url, {}).status_code == 403, url
    assert PricingRule.objects.filter(pk=rule.pk, is_active=True).exists()


def _mixed_rules(n: int) -> None:
    """``n`` rules over everyone, groups and customers, on different price lists."""
    for i in range(n):
        kind = i % 3
        fields = {}
        if kind == 1:
            fields["group"] = factories.group()
        elif kind == 2:
            fields["customer"] = factories.customer()
        factories.rule(f"Q{i:03d}", **fields)


# Session, user, permissions (2), category choices, count, page, then the filter form's choices:
# groups, price lists, targeted customers.
LIST_QUERIES = 10


def test_list_query_count_with_one_rule(manager_client, django_assert_num_queries):
    _mixed_rules(1)
    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get(list_url())
    assert response.content.decode().count('<th scope="row"') == 1


def test_list_query_count_with_fifty_rules(manager_client, django_assert_num_queries):
    """Targets and price lists are joined: 50 rows cost what one row costs."""
    _mixed_rules(50)
    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get(list_url())
    assert response.content.decode().count('<th scope="row"') == 50


def test_list_fragment_query_count_does_not_grow(manager_client, django_assert_num_queries):
    """The results fragment skips the filter form's choices."""
    _mixed_rules(50)
    with django_assert_num_queries(LIST_QUERIES - 3):
        response = manager_client.get(list_url(), {"q": "Q"}, **HX)
    assert response.content.decode().count('<th scope="row"') == 50


# --- One rule ---------------------------------------------------------------------------------


def test_detail_shows_every_field_status_and_simulate_link(manager_client):
    group = factories.group("VIP Customers")
    pl = factories.price_list("VIP-LIST", name="VIP list")
    rule = factories.rule(
        "VIP-1",
        name="VIP retail",
        group=group,
        price_list=pl,
        priority=42,
        valid_from=TODAY - timedelta(days=1),
        description="For the best customers.",
    )
    body = manager_client.get(detail_url(rule)).content.decode()
    for text in ("VIP-1", "VIP retail", "VIP list", "VIP-LIST", ">42 ", "For the best customers."):
        assert text in body, text
    assert f'/groups/{group.pk}/">VIP Customers</a>' in body
    assert ">Active</span>" in body
    assert f'href="/simulate/?rule={rule.pk}">Simulate for a member of this group</a>' in body
    for control in ("Edit", "Disable", "Delete"):
        assert f">{control}</a>" in body


def test_detail_shows_the_audit_trail_with_names(manager_client, manager):
    """Who changed what and when; a price list change reads by name, not by id."""
    first = factories.price_list("FIRST", name="First list")
    second = factories.price_list("SECOND", name="Second list")
    rule = services.rule_create(
        name="Rule",
        code="R-1",
        billing_category="retail",
        price_list=first,
        valid_from=date(2026, 1, 1),
        by=manager,
    )
    services.rule_update(rule=rule, price_list=second, priority=5, by=manager)
    body = manager_client.get(detail_url(rule)).content.decode()
    assert "<del>First list (CZK)</del> → Second list (CZK)" in body
    assert "<del>0</del> → 5" in body
    assert f"<td>{manager.username}</td>" in body
    assert "created" in body


# Session, user, permissions (2), rule, history, price list names, group names.
DETAIL_QUERIES = 9  # 8, and the drafts offered by "In a changeset"


def test_detail_query_count_with_one_change(manager_client, django_assert_num_queries):
    rule = factories.rule("ONE", group=factories.group())
    with django_assert_num_queries(DETAIL_QUERIES):
        manager_client.get(detail_url(rule))


def test_detail_query_count_with_fifty_changes(manager_client, django_assert_num_queries):
    """The trail's length costs nothing: names are looked up once per foreign key."""
    rule = factories.rule("ONE", group=factories.group())
    for priority in range(50):
        services.rule_update(rule=rule, priority=priority + 1)
    with django_assert_num_queries(DETAIL_QUERIES):
        manager_client.get(detail_url(rule))


def test_manager_disables_and_enables_a_rule(manager_client, manager):
    """The htmx answer is the rule's part of the page, with the other button focused."""
    rule = factories.rule("ONE", valid_from=TODAY - timedelta(days=1))
    url = reverse("pricing:rule_disable", args=[rule.pk])
    assert "Disable the rule “ONE”?" in manager_client.get(url).content.decode()
    response = manager_client.post(url, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="rule"' in body
    assert ">Disabled</span>" in body
    assert "autofocus" in body
    assert "Rule “ONE” disabled." in body
    rule.refresh_from_db()
    assert not rule.is_active
    assert rule.history.first().history_user == manager
    assert "Enabled: <del>yes</del> → no" in manager_client.get(detail_url(rule)).content.decode()

    response = manager_client.post(reverse("pricing:rule_enable", args=[rule.pk]))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.is_active


def test_manager_deletes_a_rule_after_confirming(manager_client):
    rule = factories.rule("GONE")
    url = reverse("pricing:rule_delete", args=[rule.pk])
    confirm = manager_client.get(url)
    assert "Delete the rule “GONE”?" in confirm.content.decode()
    response = manager_client.post(url, **HX)
    assert response["HX-Redirect"] == list_url()
    assert not PricingRule.objects.filter(pk=rule.pk).exists()


def test_support_cannot_change_rules(support_client, price_list):
    """Support staff get 403 on every rule write, even posting by hand."""
    rule = factories.rule("KEEP", price_list=price_list)
    assert support_client.get(reverse("pricing:rule_create")).status_code == 403
    assert support_client.get(reverse("pricing:rule_update", args=[rule.pk])).status_code == 403
    data = form_data(price_list, code="NEW")
    assert support_client.post(reverse("pricing:rule_create"), data).status_code == 403
    data = form_data(price_list, code="KEEP", name="Changed")
    url = reverse("pricing:rule_update", args=[rule.pk])
    assert support_client.post(url, data).status_code == 403
    for name in ("rule_disable", "rule_enable", "rule_delete"):
        assert support_client.post(reverse(f"pricing:{name}", args=[rule.pk])).status_code == 403
    url = reverse("pricing:rule_customer_options")
    assert support_client.get(url, {"customer_q": "a"}).status_code == 403
    url = reverse("pricing:rule_group_options")
    assert support_client.get(url, {"group_q": "a"}).status_code == 403
    rule.refresh_from_db()
    assert (rule.name, rule.is_active) == (rule.name, True)
    assert PricingRule.objects.count() == 1


# --- Create and edit --------------------------------------------------------------------------


def test_create_page_has_labels_focus_and_defaults(manager_client, price_list):
    body = manager_client.get(reverse("pricing:rule_create")).content.decode()
    for field in ("name", "code", "billing_category", "price_list", "priority", "valid_from"):
        assert f'for="id_{field}"' in body, field
    assert 'for="id_customer_q"' in body
    assert 'for="id_group_q"' in body
    assert f'hx-get="{reverse("pricing:rule_group_options")}"' in body
    assert f'hx-get="{reverse("pricing:rule_customer_options")}"' in body
    assert f'value="{TODAY.isoformat()}"' in body
    assert 'value="everyone"' in body
    assert "autofocus" in body


def test_manager_creates_a_rule_for_everyone(manager_client, manager, price_list):
    response = manager_client.post(reverse("pricing:rule_create"), form_data(price_list))
    rule = PricingRule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(rule)
    assert (rule.group, rule.customer, rule.priority) == (None, None, 10)
    assert rule.history.get().history_user == manager


def test_manager_creates_a_rule_for_a_group(manager_client, price_list):
    """A group left in the customer field is ignored: the target kind decides."""
    group = factories.group("VIP")
    customer = factories.customer("Acme")
    data = form_data(
        price_list, target_kind="group", group=str(group.pk), customer=str(customer.pk)
    )
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    rule = PricingRule.objects.get()
    assert response["HX-Redirect"] == detail_url(rule)
    assert (rule.group, rule.customer) == (group, None)


def test_manager_creates_a_rule_for_a_customer(manager_client, price_list):
    customer = factories.customer("Acme")
    data = form_data(price_list, target_kind="customer", customer=str(customer.pk))
    manager_client.post(reverse("pricing:rule_create"), data)
    assert PricingRule.objects.get().customer == customer


def test_group_target_without_group_is_an_error_next_to_it(manager_client, price_list):
    data = form_data(price_list, target_kind="group")
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert '<div id="id_group-error" class="invalid-feedback d-block"><div>Choose the group' in body
    assert not PricingRule.objects.exists()


def test_customer_target_without_customer_is_an_error(manager_client, price_list):
    data = form_data(price_list, target_kind="customer")
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert '<div id="id_customer-error" class="invalid-feedback d-block"><div>Choose the' in body
    assert 'id="id_customer_q"' in body
    assert "autofocus" in body


def test_invalid_dates_are_refused_in_place_with_typing_kept(manager_client, price_list):
    """valid_to before valid_from: the error sits next to valid_to and nothing typed is lost."""
    data = form_data(price_list, valid_from="2026-06-01", valid_to="2026-05-01", name="Typed")
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert (
        '<div id="id_valid_to-error" class="invalid-feedback d-block">'
        "<div>Valid to must be on or after valid from.</div>"
    ) in body
    assert 'value="Typed"' in body
    assert 'value="2026-05-01"' in body
    assert 'value="VIP-RETAIL"' in body
    assert "<html" not in body
    assert not PricingRule.objects.exists()


def test_negative_priority_and_taken_code_are_refused(manager_client, price_list):
    """Codes are unique whatever their case; priority cannot be negative."""
    factories.rule("VIP-RETAIL", name="Existing rule")
    data = form_data(price_list, code="vip-retail", priority="-1")
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert "is already used by the rule “Existing rule”" in body
    assert services.RULE_PRIORITY_NEGATIVE in body
    assert PricingRule.objects.count() == 1


def test_bad_category_and_missing_fields_are_reported_on_submit(manager_client, price_list):
    data = form_data(price_list, billing_category="Not A Slug", name="", price_list="")
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert "Use a lower-case slug" in body
    assert body.count("This field is required.") == 2


def test_live_validation_returns_only_error_slots(manager_client, price_list):
    """A change posts ``_validate``: out-of-band error slots come back, nothing is saved."""
    data = form_data(price_list, valid_from="2026-06-01", valid_to="2026-05-01", _validate="1")
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    slot = '<div id="id_valid_to-error" class="invalid-feedback d-block" hx-swap-oob="innerHTML">'
    assert slot in body
    assert "Valid to must be on or after valid from." in body
    assert "<form" not in body
    assert "<input" not in body
    assert not PricingRule.objects.exists()


def test_live_validation_keeps_quiet_about_fields_not_filled_yet(manager_client, price_list):
    """Half-filled forms: "required" waits for the submit, real mistakes show at once."""
    data = {"name": "", "code": "has space", "valid_from": "2026-06-01", "_validate": "1"}
    response = manager_client.post(reverse("pricing:rule_create"), data, **HX)
    body = response.content.decode()
    assert "required" not in body
    assert "cannot be null" not in body
    assert "Codes are letters, digits" in body


def test_live_validation_reports_a_taken_code(manager_client, price_list):
    factories.rule("TAKEN", name="The other")
    data = {"code": "taken", "_validate": "1"}
    body = manager_client.post(reverse("pricing:rule_create"), data, **HX).content.decode()
    assert "is already used by the rule “The other”" in body


def test_customer_search_finds_customers_as_you_type(manager_client):
    """At most ten matches, with the chosen customer kept at the top."""
    chosen = factories.customer("Chosen One")
    for n in range(15):
        factories.customer(f"Startup {n:02d}")
    url = reverse("pricing:rule_customer_options")
    response = manager_client.get(url, {"customer_q": "startup", "customer": chosen.pk}, **HX)
    body = response.content.decode()
    assert body.count('type="radio" name="customer"') == 11
    assert body.index("Chosen One") < body.index("Startup 00")
    assert f'value="{chosen.pk}" checked' in body
    body = manager_client.get(url, {"customer_q": "nobody-like-this"}, **HX).content.decode()
    assert "No customer matches" in body
    body = manager_client.get(url, {"customer_q": ""}, **HX).content.decode()
    assert "radio" not in body


def test_group_search_finds_groups_as_you_type(manager_client):
    """Groups are picked like customers: thousands of them would make a select useless."""
    factories.group("VIP Customers", code="vip")
    factories.group("Standard", code="standard")
    url = reverse("pricing:rule_group_options")
    body = manager_client.get(url, {"group_q": "vip"}, **HX).content.decode()
    assert body.count('type="radio" name="group"') == 1
    assert "VIP Customers" in body
    assert "· vip" in body


def test_group_search_without_javascript(manager_client, price_list):
    factories.group("VIP Customers", code="vip")
    data = form_data(price_list, target_kind="group", group_q="VIP", _search="group")
    response = manager_client.post(reverse("pricing:rule_create"), data)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'type="radio" name="group"' in body
    assert not PricingRule.objects.exists()


def test_group_filter_offers_only_targeted_groups(manager_client):
    targeted = factories.group("Targeted group")
    factories.group("Idle group")
    factories.rule(group=targeted)
    body = manager_client.get(list_url()).content.decode()
    assert "Targeted group" in body
    assert "Idle group" not in body


def test_customer_search_without_javascript(manager_client, price_list):
    """The Search button re-renders the form with matches, without saving or scolding."""
    factories.customer("Startup XYZ", external_id="CUST-0003")
    data = form_data(price_list, target_kind="customer", customer_q="CUST-0003", name="")
    data["_search"] = "customer"
    response = manager_client.post(reverse("pricing:rule_create"), data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Startup XYZ" in body
    assert "This field is required." not in body
    assert not PricingRule.objects.exists()


def test_create_prefills_from_a_group_link(manager_client, price_list):
    group = factories.group("VIP")
    url = reverse("pricing:rule_create")
    body = manager_client.get(url, {"group": group.pk, "price_list": price_list.pk}).content
    body = body.decode()
    assert 'value="group" class="form-check-input validate"' in body
    assert 'id="id_target_kind_1" required checked>' in body
    assert f'value="{group.pk}" checked' in body
    assert manager_client.get(url, {"group": "not-a-uuid"}).status_code == 200


def test_manager_edits_a_rule(manager_client, manager, price_list):
    customer = factories.customer("Acme")
    rule = factories.rule("EDIT-ME", customer=customer, price_list=price_list)
    url = reverse("pricing:rule_update", args=[rule.pk])
    body = manager_client.get(url).content.decode()
    assert 'value="EDIT-ME"' in body
    assert f'value="{customer.pk}" checked' in body  # the current customer, ticked
    data = form_data(
        price_list,
        code="EDIT-ME",
        name="Edited",
        target_kind="customer",
        customer=str(customer.pk),
        valid_to="2026-12-31",
    )
    response = manager_client.post(url, data)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.valid_to, rule.customer) == ("Edited", date(2026, 12, 31), customer)
    assert rule.history.first().history_user == manager


def test_edit_keeps_its_own_code_and_live_validation_does_not_change_the_rule(
    manager_client, price_list
):
    rule = factories.rule("MINE", price_list=price_list)
    url = reverse("pricing:rule_update", args=[rule.pk])
    data = form_data(price_list, code="mine", name="Live", _validate="1")
    body = manager_client.post(url, data, **HX).content.decode()
    assert "already used" not in body
    rule.refresh_from_db()
    assert rule.code == "MINE"
    assert rule.name != "Live"


def test_edit_with_errors_keeps_the_heading_and_typing(manager_client, price_list):
    rule = factories.rule("HEAD", price_list=price_list)
    url = reverse("pricing:rule_update", args=[rule.pk])
    data = form_data(price_list, code="HEAD", valid_from="2026-06-01", valid_to="2026-01-01")
    response = manager_client.post(url, data)
    body = response.content.decode()
    assert response.status_code == 422
    assert "Edit rule <code>HEAD</code>" in body
    assert "Valid to must be on or after valid from." in body
