"""The import wizard in a real browser: a CP949 member list from a Korean POS is uploaded,
mapped (the suggestions accepted), previewed, dry-run, imported, and the result read.

``DANGOL_SCREENSHOTS=1`` saves var/screenshots/import_*.png for each step."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.customers.models import Customer
from dangol.integration.models import ImportJob, ImportStatus

pytestmark = pytest.mark.browser


def _fixture_module() -> ModuleType:
    """The POS file generator shared with the page tests (tests/web/test_import_pages.py)."""
    path = Path(__file__).resolve().parents[1] / "web" / "test_import_pages.py"
    spec = importlib.util.spec_from_file_location("_import_pages_fixture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def test_pos_file_from_upload_to_result(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any, tmp_path: Path
) -> None:
    pos = _fixture_module()
    manager = make_user("manager", display_name="김매니저")
    known = make_customer(full_name="김민준", contacts=[("mobile", "010-1111-2222")])
    pos_file = pos.write_pos_file(tmp_path)
    sign_in(manager.email)

    # 1. Upload: customers is chosen, the source is named, the file picked.
    page.goto("/data/imports/new/")
    expect(page.locator("input[name=target][value=customers]")).to_be_checked()
    expect(page.locator("input[name=target][value=organizations]")).to_be_disabled()
    page.locator("#import-source").fill("pos")
    page.locator("#import-file").set_input_files(str(pos_file))
    shot("import_1_upload")
    page.locator("form.import-upload button[type=submit]").click()

    # 2. Mapping: CP949 detected, Korean headers matched, the suggestions accepted.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/mapping/$"))
    expect(page.get_by_test_id("encoding")).to_have_text("cp949")
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
    expect(page.locator("td.cell-invalid")).to_have_count(4)
    expect(page.get_by_test_id("sample-bad")).to_contain_text("4")
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
