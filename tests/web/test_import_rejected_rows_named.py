"""What a new user met on the import result with a Korean POS file: the result and the dry run
name each rejected row (its member number and name), and the download's reasons say which
values a choice takes, as the page does."""

from __future__ import annotations

import csv
import io
from typing import Any

from dangol.integration.tests.pos_files import (
    POS_ROWS,
    import_pos_rows,
)

# a gender written as a code Dangol does not read (1-4, the resident number's 7th digit, it
# does): rejected, with the values that would do
CODED = ["P012", "오하늘", "010-4444-5555", "", "1990-01-01", "5", "2024-03-03", "N"]


def test_rejected_rows_are_named_and_the_download_says_what_a_choice_takes(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client.cookies["django_language"] = "ko"
    job = import_pos_rows(client, django_capture_on_commit_callbacks, [*POS_ROWS, CODED])

    # the result page says which row each rejection is: its member number and name
    html = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert '<span class="me-2 row-name">P012 · 오하늘</span>' in html
    assert '<span class="me-2 row-name">P004 · 최유진</span>' in html
    # the download's reasons column lists the values the gender takes, as the page does
    raw = client.get(f"/data/imports/{job.pk}/rejected/?reasons=1").content
    rows = list(csv.reader(io.StringIO(raw.decode("cp949"))))
    coded = next(r for r in rows if r[0] == "P012")
    assert coded[-1].startswith("성별: ") and "쓸 수 있는 값: " in coded[-1]
    assert "여" in coded[-1].split("쓸 수 있는 값: ")[1]
