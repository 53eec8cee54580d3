"""Import pages: the polled status reloads the page once the job is over, rejected-row reasons in
the reader's language with the file's column names, counters and encoding labels."""

from __future__ import annotations

from typing import Any

import pytest

from dangol.integration.models import ImportJob, ImportStatus
from dangol.integration.tests import pos_files as pages


def _mapped_job(client: Any) -> ImportJob:
    pages.upload(client)
    job = ImportJob.objects.get()
    pages.accept_suggestions(client, job)
    return job


@pytest.mark.parametrize(
    ("status", "refresh"),
    [
        (ImportStatus.QUEUED, False),
        (ImportStatus.RUNNING, False),
        (ImportStatus.VALIDATED, True),
        (ImportStatus.COMPLETED, True),
        (ImportStatus.FAILED, True),
        (ImportStatus.CANCELLED, True),
    ],
)
def test_the_polled_status_reloads_the_page_once_the_job_is_over(
    client: Any, manager: Any, status: str, refresh: bool
) -> None:
    job = _mapped_job(client)
    ImportJob.objects.filter(pk=job.pk).update(status=status)

    polled = client.get(f"/data/imports/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    plain = client.get(f"/data/imports/{job.pk}/progress/")

    assert polled.status_code == 200
    assert (polled.get("HX-Refresh") == "true") is refresh
    assert "HX-Refresh" not in plain  # only htmx's polling reloads


def _imported(client: Any, capture: Any) -> ImportJob:
    job = _mapped_job(client)
    with capture(execute=True):
        client.post(f"/data/imports/{job.pk}/commit/")
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    return job


def _rows_with_reasons(client: Any, job: ImportJob) -> list[list[str]]:
    import csv
    import io

    response = client.get(f"/data/imports/{job.pk}/rejected/?reasons=1")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode("cp949"))))


def test_the_reasons_column_names_the_files_columns_without_codes(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _imported(client, django_capture_on_commit_callbacks)

    rows = _rows_with_reasons(client, job)

    header, body = rows[0], rows[1:]
    assert header == [*pages.POS_HEADER, "오류"]
    assert all(len(r) == len(header) for r in body)  # the reasons sit under 오류
    reasons = {r[0]: r[-1] for r in body}
    assert reasons["P004"] == "이메일: 올바른 이메일 주소를 입력하세요."
    assert reasons["P009"].startswith("생년월일: ")
    assert not any(
        "[" in text or "birth_date" in text or "email:" in text for text in reasons.values()
    )


def test_an_english_reader_gets_the_reasons_in_english(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _imported(client, django_capture_on_commit_callbacks)  # imported in Korean
    stored = {r["message"] for e in job.row_errors.all() for r in e.reasons}
    assert "올바른 이메일 주소를 입력하세요." in stored
    manager.language = "en"
    manager.save(update_fields=["language"])
    client.force_login(manager)

    page = client.get(f"/data/imports/{job.pk}/").content.decode()
    rows = _rows_with_reasons(client, job)

    assert "Enter a valid e-mail address." in page and "올바른 이메일 주소를" not in page
    assert rows[0][-1] == "Error"
    assert {r[0]: r[-1] for r in rows[1:]}["P004"] == "이메일: Enter a valid e-mail address."


@pytest.mark.parametrize(
    ("language", "reason", "expected"),
    [
        (
            "en",
            {
                "field": "email",
                "code": "required_by_plan",
                "message": "이 출처의 고객 정보 수집 기준에서는 이메일 항목이 필수입니다.",
            },
            "The customer information plan of this source requires E-mail.",
        ),
        (
            "en",
            {
                "field": "external_id",
                "code": "duplicate_in_file",
                "message": "이 ID가 파일에 두 번 나옵니다(7번째 줄).",
            },
            "This id appears twice in the file (line 7).",
        ),
        (
            "ko",
            {"field": "birth_date", "code": "invalid_date", "message": "This date does not exist."},
            "없는 날짜입니다.",
        ),
        # an unknown code, or a text no known message of the code reads as: shown as stored
        (
            "en",
            {"field": "x", "code": "made_up", "message": "무언가 이상합니다."},
            "무언가 이상합니다.",
        ),
        (
            "en",
            {"field": "birth_date", "code": "invalid_date", "message": "직접 쓴 문장"},
            "직접 쓴 문장",
        ),
    ],
)
def test_a_stored_reason_is_translated_again_from_its_code(
    language: str, reason: dict[str, str], expected: str
) -> None:
    from django.utils import translation

    from dangol.integration.selectors import reason_message

    with translation.override(language):
        assert reason_message(reason) == expected


# --- counters of order files, encoding names, a file without rows ----------------------------


def test_the_counters_of_an_order_import_say_they_count_rows(client: Any, manager: Any) -> None:
    job = _mapped_job(client)
    customers = client.get(f"/data/imports/{job.pk}/progress/").content.decode()
    ImportJob.objects.filter(pk=job.pk).update(
        target="orders", status=ImportStatus.COMPLETED, created_count=3
    )
    manager.language = "en"
    manager.save(update_fields=["language"])
    client.force_login(manager)

    detail = client.get(f"/data/imports/{job.pk}/").content.decode()
    history = client.get("/data/imports/").content.decode()

    assert "counts-are-rows" not in customers
    assert 'data-testid="counts-are-rows"' in detail and "Rows created" in detail
    assert 'data-testid="counts-are-rows"' in history


def test_the_detected_encoding_is_named_as_in_the_select(client: Any, manager: Any) -> None:
    content = "\ufeff회원번호,이름\nP001,김민준\n".encode()
    pages.upload(client, file=pages.pos_upload("bom.csv", content))
    job = ImportJob.objects.get()

    html = client.get(f"/data/imports/{job.pk}/mapping/").content.decode()

    assert 'data-codec="utf-8-sig">UTF-8(BOM 포함)</span>' in html
    assert "text-uppercase" not in html.split('data-testid="encoding"')[0][-80:]


def test_a_decoding_error_names_the_encoding_as_the_select(client: Any, manager: Any) -> None:
    response = pages.upload(
        client, encoding="cp949", file=pages.pos_upload("bad.csv", b"a,b\n\x80\x80\x80,1\n")
    )

    html = response.content.decode()
    assert "CP949 / EUC-KR(한글 엑셀)" in html
    assert "cp949 " not in html.lower().replace("cp949 / euc-kr", "")
    assert not ImportJob.objects.exists()


def test_a_file_with_only_column_names_previews_without_counting_zero_rows(
    client: Any, manager: Any
) -> None:
    header_only = ",".join(pages.POS_HEADER).encode("cp949") + b"\r\n"
    pages.upload(client, file=pages.pos_upload("header.csv", header_only))
    job = ImportJob.objects.get()
    pages.accept_suggestions(client, job)

    html = client.get(f"/data/imports/{job.pk}/preview/").content.decode()

    assert "처음 0행" not in html and "0행" not in html
    assert 'data-testid="sample-good"' not in html
