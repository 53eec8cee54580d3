"""The import wizard takes old Excel files (.xls): an Excel 97–2003 workbook and an HTML table
saved under an .xls name reach the mapping page with their Korean headers mapped, and the
rejected rows of an .xls come back as an .xlsx workbook."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from dangol.integration.models import ImportFormat, ImportJob, ImportStatus
from dangol.integration.selectors import CONTENT_TYPES

FIXTURE = Path(__file__).parents[2] / "src/dangol/integration/tests/data/customers_kr.xls"
SUGGESTED = {
    "회원번호": "external_id",
    "이름": "full_name",
    "휴대폰": "mobile",
    "이메일": "email",
    "생년월일": "birth_date",
    "성별": "gender",
}


def upload(client: Any, name: str, content: bytes) -> Any:
    return client.post(
        "/data/imports/new/",
        {
            "target": "customers",
            "source": "shop",
            "encoding": "",
            "file": SimpleUploadedFile(name, content),
        },
    )


def test_an_xls_workbook_reaches_the_mapping_page_with_its_columns_mapped(
    client: Any, manager: Any
) -> None:
    response = upload(client, "회원목록.xls", FIXTURE.read_bytes())
    job = ImportJob.objects.get()
    assert response.status_code == 302, response.context and response.context["errors"]
    assert response["Location"] == f"/data/imports/{job.pk}/mapping/"
    assert (job.format, job.original_name) == ("xlsx", "회원목록.xls")

    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "김민준" in html and "1012345678" in html  # samples, the number without ".0"
    chosen = {c["name"]: c["field"] for c in page.context["columns"]}
    assert {c: f for c, f in chosen.items() if c in SUGGESTED} == SUGGESTED
    assert not page.context["text_format"]  # a workbook has no encoding to choose


def test_an_html_xls_in_cp949_offers_its_encoding_and_its_rejects_download_as_xlsx(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from openpyxl import load_workbook

    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
        "</head><body><table border=1>"
        "<tr><th>회원번호</th><th>이름</th><th>휴대폰</th><th>이메일</th></tr>"
        "<tr><td>S1</td><td>김민준</td><td>010-1234-5678</td><td>minjun@example.com</td></tr>"
        "<tr><td>S2</td><td>이서연</td><td>010-12</td><td></td></tr>"
        "</table></body></html>"
    ).encode("cp949")
    upload(client, "쇼핑몰회원.xls", page)
    job = ImportJob.objects.get()

    mapping = client.get(f"/data/imports/{job.pk}/mapping/")
    assert mapping.context["sample"].encoding == "cp949" and mapping.context["text_format"]
    assert 'data-testid="encoding"' in mapping.content.decode()
    assert "김민준" in mapping.content.decode()
    data = {f"col-{c['index']}": c["field"] for c in mapping.context["columns"]}
    data.update(encoding="", other_transforms=mapping.context["other_transforms"])
    assert client.post(f"/data/imports/{job.pk}/mapping/", data).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/data/imports/{job.pk}/commit/")
    job.refresh_from_db()
    assert (job.status, job.created_count, job.rejected_count) == (
        ImportStatus.COMPLETED,
        1,
        1,
    )

    rejected = client.get(f"/data/imports/{job.pk}/rejected/?reasons=1")
    assert (
        rejected.status_code == 200 and rejected["Content-Type"] == CONTENT_TYPES[ImportFormat.XLSX]
    )
    assert "rejected.xlsx" in rejected["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(rejected.content)).worksheets[0].values)
    assert rows[0] == ("회원번호", "이름", "휴대폰", "이메일", "오류")
    assert rows[1][:3] == ("S2", "이서연", "010-12") and rows[1][4].startswith("휴대폰: ")
