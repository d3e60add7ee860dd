"""Page plumbing, once: fragment or whole page, one pagination, {% url %} links, one badge.

Every view decides "fragment or page" with :func:`groups.pages.wants_fragment`, pages with
:mod:`groups.pages` and renders ``_pagination.html``; templates build links with ``{% url %}``;
``groups`` imports nothing from ``pricing`` or ``billing`` and never looks pricing's models up.
"""

import ast
import re
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from groups.models import Customer
from groups.pages import MAX_PAGE, open_page, page_number, paginate, wants_fragment
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
HUGE = "99999999999999999999999"


def _request(**headers):
    request = RequestFactory().get("/groups/", **headers)
    request.htmx = HtmxDetails(request)
    return request


def test_only_a_plain_htmx_request_wants_a_fragment():
    """htmx swaps want the fragment; a history restore, a boosted link, a plain visit the page."""
    assert wants_fragment(_request(HTTP_HX_REQUEST="true"))
    assert not wants_fragment(_request())
    assert not wants_fragment(
        _request(HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    )
    assert not wants_fragment(_request(HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true"))
    assert not wants_fragment(RequestFactory().get("/"))  # no htmx middleware at all


@pytest.mark.parametrize(
    ("raw", "number"),
    [(None, 1), ("", 1), ("abc", 1), ("1e3", 1), ("-4", 1), ("0", 1), (" 7 ", 7), (HUGE, MAX_PAGE)],
)
def test_page_numbers_are_read_robustly(raw, number):
    assert page_number(raw) == number


@pytest.mark.django_db
def test_pages_past_the_end_give_the_last_page_and_open_pages_count_nothing(
    django_assert_num_queries,
):
    for n in range(5):
        factories.customer(f"Customer {n}")
    page = paginate(Customer.objects.order_by("name"), per_page=2, number=HUGE)
    assert page.number == 3
    assert [c.name for c in page] == ["Customer 4"]
    with django_assert_num_queries(1):  # no COUNT: one extra row says whether "next" exists
        first = open_page(Customer.objects.order_by("name"), per_page=2, number=1)
    assert first.has_next
    assert not first.has_previous()
    assert (first.start_index(), first.end_index()) == (1, 2)
    far = open_page(Customer.objects.order_by("name"), per_page=2, number=HUGE)
    assert far.number == MAX_PAGE
    assert not far.object_list
    assert not far.has_next


# --- Every page, as a history restore and with crafted page numbers ---------------------------


def _page_urls(worked_example) -> list[str]:
    vip = worked_example["vip"]
    customer = worked_example["tech_corp"]
    rule = vip.pricing_rules.first()
    return [
        reverse("groups:group_list"),
        reverse("groups:group_detail", args=[vip.pk]),
        reverse("groups:member_list", args=[vip.pk]),
        reverse("groups:group_history", args=[vip.pk]),
        reverse("groups:customer_list"),
        reverse("groups:customer_detail", args=[customer.pk]),
        reverse("groups:customer_history", args=[customer.pk]),
        reverse("pricing:price_list_list"),
        reverse("pricing:price_list_detail", args=[rule.price_list_id]),
        reverse("pricing:rule_list"),
        reverse("pricing:rule_detail", args=[rule.pk]),
        reverse("pricing:rule_update", args=[rule.pk]),
        reverse("pricing:group_rules", args=[vip.pk]),
        reverse("pricing:audit"),
        reverse("pricing:audit") + "?finding=review_overdue",
        reverse("pricing:simulate"),
        reverse("pricing:simulate_coverage"),
        reverse("pricing:customer_pricing", args=[customer.pk]),
        reverse("pricing:usage"),
        reverse("pricing:usage_impact"),
    ]


@pytest.mark.django_db
def test_a_history_restore_gets_the_whole_page_everywhere(superuser_client, worked_example):
    """Back after an in-page swap (htmx asks with HX-History-Restore-Request): never a bare
    fragment, on every page. The audit answered its panel alone."""
    for url in _page_urls(worked_example):
        response = superuser_client.get(
            url, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
        )
        body = response.content.decode()
        assert response.status_code == 200, url
        assert "<html" in body, url
        assert 'aria-label="Main"' in body, url  # the navigation bar


@pytest.mark.django_db
def test_html_answers_vary_on_htmx_and_fragments_are_never_cached(superuser_client):
    """The browser keeps a URL's page and its fragment apart, and stores no fragment, so a
    later plain visit (Back from another page, a reopened tab) never shows a fragment."""
    url = reverse("pricing:audit") + "?finding=unused"
    page = superuser_client.get(url)
    assert "HX-Request" in page["Vary"]
    fragment = superuser_client.get(url, HTTP_HX_REQUEST="true")
    assert "<html" not in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    assert "no-store" in fragment["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "pricing:audit",
        "pricing:usage",
        "groups:group_list",
        "groups:customer_list",
        "pricing:rule_list",
        "pricing:price_list_list",
        "pricing:simulate_coverage",
    ],
)
def test_crafted_page_numbers_never_fail(superuser_client, worked_example, name):
    """``?page=99999999999999999999999`` gives a page, not a server error (issue 22, item 9)."""
    for extra in ("", "&finding=tie"):
        response = superuser_client.get(f"{reverse(name)}?page={HUGE}{extra}")
        assert response.status_code == 200
        fragment = superuser_client.get(f"{reverse(name)}?page={HUGE}", HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200


@pytest.mark.django_db
def test_audit_pages_use_the_one_pagination(support_client, db):
    """The audit's list pages with the shared partial, keeping the finding in its links."""
    for n in range(30):
        factories.group(f"Promo {n:02d}")
    body = support_client.get(reverse("pricing:audit") + "?finding=empty&page=2").content.decode()
    assert "Page 2 of 2" in body
    assert 'href="/audit/?finding=empty&amp;page=1" rel="prev"' in body
    assert "26\N{EN DASH}30 of 30" in body


# --- Templates and imports ----------------------------------------------------------------------

HARD_CODED = re.compile(r'(?:href|action|hx-get|hx-post|src)="/')


def test_templates_build_links_with_url_tags():
    """No template hard-codes a path: every link comes from ``{% url %}`` (or ``{% static %}``)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "templates").rglob("*.html")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if HARD_CODED.search(line)
    ]
    assert offenders == []


def test_one_pagination_partial_and_one_rule_status_badge():
    """Lists include ``_pagination.html`` (no hand-made pager) and rule statuses come from
    ``pricing/_rule_status.html`` (no badge of a rule's status written elsewhere)."""
    pagers, badges = [], []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if path.name != "_pagination.html" and 'class="pagination' in text:
            pagers.append(path.name)
        if path.name != "_rule_status.html" and re.search(r"status == ['\"]scheduled", text):
            badges.append(path.name)
    assert pagers == []
    assert badges == []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_groups_imports_nothing_from_pricing_or_billing_nor_looks_rules_up():
    """``groups`` is the lowest layer: no import of ``pricing`` or ``billing``, and no reaching
    pricing's rule model by reflection (``_meta.get_field(...).related_model``)."""
    for path in (ROOT / "groups").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        upward = {name for name in _imports(path) if name.split(".")[0] in {"pricing", "billing"}}
        assert not upward, f"{path.relative_to(ROOT)} imports {upward}"
        assert "related_model" not in path.read_text(), path.relative_to(ROOT)
