"""Every date and instant Ratecard accepts is one every rating path can compute with.

The range is the engine's (``pricing.engine.calendar``: 1900-01-01 to 9998-12-31, instants whose
UTC date and billing day fall in it). The API answers 400 on the field, forms show the message
beside the field, the CSV upload answers 422 naming the line, and nothing out of range is stored.
At the edge of the range everything still rates.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from groups.models import CustomerGroup, Membership
from groups.validation import validate_supported_day, validate_supported_instant
from pricing import batch, engine, services
from pricing.models import PricingRule, UsageRecord, UsageStatus
from tests import factories
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db

DAY_MESSAGE = "outside the dates Ratecard supports"
INSTANT_MESSAGE = "outside the instants Ratecard supports"
# Beyond year 9999 in UTC, and in 1 BC in UTC: both were stored by the upload before.
FAR_INSTANTS = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"]
EDGE_INSTANT = "9998-12-31T12:00:00+00:00"


def test_the_shared_checks_are_the_engines():
    """groups' validators use the range pricing installed: the engine's, with its message."""
    validate_supported_day(engine.DATE_MAX)
    validate_supported_day(engine.DATE_MIN)
    with pytest.raises(ValidationError) as error:
        validate_supported_day(date(9999, 1, 1))
    with pytest.raises(engine.OutOfRange) as engine_error:
        engine.check_day(date(9999, 1, 1))
    assert error.value.messages == [str(engine_error.value)]
    validate_supported_instant(datetime(9998, 12, 31, 23, 59, tzinfo=UTC))
    with pytest.raises(ValidationError, match=INSTANT_MESSAGE):
        validate_supported_instant(datetime(1899, 12, 31, 23, 59, tzinfo=UTC))


# --- The API: 400 with the message on the field -----------------------------------------------


def rule_body(price_list, **fields) -> dict:
    return {
        "name": "Edge",
        "code": "EDGE",
        "billing_category": "edge",
        "price_list_id": str(price_list.pk),
        "valid_from": "2026-01-01",
        **fields,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("valid_to", "9999-12-31"), ("valid_from", "1899-12-31"), ("valid_to", "0001-01-01")],
)
def test_api_refuses_rule_dates_outside_the_range(manager, field, value):
    price_list = factories.price_list()
    response = Api(manager).post("/api/v1/pricing-rules", rule_body(price_list, **{field: value}))
    assert response.status_code == 400
    assert DAY_MESSAGE in response.json()[field][0]
    assert not PricingRule.objects.exists()


def test_api_refuses_an_edit_that_moves_a_rule_out_of_range(manager):
    rule = factories.rule()
    response = Api(manager).patch(f"/api/v1/pricing-rules/{rule.pk}", {"valid_to": "9999-12-31"})
    assert response.status_code == 400
    assert DAY_MESSAGE in response.json()["valid_to"][0]
    rule.refresh_from_db()
    assert rule.valid_to is None


def test_api_refuses_a_group_expiry_outside_the_range(manager):
    response = Api(manager).post("/api/v1/groups", {"name": "Promo", "expires_on": "9999-12-31"})
    assert response.status_code == 400
    assert DAY_MESSAGE in response.json()["expires_on"][0]
    assert not CustomerGroup.objects.exists()


@pytest.mark.parametrize("instant", FAR_INSTANTS)
def test_api_refuses_usage_instants_outside_the_range(manager, instant):
    customer = factories.customer(external_id="C-1")
    record = {
        "external_id": "C-1",
        "billing_category": "retail",
        "item_code": "minute",
        "quantity": "1",
        "occurred_at": instant,
    }
    api = Api(manager)
    one = api.post("/api/v1/usage-records", record)
    assert one.status_code == 400
    assert "occurred_at" in one.json()
    many = api.post("/api/v1/usage-records", [{**record, "occurred_at": EDGE_INSTANT}, record])
    assert many.status_code == 400
    assert list(many.json()["records"]) == ["1"]
    assert "occurred_at" in many.json()["records"]["1"]
    rate = api.post("/api/v1/rate", {**record, "customer_id": str(customer.pk)})
    assert rate.status_code == 400
    assert not UsageRecord.objects.exists()


def test_api_filters_by_a_date_outside_the_range_are_refused(manager):
    response = Api(manager).get("/api/v1/pricing-rules", {"active_on": "9999-12-31"})
    assert response.status_code == 400
    assert DAY_MESSAGE in str(response.json())


# --- Pages: the message beside the field, nothing saved ---------------------------------------


def _rule_form(price_list, **overrides) -> dict:
    return {
        "name": "Edge",
        "code": "EDGE",
        "billing_category": "edge",
        "price_list": str(price_list.pk),
        "target_kind": "everyone",
        "priority": "5",
        "valid_from": "2026-01-01",
        "valid_to": "",
        "is_active": "on",
        **overrides,
    }


def test_the_rule_form_refuses_a_valid_to_outside_the_range(manager_client):
    price_list = factories.price_list()
    response = manager_client.post(
        reverse("pricing:rule_create"), _rule_form(price_list, valid_to="9999-12-31")
    )
    assert response.status_code == 422
    assert DAY_MESSAGE in " ".join(response.context["form"].errors["valid_to"])
    assert not PricingRule.objects.exists()


def test_the_group_form_refuses_an_expiry_outside_the_range(manager_client):
    response = manager_client.post(
        reverse("groups:group_create"), {"name": "Promo", "expires_on": "9999-12-31"}
    )
    assert response.status_code == 422
    assert DAY_MESSAGE in " ".join(response.context["form"].errors["expires_on"])
    assert not CustomerGroup.objects.exists()


def test_the_impact_preview_refuses_a_window_beyond_the_range(manager_client):
    """It used to compute the day after 9999-12-31 and answer 500."""
    response = manager_client.get(
        reverse("pricing:usage_impact"), {"start": "2026-01-01", "end": "9999-12-31"}
    )
    assert response.status_code == 422
    assert DAY_MESSAGE in " ".join(response.context["form"].errors["end"])


def test_services_and_the_admin_refuse_model_values_outside_the_range(superuser_client):
    """Model validation carries the range: services' full_clean and the admin's forms."""
    with pytest.raises(ValidationError) as error:
        services.rule_create(
            name="x",
            code="X",
            billing_category="retail",
            price_list=factories.price_list(),
            valid_from=date(2026, 1, 1),
            valid_to=date(9999, 12, 31),
        )
    assert DAY_MESSAGE in error.value.message_dict["valid_to"][0]
    membership = Membership(
        group=factories.group(),
        customer=factories.customer(),
        joined_at=datetime(1, 1, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValidationError) as error:
        membership.full_clean()
    assert INSTANT_MESSAGE in error.value.message_dict["joined_at"][0]
    group = factories.group()
    response = superuser_client.post(
        reverse("admin:groups_customergroup_change", args=[group.pk]),
        {
            "name": group.name,
            "code": group.code,
            "expires_on": "9999-12-31",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert DAY_MESSAGE in response.content.decode()
    group.refresh_from_db()
    assert group.expires_on is None


# --- The CSV upload: 422 naming the line, nothing stored --------------------------------------


@pytest.mark.parametrize("instant", FAR_INSTANTS)
def test_an_upload_with_an_instant_outside_the_range_names_the_line(manager_client, instant):
    factories.customer(external_id="C-1")
    text = (
        "customer,category,item,quantity,occurred_at\n"
        f"C-1,retail,minute,1,{EDGE_INSTANT}\nC-1,retail,minute,1,{instant}\n"
    )
    upload = SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")
    response = manager_client.post(reverse("pricing:usage_upload"), {"file": upload})
    assert response.status_code == 422
    errors = response.context["upload_errors"]
    assert errors[0].startswith("Line 3: occurred_at")
    assert INSTANT_MESSAGE in errors[0]
    assert not UsageRecord.objects.exists()


# --- Filters: 400 with a message, never a 500 -------------------------------------------------


def test_usage_filters_beyond_the_range_are_a_message_not_a_500(manager_client):
    """``?occurred_to=9999-12-31`` computed the day after it and answered 500."""
    factories.usage(factories.customer())
    page = manager_client.get(reverse("pricing:usage"), {"occurred_to": "9999-12-31"})
    assert page.status_code == 400
    assert "were not understood" in page.content.decode()
    fragment = manager_client.get(
        reverse("pricing:usage"), {"occurred_to": "9999-12-31"}, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 400
    assert DAY_MESSAGE in fragment.content.decode()
    export = manager_client.get(reverse("pricing:usage_export"), {"occurred_to": "9999-12-31"})
    assert export.status_code == 400
    assert "Nothing was exported" in export.content.decode()


def test_usage_filters_at_the_edge_of_the_range_work(manager_client):
    factories.usage(factories.customer())
    page = manager_client.get(reverse("pricing:usage"), {"occurred_to": "9998-12-31"})
    assert page.status_code == 200
    assert len(page.context["records"]) == 1
    export = manager_client.get(reverse("pricing:usage_export"), {"occurred_to": "9998-12-31"})
    assert export.status_code == 200
    assert len(b"".join(export.streaming_content).splitlines()) == 2


# --- At the edge, everything rates ------------------------------------------------------------


def _edge_rule_via(surface: str, manager, price_list) -> PricingRule:
    if surface == "api":
        body = rule_body(price_list, valid_to="9998-12-31", priority=5)
        assert Api(manager).post("/api/v1/pricing-rules", body).status_code == 201
    else:
        from django.test import Client

        client = Client()
        client.force_login(manager)
        response = client.post(
            reverse("pricing:rule_create"), _rule_form(price_list, valid_to="9998-12-31")
        )
        assert response.status_code == 302
    return PricingRule.objects.get(code="EDGE")


@pytest.mark.parametrize("surface", ["api", "form"])
def test_a_rule_ending_on_the_last_supported_day_rates_on_every_path(manager, surface):
    """API rate, API usage-records, and a CSV upload rated by rate_usage all use the rule."""
    price_list = factories.price_list(items={"minute": "2.00"})
    rule = _edge_rule_via(surface, manager, price_list)
    assert rule.valid_to == engine.DATE_MAX
    customer = factories.customer(external_id="EDGE-1")
    api = Api(manager)
    for instant in ("2026-03-01T12:00:00Z", EDGE_INSTANT):
        record = {
            "external_id": "EDGE-1",
            "billing_category": "edge",
            "item_code": "minute",
            "quantity": "3",
            "occurred_at": instant,
        }
        rated = api.post("/api/v1/rate", record)
        assert rated.status_code == 200, rated.content
        assert (rated.json()["rule_code"], rated.json()["amount"]) == ("EDGE", "6.00")
        stored = api.post("/api/v1/usage-records", record)
        assert stored.status_code == 201, stored.content
        assert stored.json()["status"] == "rated"
    text = f"customer,category,item,quantity,occurred_at\nEDGE-1,edge,minute,1,{EDGE_INSTANT}\n"
    upload = services.usage_upload(file=_file(text))
    call_command("rate_usage", stdout=StringIO(), stderr=StringIO())
    uploaded = UsageRecord.objects.get(pk=batch.batch_record_id(upload.batch_key, 2))
    assert uploaded.status == UsageStatus.RATED
    assert uploaded.customer == customer
    assert uploaded.amount == Decimal("2.00")


def _file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")
