"""The import wizard of the staff app: upload (encoding detected, bad files refused), column
mapping (suggested from Korean headers, saved and loaded as templates), preview with per-cell
reasons, dry run, commit as a job, progress (HTML fragment and JSON), the result with rejected
rows to download, the consents of the same file, the history and who may see what.

``pos_export_cp949()`` writes the end-to-end fixture: a member list as a Korean POS exports it
(CP949, messy phones, a duplicate, bad rows); the browser test uses it too."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.customers.models import Consent, Customer, ExternalId
from dangol.integration import selectors
from dangol.integration.models import ImportJob, ImportStatus, MappingTemplate
from dangol.integration.tests.pos_files import (
    POS_HEADER,
    POS_REJECTED,
    accept_suggestions,
    pos_export_cp949,
    pos_upload,
    run_on_commit,
    upload,
)

# --- 1. upload ----------------------------------------------------------------------------------


def test_upload_page_lists_targets_and_sources(client: Any, manager: Any) -> None:
    from dangol.integration import services

    services.create_mapping_template(
        name="회원",
        source="smartstore",
        target="customers",
        mapping={"ID": "external_id"},
        actor=manager,
    )
    page = client.get("/data/imports/new/")
    assert page.status_code == 200
    html = page.content.decode()
    targets = {t["value"]: t for t in page.context["targets"]}
    assert all(t["enabled"] for t in targets.values())  # every target can be imported
    assert targets["organizations"]["help"] and targets["interactions"]["help"]
    assert '<option value="smartstore">' in html  # source suggestions


def test_upload_detects_cp949_and_suggests_the_mapping(client: Any, manager: Any) -> None:
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/data/imports/{job.pk}/mapping/"
    assert (job.status, job.format, job.source, job.created_by) == (
        "uploaded",
        "csv",
        "pos",
        manager,
    )

    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert page.context["sample"].encoding == "cp949"
    assert "detected automatically" in html or "자동" in html
    assert "김민준" in html and "010-1234-5678" in html  # samples decoded
    chosen = {c["name"]: c["field"] for c in page.context["columns"]}
    assert chosen == {
        "회원번호": "external_id",
        "이름": "full_name",
        "휴대폰": "mobile",
        "이메일": "email",
        "생년월일": "birth_date",
        "성별": "gender",
        "가입일": "signed_up",
        "문자수신동의": "",
    }
    assert page.context["origin"] == "suggested"
    assert page.context["consent_columns"] == ["문자수신동의"]
    assert [f["name"] for f in page.context["required"]] == ["external_id"]


@pytest.mark.parametrize(  # the UI speaks Korean by default: messages are matched in Korean
    ("extra", "field", "text"),
    [
        ({"file": pos_upload("members.pdf", b"%PDF")}, "file", "CSV, XLSX"),
        ({"file": pos_upload("회원.xls", b"\xd0\xcf\x11\xe0")}, "file", "(.xlsx)"),
        ({"encoding": "utf-8"}, "encoding", "UTF-8 글자로"),  # the select's name of the codec
        (
            {"file": pos_upload("members.csv", bytes(range(256)) * 12)},
            "encoding",
            "인코딩을 고르거나",
        ),
        ({"file": pos_upload("members.xlsx", b"not a zip")}, "file", "읽을 수 없습니다"),
        ({"file": pos_upload("empty.csv", b"")}, "file", "열 이름이 없습니다"),
        ({"source": ""}, "source", "출처 시스템을 입력하세요"),
        ({"target": "warehouses"}, "target", "데이터 종류를 선택하세요"),
    ],
)
def test_upload_refuses_bad_files_with_a_reason(
    client: Any, manager: Any, extra: dict[str, Any], field: str, text: str
) -> None:
    response = upload(client, **extra)
    assert response.status_code == 422
    assert any(text in m for m in response.context["errors"][field]), response.context["errors"]
    assert ImportJob.objects.count() == 0


def test_a_file_with_only_column_names_is_pointed_out(client: Any, manager: Any) -> None:
    header_only = "회원번호,이름,휴대폰\r\n".encode("cp949")
    response = upload(client, file=pos_upload("POS_회원목록.csv", header_only))
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="no-rows"' in page and "행이 없습니다" in page
    full = client.get(upload(client)["Location"]).content.decode()  # the usual export
    assert 'data-testid="no-rows"' not in full


def test_upload_needs_the_add_permission(client: Any, make_user: Any) -> None:
    client.force_login(make_user("marketer"))  # view and export only
    assert client.get("/data/imports/new/").status_code == 404
    rep = make_user("rep")
    client.force_login(rep)
    targets = {t["value"]: t for t in client.get("/data/imports/new/").context["targets"]}
    assert targets["customers"]["enabled"]
    assert not targets["products"]["enabled"] and targets["products"]["reason"]
    assert upload(client, target="products").status_code == 422


# --- 2. mapping ---------------------------------------------------------------------------------


def test_encoding_override_rereads_the_samples(client: Any, manager: Any) -> None:
    upload(client)
    job = ImportJob.objects.get()
    wrong = client.get(f"/data/imports/{job.pk}/mapping/?encoding=utf-8")
    assert wrong.status_code == 200 and wrong.context["sample"] is None
    assert "utf-8" in wrong.content.decode()
    assert "could not be read" in wrong.content.decode() or "읽을 수 없" in wrong.content.decode()
    right = client.get(f"/data/imports/{job.pk}/mapping/?encoding=cp949")
    assert right.context["sample"].encoding == "cp949"
    accept_suggestions(client, job, encoding="cp949")
    job.refresh_from_db()
    assert job.encoding == "cp949"


def test_mapping_is_saved_and_a_missing_required_field_is_explained(
    client: Any, manager: Any
) -> None:
    upload(client)
    job = ImportJob.objects.get()
    missing = accept_suggestions(client, job, **{"col-0": ""})  # 회원번호 not imported
    assert missing.status_code == 422
    assert missing.context["required_errors"]
    assert "external_id" in missing.content.decode() or "ID" in missing.content.decode()

    done = accept_suggestions(client, job)
    assert done.status_code == 302 and done["Location"] == f"/data/imports/{job.pk}/preview/"
    job.refresh_from_db()
    assert job.mapping == {
        "회원번호": "external_id",
        "이름": "full_name",
        "휴대폰": "mobile",
        "이메일": "email",
        "생년월일": "birth_date",
        "성별": "gender",
        "가입일": "signed_up",
    }
    assert client.get(f"/data/imports/{job.pk}/mapping/").context["origin"] == "job"


def test_mapping_template_is_saved_then_loaded_for_the_next_file(client: Any, manager: Any) -> None:
    upload(client)
    first = ImportJob.objects.get()
    accept_suggestions(client, first, **{"col-6": "", "template_name": "POS 회원"})
    template = MappingTemplate.objects.get()
    assert (template.name, template.source, template.target) == ("POS 회원", "pos", "customers")
    assert template.mapping["휴대폰"] == "mobile"

    upload(client)
    second = ImportJob.objects.latest("id")
    page = client.get(f"/data/imports/{second.pk}/mapping/")
    assert page.context["origin"] == "latest" and page.context["template"] == template
    assert "POS 회원" in page.content.decode()
    chosen = client.get(f"/data/imports/{second.pk}/mapping/?template={template.pk}")
    assert chosen.context["origin"] == "template"
    assert {c["name"]: c["field"] for c in chosen.context["columns"]}["휴대폰"] == "mobile"

    # saving under the same name replaces the template
    accept_suggestions(client, second, **{"col-3": "", "template_name": "POS 회원"})
    template.refresh_from_db()
    assert "이메일" not in template.mapping and MappingTemplate.objects.count() == 1


def test_suggestions_use_synonyms_and_sample_values() -> None:
    guess = selectors.suggest_mapping(
        "customers",
        ["고객코드", "성명", "전화번호", "E-mail", "Birth", "Gender"],
        [{"전화번호": "010-1234-5678"}, {"전화번호": "01099998888"}],
    )
    assert guess.mapping == {
        "고객코드": "external_id",
        "성명": "full_name",
        "전화번호": "mobile",  # holds mobiles
        "E-mail": "email",
        "Birth": "birth_date",
        "Gender": "gender",
    }
    landline = selectors.suggest_mapping("customers", ["전화번호"], [{"전화번호": "02-123-4567"}])
    assert landline.mapping == {"전화번호": "phone"}
    consents = selectors.suggest_mapping("consents", POS_HEADER, [])
    assert consents.mapping == {"회원번호": "customer_external_id", "문자수신동의": "granted"}
    assert consents.transforms == {"channel": [{"op": "default", "value": "sms"}]}


# --- 3. preview and dry run ------------------------------------------------------------------


def test_preview_highlights_bad_cells_with_the_reason(client: Any, manager: Any) -> None:
    upload(client)
    job = ImportJob.objects.get()
    accept_suggestions(client, job)
    page = client.get(f"/data/imports/{job.pk}/preview/")
    assert page.status_code == 200
    # the dry run's checks too: P002 again (twice in the file) is flagged before the dry run
    assert (page.context["good"], page.context["bad"]) == (6, 5)
    rows = {r["line"]: r for r in page.context["rows"]}
    fields = [c["field"] for c in page.context["columns"]]
    phone_cell = rows[7]["cells"][fields.index("mobile")]  # P006 "010-99"
    assert phone_cell["errors"] and phone_cell["value"] == "010-99"
    again = next(r for r in rows.values() if r["cells"][fields.index("external_id")]["errors"])
    assert again["cells"][fields.index("external_id")]["value"] == "P002"
    html = page.content.decode()
    assert html.count("cell-invalid") == 5
    assert str(phone_cell["errors"][0]["message"]) in html
    # a rejected row whose reasons are all on its cells says so in the problem column too
    assert (
        html.count("표시된 칸을 확인하세요.")
        == sum(1 for r in rows.values() if not r["valid"] and not r["others"])
        > 0
    )


def test_preview_of_an_unmapped_required_field_sends_back(client: Any, manager: Any) -> None:
    upload(client)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(mapping={"이름": "full_name"})
    page = client.get(f"/data/imports/{job.pk}/preview/")
    assert page.status_code == 422
    assert f"/data/imports/{job.pk}/mapping/" in page.content.decode()


def test_dry_run_then_commit_then_result(
    client: Any, manager: Any, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    known = make_customer(full_name="김민준", contacts=[("mobile", "010-1111-2222")])
    upload(client)
    job = ImportJob.objects.get()
    accept_suggestions(client, job)

    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: client.post(f"/data/imports/{job.pk}/dry-run/"),
    )
    job.refresh_from_db()
    assert (job.status, job.dry_run) == (ImportStatus.VALIDATED, True)
    assert Customer.objects.count() == 1  # nothing written
    page = client.get(f"/data/imports/{job.pk}/preview/")
    html = page.content.decode()
    assert 'data-count="created">5<' in html and 'data-count="matched">1<' in html
    assert f'data-count="rejected">{POS_REJECTED}<' in html
    assert 'hx-trigger="every 1s"' not in html  # finished: no polling

    response = run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: client.post(f"/data/imports/{job.pk}/commit/"),
    )
    assert response["Location"] == f"/data/imports/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.dry_run) == (ImportStatus.COMPLETED, False)
    assert job.counts() == {
        "rows_read": 11,
        "created": 5,
        "updated": 0,
        "matched": 1,
        "unchanged": 0,
        "rejected": POS_REJECTED,
    }
    assert Customer.objects.count() == 6
    assert ExternalId.objects.get(source="pos", key="P010").customer == known

    detail = client.get(f"/data/imports/{job.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200
    assert 'data-count="created">5<' in html and f'data-count="rejected">{POS_REJECTED}<' in html
    assert f"/data/imports/{job.pk}/rejected/?reasons=1" in html
    assert "/customers/" in html
    assert "review-duplicates" not in html  # nothing queued for review
    assert len(detail.context["customers"]) == 6
    assert f'action="/data/imports/{job.pk}/again/"' in html  # the consents of the file

    # a finished import cannot be started again, and its mapping is closed
    client.post(f"/data/imports/{job.pk}/commit/")
    assert client.get(f"/data/imports/{job.pk}/mapping/")["Location"] == f"/data/imports/{job.pk}/"


def test_rejected_rows_download_in_the_uploaded_format(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload(client)
    job = ImportJob.objects.get()
    accept_suggestions(client, job)
    run_on_commit(
        django_capture_on_commit_callbacks, lambda: client.post(f"/data/imports/{job.pk}/commit/")
    )
    plain = client.get(f"/data/imports/{job.pk}/rejected/")
    assert plain.status_code == 200 and plain["Content-Type"] == "text/csv"
    assert "attachment" in plain["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(plain.content.decode("cp949"))))
    assert rows[0] == POS_HEADER and len(rows) == 1 + POS_REJECTED
    assert {r[0] for r in rows[1:]} == {"P002", "P004", "P005", "P006", "P009"}

    with_reasons = client.get(f"/data/imports/{job.pk}/rejected/?reasons=1")
    rows = list(csv.reader(io.StringIO(with_reasons.content.decode("cp949"))))
    assert rows[0] == [*POS_HEADER, "오류"]
    assert all(r[-1] for r in rows[1:])


def test_progress_as_json_and_as_a_polling_fragment(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload(client)
    job = ImportJob.objects.get()
    accept_suggestions(client, job)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, rows_read=4, processed_bytes=50, total_bytes=100
    )
    running = client.get(f"/data/imports/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    html = running.content.decode()
    assert 'hx-trigger="every 1s"' in html and 'aria-valuenow="50"' in html
    data = client.get(f"/data/imports/{job.pk}/progress/", HTTP_ACCEPT="application/json").json()
    assert (data["status"], data["finished"], data["progress"], data["rows_read"]) == (
        "running",
        False,
        50,
        4,
    )
    page = client.get(f"/data/imports/{job.pk}/")
    assert 'hx-get="/data/imports/' in page.content.decode()  # the page polls

    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: __import__("dangol.integration.tasks", fromlist=["x"]).run_import_job(job.pk),
    )
    data = client.get(f"/data/imports/{job.pk}/progress/?format=json").json()
    assert (data["status"], data["finished"], data["progress"]) == ("completed", True, 100)
    assert data["created"] == 6 and data["rejected"] == POS_REJECTED
    done = client.get(f"/data/imports/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' not in done.content.decode()


def test_consents_of_the_same_file(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload(client)
    customers = ImportJob.objects.get()
    accept_suggestions(client, customers)
    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: client.post(f"/data/imports/{customers.pk}/commit/"),
    )
    response = client.post(f"/data/imports/{customers.pk}/again/", {"target": "consents"})
    consents = ImportJob.objects.latest("id")
    assert response["Location"] == f"/data/imports/{consents.pk}/mapping/"
    assert (consents.target, consents.source, consents.format) == ("consents", "pos", "csv")
    page = client.get(response["Location"])
    chosen = {c["name"]: c["field"] for c in page.context["columns"]}
    assert chosen["회원번호"] == "customer_external_id" and chosen["문자수신동의"] == "granted"
    assert {f["name"]: f["default"] for f in page.context["fields"]}["channel"] == "sms"

    accept_suggestions(client, consents)
    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: client.post(f"/data/imports/{consents.pk}/commit/"),
    )
    consents.refresh_from_db()
    assert consents.status == ImportStatus.COMPLETED, consents.error_message
    sms = Consent.objects.filter(channel="sms")
    assert sms.count() == consents.created_count > 0
    assert sms.filter(customer__external_ids__key="P001", status="granted").exists()


def test_duplicates_queued_by_the_import_are_linked(
    client: Any, manager: Any, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from dangol.integration import services
    from dangol.integration.models import DuplicateCandidate
    from dangol.integration.tests.test_duplicates import engine_pairs

    other = make_customer(full_name="김민주", contacts=[("mobile", "010-3333-4444")])
    upload(client)
    job = ImportJob.objects.get()
    accept_suggestions(client, job)
    run_on_commit(
        django_capture_on_commit_callbacks, lambda: client.post(f"/data/imports/{job.pk}/commit/")
    )
    new = ExternalId.objects.get(source="pos", key="P001").customer
    services.find_duplicates(finder=engine_pairs([(new.pk, other.pk, 0.95, None)]))
    DuplicateCandidate.objects.update(origin="import")
    html = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert 'href="/data/duplicates/"' in html and 'data-testid="review-duplicates"' in html


# --- history and visibility ------------------------------------------------------------------


def test_history_lists_own_jobs_and_all_for_admins(client: Any, make_user: Any, admin: Any) -> None:
    rep, other = make_user("rep"), make_user("rep")
    for user in (rep, other):
        client.force_login(user)
        upload(client, source=f"pos-{user.pk}")
    client.force_login(rep)
    page = client.get("/data/imports/")
    assert [r["job"].created_by for r in page.context["rows"]] == [rep]
    job = page.context["rows"][0]["job"]
    assert page.context["rows"][0]["url"] == f"/data/imports/{job.pk}/mapping/"
    foreign = ImportJob.objects.exclude(created_by=rep).get()
    for path in ("", "mapping/", "preview/", "progress/", "rejected/"):
        assert client.get(f"/data/imports/{foreign.pk}/{path}").status_code == 404, path
    assert client.post(f"/data/imports/{foreign.pk}/commit/").status_code == 404

    client.force_login(admin)
    assert len(client.get("/data/imports/").context["rows"]) == 2


def test_history_query_count_does_not_grow(client: Any, manager: Any) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/data/imports/").status_code == 200
        return len(ctx.captured_queries)

    upload(client)
    few = queries()
    for _ in range(4):
        upload(client)
    assert queries() == few


def test_pages_in_english(client: Any, manager: Any) -> None:
    upload(client)
    job = ImportJob.objects.get()
    client.cookies["django_language"] = "en"
    html = client.get(f"/data/imports/{job.pk}/mapping/").content.decode()
    assert "Which field does each column fill?" in html and "Match the columns" in html


# --- the services and selectors added for the wizard -----------------------------------------


def test_configure_import_resets_a_dry_run_and_refuses_running_or_finished_jobs(
    client: Any, manager: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from dangol.core.errors import Conflict, Forbidden, ValidationFailed
    from dangol.integration import services

    upload(client)
    job = ImportJob.objects.get()
    mapping = {"회원번호": "external_id", "이름": "full_name"}
    with pytest.raises(ValidationFailed):
        services.configure_import(job=job, actor=manager, mapping={"이름": "full_name"})
    with pytest.raises(Forbidden):
        services.configure_import(job=job, actor=make_user("marketer"), mapping=mapping)
    with pytest.raises(ValidationFailed):
        services.configure_import(job=job, actor=manager, mapping=mapping, encoding="klingon")

    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: services.start_import(job=job, actor=manager, dry_run=True),
    )
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATED and job.rows_read == 11
    job = services.configure_import(job=job, actor=manager, mapping=mapping, encoding="cp949")
    assert (job.status, job.dry_run, job.rows_read, job.row_errors.count()) == (
        ImportStatus.UPLOADED,
        False,
        0,
        0,
    )
    assert (job.mapping, job.encoding) == (mapping, "cp949")

    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    job.refresh_from_db()
    with pytest.raises(Conflict):
        services.configure_import(job=job, actor=manager, mapping=mapping)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.COMPLETED)
    job.refresh_from_db()
    with pytest.raises(Conflict):
        services.configure_import(job=job, actor=manager, mapping=mapping)


def test_save_mapping_template_creates_replaces_and_guards_the_target(manager: Any) -> None:
    from dangol.core.errors import Conflict
    from dangol.integration import services

    first = services.save_mapping_template(
        name="회원",
        source="pos",
        target="customers",
        mapping={"회원번호": "external_id"},
        actor=manager,
    )
    again = services.save_mapping_template(
        name="회원",
        source="pos",
        target="customers",
        mapping={"고객코드": "external_id", "메모": ""},
        actor=manager,
    )
    assert again.pk == first.pk and again.mapping == {"고객코드": "external_id"}
    with pytest.raises(Conflict):
        services.save_mapping_template(
            name="회원",
            source="pos",
            target="consents",
            mapping={"회원번호": "customer_external_id", "동의": "granted", "채널": "channel"},
            actor=manager,
        )


def test_import_same_file_copies_the_upload(client: Any, manager: Any) -> None:
    from dangol.integration import services

    upload(client)
    job = ImportJob.objects.get()
    copy = services.import_same_file(job=job, target="consents", actor=manager)
    assert copy.pk != job.pk and copy.file.name != job.file.name
    assert (copy.target, copy.source, copy.original_name) == ("consents", "pos", job.original_name)
    with copy.file.open("rb") as f:
        assert f.read() == pos_export_cp949()


def test_known_sources_and_consent_columns(client: Any, manager: Any) -> None:
    upload(client, source="pos")
    upload(client, source="shop")
    assert selectors.known_sources() == ["pos", "shop"]
    assert selectors.consent_columns(POS_HEADER) == ["문자수신동의"]
