"""The "Background work" page and a piece of work's status partial."""

import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from background import services
from background.models import Work, WorkState
from pricing import tasks


def _work(by=None, **fields) -> Work:
    work = services.work_start(task=tasks.rate_backlog, title="Rating pending usage", by=by)
    if fields:
        Work.objects.filter(pk=work.pk).update(**fields)
        work.refresh_from_db()
    return work


def test_managers_see_recent_work_with_state_who_and_error(manager_client, manager):
    _work(by=manager)
    _work(state=WorkState.FAILED, error="ValueError: the file vanished")
    html = manager_client.get("/work/").content.decode()
    assert "Rating pending usage" in html
    assert ">pm<" in html
    assert "the schedule" in html
    assert "ValueError: the file vanished" in html
    failed = manager_client.get("/work/", {"state": "failed"}, HTTP_HX_REQUEST="true")
    assert failed.content.decode().count("<tr>") == 2  # header and one row
    assert "<html" not in failed.content.decode()


def test_support_staff_cannot_open_the_background_work_page(support_client):
    assert support_client.get("/work/").status_code == 403


def test_support_staff_may_follow_a_piece_of_work(support_client, manager):
    work = _work(by=manager)
    assert support_client.get(f"/work/{work.pk}/").status_code == 200


def test_users_without_a_role_cannot_follow_work_of_others(client, nobody, manager):
    work = _work(by=manager)
    client.force_login(nobody)
    assert client.get(f"/work/{work.pk}/").status_code == 403


def test_unknown_work_is_not_found(manager_client):
    assert manager_client.get(f"/work/{uuid.uuid4()}/").status_code == 404


def test_a_finished_works_partial_shows_its_error_and_stops_polling(manager_client):
    work = _work(state=WorkState.FAILED, error="RuntimeError: boom")
    response = manager_client.get(f"/work/{work.pk}/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "RuntimeError: boom" in html
    assert "every 1s" not in html
    assert "work-finished" in response["HX-Trigger"]


def test_the_work_page_queries_do_not_grow_with_work(manager_client, manager):
    _work(by=manager)
    with CaptureQueriesContext(connection) as few:
        manager_client.get("/work/")
    for _ in range(8):
        _work(by=manager)
    with CaptureQueriesContext(connection) as many:
        manager_client.get("/work/")
    assert len(few) == len(many)


def test_the_status_partial_costs_a_fixed_number_of_queries(manager_client, manager):
    work = _work(by=manager)
    with CaptureQueriesContext(connection) as queries:
        manager_client.get(f"/work/{work.pk}/", HTTP_HX_REQUEST="true")
    assert len(queries) <= 5  # session, user, permissions (2), the work
