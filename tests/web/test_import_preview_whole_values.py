"""The import preview as a new user reads it: a phone number, a date or an amount stays on one
line in a narrow column (not 010-2345-/6789), and a sign-up date the file gives without a time
reads as the day, not as "2021-05-10 00:00" above "In the file: 2021-05-10"."""

from __future__ import annotations

from typing import Any

from dangol.integration.models import ImportJob
from dangol.integration.tests.pos_files import accept_suggestions, upload


def test_the_preview_keeps_numbers_and_dates_whole_and_a_date_without_a_time(
    client: Any, manager: Any
) -> None:
    client.cookies["django_language"] = "ko"
    upload(client)
    job = ImportJob.objects.get()
    accept_suggestions(client, job)

    page = client.get(f"/data/imports/{job.pk}/preview/")
    html = page.content.decode()

    # P002's mobile 01023456789 is shown as stored, on one line
    assert '<span class="text-nowrap cell-value">010-2345-6789</span>' in html
    # a sign-up date given without a time reads as the day (no "00:00" nobody wrote)
    assert '<span class="text-nowrap cell-value">2021-05-10</span>' in html
    assert "2021-05-10 00:00" not in html
    cells = [c for r in page.context["rows"] for c in r["cells"]]
    assert not any(c["nowrap"] for c in cells if c["value"] == "김민준")  # names may wrap
