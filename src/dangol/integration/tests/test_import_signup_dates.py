"""A customer file's 가입일 (sign-up date) column: it sets ``Customer.created_at`` (what segments
read as signup_date, and cohorts and exports) on create, only ever moves it earlier on update,
and a date in the future is rejected with a reason."""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from dangol.customers.models import ChangeFeedEntry, ChangeOp, Customer
from dangol.integration.imports import pipeline
from dangol.integration.imports.mapping import auto_mapping
from dangol.integration.imports.targets import CustomerTarget
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import rejected_lines, run, write_csv

LOCAL = zoneinfo.ZoneInfo(settings.TIME_ZONE)
HEADER = ["회원번호", "고객명", "휴대폰", "가입일", "포인트"]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=LOCAL)


def customer(key: str) -> Customer:
    return Customer.objects.get(external_ids__source="pos", external_ids__key=key)


def members(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, rows, encoding="cp949", header=HEADER)


def test_the_pos_headers_map_to_the_sign_up_date_and_points_stay_unmapped() -> None:
    for header in (
        "가입일",
        "가입일자",
        "회원가입일",
        "등록일",
        "joined",
        "signup_date",
        "created_at",
    ):
        assert auto_mapping([header], CustomerTarget.specs) == {header: "signed_up"}
    assert "포인트" not in auto_mapping(HEADER, CustomerTarget.specs)


def test_new_customers_get_the_file_sign_up_date(admin: Any, tmp_path: Path) -> None:
    before = timezone.now()
    rows = [
        ["M1", "김민지", "010-1234-5678", "2023-01-10", "1,200"],
        ["M2", "이준호", "010-9876-5432", "2024. 10. 3. 오후 3:15:00", "0"],
        ["M3", "박서연", "010-5555-0101", "", "10"],
    ]

    job = run(admin, "customers", members(tmp_path / "m.csv", rows))

    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.COMPLETED, 3, 0)
    assert customer("M1").created_at == at(2023, 1, 10)  # a date is midnight, local time
    assert customer("M2").created_at == at(2024, 10, 3, 15, 15)
    assert customer("M3").created_at >= before  # an empty cell: the import's time


def test_an_update_moves_the_sign_up_earlier_never_later(admin: Any, tmp_path: Path) -> None:
    rows = [
        ["M1", "김민지", "010-1234-5678", "2023-01-10", ""],
        ["M2", "이준호", "010-9876-5432", "2023-01-10", ""],
        ["M3", "박서연", "010-5555-0101", "2023-01-10", ""],
    ]
    run(admin, "customers", members(tmp_path / "first.csv", rows))
    ids = {k: customer(k).pk for k in ("M1", "M2", "M3")}
    feed = ChangeFeedEntry.objects.count()

    again = [
        ["M1", "김민지", "010-1234-5678", "2021-06-01", ""],  # earlier: moves
        ["M2", "이준호", "010-9876-5432", "2024-05-05", ""],  # later: kept
        ["M3", "박서연", "010-5555-0101", "", ""],  # empty: kept
    ]
    job = run(admin, "customers", members(tmp_path / "again.csv", again))

    assert (job.updated_count, job.unchanged_count) == (1, 2)
    assert customer("M1").created_at == at(2021, 6, 1)
    assert customer("M2").created_at == at(2023, 1, 10)
    assert customer("M3").created_at == at(2023, 1, 10)
    entries = ChangeFeedEntry.objects.order_by("id")[feed:]
    assert [(e.object_id, e.op) for e in entries] == [(ids["M1"], ChangeOp.UPDATED)]


def test_the_earliest_of_two_rows_for_one_customer_wins(admin: Any, tmp_path: Path) -> None:
    run(
        admin, "customers", members(tmp_path / "a.csv", [["M1", "김민지", "010-1234-5678", "", ""]])
    )
    # the second and third rows are the same person (found by the mobile number)
    rows = [
        ["M1", "김민지", "010-1234-5678", "2022-03-03", ""],
        ["K9", "김민지", "010-1234-5678", "2020-02-02", ""],
    ]

    run(admin, "customers", members(tmp_path / "b.csv", rows))

    assert Customer.objects.count() == 1
    assert customer("M1").created_at == at(2020, 2, 2)


def test_a_future_sign_up_is_rejected_with_a_reason(admin: Any, tmp_path: Path) -> None:
    future = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    rows = [
        ["M1", "김민지", "010-1234-5678", future, ""],
        ["M2", "이준호", "010-9876-5432", "2024-10-03 오후 13:15", ""],
        ["M3", "박서연", "010-5555-0101", "0999-01-01", ""],
    ]

    job = run(admin, "customers", members(tmp_path / "m.csv", rows))

    assert (job.created_count, job.rejected_count) == (0, 3)
    assert rejected_lines(job) == {
        2: ["in_future"],
        3: ["invalid_datetime"],
        4: ["out_of_range"],
    }
    assert Customer.objects.count() == 0


def test_preview_and_dry_run_show_the_sign_up_and_write_nothing(admin: Any, tmp_path: Path) -> None:
    from dangol.integration import services

    path = members(tmp_path / "m.csv", [["M1", "김민지", "010-1234-5678", "2023-01-10", ""]])
    job = services.create_import_job(target="customers", source="pos", actor=admin, path=path)

    result = pipeline.preview(job)

    assert result["mapping"]["가입일"] == "signed_up"
    assert result["rows"][0]["data"]["signed_up"] == at(2023, 1, 10)
    dry = run(admin, "customers", path, dry_run=True)
    assert (dry.status, dry.created_count) == (ImportStatus.VALIDATED, 1)
    assert Customer.objects.count() == 0


def test_the_new_sign_ups_segment_no_longer_takes_imported_members(
    admin: Any, tmp_path: Path
) -> None:
    from dangol.analytics import segments

    rows = [
        ["M1", "김민지", "010-1234-5678", "2019-01-10", ""],
        ["M2", "이준호", "010-9876-5432", "", ""],
    ]
    run(admin, "customers", members(tmp_path / "m.csv", rows))
    new_30_days = segments.validate_definition(
        {"all": [{"field": "signup_date", "op": "within_last_days", "value": 30}]}
    )

    found = segments.evaluate(new_30_days).values_list("full_name", flat=True)

    assert list(found) == ["이준호"]
