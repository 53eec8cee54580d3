"""Old Excel files (.xls) import like any other file: an Excel 97–2003 workbook (BIFF, read
with xlrd), an HTML table that a Korean web back-office or POS console saves under an .xls
name (UTF-8 or CP949), and Excel 2003 XML (SpreadsheetML). The kind comes from the file's first
bytes; the records are the XLSX reader's (sheet rows as line numbers, blank rows skipped,
numbers without ``.0``, dates as dates); the rejected rows come back as an .xlsx workbook.

``data/customers_kr.xls`` is a real BIFF8 workbook of made-up customers, written once with
xlwt outside the repository (no maintained package on PyPI writes BIFF; xlwt is not a
dependency) by ``write_fixture`` at the bottom of this file: ``pip install --target /tmp/xlwt
xlwt``, then with ``PYTHONPATH=/tmp/xlwt DJANGO_SETTINGS_MODULE=dangol.settings`` run
``import django; django.setup(); from dangol.integration.tests.test_import_xls import
write_fixture; write_fixture("customers_kr.xls")``."""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from dangol.core.errors import ValidationFailed
from dangol.core.models import ChangeLog
from dangol.customers.models import ContactPoint, Customer, ExternalId
from dangol.integration import selectors, services
from dangol.integration.imports.readers import ExcelKind, Reader, detect_format, excel_kind
from dangol.integration.models import ImportFormat, ImportJob, ImportRowError, ImportStatus

FIXTURE = Path(__file__).parent / "data" / "customers_kr.xls"
HEADER = [
    "회원번호",
    "이름",
    "휴대폰",
    "이메일",
    "생년월일",
    "성별",
    "가입일시",
    "방문시각",
    "문자수신동의",
    "적립금",
]
# The fixture's first sheet as Python values (as openpyxl gives them back from an XLSX); row 4
# is blank. Row 6 has a phone that is no phone: the one rejected row.
ROWS: list[list[Any] | None] = [
    [
        "X001",
        "김민준",
        1012345678,  # a mobile Excel turned into a number: its leading 0 is gone
        "minjun@example.com",
        datetime.datetime(1988, 4, 12),
        "남",
        datetime.datetime(2021, 3, 1, 10, 30),
        datetime.time(10, 30),
        True,
        1500,
    ],
    [
        "X002",
        "이서연",
        "010-2345-6789",
        "seoyeon@example.com",
        "1992.7.3",
        "여",
        datetime.datetime(2021, 5, 10),
        None,
        False,
        2500.5,
    ],
    None,
    [
        10003,
        "박지훈",
        1034567890,
        None,
        datetime.datetime(1985, 1, 1),
        "M",
        datetime.datetime(2022, 1, 15, 9, 0),
        None,
        True,
        0,
    ],
    [
        "X004",
        "최유진",
        "010-99",
        "yujin@example.com",
        datetime.datetime(1990, 4, 1),
        "F",
        None,
        None,
        None,
        None,
    ],
    ["X005", "정하늘", "010 4567 8901", "haneul@example.com", None, "여", None, None, None, None],
]
BAD_LINE = 6


def run(actor: Any, path: Path, dry_run: bool = False, **kw: Any) -> ImportJob:
    job = services.create_import_job(
        target=kw.pop("target", "customers"), source="shop", path=path, actor=actor
    )
    services.start_import(job=job, actor=actor, dry_run=dry_run, enqueue=False)
    return services.run_import(job=job, **kw)


def rejected_lines(job: ImportJob) -> dict[int, list[str]]:
    return {e.line: [r["code"] for r in e.reasons] for e in ImportRowError.objects.filter(job=job)}


def records(path: Path) -> list[tuple[int, list[str]]]:
    with path.open("rb") as f:
        return [(r.line, r.raw) for r in Reader(f, detect_format(path.name))]


def html_table(rows: list[list[str]], *, head: str = "", encoding: str = "utf-8") -> bytes:
    """An HTML "엑셀 다운로드" as shop back-offices write it: one table, a header row of <th>."""
    cells = [
        "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in row) + "</tr>\n"
        for tag, row in [("th", HEADER[:6]), *(("td", r) for r in rows)]
    ]
    page = (
        f"<html>\n<head>{head}<title>회원목록</title></head>\n<body>\n"
        f"<table border='1'>\n{''.join(cells)}</table>\n</body>\n</html>\n"
    )
    return page.encode(encoding)


