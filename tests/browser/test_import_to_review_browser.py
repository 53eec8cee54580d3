"""A new user's whole way in Korean, in a real browser: a CP949 POS member list with the same
person twice is uploaded, mapped (the mapping saved as a template), previewed, dry-run and
imported; the result names the rejected rows and leads to the pair this import sent to review;
the pair is compared, merged and the merge undone.

``DANGOL_SCREENSHOTS=1`` saves var/screenshots/review_*.png for each step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.customers.models import Customer, RecordStatus
from dangol.integration import services
from dangol.integration.models import CandidateStatus, DuplicateCandidate, MappingTemplate
from dangol.integration.tests import pos_files
from dangol.integration.tests.test_duplicates import engine_pairs

pytestmark = pytest.mark.browser

# 김민준 of P001 again under another member number, his mobile written another way
AGAIN = ["P011", "김민준", "010 1234 5678", "", "1988-04-12", "남", "2024-03-03", "N"]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_pos_file_from_upload_to_the_merged_pair_in_korean(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any, tmp_path: Path
) -> None:
    manager = make_user("manager", display_name="김매니저")
    # a pair already waiting in the queue that has nothing to do with the file
    a = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    b = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.99, "phone")]))
    pos_file = tmp_path / "POS_회원목록.csv"
    pos_file.write_bytes(pos_files.pos_export_cp949([*pos_files.POS_ROWS, AGAIN]))
    sign_in(manager.email)

    # 1. Upload, in Korean.
    page.goto("/data/imports/new/")
    expect(page.locator("h1.page-title")).to_have_text("파일 가져오기")
    page.locator("#import-source").fill("pos")
    page.locator("#import-file").set_input_files(str(pos_file))
    page.locator("form.import-upload button[type=submit]").click()

    # 2. Mapping: the suggestions kept, the mapping saved for the next file.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/mapping/$"))
    expect(page.get_by_test_id("encoding")).to_have_attribute("data-codec", "cp949")
    page.locator("#template-name").fill("POS 회원")
    shot("review_1_mapping")
    page.locator("#mapping-form button[type=submit]").click()

    # 3. Preview: the template is saved; a mobile is shown whole, on one line.
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/preview/$"))
    expect(page.locator(".alert-success")).to_contain_text("POS 회원")
    assert MappingTemplate.objects.filter(source="pos", name="POS 회원").exists()
    mobile = page.locator("tr[data-line='3'] .cell-value", has_text="010-2345-6789")
    expect(mobile).to_have_css("white-space", "nowrap")
    box = mobile.bounding_box()
    assert box is not None and box["height"] < 30  # one line, not 010-2345-/6789
    page.locator("#dry-run button[type=submit]").click()
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "validated")
    expect(status.locator("[data-count=duplicates]")).to_have_text("1")
    shot("review_2_dry_run")

    # 4. Import; the result names each rejected row and leads to this import's pair.
    page.locator("form[action$='/commit/'] button[type=submit]").click()
    expect(status).to_have_attribute("data-status", "completed", timeout=20_000)
    expect(page.locator(".rejected-rows .row-name").first).to_have_text(re.compile(r"^P\d{3} · "))
    expect(page.locator(".rejected-rows")).to_contain_text("P004 · 최유진")
    shot("review_3_result")
    page.get_by_test_id("review-duplicates").click()

    # 5. The queue shows the import's pair only, and says so.
    expect(page).to_have_url(re.compile(r"/data/duplicates/\?import=\d+$"))
    expect(page.get_by_test_id("import-filter")).to_contain_text("POS_회원목록.csv")
    expect(page.locator(".duplicate-pair")).to_have_count(1)
    expect(page.locator(".duplicate-pair")).to_contain_text("P011")
    expect(page.locator(".duplicate-pair")).not_to_contain_text("정하늘")
    shot("review_4_queue")
    page.get_by_test_id("compare").click()

    # 6. Side by side: the evidence is coloured; merge keeping the newer record, then undo.
    expect(page.locator("h1.page-title")).to_contain_text("#")
    expect(page.locator(".evidence-agree").first).to_have_class(re.compile(r"bg-green-lt"))
    cand = DuplicateCandidate.objects.get(origin="import")
    keep = max(cand.left_id, cand.right_id)
    page.locator(f"input[name=survivor][value='{keep}']").check()
    shot("review_5_pair")
    page.locator("form[action$='/merge/'] button[type=submit]").click()
    expect(page.locator(".alert-success")).to_contain_text(f"#{keep}")
    expect(page.get_by_test_id("kept")).to_be_visible()
    expect(page.get_by_test_id("merged-away")).to_contain_text(f"#{keep}")
    gone = min(cand.left_id, cand.right_id)
    assert Customer.objects.get(pk=gone).status == RecordStatus.MERGED
    shot("review_6_merged")
    page.locator("form[action$='/undo/'] button[type=submit]").click()
    expect(page.locator(".alert-success")).to_contain_text("병합을 취소했습니다")
    expect(page.get_by_test_id("kept")).to_have_count(0)
    assert Customer.objects.get(pk=gone).status == RecordStatus.ACTIVE
    cand.refresh_from_db()
    assert cand.status == CandidateStatus.PENDING
