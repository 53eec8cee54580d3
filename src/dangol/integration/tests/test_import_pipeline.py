"""The import pipeline: formats, encodings, mapping, dry run, rejects, idempotency, resume,
identity matching, consents, products and orders."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from dangol.commerce import services as commerce
from dangol.commerce.models import Order, OrderLine, Product
from dangol.core import events
from dangol.core.models import ChangeLog
from dangol.core.normalize import email_match_key, normalize_email, normalize_phone
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    ExternalId,
)
from dangol.integration import selectors, services
from dangol.integration.imports import parsing, pipeline, targets
from dangol.integration.imports.identity import deterministic_matcher
from dangol.integration.imports.readers import Reader, detect_encoding
from dangol.integration.models import ImportJob, ImportRowError, ImportStatus

HEADER = ["회원번호", "이름", "휴대폰", "이메일", "생년월일", "성별"]
ROWS = [
    ["A1", "김민준", "010-1234-5678", "Minjun.Kim@Example.COM", "1990.03.01", "남"],
    ["A2", "남궁민", "01098765432", "", "19851231", "여"],
    ["A3", "", "010-1111-2222", "", "", ""],  # no name
    ["A4", "박지훈", "010-12", "", "2024년 3월 1일", ""],  # bad phone
    ["A5", "최유나", "+82 10 5555 6666", "yuna@example.kr", "2001-07-15", "F"],
]


def write_csv(
    path: Path, rows: list[list[str]], encoding: str = "utf-8-sig", header: list[str] = HEADER
) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_table(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    """The rows as JSON Lines (one object per row) or an XLSX sheet, by ``path``'s suffix."""
    if path.suffix == ".jsonl":
        path.write_text(
            "".join(
                json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) + "\n"
                for r in rows
            ),
            encoding="utf-8",
        )
        return path
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in [header, *rows]:
        ws.append(row)
    wb.save(path)
    return path


def run(actor: Any, target: str, path: Path, dry_run: bool = False, **kw: Any) -> ImportJob:
    job = services.create_import_job(
        target=target,
        source=kw.pop("source", "pos"),
        path=path,
        actor=actor,
        **{k: kw.pop(k) for k in ("mapping", "transforms", "template") if k in kw},
    )
    services.start_import(job=job, actor=actor, dry_run=dry_run, enqueue=False)
    return services.run_import(job=job, **kw)


def stop_at_line(monkeypatch: pytest.MonkeyPatch, target: type[Any], line: int) -> None:
    """The chunk of ``target`` starting at ``line`` fails once (the worker dies), as if the
    process stopped."""
    original = target.write
    failed: list[int] = []

    def flaky(self: Any, ctx: Any, rows: list[Any]) -> None:
        if rows[0].line == line and not failed:
            failed.append(line)
            raise RuntimeError("worker lost")
        original(self, ctx, rows)

    monkeypatch.setattr(target, "write", flaky)


def rejected_lines(job: ImportJob) -> dict[int, list[str]]:
    return {e.line: [r["code"] for r in e.reasons] for e in ImportRowError.objects.filter(job=job)}


# --- formats and encodings --------------------------------------------------------------------