HTML_ROWS = [
    ["H001", "김민준", "010-1234-5678", "minjun@example.com", "1988-04-12", "남"],
    ["H002", "이서연", "01023456789", "seoyeon@example.com", "1992.7.3", "여"],
    ["H003", "박지훈", "010-12", "", "", ""],  # no phone: rejected
]


# --- which reader -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (FIXTURE.read_bytes()[:512], ExcelKind.BIFF),
        (b"PK\x03\x04rest of a zip", ExcelKind.XLSX),
        (b"\xef\xbb\xbf \r\n<HTML><body><table>", ExcelKind.HTML),
        (b"  <table border=1><tr><td>", ExcelKind.HTML),
        ("<!-- 관리자 -->\n<meta charset='euc-kr'>".encode("cp949"), ExcelKind.HTML),
        (b"<!DOCTYPE html PUBLIC '-//W3C//DTD HTML 4.01//EN'>\n<html>", ExcelKind.HTML),
        ("<html>".encode("utf-16"), ExcelKind.HTML),  # with its BOM
        (
            b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
            b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
            ExcelKind.XML,
        ),
        (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]><Workbook>', ExcelKind.UNKNOWN),
        (b"\xd0\xcf\x11\xe0", ExcelKind.UNKNOWN),  # half a signature
        (b"name,phone\r\n", ExcelKind.UNKNOWN),
    ],
)
def test_the_kind_of_an_excel_file_comes_from_its_first_bytes(head: bytes, kind: str) -> None:
    assert excel_kind(head) == kind


def test_an_xls_name_is_excel_whatever_it_holds() -> None:
    assert detect_format("회원목록.XLS") == detect_format("members.xlsx") == "xlsx"


# --- Excel 97–2003 (BIFF) ---------------------------------------------------------------------


def test_an_xls_workbook_gives_the_records_an_xlsx_of_the_same_cells_gives(
    tmp_path: Path,
) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in [HEADER, *ROWS]:
        ws.append(row or [])
    xlsx = tmp_path / "customers_kr.xlsx"
    wb.save(xlsx)

    from_xls = records(FIXTURE)

    assert from_xls == records(xlsx)
    assert [line for line, _raw in from_xls] == [2, 3, 5, 6, 7]  # sheet rows; row 4 is blank
    first, second, third = (raw for _line, raw in from_xls[:3])
    assert first == [
        "X001",
        "김민준",
        "1012345678",
        "minjun@example.com",
        "1988-04-12",
        "남",
        "2021-03-01 10:30:00",
        "10:30:00",
        "Y",
        "1500",
    ]
    assert second[6:] == ["2021-05-10", "", "N", "2500.5"]
    assert third[0] == "10003"  # a number-typed id without ".0"


def test_only_the_first_sheet_is_read_and_progress_reaches_the_file_size() -> None:
    with FIXTURE.open("rb") as f:
        reader = Reader(f, "xlsx")
        rows = list(reader)
    assert reader.header == HEADER and len(rows) == 5
    assert reader.kind == ExcelKind.BIFF and reader.encoding == ""
    assert reader.bytes_read == FIXTURE.stat().st_size


def test_korean_headers_of_an_xls_are_mapped_by_themselves() -> None:
    with FIXTURE.open("rb") as f:
        sample = selectors.file_sample(f, file_format="xlsx")

    guess = selectors.suggest_mapping("customers", sample.header, sample.rows)

    assert sample.header == HEADER and sample.rows[0]["휴대폰"] == "1012345678"
    assert {c: f for c, f in guess.mapping.items() if c in HEADER[:6]} == {
        "회원번호": "external_id",
        "이름": "full_name",
        "휴대폰": "mobile",
        "이메일": "email",
        "생년월일": "birth_date",
        "성별": "gender",
    }


def test_an_xls_imports_with_its_number_phone_and_date_cells(admin: Any) -> None:
    job = run(admin, FIXTURE)

    assert job.status == ImportStatus.COMPLETED, job.error_message
    assert (job.format, job.header, job.encoding) == ("xlsx", HEADER, "")
    assert (job.rows_read, job.created_count, job.rejected_count) == (5, 4, 1)
    assert rejected_lines(job) == {BAD_LINE: ["phone_invalid"]}
    kim = Customer.objects.get(external_ids__key="X001")
    assert kim.full_name == "김민준" and str(kim.birth_date) == "1988-04-12"
    mobile = kim.contact_points.get(kind="mobile")
    assert mobile.normalized == "+821012345678"  # the lost leading 0, as for an XLSX
    assert str(Customer.objects.get(external_ids__key="X002").birth_date) == "1992-07-03"
    assert Customer.objects.get(external_ids__key="10003").full_name == "박지훈"
    assert ContactPoint.objects.filter(normalized="+821034567890").exists()


