"""The import wizard in a real browser: a CP949 member list from a Korean POS is uploaded,
mapped (the suggestions accepted), previewed, dry-run, imported, and the result read.

``DANGOL_SCREENSHOTS=1`` saves var/screenshots/import_*.png for each step."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.customers.models import Customer
from dangol.integration.models import ImportJob, ImportStatus
from dangol.integration.tests import pos_files

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def test_pos_file_from_upload_to_result(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any, tmp_path: Path
) -> None:

    manager = make_user("manager", display_name="김매니저")
    known = make_customer(full_name="김민준", contacts=[("mobile", "010-1111-2222")])
    pos_file = pos_files.write_pos_file(tmp_path)
    sign_in(manager.email)

    # 1. Upload: customers is chosen, the source is named, the file picked.
    page.goto("/data/imports/new/")
    expect(page.locator("input[name=target][value=customers]")).to_be_checked()
    expect(page.locator("input[name=target][value=organizations]")).to_be_enabled()
    page.locator("#import-source").fill("pos")
    page.locator("#import-file").set_input_files(str(pos_file))
    shot("import_1_upload")
    page.locator("form.import-upload button[type=submit]").click()

    # 2. Mapping: CP949 detected, Korean headers matched, the suggestions accepted.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/mapping/$"))
    expect(page.get_by_test_id("encoding")).to_have_attribute("data-codec", "cp949")
    expect(page.locator("tr[data-column='휴대폰']")).to_contain_text("010-1234-5678")
    for column, field in [
        ("col-0", "external_id"),
        ("col-1", "full_name"),
        ("col-2", "mobile"),
        ("col-3", "email"),
        ("col-4", "birth_date"),
        ("col-5", "gender"),
        ("col-7", ""),
    ]:
        expect(page.locator(f"#{column}")).to_have_value(field)
    expect(page.locator("[data-required=external_id] .text-success")).to_be_visible()
    page.locator("#template-name").fill("POS 회원")
    shot("import_2_mapping")
    page.locator("#mapping-form button[type=submit]").click()

    # 3. Preview: bad cells in red with their reasons; then a dry run of the whole file.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/preview/$"))
    expect(page.locator("td.cell-invalid")).to_have_count(5)  # P002 twice: the dry run's check
    expect(page.get_by_test_id("sample-bad")).to_contain_text("5")
    expect(page.locator("tr[data-line='7'] td.cell-invalid .cell-error")).not_to_be_empty()
    shot("import_3_preview")
    page.locator("#dry-run button[type=submit]").click()
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "validated")
    expect(status.locator("[data-count=created]")).to_have_text("5")
    expect(status.locator("[data-count=matched]")).to_have_text("1")
    expect(status.locator("[data-count=rejected]")).to_have_text("5")
    shot("import_3_dry_run")
    assert Customer.objects.count() == 1

    # 4. Import: the job runs, the page shows the counts and what to do next.
    page.locator("form[action$='/commit/'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/$"))
    expect(status).to_have_attribute("data-status", "completed", timeout=20_000)
    expect(status.locator("[data-count=created]")).to_have_text("5")
    expect(status.locator("[data-count=matched]")).to_have_text("1")
    expect(status.locator("[data-count=rejected]")).to_have_text("5")
    expect(page.locator(".rejected-rows li")).to_have_count(5)
    shot("import_4_result")
    job = ImportJob.objects.get(target="customers")
    assert job.status == ImportStatus.COMPLETED
    assert Customer.objects.count() == 6 and known.external_ids.get().key == "P010"

    with page.expect_download() as info:
        page.get_by_test_id("download-rejected-reasons").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_bytes().decode("cp949"))))
    assert rows[0][-1] == "오류" and len(rows) == 6

    # The customers are one click away; the history lists the import.
    page.locator(".import-next a[href='/customers/']").click()
    expect(page.locator("body")).to_contain_text("윤서아")
    page.goto("/data/imports/")
    expect(page.locator(".import-history tbody tr")).to_have_count(1)
    expect(page.locator(".import-history")).to_contain_text("POS_회원목록.csv")
    shot("import_5_history")


CONSULTATIONS = [
    ["회원번호", "상담일시", "채널", "상담유형", "제목", "상담내용", "상담원"],
    ["P001", "2024-03-01 10:15", "전화", "문의", "배송 문의", "언제 도착하나요", "김상담"],
    ["P001", "2024.03.05", "매장", "", "매장 방문", "", ""],
    ["P002", "2024-03-06 14:00", "카카오톡", "불만", "파손 상품", "상자가 찌그러짐", "김상담"],
    ["P404", "2024-03-07", "전화", "", "", "", ""],  # nobody has this member number
    ["P002", "2024-03-08", "팩스", "", "", "", ""],  # not a channel
]


def test_call_center_log_from_upload_to_the_timeline(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any, tmp_path: Path
) -> None:
    manager = make_user("manager", display_name="김매니저")
    make_user("agent", display_name="김상담")
    kim = make_customer(full_name="김민준", external_ids=[("pos", "P001")])
    make_customer(full_name="이서연", external_ids=[("pos", "P002")])
    log = tmp_path / "상담이력.csv"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(CONSULTATIONS)
    log.write_bytes(buf.getvalue().encode("cp949"))
    sign_in(manager.email)

    # 1. Upload: the interactions card says what such a file holds.
    page.goto("/data/imports/new/")
    card = page.locator("label:has(input[name=target][value=interactions])")
    expect(card).to_contain_text("콜센터")
    card.click()
    page.locator("#import-source").fill("pos")
    page.locator("#import-file").set_input_files(str(log))
    shot("import_interactions_1_upload")
    page.locator("form.import-upload button[type=submit]").click()

    # 2. Mapping: every Korean header is recognised.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/mapping/$"))
    expect(page.get_by_test_id("encoding")).to_have_attribute("data-codec", "cp949")
    for column, field in [
        ("col-0", "customer_external_id"),
        ("col-1", "occurred_at"),
        ("col-2", "channel"),
        ("col-3", "kind"),
        ("col-4", "subject"),
        ("col-5", "body"),
        ("col-6", "staff"),
    ]:
        expect(page.locator(f"#{column}")).to_have_value(field)
    shot("import_interactions_2_mapping")
    page.locator("#mapping-form button[type=submit]").click()

    # 3. Preview, then the import itself.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/preview/$"))
    # 팩스 is no channel; P404 is nobody (the dry run's reference check, in the preview too)
    expect(page.locator("td.cell-invalid")).to_have_count(2)
    expect(page.locator("tr[data-line='5'] td.cell-invalid .cell-error")).not_to_be_empty()
    shot("import_interactions_3_preview")
    page.locator("#dry-run button[type=submit]").click()
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "validated")
    expect(status.locator("[data-count=created]")).to_have_text("3")
    expect(status.locator("[data-count=rejected]")).to_have_text("2")
    page.locator("form[action$='/commit/'] button[type=submit]").click()
    expect(status).to_have_attribute("data-status", "completed", timeout=20_000)
    expect(status.locator("[data-count=created]")).to_have_text("3")
    expect(page.locator(".rejected-rows li")).to_have_count(2)
    expect(page.locator(".rejected-rows")).to_contain_text("이 출처에 이 ID의 고객이 없습니다")
    # a value that is no channel says which ones are
    expect(page.locator(".rejected-rows")).to_contain_text("전화")
    expect(page.locator(".rejected-rows")).to_contain_text("매장")
    shot("import_interactions_4_result")

    # The calls are on the customer's timeline, one click from the result.
    expect(page.get_by_test_id("import-next-page")).to_have_attribute("href", "/customers/")
    page.goto(f"/customers/{kim.pk}/")
    expect(page.locator("body")).to_contain_text("배송 문의")
    shot("import_interactions_5_timeline")