def test_utf8_bom_csv_creates_customers_with_normalized_contacts(
    admin: Any, tmp_path: Path
) -> None:
    job = run(admin, "customers", write_csv(tmp_path / "members.csv", ROWS))

    assert job.status == ImportStatus.COMPLETED
    assert job.encoding == "utf-8-sig"
    assert job.counts() == {
        "rows_read": 5,
        "created": 3,
        "updated": 0,
        "matched": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    kim = Customer.objects.get(external_ids__source="pos", external_ids__key="A1")
    assert (kim.family_name, kim.given_name, kim.full_name) == ("김", "민준", "김민준")
    assert str(kim.birth_date) == "1990-03-01" and kim.gender == "M" and kim.source == "pos"
    namgung = Customer.objects.get(external_ids__key="A2")
    assert (namgung.family_name, namgung.given_name) == ("남궁", "민")
    mobile = ContactPoint.objects.get(customer=kim, kind="mobile")
    assert (mobile.normalized, mobile.last4, mobile.is_primary) == ("+821012345678", "5678", True)
    email = ContactPoint.objects.get(customer=kim, kind="email")
    assert email.normalized == "Minjun.Kim@example.com"
    assert email.match_key == "minjun.kim@example.com"
    assert rejected_lines(job) == {4: ["required"], 5: ["phone_invalid"]}


def test_korean_excel_csv_with_hangul_only_in_the_header_is_read_as_cp949() -> None:
    # A call-center log: Korean headers above hundreds of ASCII rows. charset-normalizer
    # guesses a Latin code page for it (iso8859_5 here), and the mapping then finds no column.
    header = "접수일시,고객번호,채널,상담구분,처리자,내용\n"
    rows = "".join(
        f"2026-11-{i % 28 + 1:02d} 10:{i % 60:02d},C-{i:05d},phone,inquiry,agent{i % 7},status\n"
        for i in range(300)
    )
    assert detect_encoding((header + rows).encode("cp949")) == "cp949"
    assert detect_encoding((header + rows).encode("utf-8")) == "utf-8"


def test_cp949_csv_is_detected(admin: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "excel.csv", ROWS[:2], encoding="cp949")

    job = run(admin, "customers", path)

    assert job.encoding == "cp949"
    assert job.created_count == 2
    assert Customer.objects.filter(full_name="남궁민").exists()


def test_xlsx_is_read_streaming(admin: Any, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER)
    ws.append(["A1", "김민준", 1012345678, "", "1990-03-01", "남"])  # a phone Excel made a number
    ws.append(["A2", "이서연", "010-2222-3333", "", None, ""])
    wb.save(tmp_path / "members.xlsx")

    job = run(admin, "customers", tmp_path / "members.xlsx")

    assert job.created_count == 2, rejected_lines(job)
    assert ContactPoint.objects.filter(normalized="+821012345678").exists()


def test_json_lines(admin: Any, tmp_path: Path) -> None:
    lines = [
        {"external_id": "J1", "full_name": "김민준", "mobile": "010-1234-5678"},
        "not json",
        {"external_id": "J2", "full_name": "이서연", "email": "seo@example.com"},
    ]
    path = tmp_path / "members.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
        + "\n",
        encoding="utf-8",
    )

    job = run(admin, "customers", path)

    assert (job.created_count, job.rejected_count) == (2, 1)
    assert rejected_lines(job) == {2: ["invalid_json"]}


VCARDS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:v-1\r\nFN:김민준\r\nN:김;민준;;;\r\n"
    "TEL;TYPE=CELL:010-1234-5678\r\nTEL;TYPE=WORK:02-123-4567\r\nEMAIL:minjun@example.com\r\n"
    "ORG:단골상사\r\nBDAY:1990-03-01\r\nADR;TYPE=HOME:;;테헤란로 1;강남구;서울;06236;KR\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:v-2\r\nFN:Bad Phone\r\nTEL;VALUE=uri;TYPE=cell:tel:12\r\n"
    "END:VCARD\r\n"
)


def test_vcard_contacts(admin: Any, tmp_path: Path) -> None:
    path = tmp_path / "contacts.vcf"
    path.write_text(VCARDS, encoding="utf-8")
    mapping = {
        "uid": "external_id",
        "full_name": "full_name",
        "mobile": "mobile",
        "phone": "phone",
        "email": "email",
        "birth_date": "birth_date",
    }

    job = run(admin, "customers", path, mapping=mapping)

    assert (job.created_count, job.rejected_count) == (1, 1)
    kim = Customer.objects.get(external_ids__key="v-1")
    assert sorted(kim.contact_points.values_list("kind", "normalized")) == [
        ("email", "minjun@example.com"),
        ("mobile", "+821012345678"),
        ("phone", "+8221234567"),
    ]
    assert rejected_lines(job) == {13: ["phone_invalid"]}


# --- Korean values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01",
        "2024.03.01",
        "2024/3/1",
        "20240301",
        "2024년 3월 1일",
        "2024. 3. 1.",
        "2024-03-01 10:00:00",
    ],
)
def test_korean_dates(text: str) -> None:
    assert str(parsing.parse_date(text)) == "2024-03-01"


