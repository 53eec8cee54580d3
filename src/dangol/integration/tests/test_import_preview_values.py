"""The import wizard's preview shows each good cell as Dangol will store it, in the form people
read it (010-1234-5678, 1990-03-01, 남성 / Male, ₩12,000), with the file's text under it when
that reads differently; a rejected cell keeps the file's text and its reason."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from dangol.integration import services
from dangol.integration.import_views import stored_text
from dangol.integration.imports.mapping import FieldSpec
from dangol.integration.imports.targets import TARGETS
from dangol.integration.models import ImportJob
from dangol.web.testing import apply_test_settings

HEADER = ["회원번호", "이름", "휴대폰", "이메일", "생년월일", "성별", "지역"]
MAPPING = {
    "회원번호": "external_id",
    "이름": "full_name",
    "휴대폰": "mobile",
    "이메일": "email",
    "생년월일": "birth_date",
    "성별": "gender",
    "지역": "region",
}
MESSY = [
    ["P001", "김민준", "010 1234 5678", "Minjun@Example.COM", "1990.3.1", "남", "서울특별시"],
    ["P002", "이서연", "010-99", "seoyeon@example.com", "1992-07-03", "여", "부산"],
]


@pytest.fixture(autouse=True)
def _web(settings: Any, tmp_path: Path) -> None:
    apply_test_settings(settings)
    settings.MEDIA_ROOT = tmp_path / "media"


def cp949_file(rows: list[list[str]]) -> SimpleUploadedFile:
    """A member list as a Korean POS exports it: CP949, CRLF, Korean headers."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([HEADER, *rows])
    return SimpleUploadedFile("POS_회원목록.csv", buf.getvalue().encode("cp949"))


def customers_job(user: Any, rows: list[list[str]] = MESSY) -> ImportJob:
    return services.create_import_job(
        target="customers", source="pos", upload=cp949_file(rows), mapping=MAPPING, actor=user
    )


def cells(page: Any, line: int) -> dict[str, dict[str, Any]]:
    """The preview's cells of one file line, by field."""
    fields = [c["field"] for c in page.context["columns"]]
    row = next(r for r in page.context["rows"] if r["line"] == line)
    return dict(zip(fields, row["cells"], strict=True))


def text(html: str) -> str:
    """The page's text with the markup and runs of white space taken out."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def manager(client: Any, make_user: Any) -> Any:
    user = make_user("manager", email="manager@dangol.test")
    client.force_login(user)
    return user


def test_good_cells_show_the_stored_value_with_the_file_text_under_it(
    client: Any, manager: Any
) -> None:
    job = customers_job(manager)
    page = client.get(f"/data/imports/{job.pk}/preview/")
    assert page.status_code == 200
    first = cells(page, 2)
    assert first["mobile"] == {
        "value": "010-1234-5678",
        "file": "010 1234 5678",
        "errors": [],
        "nowrap": True,  # a phone number is not broken across lines
    }
    assert (first["birth_date"]["value"], first["birth_date"]["file"]) == ("1990-03-01", "1990.3.1")
    assert (first["gender"]["value"], first["gender"]["file"]) == ("남성", "남")
    assert (first["region"]["value"], first["region"]["file"]) == ("서울", "서울특별시")
    assert (first["email"]["value"], first["email"]["file"]) == (
        "Minjun@example.com",
        "Minjun@Example.COM",
    )
    assert first["external_id"] == {"value": "P001", "file": "", "errors": [], "nowrap": False}
    shown = text(page.content.decode())
    assert "010-1234-5678 파일: 010 1234 5678" in shown
    assert "1990-03-01 파일: 1990.3.1" in shown
    assert "남성 파일: 남" in shown


def test_the_labels_follow_the_users_language(client: Any, manager: Any) -> None:
    job = customers_job(manager)
    client.cookies["django_language"] = "en"
    page = client.get(f"/data/imports/{job.pk}/preview/")
    first = cells(page, 2)
    assert (first["gender"]["value"], first["region"]["value"]) == ("Male", "Seoul")
    shown = text(page.content.decode())
    assert "Male In the file: 남" in shown
    assert "010-1234-5678 In the file: 010 1234 5678" in shown


def test_a_rejected_cell_keeps_the_file_text_and_its_reason(client: Any, manager: Any) -> None:
    job = customers_job(manager)
    page = client.get(f"/data/imports/{job.pk}/preview/")
    bad = cells(page, 3)
    phone = bad["mobile"]
    assert phone["value"] == "010-99" and phone["file"] == "" and phone["errors"]
    assert bad["gender"]["value"] == "여성"  # the row's other cells still read as stored
    html = page.content.decode()
    assert str(phone["errors"][0]["message"]) in html
    assert html.count("cell-invalid") == 1


def test_preview_query_count_does_not_grow_with_the_rows(client: Any, manager: Any) -> None:
    def queries(job: ImportJob) -> int:
        client.get(f"/data/imports/{job.pk}/preview/")  # warm: session, caches
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(f"/data/imports/{job.pk}/preview/")
        assert page.status_code == 200
        return len(ctx.captured_queries)

    few = customers_job(manager, MESSY[:1])
    rows = [
        [f"P{i:03}", f"김민{i}", f"010 2000 {i:04}", f"m{i}@ex.com", "1990.3.1", "남", "경기"]
        for i in range(15)
    ]
    many = customers_job(manager, rows)
    assert queries(many) == queries(few)
    assert len(client.get(f"/data/imports/{many.pk}/preview/").context["rows"]) == 15


# --- stored_text, kind by kind ------------------------------------------------------------------


def test_stored_text_of_each_kind() -> None:
    translation.activate("ko")
    seoul = datetime.datetime(2024, 3, 1, 5, 30, tzinfo=datetime.UTC)  # 14:30 in Seoul
    spec = FieldSpec("x")
    assert stored_text(FieldSpec("x", "date"), datetime.date(2024, 3, 1)) == "2024-03-01"
    assert stored_text(FieldSpec("x", "datetime"), seoul) == "2024-03-01 14:30"
    assert timezone.get_current_timezone_name() == "Asia/Seoul"
    assert stored_text(FieldSpec("x", "amount"), Decimal("1234000")) == "₩1,234,000"
    assert stored_text(FieldSpec("x", "amount"), Decimal("12.5"), "USD") == "$12.50"
    assert stored_text(FieldSpec("x", "int"), 3) == "3"
    assert stored_text(FieldSpec("x", "bool"), True) == "예"
    assert stored_text(FieldSpec("x", "bool"), False) == "아니요"
    phone = {"normalized": "+8227001234", "match_key": "+8227001234"}
    assert stored_text(spec, phone) == "02-700-1234"  # an organization's phone (a text field)
    assert stored_text(spec, {"normalized": "kim@example.com"}) == "kim@example.com"
    assert stored_text(spec, {"normalized": "kakao_kim"}) == "kakao_kim"  # a KakaoTalk ID


def test_every_choice_with_an_enum_has_its_labels() -> None:
    translation.activate("ko")
    for name, target in TARGETS.items():
        for spec in target.specs:
            if spec.kind != "choice" or spec.name == "currency":  # currencies are codes
                continue
            unlabelled = {v for v in spec.choices if v not in spec.labels}
            assert not unlabelled, (name, spec.name, unlabelled)
    gender = next(s for s in TARGETS["customers"].specs if s.name == "gender")
    assert gender.label("M") == "남성"
    with translation.override("en"):
        assert gender.label("M") == "Male"
