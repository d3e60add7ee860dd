"""/api/v1/webhook-endpoints: register, change, test and read the delivery log over the API."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.events import services
from billing.events.models import Endpoint, Event


def test_a_manager_registers_an_endpoint_and_gets_its_secret(manager_api):
    response = manager_api.post(
        "/api/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks/r", "event_types": ["rule.changed", "usage.unrated"]},
    )
    assert response.status_code == 201
    body = response.json()
    endpoint = Endpoint.objects.get()
    assert body["id"] == str(endpoint.pk)
    assert body["secret"] == endpoint.secret
    assert body["event_types"] == ["rule.changed", "usage.unrated"]
    assert endpoint.created_by.username == "pm"


def test_unknown_event_types_and_bad_urls_are_400_beside_their_fields(manager_api):
    response = manager_api.post(
        "/api/v1/webhook-endpoints", {"url": "ftp://x", "event_types": ["nope"]}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"url", "event_types"}
    assert not Endpoint.objects.exists()


def test_patch_keeps_and_put_resets_what_is_not_sent(manager_api):
    endpoint = services.endpoint_create(
        url="http://127.0.0.1:9/a/h", event_types=["rule.changed"], description="Invoicing"
    )
    path = f"/api/v1/webhook-endpoints/{endpoint.pk}"
    assert manager_api.patch(path, {"is_active": False}).json()["description"] == "Invoicing"
    body = manager_api.put(
        path, {"url": "http://127.0.0.1:9/b/h", "event_types": ["price_list.changed"]}
    ).json()
    assert (body["description"], body["is_active"], body["url"]) == (
        "",
        True,
        "http://127.0.0.1:9/b/h",
    )


def test_a_test_event_is_accepted_and_shows_in_the_delivery_log(manager_api):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    response = manager_api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/test")
    assert response.status_code == 202
    assert response.json()["event_type"] == "endpoint.test"
    assert response.json()["state"] == "pending"
    log = manager_api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries").json()
    assert log["count"] == 1
    assert log["results"][0]["event_id"] == str(Event.objects.get().pk)


def test_the_delivery_log_costs_the_same_queries_however_long(manager_api):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    services.endpoint_send_test(endpoint=endpoint)
    path = f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries"
    with CaptureQueriesContext(connection) as few:
        manager_api.get(path)
    for _ in range(5):
        services.endpoint_send_test(endpoint=endpoint)
    with CaptureQueriesContext(connection) as many:
        assert manager_api.get(path).json()["count"] == 6
    assert len(few) == len(many)
