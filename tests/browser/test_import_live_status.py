"""The import pages follow the job without a manual reload: a dry run that ends while the preview
polls brings up the "Import the file" button; an import that ends while its page polls drops the
"Importing…" title and the Stop button. The job runs here, in the test, while the page polls
(``jobs`` mark: the job is queued, not run inline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.integration import services
from dangol.integration.models import ImportJob
from dangol.integration.tests import pos_files

pytestmark = [pytest.mark.browser, pytest.mark.jobs]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _empty_queue() -> Any:
    from dangol.jobs import huey

    huey.flush()
    yield
    huey.flush()


def _run_queued_job() -> None:
    """What the worker would do with the job the page started."""
    job = ImportJob.objects.order_by("-pk").first()
    assert job is not None and job.status == "queued"
    services.run_import(job=job)


def test_dry_run_then_import_update_the_page_when_the_job_ends(
    page: Any, make_user: Any, sign_in: Any, tmp_path: Path
) -> None:
    pos_file = pos_files.write_pos_file(tmp_path)
    manager = make_user("manager")
    sign_in(manager.email)
    page.goto("/data/imports/new/")
    page.locator("#import-source").fill("pos")
    page.locator("#import-file").set_input_files(str(pos_file))
    page.locator("form.import-upload button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/mapping/$"))
    page.locator("#mapping-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/preview/$"))

    # The dry run is queued: the preview polls and offers no import yet.
    page.locator("#dry-run button[type=submit]").click()
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "queued")
    commit = page.locator("form[action$='/commit/'] button[type=submit]")
    expect(commit).to_have_count(0)
    _run_queued_job()
    expect(status).to_have_attribute("data-status", "validated")
    expect(commit).to_be_visible()  # no reload by hand

    # The import is queued: its page says so and offers Stop, until the job is over.
    commit.click()
    expect(page).to_have_url(re.compile(r"/data/imports/\d+/$"))
    stop = page.locator("form[action$='/cancel/']")
    expect(status).to_have_attribute("data-status", "queued")
    expect(page.locator("h1.page-title")).to_have_text("가져오는 중…")
    expect(stop).to_have_count(1)
    _run_queued_job()
    expect(status).to_have_attribute("data-status", "completed")
    expect(page.locator("h1.page-title")).to_have_text("가져오기 완료")
    expect(stop).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("이 페이지를 벗어나도")