def test_a_dry_run_of_an_xls_counts_what_the_import_then_does(admin: Any) -> None:
    dry = run(admin, FIXTURE, dry_run=True)

    assert dry.status == ImportStatus.VALIDATED
    assert (dry.created_count, dry.rejected_count) == (4, 1)
    assert Customer.objects.count() == 0  # nothing written

    services.start_import(job=dry, actor=admin, enqueue=False)
    done = services.run_import(job=dry)
    assert (done.status, done.created_count, done.rejected_count) == (
        ImportStatus.COMPLETED,
        4,
        1,
    )
    assert Customer.objects.count() == 4


def test_the_rejected_rows_of_an_xls_come_back_as_an_xlsx_that_imports(
    admin: Any, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    job = run(admin, FIXTURE)

    content, name, content_type = selectors.rejected_rows_file(job, with_reasons=True)
    assert name == "customers_kr-rejected.xlsx"
    assert content_type == selectors.CONTENT_TYPES[ImportFormat.XLSX]
    out = tmp_path / name
    out.write_bytes(content)
    bad = dict(records(FIXTURE))[BAD_LINE]
    again = records(out)
    assert [raw[:-1] for _line, raw in again] == [bad]
    assert "휴대폰: " in again[0][1][-1] and "[" not in again[0][1][-1]  # the reasons column

    plain, _name, _type = selectors.rejected_rows_file(job)
    fixed = tmp_path / "fixed.xlsx"
    fixed.write_bytes(plain)
    wb = load_workbook(fixed)
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == HEADER
    ws.cell(row=2, column=3, value="010-9999-0000")  # the phone, corrected
    wb.save(fixed)
    second = run(admin, fixed)
    assert (second.created_count, second.rejected_count) == (1, 0)
    assert Customer.objects.get(external_ids__key="X004").full_name == "최유진"


@pytest.mark.parametrize("kind", ["xls", "html"])
def test_an_interrupted_import_resumes_after_the_last_committed_sheet_row(
    admin: Any, tmp_path: Path, kind: str
) -> None:
    if kind == "xls":
        path = FIXTURE
    else:
        path = tmp_path / "회원목록.xls"
        rows = [*HTML_ROWS[:2], ["", "", "", "", "", ""], *HTML_ROWS[2:]]
        rows += [[f"H1{i}", f"김민{i}", f"010-3000-{i:04d}", "", "", ""] for i in range(2)]
        path.write_bytes(html_table(rows, encoding="cp949"))
    job = services.create_import_job(target="customers", source="shop", path=path, actor=admin)
    services.start_import(job=job, actor=admin, enqueue=False)

    def worker_lost(job: ImportJob) -> None:
        raise RuntimeError("worker lost")  # after the first chunk is committed

    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2, progress=worker_lost)
    job.refresh_from_db()
    assert (job.status, job.last_committed_line, job.created_count) == (
        ImportStatus.FAILED,
        3,
        2,
    )

    services.start_import(job=job, actor=admin, enqueue=False)
    job = services.run_import(job=job, chunk_size=2)

    assert (job.status, job.rows_read, job.created_count, job.rejected_count) == (
        ImportStatus.COMPLETED,
        5,
        4,
        1,
    )
    assert job.last_committed_line == 7
    assert Customer.objects.count() == ExternalId.objects.count() == 4
    assert ChangeLog.objects.filter(action="import.chunk_committed").count() == 3


@pytest.mark.parametrize(
    ("content", "code", "text"),
    [
        (b"this is no spreadsheet", "unsupported_format", "(.xlsx)"),
        (b"\xd0\xcf\x11\xe0", "unsupported_format", "(.xlsx)"),  # cut short
        (FIXTURE.read_bytes()[:2000], "unreadable", "password"),  # a damaged workbook
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "unreadable", "password"),
    ],
)
def test_an_xls_that_is_no_spreadsheet_gets_a_clear_message(
    tmp_path: Path, content: bytes, code: str, text: str
) -> None:
    path = tmp_path / "회원목록.xls"
    path.write_bytes(content)

    with (
        translation.override("en"),  # the message is made in the reader's language
        path.open("rb") as f,
        pytest.raises(ValidationFailed) as caught,
    ):
        selectors.file_sample(f, file_format=detect_format(path.name))

    (error,) = caught.value.errors
    assert (error.field, error.code) == ("file", code)
    with translation.override("en"):
        assert text in str(error.message) and ".xls" in str(error.message)