def test_amounts_booleans_and_bad_values() -> None:
    assert parsing.parse_amount("₩1,234,000") == Decimal(1234000)
    assert parsing.parse_amount("12,000원") == Decimal(12000)
    assert [parsing.parse_bool(v) for v in ("Y", "예", "동의", "N", "아니오", "거부")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    for fn, text, code in (
        (parsing.parse_date, "2024-02-30", "invalid_date"),
        (parsing.parse_amount, "abc", "invalid_amount"),
        (parsing.parse_bool, "maybe", "invalid_boolean"),
    ):
        with pytest.raises(parsing.FieldIssue) as exc:
            fn(text)
        assert exc.value.code == code


def test_fast_phone_and_email_paths_equal_core_normalization() -> None:
    rng = random.Random(7)
    shapes = ["010-{}-{}", "010{}{}", "+82 10-{}-{}", "010.{}.{}", "10{}{}"]
    for _ in range(3000):
        a, b = f"{rng.randrange(10000):04d}", f"{rng.randrange(10000):04d}"
        raw = rng.choice(shapes).format(a, b)
        try:
            slow = normalize_phone(raw)
        except Exception:
            with pytest.raises(parsing.FieldIssue):
                parsing.phone_values(raw)
            continue
        fast = parsing.phone_values(raw)
        assert (fast["normalized"], fast["last4"], fast["is_legacy"]) == (
            slow.e164,
            slow.last4,
            slow.is_legacy,
        )
    for raw in ("011-234-5678", "016-2345-6789", "019-9123-4567", "0112345678"):
        assert parsing.phone_values(raw)["normalized"] == normalize_phone(raw).e164
        assert parsing.phone_values(raw)["is_legacy"] is True
    for raw in ("Kim.Min@Example.COM", " a+b@sub.Example.co.kr ", "x@y.com", "a..b@x.com"):
        try:
            normalized = normalize_email(raw)
        except Exception:
            with pytest.raises(parsing.FieldIssue):
                parsing.email_values(raw)
            continue
        values = parsing.email_values(raw)
        assert values["normalized"] == normalized
        assert values["match_key"] == email_match_key(raw)


# --- mapping, preview, dry run --------------------------------------------------------------


def test_mapping_template_with_transforms(admin: Any, tmp_path: Path) -> None:
    template = services.create_mapping_template(
        name="쇼핑몰 회원",
        source="shop",
        target="customers",
        actor=admin,
        mapping={"ID": "external_id", "NAME": "full_name", "HP": "mobile", "SEX": "gender"},
        transforms={"gender": [{"op": "map", "values": {"1": "M", "2": "F"}}]},
    )
    path = write_csv(
        tmp_path / "shop.csv",
        [["S1", "김민준", "010-1234-5678", "1"]],
        header=["ID", "NAME", "HP", "SEX"],
    )

    job = run(admin, "customers", path, source="shop", template=template)

    assert job.mapping == template.mapping and job.created_count == 1
    assert Customer.objects.get(external_ids__key="S1").gender == "M"
    assert selectors.find_template("쇼핑몰 회원", "shop") == template


def test_mapping_must_name_known_and_required_fields(admin: Any, tmp_path: Path) -> None:
    from dangol.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        services.create_mapping_template(
            name="x",
            source="s",
            target="customers",
            actor=admin,
            mapping={"이름": "full_name", "a": "nope"},
        )
    assert {e.code for e in exc.value.errors} == {"unknown_field", "required"}


def test_preview_checks_the_first_rows(admin: Any, tmp_path: Path) -> None:
    job = services.create_import_job(
        target="customers", source="pos", actor=admin, path=write_csv(tmp_path / "m.csv", ROWS)
    )

    result = pipeline.preview(job, rows=4)

    assert result["mapping"]["휴대폰"] == "mobile"
    assert [r["valid"] for r in result["rows"]] == [True, True, False, False]
    assert result["rows"][3]["errors"][0]["field"] == "mobile"
    assert Customer.objects.count() == 0


def test_dry_run_counts_and_writes_nothing(admin: Any, tmp_path: Path) -> None:
    before = ChangeLog.objects.count()

    job = run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS), dry_run=True)

    assert job.status == ImportStatus.VALIDATED
    assert (job.created_count, job.rejected_count) == (3, 2)
    assert Customer.objects.count() == ContactPoint.objects.count() == 0
    assert ExternalId.objects.count() == 0
    assert ChangeLog.objects.exclude(action__startswith="import.").count() == before
    assert not ChangeLog.objects.filter(action="import.chunk_committed").exists()
    # committing afterwards starts from the top
    services.start_import(job=job, actor=admin, enqueue=False)
    job = services.run_import(job=job)
    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.COMPLETED, 3, 2)


