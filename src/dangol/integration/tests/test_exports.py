"""Exports: contents per role (masked vs unmasked, with PII log rows), record visibility,
filters, CSV / XLSX / Parquet read back, requester-only download; the data-subject access
file."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dangol.core.errors import Forbidden, ValidationFailed
from dangol.core.models import PiiAccessLog
from dangol.customers import services as cs
from dangol.integration import exports, services
from dangol.integration.models import ExportJob, ExportStatus

API = "/api/v1"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(make_user: Any, make_customer: Any) -> dict[str, Any]:
    seoul = make_user("lead", team="seoul")
    busan = make_user("lead", team="busan")
    a = make_customer(
        full_name="김민준",
        birth_date=datetime.date(1990, 3, 15),
        region="seoul",
        owner=seoul,
        team=seoul.team,
        contacts=[("mobile", "010-1234-5678"), ("email", "minjun@naver.com")],
    )
    b = make_customer(full_name="이서연", region="busan", owner=busan, team=busan.team)
    return {"seoul": seoul, "busan": busan, "a": a, "b": b}


def export(user: Any, fmt: str = "csv", **filters: Any) -> ExportJob:
    job = services.request_export(actor=user, format=fmt, filters=filters, enqueue=False)
    job = services.run_export(job=job)
    assert job.status == ExportStatus.COMPLETED, job.error_message
    return job


def read_csv(job: ExportJob) -> list[list[str]]:
    text = exports.export_file(job).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_marketer_gets_masked_contacts_and_no_log(people: dict[str, Any], make_user: Any) -> None:
    job = export(make_user("marketer"))  # all scope, export, no PII permission
    rows = read_csv(job)
    assert job.row_count == 2 and not job.unmasked
    keys = [k for k, _label in exports.COLUMNS]
    first = dict(zip(keys, rows[1], strict=True))
    assert (first["full_name"], first["mobile"], first["email"]) == (
        "김민준",
        "010-****-5678",
        "mi****@naver.com",
    )
    assert (first["birth_date"], first["birth_year"]) == ("", "1990")
    assert not PiiAccessLog.objects.exists()


def test_pii_role_gets_unmasked_contacts_logged_in_bulk(
    people: dict[str, Any], make_user: Any
) -> None:
    manager = make_user("manager")
    job = export(manager)
    first = read_csv(job)[1]
    assert "010-1234-5678" in first and "minjun@naver.com" in first and "1990-03-15" in first
    logged = PiiAccessLog.objects.filter(user=manager, channel="export")
    assert logged.count() == 1  # the customer with contact points
    assert logged.get().object_id == str(people["a"].pk)
    assert logged.get().endpoint == f"exports/{job.pk}"


def test_visibility_and_filters(people: dict[str, Any]) -> None:
    job = export(people["seoul"])
    assert [r[1] for r in read_csv(job)[1:]] == ["김민준"]  # team scope
    assert export(people["busan"], region="seoul").row_count == 0
    with pytest.raises(ValidationFailed):
        services.request_export(actor=people["seoul"], format="csv", filters={"nope": 1})
    with pytest.raises(ValidationFailed):
        services.request_export(actor=people["seoul"], format="pdf")


def test_roles_without_export_are_refused(people: dict[str, Any], make_user: Any) -> None:
    with pytest.raises(Forbidden):
        services.request_export(actor=make_user("agent"), format="csv")


def test_xlsx_and_parquet_read_back(
    people: dict[str, Any], make_user: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(exports, "CHUNK", 1)  # several chunks, several row groups
    manager = make_user("manager")
    xlsx = export(manager, "xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(exports.export_file(xlsx), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 3 and values[1][1] == "김민준" and values[1][13] == "010-1234-5678"

    parquet = export(manager, "parquet")
    frame = pl.read_parquet(exports.export_file(parquet))
    assert frame.columns == [k for k, _label in exports.COLUMNS]
    assert frame["full_name"].to_list() == ["김민준", "이서연"]
    assert frame["birth_date"][0] == datetime.date(1990, 3, 15)
    assert frame["total_spent"][0] == Decimal("0.00")
    assert PiiAccessLog.objects.filter(channel="export").count() == 2


def test_api_export_and_download_only_for_the_requester(
    people: dict[str, Any], api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api(people["seoul"])
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(f"{API}/exports", {"format": "csv"}, "application/json")
    assert created.status_code == 202, created.json()
    job = client.get(f"{API}/exports/{created.json()['id']}").json()
    assert job["status"] == "completed" and job["row_count"] == 1
    download = client.get(job["download_url"])
    assert download.status_code == 200
    assert "김민준" in b"".join(download.streaming_content).decode("utf-8-sig")
    other = api(people["busan"])
    assert other.get(job["download_url"]).status_code == 404
    assert other.get(f"{API}/exports").json()["items"] == []


def test_subject_access_file_is_complete_and_logged(
    people: dict[str, Any], make_user: Any, api: Any
) -> None:
    from dangol.commerce import services as commerce

    a = people["a"]
    cs.add_address(customer=a, line1="서울 강남구 테헤란로 152", postal_code="06236", actor=None)
    cs.add_external_id(customer=a, source="pos", key="P-1", actor=None)
    cs.grant_consent(customer=a, channel="email", actor=None)
    cs.withdraw_consent(customer=a, channel="email", actor=None)
    cs.record_interaction(customer=a, channel="phone", kind="call", subject="문의", actor=None)
    cs.add_note(customer=a, body="VIP", actor=None)
    product = commerce.create_product(
        actor=None, sku="SKU-1", name="수분 크림", price=Decimal("32000")
    )
    order = commerce.place_order(
        data=commerce.OrderInput(
            customer=a, lines=[commerce.LineInput(product=product, quantity=2)]
        ),
        actor=None,
    )
    commerce.record_return(
        order=order,
        lines=[commerce.ReturnLineInput(order_line=order.lines.get(), quantity=1)],
        reason="change_of_mind",
        actor=None,
    )
    lead = people["seoul"]

    data = api(lead).get(f"{API}/exports/personal-data/{a.pk}").json()

    assert data["profile"]["full_name"] == "김민준"
    assert {c["value"] for c in data["contact_points"]} == {"010-1234-5678", "minjun@naver.com"}
    assert data["addresses"][0]["postal_code"] == "06236"
    assert data["external_ids"][0]["key"] == "P-1"
    assert data["consents"][0]["status"] == "withdrawn"
    assert [e["status"] for e in data["consent_history"]] == ["granted", "withdrawn"]
    assert data["orders"][0]["lines"][0]["sku"] == "SKU-1"
    assert data["orders"][0]["lines"][0]["quantity"] == 2
    assert data["returns"][0]["lines"][0]["quantity"] == 1
    assert data["interactions"][0]["subject"] == "문의"
    assert data["notes"][0]["body"] == "VIP"
    log = PiiAccessLog.objects.get(user=lead)
    assert log.object_id == str(a.pk) and "orders" in log.fields and log.channel == "api"
    # another team's customer is not found; a role without PII permission is refused
    assert api(people["busan"]).get(f"{API}/exports/personal-data/{a.pk}").status_code == 404
    assert api(make_user("marketer")).get(f"{API}/exports/personal-data/{a.pk}").status_code == 403