def test_a_failing_xls_import_keeps_the_message_on_the_job(admin: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.xls"
    path.write_bytes(b"<xml>not excel</xml>")

    with translation.override("en"), pytest.raises(ValidationFailed):
        run(admin, path)

    job = ImportJob.objects.get()
    assert job.status == ImportStatus.FAILED and "(.xlsx)" in job.error_message


# --- HTML tables saved as .xls ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "head", "found"),
    [
        ("cp949", '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">', "cp949"),
        ("cp949", "<meta charset='ks_c_5601-1987'>", "cp949"),
        ("cp949", "", "cp949"),  # no declaration: detected as for a CSV
        ("cp949", '<meta charset="utf-8">', "cp949"),  # a wrong declaration: detected
        ("utf-8", '<meta charset="UTF-8">', "utf-8"),
        ("utf-8", "", "utf-8"),
        ("utf-8-sig", "", "utf-8-sig"),
    ],
)
def test_an_html_xls_imports_in_its_encoding(
    admin: Any, tmp_path: Path, encoding: str, head: str, found: str
) -> None:
    path = tmp_path / "쇼핑몰_회원.xls"
    path.write_bytes(html_table(HTML_ROWS, head=head, encoding=encoding))

    job = run(admin, path)

    assert job.status == ImportStatus.COMPLETED, job.error_message
    assert (job.format, job.encoding, job.header) == ("xlsx", found, HEADER[:6])
    assert (job.created_count, job.rejected_count) == (2, 1)
    assert rejected_lines(job) == {4: ["phone_invalid"]}  # the table's fourth row
    seo = Customer.objects.get(external_ids__key="H002")
    assert (seo.full_name, str(seo.birth_date)) == ("이서연", "1992-07-03")
    assert seo.contact_points.get(kind="mobile").normalized == "+821023456789"
    content, name, _type = selectors.rejected_rows_file(job)
    assert name == "쇼핑몰_회원-rejected.xlsx"
    out = tmp_path / name
    out.write_bytes(content)
    assert records(out) == [(2, HTML_ROWS[2])]


def test_html_cells_are_laid_out_as_excel_opens_them() -> None:
    page = """<html><body><p>회원 목록</p>
    <table>
      <thead><tr><th>회원번호</th><th>이름</th><th colspan="2">연락처</th><th>메모</th></tr></thead>
      <tbody>
      <tr><td>A1</td><td rowspan="2">  김&nbsp;민준 </td><td>010-1234-5678</td>
          <td>a@example.com</td><td>첫 줄<br>둘째&amp;줄</td></tr>
      <tr><td>A2<td>010-2222-3333<td>b@example.com<td>
      <tr><td></td><td> </td></tr>
      <tr><td>A3<table><tr><td>안</td><td>쪽</td></tr></table></td><td>이서연</td>
          <td><script>var x = "<td>";</script>010-3333-4444</td></tr>
      </tbody>
    </table>
    <table><tr><td>두 번째 표</td></tr></table>
    </body></html>"""
    reader = Reader(io.BytesIO(page.encode("utf-8")), "xlsx")

    rows = [(r.line, r.raw) for r in reader]

    assert reader.header == ["회원번호", "이름", "연락처", "", "메모"]  # colspan: an empty cell
    assert rows == [
        (2, ["A1", "김 민준", "010-1234-5678", "a@example.com", "첫 줄 둘째&줄"]),
        (3, ["A2", "", "010-2222-3333", "b@example.com", ""]),  # under the rowspan: empty
        (5, ["A3 안 쪽", "이서연", "010-3333-4444"]),  # row 4 is blank
    ]


def test_a_cell_spanning_rows_at_the_end_of_a_row_keeps_the_rows_below_in_place() -> None:
    page = (
        "<table><tr><td>a</td><td>b</td><td>c</td></tr>"
        "<tr><td>x1</td><td>y1</td><td rowspan='3'>z1</td></tr>"
        "<tr><td>x2</td><td>y2</td></tr><tr><td>x3</td></tr>"
        "<tr><td>x4</td><td>y4</td><td>z4</td></tr></table>"
    )

    rows = [r.raw for r in Reader(io.BytesIO(page.encode()), "xlsx")]

    assert rows == [["x1", "y1", "z1"], ["x2", "y2", ""], ["x3", "", ""], ["x4", "y4", "z4"]]