# --- rejects, idempotency, resume --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl", "vcf"])
def test_rejected_rows_download_reproduces_the_bad_rows(
    admin: Any, tmp_path: Path, fmt: str
) -> None:
    if fmt == "csv":
        path = write_csv(tmp_path / "m.csv", ROWS, encoding="cp949")
    elif fmt in ("xlsx", "jsonl"):
        path = write_table(tmp_path / f"m.{fmt}", ROWS)
    else:
        path = tmp_path / "m.vcf"
        path.write_text(VCARDS, encoding="utf-8")
    mapping = (
        {"uid": "external_id", "full_name": "full_name", "mobile": "mobile"}
        if fmt == "vcf"
        else None
    )

    job = run(admin, "customers", path, mapping=mapping)
    content, name, _ctype = selectors.rejected_rows_file(job)

    out = tmp_path / name
    out.write_bytes(content)
    assert name.endswith("-rejected." + fmt)
    again = list(Reader(out.open("rb"), job.format))
    original = {r.line: r for r in Reader(path.open("rb"), job.format)}
    assert [r.raw for r in again] == [original[line].raw for line in sorted(rejected_lines(job))]


def test_excel_unicode_text_utf16_tab_separated_imports_and_round_trips(
    admin: Any, tmp_path: Path
) -> None:
    """Korean Excel's "유니코드 텍스트" export: UTF-16 with a BOM, tab-separated, as a .txt."""
    text = "\r\n".join("\t".join(r) for r in [HEADER, *ROWS]) + "\r\n"
    path = tmp_path / "회원목록.txt"
    path.write_bytes(text.encode("utf-16"))

    job = run(admin, "customers", path)

    assert job.status == ImportStatus.COMPLETED and job.encoding.replace("-", "_") == "utf_16"
    assert (job.created_count, job.rejected_count) == (3, 2)
    assert Customer.objects.get(external_ids__key="A2").full_name == "남궁민"
    content, _name, _ctype = selectors.rejected_rows_file(job)
    out = tmp_path / "rejected.txt"
    out.write_bytes(content)
    again = list(Reader(out.open("rb"), job.format))
    assert [r.raw for r in again] == [ROWS[2], ROWS[3]]  # the same cells, read back


def test_reimporting_the_same_file_changes_nothing(admin: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ROWS)
    run(admin, "customers", path)
    rows_before = (
        Customer.objects.count(),
        ContactPoint.objects.count(),
        ExternalId.objects.count(),
    )

    second = run(admin, "customers", path)

    assert second.counts() == {
        "rows_read": 5,
        "created": 0,
        "updated": 0,
        "matched": 0,
        "unchanged": 3,
        "rejected": 2,
    }
    assert (
        Customer.objects.count(),
        ContactPoint.objects.count(),
        ExternalId.objects.count(),
    ) == rows_before


def test_a_changed_row_updates_only_what_changed(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "a.csv", ROWS[:2]))
    changed = [["A1", "김민준", "010-1234-5678", "new@example.com", "1990.03.02", "남"], ROWS[1]]

    job = run(admin, "customers", write_csv(tmp_path / "b.csv", changed))

    assert (job.updated_count, job.unchanged_count) == (1, 1)
    kim = Customer.objects.get(external_ids__key="A1")
    assert str(kim.birth_date) == "1990-03-02"
    emails = kim.contact_points.filter(kind="email").values_list("match_key", "is_primary")
    # the file's new address is the primary one; the old one stays, not primary
    assert sorted(emails) == [("minjun.kim@example.com", False), ("new@example.com", True)]


