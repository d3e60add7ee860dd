"""Issue 21, "Also": a fresh install's dashboard shows the first steps; the rule form with no
price list says where to create one; the group page's "Create a rule" opens the rule form with
the group chosen."""

import re

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_a_fresh_dashboard_shows_the_first_steps_in_order(manager_client):
    body = manager_client.get(reverse("dashboard")).content.decode()
    assert "First steps" in body
    body = body.split('id="first-steps-heading"', 1)[1].split("</section>", 1)[0]
    steps = [
        reverse("pricing:price_list_create"),
        reverse("groups:customer_import"),
        reverse("pricing:rule_create"),
        reverse("pricing:simulate"),
    ]
    positions = [body.index(f'href="{url}"') for url in steps]
    assert positions == sorted(positions)
    assert ">done</span>" not in body


def test_the_first_steps_tick_what_is_done_and_go_once_all_is(manager_client, worked_example):
    body = manager_client.get(reverse("dashboard")).content.decode()
    assert "First steps" not in body


def test_support_staff_are_told_who_creates_price_lists(support_client):
    body = support_client.get(reverse("dashboard")).content.decode()
    assert "A pricing manager creates a price list" in body
    assert f'href="{reverse("pricing:price_list_create")}"' not in body


def test_the_rule_form_without_price_lists_links_to_creating_one(manager_client):
    body = manager_client.get(reverse("pricing:rule_create")).content.decode()
    assert "there is none yet" in body
    assert f'href="{reverse("pricing:price_list_create")}"' in body
    factories.price_list("STD", items={"minute": "1"})
    body = manager_client.get(reverse("pricing:rule_create")).content.decode()
    assert "there is none yet" not in body


def test_create_a_rule_from_the_group_page_opens_the_form_with_the_group(manager_client):
    group = factories.group("Black Friday")
    card = manager_client.get(
        reverse("pricing:group_rules", args=[group.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    link = f"{reverse('pricing:rule_create')}?group={group.pk}"
    assert f'href="{link}"' in card
    form = manager_client.get(link).content.decode()
    assert f'value="{group.pk}" checked' in form
    assert re.search(r'<input type="radio" name="target_kind" value="group"[^>]*checked', form)


def test_simulate_links_look_like_buttons(manager_client, worked_example):
    customer = worked_example["tech_corp"]
    pricing = manager_client.get(
        reverse("pricing:customer_pricing", args=[customer.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert re.search(
        r'<a class="btn btn-sm btn-outline-primary" href="[^"]+">Simulate</a>', pricing
    )