def test_an_html_xls_is_read_in_pieces_and_stops_after_its_table() -> None:
    rows = "".join(f"<tr><td>R{i}</td><td>{'이름' * 40}</td></tr>" for i in range(3000))
    page = f"<table><tr><th>회원번호</th><th>이름</th></tr>{rows}</table>".encode()
    tail = b"<!--" + b"x" * 500_000 + b"-->"
    reader = Reader(io.BytesIO(page + tail), "xlsx")

    it = iter(reader)
    first = next(it)
    assert first.raw[0] == "R0" and reader.bytes_read < len(page)  # not the whole file yet
    assert sum(1 for _ in it) == 2999
    assert reader.bytes_read < len(page) + len(tail)  # the text after the table is not read


# --- Excel 2003 XML (SpreadsheetML) -----------------------------------------------------------

SPREADSHEET_ML = """<?xml version="1.0" encoding="UTF-8"?>
<?mso-application progid="Excel.Sheet"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
 <Styles><Style ss:ID="d"><NumberFormat ss:Format="Short Date"/></Style></Styles>
 <Worksheet ss:Name="회원">
  <Table>
   <Row>
    <Cell><Data ss:Type="String">회원번호</Data></Cell>
    <Cell><Data ss:Type="String">이름</Data></Cell>
    <Cell><Data ss:Type="String">휴대폰</Data></Cell>
    <Cell><Data ss:Type="String">생년월일</Data></Cell>
   </Row>
   <Row>
    <Cell><Data ss:Type="Number">101</Data></Cell><Cell><Data ss:Type="String">김민준</Data></Cell>
    <Cell><Data ss:Type="Number">1012345678</Data></Cell>
    <Cell ss:StyleID="d"><Data ss:Type="DateTime">1988-04-12T00:00:00.000</Data></Cell>
   </Row>
   <Row ss:Index="4">
    <Cell><Data ss:Type="String">102</Data></Cell><Cell><Data ss:Type="String">이서연</Data></Cell>
    <Cell ss:Index="4"><Data ss:Type="DateTime">1992-07-03T00:00:00.000</Data></Cell>
   </Row>
  </Table>
 </Worksheet>
 <Worksheet ss:Name="메모"><Table><Row><Cell><Data ss:Type="String">-</Data></Cell></Row></Table>
 </Worksheet>
</Workbook>
"""


def test_an_excel_2003_xml_file_imports(admin: Any, tmp_path: Path) -> None:
    path = tmp_path / "members.xls"
    path.write_text(SPREADSHEET_ML, encoding="utf-8")
    assert records(path) == [
        (2, ["101", "김민준", "1012345678", "1988-04-12"]),
        (4, ["102", "이서연", "", "1992-07-03"]),  # ss:Index: the third cell is empty
    ]

    job = run(admin, path)

    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.COMPLETED, 2, 0)
    kim = Customer.objects.get(external_ids__key="101")
    assert kim.contact_points.get(kind="mobile").normalized == "+821012345678"


# --- the fixture ------------------------------------------------------------------------------


def write_fixture(path: str) -> None:  # pragma: no cover - run by hand, with xlwt
    """Write ``data/customers_kr.xls`` (HEADER and ROWS as a BIFF8 sheet, and a second sheet
    that must not be read)."""
    import xlwt

    styles = {
        datetime.datetime: xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm"),
        datetime.time: xlwt.easyxf(num_format_str="hh:mm"),
    }
    day = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("회원목록")
    for c, value in enumerate(HEADER):
        sheet.write(0, c, value)
    for r, row in enumerate(ROWS, start=1):
        for c, value in enumerate(row or []):
            if value is None:
                continue
            if isinstance(value, datetime.datetime) and value.time() == datetime.time() and c == 4:
                sheet.write(r, c, value.date(), day)
            elif type(value) in styles:
                sheet.write(r, c, value, styles[type(value)])
            else:
                sheet.write(r, c, value)
    book.add_sheet("메모").write(0, 0, "두 번째 시트는 읽지 않습니다")
    book.save(path)
