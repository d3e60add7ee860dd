"""Importing customers from CSV: a line-by-line dry run, then all of it or nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from groups import services
from groups.models import Customer, Membership
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = "name,external_id,email,group_codes\n"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return (header + "\n".join(lines) + "\n").encode()


# --- Service ----------------------------------------------------------------------------------


def test_plan_counts_creates_updates_memberships_and_unchanged(worked_example):
    raw = csv_bytes(
        "New One,NEW-1,one@new.example,vip standard",
        "Startup XYZ,CUST-0003,hello@startupxyz.example,vip;standard",  # joins vip only
        "Tech Corporation,CUST-0002,accounts@techcorp.example,",  # renamed
        "End Customer Ltd,CUST-0001,billing@endcustomer.example,VIP",  # nothing new
    )
    plan = services.customer_import_plan(raw=raw)
    assert plan.ok
    assert plan.rows == 4
    assert [row.external_id for row in plan.to_create] == ["NEW-1"]
    assert [row.external_id for row in plan.to_update] == ["CUST-0002"]
    assert [row.external_id for row in plan.to_join] == ["CUST-0003"]
    assert plan.unchanged == 1
    assert plan.memberships_to_add == 3  # NEW-1 in vip and standard, CUST-0003 in vip
    assert not Customer.objects.filter(external_id="NEW-1").exists()  # a dry run


def test_plan_reports_every_bad_line_with_its_number(worked_example):
    raw = csv_bytes(
        ",NO-NAME,,",
        "No ID,,,",
        "Bad Mail,BAD-1,not-an-email,",
        "Dup,DUP-1,,",
        "Dup again,DUP-1,,",
        "Unknown groups,UG-1,,vip platinum gold",
    )
    plan = services.customer_import_plan(raw=raw)
    assert not plan.ok
    assert plan.errors == [
        services.IMPORT_NO_NAME.format(line=2),
        services.IMPORT_NO_EXTERNAL_ID.format(line=3),
        "Line 4: email: Enter a valid email address.",
        services.IMPORT_DUPLICATE.format(line=6, external_id="DUP-1", first=5),
        services.IMPORT_UNKNOWN_GROUPS.format(line=7, codes="platinum, gold"),
    ]
    assert plan.unknown_group_codes == ["gold", "platinum"]


def test_plan_needs_name_and_external_id_columns():
    with pytest.raises(ValidationError) as exc:
        services.customer_import_plan(raw=b"name,email\nA,a@b.example\n")
    assert "missing: external_id" in exc.value.messages[0]


def test_plan_accepts_header_aliases_and_a_bom():
    raw = "\ufeffName,External ID,Groups\nA,A-1,\n".encode()
    plan = services.customer_import_plan(raw=raw)
    assert [row.external_id for row in plan.to_create] == ["A-1"]


def test_plan_refuses_non_utf8_and_empty_files():
    with pytest.raises(ValidationError, match="not UTF-8"):
        services.customer_import_plan(raw="name,external_id\nŽ,1\n".encode("cp1250"))
    with pytest.raises(ValidationError, match="no customer rows"):
        services.customer_import_plan(raw=b"name,external_id\n\n")


def test_apply_stores_everything_in_one_go(worked_example, support):
    raw = csv_bytes(
        "New One,NEW-1,one@new.example,vip standard",
        "Tech Corporation,CUST-0002,accounts@techcorp.example,",
        "Startup XYZ,CUST-0003,hello@startupxyz.example,vip",
    )
    plan = services.customer_import_apply(raw=raw, by=support)
    assert plan.applied
    new = Customer.objects.get(external_id="NEW-1")
    assert set(new.current_groups().values_list("code", flat=True)) == {"vip", "standard"}
    assert Customer.objects.get(external_id="CUST-0002").name == "Tech Corporation"
    joined = Membership.objects.current().get(group__code="vip", customer__external_id="CUST-0003")
    assert joined.joined_by == support
    worked_example["vip"].refresh_from_db()
    assert worked_example["vip"].members_changed_at is not None


def test_apply_with_any_bad_line_stores_nothing(worked_example):
    raw = csv_bytes("Good,GOOD-1,,vip", "Bad,BAD-1,,nope")
    with pytest.raises(ValidationError) as exc:
        services.customer_import_apply(raw=raw)
    assert "Nothing was stored" in exc.value.messages[0]
    assert not Customer.objects.filter(external_id="GOOD-1").exists()


def test_apply_twice_changes_nothing_the_second_time(worked_example):
    raw = csv_bytes("Again,AGAIN-1,,vip")
    services.customer_import_apply(raw=raw)
    plan = services.customer_import_plan(raw=raw)
    assert plan.change_count == 0
    assert plan.unchanged == 1


# --- Page -------------------------------------------------------------------------------------


def upload(raw: bytes, name: str = "customers.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, raw, "text/csv")


def test_import_preview_then_confirm(support_client, worked_example, run_queue):
    """Upload shows the dry run; the confirm step carries the file and starts the import as
    background work, whose progress replaces the panel; a worker applies it."""
    raw = csv_bytes("New One,NEW-1,one@new.example,vip")
    preview = support_client.post(
        "/customers/import/", {"csv_file": upload(raw)}, HTTP_HX_REQUEST="true"
    )
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "<html" not in body
    assert "nothing has been stored yet" in body
    assert 'name="csv_text"' in body
    assert not Customer.objects.filter(external_id="NEW-1").exists()

    response = support_client.post(
        "/customers/import/",
        {"confirm": "1", "csv_text": preview.context["csv_text"], "filename": "new.csv"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "Importing customers from new.csv (1 rows)" in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert not Customer.objects.filter(external_id="NEW-1").exists()
    run_queue()
    assert Customer.objects.get(external_id="NEW-1").current_groups().get().code == "vip"
    from background.models import Work

    work = Work.objects.get()
    assert work.started_by.username == "agent"
    assert work.result["summary"].startswith("Imported: 1 customers created")
    done = support_client.get(f"/work/{work.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Imported: 1 customers created" in done
    assert 'href="/customers/"' in done


def test_an_import_applied_twice_creates_nothing_twice(support_client, worked_example):
    """At least once: the import and its result commit together, so a second run of the task
    (a worker died after the commit) finds the result and applies nothing again."""
    from background.models import Work, WorkState
    from groups import services, tasks

    work = services.customer_import_start(raw=csv_bytes("New One,NEW-1,,vip"))
    assert tasks.import_customers.call(work_id=str(work.pk))["created"] == 1
    Work.objects.filter(pk=work.pk).update(state=WorkState.RUNNING, heartbeat_at=None)
    again = tasks.import_customers.call(work_id=str(work.pk))
    assert again["created"] == 1
    assert Customer.objects.filter(external_id="NEW-1").count() == 1
    assert Customer.objects.get(external_id="NEW-1").memberships.count() == 1


def test_import_preview_lists_errors_and_offers_no_confirm(support_client, worked_example):
    raw = csv_bytes("Bad,BAD-1,,platinum", ",X-2,,")
    response = support_client.post("/customers/import/", {"csv_file": upload(raw)})
    body = response.content.decode()
    assert "2 problems in the file. Nothing will be stored" in body
    assert "Line 2: unknown group codes: platinum." in body
    assert "Line 3: the name is empty." in body
    assert 'name="confirm"' not in body


def test_import_missing_columns_is_an_error_at_the_field(support_client):
    response = support_client.post(
        "/customers/import/", {"csv_file": upload(b"foo,bar\n1,2\n")}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "missing: name, external_id" in response.content.decode()


@override_settings(RATECARD_MAX_UPLOAD_BYTES=10)
def test_import_over_the_size_limit_is_refused(support_client):
    response = support_client.post("/customers/import/", {"csv_file": upload(csv_bytes("A,B,,"))})
    assert response.status_code == 422
    assert "files up to 10\xa0bytes are accepted" in response.content.decode()


def test_confirm_with_a_file_that_went_bad_stores_nothing(support_client, worked_example):
    response = support_client.post(
        "/customers/import/",
        {"confirm": "1", "csv_text": HEADER + "X,X-1,,nope\n"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Nothing was stored" in response.content.decode()
    assert not Customer.objects.filter(external_id="X-1").exists()


def test_import_needs_customer_and_membership_rights(client, nobody):
    client.force_login(nobody)
    response = client.post("/customers/import/", {"csv_file": upload(csv_bytes("A,A-1,,"))})
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_manager_can_import(manager_client, run_queue):
    factories.group("Gold", code="gold")
    raw = csv_bytes("A,A-1,,gold")
    preview = manager_client.post("/customers/import/", {"csv_file": upload(raw)})
    response = manager_client.post(
        "/customers/import/", {"confirm": "1", "csv_text": preview.context["csv_text"]}
    )
    assert response.status_code == 302  # without JavaScript: to the work's page
    run_queue()
    assert Customer.objects.get(external_id="A-1").current_groups().get().code == "gold"
