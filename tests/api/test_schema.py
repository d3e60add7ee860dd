"""The OpenAPI schema describes the API as served, and the API keeps to it (schemathesis)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.wsgi import application
from pricing import engine
from tests import factories

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Dates and instants at and beyond the edges of the supported range (pricing.engine.calendar)
# come first among the values generated for every date and date-time in the schema, so the
# fuzzing sends them to each field, filter and query that takes one; every value sent is kept.
EDGE_DAYS = [
    date(1, 1, 1),
    date(1899, 12, 31),
    engine.DATE_MIN,
    engine.DATE_MAX,
    date(9999, 1, 1),
    date(9999, 12, 31),
]
EDGE_INSTANTS = [
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+01:00",
    "9998-12-31T23:59:59+00:00",
    "9998-12-31T23:00:00-14:00",
    "1900-01-01T00:00:00+00:00",
    "1899-12-31T23:59:59+00:00",
]
SENT: dict[str, list[str]] = {"date": [], "date-time": []}


def _kept(kind: str):
    def keep(value: str) -> str:
        SENT[kind].append(value)
        return value

    return keep


_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
schemathesis.openapi.format(
    "date",
    st.one_of(st.sampled_from(EDGE_DAYS), st.dates()).map(date.isoformat).map(_kept("date")),
)
schemathesis.openapi.format(
    "date-time",
    st.one_of(
        st.sampled_from(EDGE_INSTANTS),
        st.datetimes(timezones=_ZONES).map(datetime.isoformat),
    ).map(_kept("date-time")),
)


def _out_of_range_day(text: str) -> bool:
    try:
        engine.check_day(date.fromisoformat(text))
    except engine.OutOfRange:
        return True
    return False


def _out_of_range_instant(text: str) -> bool:
    try:
        engine.check_instant(datetime.fromisoformat(text))
    except engine.OutOfRange:
        return True
    return False


# (generation mode, whether path ids name real objects, examples per operation). Real ids get
# past the 404 to the handlers; generated ones check the 404 answers. Kept small so the whole
# run takes seconds; raise the numbers locally to search harder.
RUNS = [
    (GenerationMode.POSITIVE, True, 8),
    (GenerationMode.NEGATIVE, True, 5),
    (GenerationMode.POSITIVE, False, 2),
]


def test_schema_is_openapi_3_json_with_paths_as_served(client):
    """/api/v1/schema: OpenAPI 3 as JSON, public, paths without trailing slashes."""
    response = client.get("/api/v1/schema")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/groups/{id}/customers/{customer_id}" in schema["paths"]
    assert not [path for path in schema["paths"] if path.endswith("/")]
    yaml = client.get("/api/v1/schema/", HTTP_ACCEPT="application/yaml")
    assert yaml.content.startswith(b"openapi: 3.")


def test_docs_page_has_no_inline_script_or_style(client):
    """/api/v1/docs loads Swagger UI from our static files; its init script is a URL."""
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html
    assert "<script>" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    script = client.get("/api/v1/docs?script=")
    assert script.status_code == 200
    assert "/api/v1/schema" in script.content.decode()


def _real_ids(example) -> dict[str, dict[str, str]]:
    rule = factories.rule()
    return {
        "/api/v1/groups": {
            "id": str(example["startup_program"].pk),
            "customer_id": str(example["startup"].pk),
        },
        "/api/v1/customers": {"id": str(example["tech_corp"].pk)},
        "/api/v1/price-lists": {"id": str(rule.price_list_id)},
        "/api/v1/pricing-rules": {"id": str(rule.pk)},
        "/api/v1/usage-records": {"id": str(factories.usage(example["startup"]).pk)},
        "/api/v1/webhook-endpoints": {"id": str(_endpoint().pk)},
        "/api/v1/changesets": _changeset_ids(rule),
    }


def _changeset_ids(rule) -> dict[str, str]:
    from pricing.changesets import services as changesets

    changeset = changesets.changeset_create(title="Schema run")
    change = changesets.change_rule(changeset=changeset, action="update", rule=rule, priority=7)
    return {"id": str(changeset.pk), "change_id": str(change.pk)}


def _endpoint():
    from billing.events import services

    return services.endpoint_create(url="http://127.0.0.1:9/hooks/r", event_types=["rule.changed"])


@pytest.fixture
def wsgi_app():
    """The project's WSGI application, keeping the test's database connection open.

    Django's test client stops ``close_old_connections`` from running around each request; the
    real handler does not, and on PostgreSQL it would close the connection holding the test's
    transaction. Disconnected here for the same reason.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(
    worked_example, superuser, wsgi_app
):
    """Generated valid and invalid requests to every operation: documented answers, no 5xx."""
    headers = {"Authorization": f"Token {Token.objects.create(user=superuser).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema", wsgi_app)
    real_ids = _real_ids(worked_example)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert (
        len(operations) == 60
    )  # 31, 8 of webhook endpoints, 16 of changesets, price book, 4 of group criteria

    for operation in operations:
        prefix = next((p for p in real_ids if operation.path.startswith(p)), None)
        known = real_ids.get(prefix, {})
        ids = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path}
        for mode, use_real_ids, examples in RUNS:
            if not use_real_ids and not ids:
                continue
            if mode is GenerationMode.NEGATIVE and not (
                len(operation.query) or len(operation.body)
            ):
                continue  # only the real ids to vary: nothing left to make invalid
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=ids if use_real_ids else None
            )

            @given(case=strategy)
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)

            check()

    # The run did send dates and instants outside the supported range, and got no 5xx for them.
    assert any(_out_of_range_day(value) for value in SENT["date"])
    assert any(_out_of_range_instant(value) for value in SENT["date-time"])