def test_interrupted_import_resumes_where_it_stopped(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [[f"R{i}", f"김민{i}", f"010-3000-{i:04d}", "", "", ""] for i in range(1, 26)]
    path = write_csv(tmp_path / "big.csv", rows)
    original = targets.CustomerTarget.write
    calls = {"n": 0}

    def flaky(self: Any, ctx: Any, chunk: list[Any]) -> None:
        calls["n"] += 1
        original(self, ctx, chunk)  # the chunk's rows are written ...
        if calls["n"] == 3:
            raise RuntimeError("worker lost")  # ... and then the transaction dies

    monkeypatch.setattr(targets.CustomerTarget, "write", flaky)
    job = services.create_import_job(target="customers", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=10)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert (job.last_committed_line, job.created_count) == (21, 20)
    assert Customer.objects.count() == 20  # never half a chunk

    monkeypatch.setattr(targets.CustomerTarget, "write", original)
    services.start_import(job=job, actor=admin, enqueue=False)
    job = services.run_import(job=job, chunk_size=10)

    assert (job.status, job.created_count, job.rows_read) == (ImportStatus.COMPLETED, 25, 25)
    assert Customer.objects.count() == 25 and ExternalId.objects.count() == 25
    assert ChangeLog.objects.filter(action="import.chunk_committed").count() == 3


heard: list[events.Event] = []


def listen(event: events.Event) -> None:
    heard.append(event)


def test_one_completed_event_per_job(
    admin: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    heard.clear()
    events.subscriber("import.completed", "customer.created")(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS), chunk_size=2)
    finally:
        events.unsubscribe(listen)
    seen = list(heard)
    assert [e.name for e in seen] == ["import.completed"]
    assert seen[0].data["created"] == 3 and seen[0].object_id == str(job.pk)


# --- identity ---------------------------------------------------------------------------------


def test_deterministic_match_attaches_the_external_id(
    admin: Any, make_customer: Any, tmp_path: Path
) -> None:
    existing = make_customer(full_name="김민준", contacts=[("mobile", "01012345678")])
    by_email = make_customer(full_name="최유나", contacts=[("email", "YUNA@example.kr")])

    job = run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))

    assert (job.matched_count, job.created_count) == (2, 1)
    assert ExternalId.objects.get(source="pos", key="A1").customer_id == existing.pk
    assert ExternalId.objects.get(source="pos", key="A5").customer_id == by_email.pk
    existing.refresh_from_db()
    assert str(existing.birth_date) == "1990-03-01"  # and updated from the row
    assert existing.contact_points.filter(kind="email", match_key="minjun.kim@example.com").exists()
    assert Customer.objects.count() == 3
    again = run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    assert again.unchanged_count == 3


def test_matcher_hook_gets_the_unmatched_rows(
    admin: Any, make_customer: Any, tmp_path: Path
) -> None:
    target = make_customer(full_name="이서연")
    received: list[list[str]] = []

    def probabilistic(candidates: Any, visible: Any, *, job_id: int | None) -> dict[int, int]:
        received.append([c.external_id for c in candidates])
        out = deterministic_matcher(candidates, visible, job_id=job_id)
        out.update({c.index: target.pk for c in candidates if c.full_name == "남궁민"})
        return out

    job = run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS), matcher=probabilistic)

    assert received == [["A1", "A2", "A5"]]
    assert job.matched_count == 1
    assert ExternalId.objects.get(source="pos", key="A2").customer_id == target.pk


def test_a_rep_cannot_update_customers_outside_their_scope(
    make_user: Any, make_customer: Any, tmp_path: Path
) -> None:
    rep, other = make_user("rep"), make_user("rep")
    make_customer(
        actor=other,
        owner=other,
        full_name="김민준",
        contacts=[("mobile", "01012345678")],
        external_ids=[("pos", "A1")],
    )

    job = run(rep, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))

    assert rejected_lines(job) == {2: ["not_found"]}
    assert Customer.objects.get(external_ids__key="A2").owner_id == rep.pk


# --- consents, products, orders ----------------------------------------------------------


