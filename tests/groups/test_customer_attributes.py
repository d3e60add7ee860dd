"""Customer attributes (country, segment, signup date, free key/value) in pages and imports."""

from datetime import date

import pytest

from groups import services
from groups.models import Customer
from tests import factories

pytestmark = pytest.mark.django_db


def test_support_sets_attributes_on_the_customer_form(support_client):
    response = support_client.post(
        "/customers/new/",
        {
            "name": "Attr Co",
            "external_id": "ATTR-1",
            "is_active": "on",
            "country": "cz",
            "segment": "enterprise",
            "signed_up_on": "2025-04-01",
            "attributes": "industry=telecom; tier=gold",
        },
    )
    assert response.status_code == 302
    customer = Customer.objects.get(external_id="ATTR-1")
    assert (customer.country, customer.segment, customer.signed_up_on) == (
        "CZ",
        "enterprise",
        date(2025, 4, 1),
    )
    assert customer.attributes == {"industry": "telecom", "tier": "gold"}
    page = support_client.get(response["Location"]).content.decode()
    assert "industry=telecom" in page
    edit = support_client.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert "industry=telecom; tier=gold" in edit


def test_bad_attributes_come_back_next_to_their_fields(support_client):
    response = support_client.post(
        "/customers/new/",
        {"name": "Bad", "country": "C1", "segment": "Big Ones", "attributes": "novalue"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code in (200, 422)
    assert "two-letter ISO 3166" in body
    assert "lower-case code" in body
    assert "is not key=value" in body
    assert not Customer.objects.filter(name="Bad").exists()


def test_import_reads_attribute_columns_and_reports_bad_ones():
    existing = factories.customer("Old", external_id="OLD-1", segment="smb")
    raw = (
        b"name,external_id,country,segment,signed_up_on,attributes\n"
        b"New,NEW-1,cz,enterprise,2025-01-02,industry=retail\n"
        b"Old,OLD-1,DE,smb,,\n"
    )
    plan = services.customer_import_apply(raw=raw)
    assert plan.applied
    new = Customer.objects.get(external_id="NEW-1")
    assert (new.country, new.segment, new.signed_up_on, new.attributes) == (
        "CZ",
        "enterprise",
        date(2025, 1, 2),
        {"industry": "retail"},
    )
    existing.refresh_from_db()
    assert existing.country == "DE"
    bad = services.customer_import_plan(
        raw=b"name,external_id,country,signed_up_on,attributes\nX,X-1,CZE,someday,a\n"
    )
    assert len(bad.errors) == 1
    assert "not a date" in bad.errors[0]
    assert "key=value" in bad.errors[0]
    assert "two-letter" in bad.errors[0]


def test_import_without_attribute_columns_keeps_attributes():
    customer = factories.customer("Keep", external_id="KEEP-1", country="SK")
    services.customer_import_apply(raw=b"name,external_id\nKept,KEEP-1\n")
    customer.refresh_from_db()
    assert (customer.name, customer.country) == ("Kept", "SK")
