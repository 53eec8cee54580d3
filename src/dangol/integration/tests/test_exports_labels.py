"""Exports as people and programs read them: unique headers, choice labels and 예/아니요 in CSV
and XLSX (in the requester's language), codes in Parquet, the landline (전화) column masked like
the mobile, the export history's filters, and an exported CSV importing back through the
importer's auto-mapping."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dangol.customers.models import Customer
from dangol.integration import exports, services
from dangol.integration.imports.mapping import auto_mapping
from dangol.integration.imports.targets import CustomerTarget
from dangol.integration.models import ExportJob, ExportStatus, ImportStatus
from dangol.integration.tests.test_import_pipeline import run


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def customer(make_customer: Any) -> Any:
    return make_customer(
        family_name="최",
        given_name="영수",
        birth_date=datetime.date(1971, 5, 4),
        birth_date_is_lunar=True,
        gender="M",
        region="gyeonggi",
        lifecycle_stage="lapsed",
        signup_channel="store",
        source="pos",
        contacts=[("phone", "02-345-6789"), ("email", "youngsoo@daum.net")],
    )


def export(user: Any, fmt: str = "csv", **filters: Any) -> ExportJob:
    job = services.request_export(actor=user, format=fmt, filters=filters, enqueue=False)
    job = services.run_export(job=job)
    assert job.status == ExportStatus.COMPLETED, job.error_message
    return job


def read_csv(job: ExportJob) -> list[dict[str, str]]:
    text = exports.export_file(job).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows[0]) == len(set(rows[0])), rows[0]  # every header once
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_csv_headers_are_unique_and_values_are_korean_labels(customer: Any, make_user: Any) -> None:
    (row,) = read_csv(export(make_user("manager", language="ko")))

    assert (row["성명"], row["성"], row["이름"]) == ("최영수", "최", "영수")
    assert (row["성별"], row["지역"]) == ("남성", "경기")
    assert (row["고객 단계"], row["상태"]) == ("이탈 고객", "활성")
    assert (row["가입 채널"], row["음력 생일"]) == ("매장", "예")
    assert (row["휴대전화"], row["전화"], row["이메일"]) == ("", "02-345-6789", "youngsoo@daum.net")


def test_csv_in_english_for_an_english_speaking_user(customer: Any, make_user: Any) -> None:
    (row,) = read_csv(export(make_user("manager", language="en")))

    assert (row["Full name"], row["Family name"], row["Given name"]) == ("최영수", "최", "영수")
    assert (row["Gender"], row["Region"], row["Lifecycle stage"]) == ("Male", "Gyeonggi", "Lapsed")
    assert (row["Signup channel"], row["Lunar birthday"], row["Phone"]) == (
        "Store",
        "Yes",
        "02-345-6789",
    )


def test_unknown_codes_and_empty_values_stay_as_they_are(
    make_customer: Any, make_user: Any
) -> None:
    make_customer(full_name="오세훈", signup_channel="kiosk-3")  # free text, no gender or region

    (row,) = read_csv(export(make_user("manager")))

    assert (row["가입 채널"], row["성별"], row["지역"], row["음력 생일"]) == (
        "kiosk-3",
        "",
        "",
        "아니요",
    )


def test_landline_is_masked_like_the_mobile_for_roles_without_pii(
    customer: Any, make_customer: Any, make_user: Any
) -> None:
    make_customer(full_name="김민준", contacts=[("mobile", "010-1234-5678")])

    rows = {r["성명"]: r for r in read_csv(export(make_user("marketer")))}

    assert rows["최영수"]["전화"] == "0*-***-6789"  # as mask_phone masks every phone
    assert rows["최영수"]["휴대전화"] == ""
    assert rows["김민준"]["휴대전화"] == "010-****-5678"
    assert rows["김민준"]["전화"] == ""


def test_xlsx_has_labels_and_parquet_keeps_codes(customer: Any, make_user: Any) -> None:
    from openpyxl import load_workbook

    manager = make_user("manager")
    sheet = load_workbook(exports.export_file(export(manager, "xlsx")), read_only=True).active
    header, values = list(sheet.iter_rows(values_only=True))
    assert len(header) == len(set(header))
    row = dict(zip(header, values, strict=True))
    assert (row["성명"], row["성별"], row["지역"]) == ("최영수", "남성", "경기")
    assert row["음력 생일"] == "예"
    assert (row["고객 단계"], row["상태"], row["가입 채널"]) == ("이탈 고객", "활성", "매장")
    assert row["전화"] == "02-345-6789"

    frame = pl.read_parquet(exports.export_file(export(manager, "parquet")))
    assert frame.columns == exports.KEYS
    got = frame.row(0, named=True)
    assert (got["gender"], got["region"], got["lifecycle_stage"], got["status"]) == (
        "M",
        "gyeonggi",
        "lapsed",
        "active",
    )
    assert (got["signup_channel"], got["birth_date_is_lunar"], got["phone"]) == (
        "store",
        True,
        "02-345-6789",
    )


def test_an_exported_csv_maps_and_imports_back(
    customer: Any, make_user: Any, admin: Any, tmp_path: Path
) -> None:
    path = exports.export_file(export(make_user("manager")))
    header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))

    mapping = auto_mapping(header, CustomerTarget.specs)

    assert (
        mapping.items()
        >= {  # other columns (가입일 ...) may map too
            "고객 번호": "external_id",
            "성명": "full_name",
            "성": "family_name",
            "생년월일": "birth_date",
            "성별": "gender",
            "지역": "region",
            "가입 채널": "signup_channel",
            "휴대전화": "mobile",
            "전화": "phone",
            "이메일": "email",
        }.items()
    )
    imported = run(admin, "customers", path, source="dangol-export")
    assert (imported.status, imported.rejected_count) == (ImportStatus.COMPLETED, 0)
    assert Customer.objects.count() == 1  # the same person, found by the phone and e-mail
    again = Customer.objects.get()
    assert (again.gender, again.region, again.birth_date) == ("M", "gyeonggi", customer.birth_date)


def test_an_exported_csv_imports_back_with_its_names(
    customer: Any, make_user: Any, admin: Any
) -> None:
    path = exports.export_file(export(make_user("manager")))
    header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert auto_mapping(header, CustomerTarget.specs).get("이름") == "given_name"

    run(admin, "customers", path, source="dangol-export")

    assert Customer.objects.get().full_name == "최영수"


def test_export_history_says_what_was_exported(customer: Any, make_user: Any) -> None:
    from django.utils import translation

    job = export(make_user("manager"), source="pos", tag="VIP", region="gyeonggi")

    with translation.override("ko"):
        assert exports.describe_filters(job.filters) == ["출처: pos", "태그: VIP", "지역: 경기"]
    with translation.override("en"):
        assert exports.describe_filters(job.filters) == [
            "Source: pos",
            "Tag: VIP",
            "Region: Gyeonggi",
        ]
    assert exports.describe_filters({}) == []


def test_export_page_lists_each_exports_filters(
    client: Any, settings: Any, customer: Any, make_user: Any
) -> None:
    from dangol.web.testing import apply_test_settings

    apply_test_settings(settings)
    manager = make_user("manager")
    export(manager, source="pos", region="gyeonggi")
    export(manager)
    client.force_login(manager)

    page = client.get("/data/exports/").content.decode()

    assert page.count('data-testid="export-filter"') == 2
    assert "출처: pos" in page
    assert "지역: 경기" in page
    assert "내보낼 수 있는 모든 고객" in page  # the export without filters
    assert "F, gyeonggi" in page  # the formats' help text