def test_consents_keep_their_history(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    header = ["회원번호", "채널", "동의여부", "동의일시"]
    path = write_csv(
        tmp_path / "c.csv",
        [
            ["A1", "문자", "Y", "2024-03-01 10:00"],
            ["A1", "이메일", "동의", "2024-03-01"],
            ["A2", "SMS", "아니오", "2024.03.02"],
            ["A9", "SMS", "Y", ""],
            ["A2", "팩스", "Y", ""],
        ],
        header=header,
    )

    job = run(admin, "consents", path)

    assert (job.created_count, job.rejected_count) == (3, 2), rejected_lines(job)
    assert rejected_lines(job) == {5: ["customer_not_found"], 6: ["invalid_choice"]}
    sms = Consent.objects.get(customer__external_ids__key="A1", channel="sms")
    assert (sms.status, str(sms.reconfirm_due)) == ("granted", "2026-03-01")
    assert ConsentEvent.objects.count() == 3
    again = run(admin, "consents", path)
    assert (again.unchanged_count, ConsentEvent.objects.count()) == (3, 3)
    withdraw = write_csv(tmp_path / "w.csv", [["A1", "SMS", "N", "2024-05-01"]], header=header)
    assert run(admin, "consents", withdraw).updated_count == 1
    sms.refresh_from_db()
    assert sms.status == "withdrawn" and sms.granted_at is not None
    assert ConsentEvent.objects.filter(customer=sms.customer, channel="sms").count() == 2


def _catalog(admin: Any, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        [["SKU-1", "수분 크림", "₩32,000"], ["SKU-2", "토너", "18,000원"], ["SKU-3", "", "1"]],
        header=["상품코드", "상품명", "판매가"],
    )
    job = run(admin, "products", path)
    assert (job.created_count, job.rejected_count) == (2, 1)
    assert run(admin, "products", path).unchanged_count == 2


ORDER_HEADER = ["주문번호", "회원번호", "상품코드", "수량", "단가", "주문일시"]


def test_orders_with_lines_match_what_place_order_produces(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        [
            ["O1", "A1", "SKU-1", "2", "", "2024-03-01 10:00"],
            ["O1", "A1", "SKU-2", "1", "15,000", "2024-03-01 10:00"],
            ["O2", "A1", "SKU-2", "1", "", "2024-04-01"],
            ["O3", "A2", "SKU-1", "1", "", "2024-04-02"],
            ["O3", "A2", "SKU-X", "1", "", "2024-04-02"],  # unknown product: the whole order goes
            ["O4", "A9", "SKU-1", "1", "", "2024-04-03"],
        ],
        header=ORDER_HEADER,
    )

    job = run(admin, "orders", path, chunk_size=2)

    assert (job.created_count, job.rejected_count) == (3, 3), rejected_lines(job)
    assert rejected_lines(job) == {
        5: ["order_rejected"],
        6: ["product_not_found"],
        7: ["customer_not_found"],
    }
    o1 = Order.objects.get(source="pos", external_id="O1")
    assert (o1.subtotal, o1.total, o1.status) == (Decimal(79000), Decimal(79000), "paid")
    assert sorted(OrderLine.objects.filter(order=o1).values_list("line_total", flat=True)) == [
        Decimal(15000),
        Decimal(64000),
    ]
    kim = Customer.objects.get(external_ids__key="A1")
    assert (kim.order_count, kim.total_spent, kim.lifecycle_stage) == (2, Decimal(97000), "repeat")
    assert kim.last_purchase_at == Order.objects.get(external_id="O2").placed_at

    # the same purchases through the service give the same aggregates
    twin = Customer.objects.get(external_ids__key="A2")
    for o in Order.objects.filter(customer=kim).order_by("placed_at"):
        commerce.place_order(
            data=commerce.OrderInput(
                customer=twin,
                placed_at=o.placed_at,
                lines=[
                    commerce.LineInput(
                        product=line.product, quantity=line.quantity, unit_price=line.unit_price
                    )
                    for line in o.lines.all()
                ],
            ),
            actor=admin,
        )
    twin.refresh_from_db()
    assert (twin.order_count, twin.total_spent, twin.lifecycle_stage, twin.first_purchase_at) == (
        kim.order_count,
        kim.total_spent,
        kim.lifecycle_stage,
        kim.first_purchase_at,
    )

    again = run(admin, "orders", path)
    assert (again.unchanged_count, again.created_count) == (3, 0)
    assert Order.objects.count() == 4 and Product.objects.count() == 2


def test_cli_imports_with_a_progress_bar(admin: Any, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command(
        "import_data",
        "customers",
        str(write_csv(tmp_path / "m.csv", ROWS)),
        "--source",
        "crm",
        "--user",
        admin.email,
        stdout=out,
    )
    assert "completed" in out.getvalue() and "created 3" in out.getvalue()
    assert ExternalId.objects.filter(source="crm").count() == 3
    dry = io.StringIO()
    call_command(
        "import_data",
        "customers",
        str(tmp_path / "m.csv"),
        "--source",
        "other",
        "--dry-run",
        stdout=dry,
    )
    assert "dry run" in dry.getvalue() and not ExternalId.objects.filter(source="other").exists()
