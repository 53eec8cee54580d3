"""A Korean POS member export as it comes (CP949): six-digit birth dates (YYMMDD), genders as
1/2 (the resident number's 7th digit), 주소 / 상세주소 / 우편번호 columns."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from dangol.customers.models import Address, Customer, ExternalId
from dangol.integration import selectors
from dangol.integration.imports import parsing
from dangol.integration.imports.mapping import auto_mapping
from dangol.integration.imports.parsing import FieldIssue
from dangol.integration.imports.targets import CustomerTarget
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import rejected_lines, run, write_csv

HEADER = ["회원번호", "고객명", "휴대폰", "생년월일", "성별", "주소", "상세주소", "우편 번호"]


def pos(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, rows, encoding="cp949", header=HEADER)


def customer(key: str) -> Customer:
    cid = ExternalId.objects.get(source="pos", key=key).customer_id
    assert cid is not None
    return Customer.objects.get(pk=cid)


# --- birth dates --------------------------------------------------------------------------------


def test_a_two_digit_year_is_this_century_unless_that_is_after_today() -> None:
    today = datetime.date(2026, 11, 23)
    assert parsing.short_year_date(74, 2, 11, today) == datetime.date(1974, 2, 11)
    assert parsing.short_year_date(26, 11, 23, today) == datetime.date(2026, 11, 23)  # today
    assert parsing.short_year_date(26, 11, 24, today) == datetime.date(1926, 11, 24)  # tomorrow
    assert parsing.short_year_date(5, 1, 1, today) == datetime.date(2005, 1, 1)
    assert parsing.short_year_date(0, 2, 29, today) == datetime.date(2000, 2, 29)
    assert parsing.short_year_date(96, 2, 29, today) == datetime.date(1996, 2, 29)
    for yy, mm, dd in ((1, 2, 29), (74, 13, 1), (74, 2, 30), (74, 0, 1)):
        with pytest.raises(FieldIssue) as exc:
            parsing.short_year_date(yy, mm, dd, today)
        assert exc.value.code == "invalid_date"


def test_birth_dates_take_yymmdd_and_every_other_date_form() -> None:
    assert parsing.parse_birth_date("740211") == datetime.date(1974, 2, 11)
    assert parsing.parse_birth_date(" 881231 ") == datetime.date(1988, 12, 31)
    for text in ("1974-02-11", "19740211", "1974.2.11", "1974년 2월 11일", "1974/02/11"):
        assert parsing.parse_birth_date(text) == datetime.date(1974, 2, 11), text
    for text in ("7402111", "74021", "74-02-11", "٧٤٠٢١١", "741311"):
        with pytest.raises(FieldIssue):
            parsing.parse_birth_date(text)


def test_other_dates_do_not_take_six_digits() -> None:
    """In an order, consent or start date six digits may be a YYYYMM month, and a future date
    means something: only birth dates read YYMMDD."""
    with pytest.raises(FieldIssue):
        parsing.parse_date("240301")
    with pytest.raises(FieldIssue):
        parsing.parse_datetime("240301")
    assert parsing.parse_date("20240301") == datetime.date(2024, 3, 1)
    spec = next(s for s in CustomerTarget.specs if s.name == "birth_date")
    assert spec.kind == "birthdate"


# --- genders ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", "M"),
        ("3", "M"),
        ("2", "F"),
        ("4", "F"),
        ("M", "M"),
        ("f", "F"),
        ("W", "F"),
        ("남", "M"),
        ("남자", "M"),
        ("남성", "M"),
        ("여", "F"),
        ("여자", "F"),
        ("여성", "F"),
        ("Female", "F"),
        ("기타", "X"),
        ("미상", ""),
        ("모름", ""),
    ],
)
def test_genders_as_korean_files_write_them(text: str, value: str) -> None:
    data, reasons = CustomerTarget({"external_id", "full_name", "gender"}).clean(
        {"external_id": "A1", "full_name": "김민준", "gender": text}
    )
    assert reasons == []
    assert data["gender"] == value


def test_an_unreadable_gender_rejects_the_row_and_says_what_is_accepted() -> None:
    target = CustomerTarget({"external_id", "full_name", "gender"})
    for text in ("5", "0", "?", "남녀"):
        _data, reasons = target.clean({"external_id": "A1", "full_name": "김민준", "gender": text})
        assert [r["code"] for r in reasons] == ["invalid_choice"], text
        line = selectors.reason_text(reasons, target="customers", columns={"gender": "성별"})
        assert line.startswith("성별: ") and "여, 남, 기타" in line, line


# --- addresses ----------------------------------------------------------------------------------


def test_address_columns_map_by_their_korean_headers() -> None:
    header = ["회원번호", "고객명", "도로명주소", "상세주소", "우편 번호"]
    assert auto_mapping(header, CustomerTarget.specs) == {
        "회원번호": "external_id",
        "고객명": "full_name",
        "도로명주소": "address",
        "상세주소": "address_detail",
        "우편 번호": "postal_code",
    }
    for other in ("주소", "지번주소", "zip", "우편번호", "zipcode"):
        assert auto_mapping([other], CustomerTarget.specs) != {}, other


@pytest.mark.parametrize(
    ("text", "stored"),
    [("06236", "06236"), ("6236", "06236"), ("135-080", "135-080"), ("135080", "135-080")],
)
def test_postal_codes_five_digits_or_old_six(text: str, stored: str) -> None:
    assert parsing.parse_postal_code(text) == stored


@pytest.mark.parametrize("text", ["123", "00123", "64000", "1234567", "서울", "06-236x"])
def test_other_postal_codes_are_rejected(text: str) -> None:
    with pytest.raises(FieldIssue) as exc:
        parsing.parse_postal_code(text)
    assert exc.value.code == "invalid"


ROWS = [
    [
        "P1",
        "김민준",
        "010-1111-2222",
        "740211",
        "1",
        "서울특별시 강남구 테헤란로 152",
        "3층",
        "6236",
    ],
    ["P2", "이서연", "010-3333-4444", "050301", "4", "부산 해운대구 센텀중앙로 79", "", "135-080"],
    ["P3", "박도윤", "010-5555-6666", "19801010", "남자", "", "", "04001"],
    ["P4", "최하은", "010-7777-8888", "881231", "2", "", "101호", ""],  # a detail alone
    ["P5", "정우진", "010-9999-0000", "900101", "1", "인천 연수구 송도과학로 32", "", "999"],
]


def test_a_pos_file_imports_births_genders_and_addresses(admin: Any, tmp_path: Path) -> None:
    job = run(admin, "customers", pos(tmp_path / "회원.csv", ROWS))

    assert job.status == ImportStatus.COMPLETED
    assert (job.created_count, job.rejected_count) == (3, 2)
    assert rejected_lines(job) == {5: ["required"], 6: ["invalid"]}
    kim, lee, park = customer("P1"), customer("P2"), customer("P3")
    assert (kim.birth_date, kim.gender) == (datetime.date(1974, 2, 11), "M")
    assert (lee.birth_date, lee.gender) == (datetime.date(2005, 3, 1), "F")
    assert list(
        Address.objects.filter(customer=kim).values_list(
            "kind", "line1", "line2", "postal_code", "region", "is_primary"
        )
    ) == [("home", "서울특별시 강남구 테헤란로 152", "3층", "06236", "seoul", True)]
    assert list(
        Address.objects.filter(customer=lee).values_list("postal_code", "region", "is_primary")
    ) == [("135-080", "busan", True)]
    assert not Address.objects.filter(customer=park).exists()  # a postal code alone is no address
    # the rejected rows come back with their address columns and the reasons
    content, _name, _type = selectors.rejected_rows_file(job, with_reasons=True)
    text = content.decode("cp949")
    assert "인천 연수구 송도과학로 32" in text and "101호" in text
    assert "우편 번호" in text.splitlines()[0]


def test_the_same_address_again_adds_nothing_and_a_new_one_becomes_primary(
    admin: Any, tmp_path: Path
) -> None:
    first = run(admin, "customers", pos(tmp_path / "a.csv", ROWS[:2]))
    assert first.created_count == 2
    # the same addresses, spelled another way: unchanged
    again = [
        ["P1", "김민준", "010-1111-2222", "740211", "1", "서울 강남구 테헤란로152", "3 층", ""],
        [
            "P2",
            "이서연",
            "010-3333-4444",
            "050301",
            "4",
            "부산광역시 해운대구 센텀중앙로 79",
            "",
            "",
        ],
    ]
    job = run(admin, "customers", pos(tmp_path / "b.csv", again))
    assert (job.unchanged_count, job.updated_count) == (2, 0)
    assert Address.objects.count() == 2
    # P1 moved: the new address is primary, the old one stays, not primary
    moved = [["P1", "김민준", "010-1111-2222", "740211", "1", "대전 유성구 대학로 99", "", "34141"]]
    dry = run(admin, "customers", pos(tmp_path / "c.csv", moved), dry_run=True)
    assert dry.updated_count == 1
    assert Address.objects.count() == 2  # a dry run writes none
    job = run(admin, "customers", pos(tmp_path / "c.csv", moved))
    assert job.updated_count == 1
    assert list(
        Address.objects.filter(customer=customer("P1"))
        .order_by("id")
        .values_list("line1", "postal_code", "region", "is_primary")
    ) == [
        ("서울특별시 강남구 테헤란로 152", "06236", "seoul", False),
        ("대전 유성구 대학로 99", "34141", "daejeon", True),
    ]
    job = run(admin, "customers", pos(tmp_path / "c.csv", moved))
    assert (job.unchanged_count, Address.objects.count()) == (1, 3)


def test_two_new_addresses_of_one_customer_in_a_chunk_leave_one_primary(
    admin: Any, tmp_path: Path
) -> None:
    run(admin, "customers", pos(tmp_path / "a.csv", ROWS[:1]))
    # two new ids of another system, both found as P1 by the mobile: the later row's address is
    # the primary one, the earlier row's and the stored one are not
    rows = [
        ["Q1", "김민준", "010-1111-2222", "", "", "대전 유성구 대학로 99", "", ""],
        ["Q2", "김민준", "01011112222", "", "", "광주광역시 서구 상무중앙로 7", "", ""],
    ]
    job = run(admin, "customers", pos(tmp_path / "b.csv", rows), source="shop")
    assert job.matched_count == 2
    assert list(
        Address.objects.filter(customer=customer("P1"))
        .order_by("id")
        .values_list("line1", "is_primary")
    ) == [
        ("서울특별시 강남구 테헤란로 152", False),
        ("대전 유성구 대학로 99", False),
        ("광주광역시 서구 상무중앙로 7", True),
    ]
