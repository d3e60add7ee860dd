"""The webhook pages: register an endpoint, read its delivery log, send a test event."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.events import services, types
from billing.events.models import Delivery, DeliveryState, Endpoint, Event
from tests.events.receiver import Receiver


def test_a_manager_registers_an_endpoint_and_sees_its_secret(manager_client):
    response = manager_client.post(
        "/webhooks/new/",
        {
            "url": "http://127.0.0.1:9/billing/ratecard",
            "description": "Invoicing",
            "event_types": [types.RULE_CHANGED, types.USAGE_UNRATED],
            "is_active": "on",
        },
        follow=True,
    )
    endpoint = Endpoint.objects.get()
    assert response.redirect_chain[-1][0] == f"/webhooks/{endpoint.pk}/"
    assert endpoint.event_types == [types.RULE_CHANGED, types.USAGE_UNRATED]
    assert endpoint.created_by.username == "pm"
    html = response.content.decode()
    assert endpoint.secret in html
    assert endpoint.secret.startswith("whsec_")
    assert "Send a test event" in html


def test_the_form_explains_what_is_wrong_in_place(manager_client):
    response = manager_client.post(
        "/webhooks/new/", {"url": "not a url", "is_active": "on"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "<html" not in html
    assert "Enter a valid URL." in html
    assert "This field is required." in html
    assert not Endpoint.objects.exists()


def test_edit_pauses_and_changes_events(manager_client):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    response = manager_client.post(
        f"/webhooks/{endpoint.pk}/edit/",
        {"url": "http://127.0.0.1:9/b/h", "event_types": ["price_list.changed"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.event_types, endpoint.is_active) == (
        "http://127.0.0.1:9/b/h",
        ["price_list.changed"],
        False,
    )


def test_send_a_test_event_delivers_to_this_endpoint_only(manager_client, run_queue):
    with Receiver() as receiver:
        endpoint = services.endpoint_create(url=receiver.url, event_types=["rule.changed"])
        services.endpoint_create(url="http://127.0.0.1:9/other/h", event_types=["rule.changed"])
        receiver.secret = endpoint.secret
        response = manager_client.post(f"/webhooks/{endpoint.pk}/test/", follow=True)
        assert "A test event is on its way" in response.content.decode()
        run_queue()
    event = Event.objects.get()
    assert event.type == types.ENDPOINT_TEST
    assert event.payload["data"]["sent_by"] == "pm"
    assert receiver.successes == {str(event.pk): 1}
    delivery = Delivery.objects.get()
    assert (delivery.endpoint, delivery.state) == (endpoint, DeliveryState.SUCCEEDED)
    log = manager_client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "endpoint.test" in log
    assert "Delivered" in log


def test_deleting_asks_first_then_removes_the_log(manager_client):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    services.endpoint_send_test(endpoint=endpoint)
    page = manager_client.get(f"/webhooks/{endpoint.pk}/delete/").content.decode()
    assert "Delete the endpoint http://127.0.0.1:9/a/h?" in page
    assert Endpoint.objects.exists()
    manager_client.post(f"/webhooks/{endpoint.pk}/delete/")
    assert not Endpoint.objects.exists()
    assert not Delivery.objects.exists()


def test_support_staff_cannot_see_webhooks(support_client):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    assert support_client.get("/webhooks/").status_code == 403
    assert support_client.get(f"/webhooks/{endpoint.pk}/").status_code == 403


def test_webhook_pages_query_counts_do_not_grow(manager_client):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    services.endpoint_send_test(endpoint=endpoint)
    with CaptureQueriesContext(connection) as few_list:
        manager_client.get("/webhooks/")
    with CaptureQueriesContext(connection) as few_log:
        manager_client.get(f"/webhooks/{endpoint.pk}/")
    for n in range(5):
        services.endpoint_create(url=f"http://127.0.0.1:9/{n}/h", event_types=["rule.changed"])
        services.endpoint_send_test(endpoint=endpoint)
    with CaptureQueriesContext(connection) as many_list:
        manager_client.get("/webhooks/")
    with CaptureQueriesContext(connection) as many_log:
        manager_client.get(f"/webhooks/{endpoint.pk}/")
    assert len(few_list) == len(many_list)
    assert len(few_log) == len(many_log)
    with CaptureQueriesContext(connection) as fragment:
        manager_client.get(f"/webhooks/{endpoint.pk}/", HTTP_HX_REQUEST="true")
    assert len(fragment) <= len(many_log)
