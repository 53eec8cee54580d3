"""The import pages say how many pairs of a customer file go to duplicate review: the dry run
before anything is written, the real run after, with the same number and what it means."""

from __future__ import annotations

from typing import Any

from dangol.customers.models import Customer
from dangol.integration.models import DuplicateCandidate, ImportJob, ImportStatus
from dangol.integration.tests.pos_files import (
    POS_ROWS,
    accept_suggestions,
    pos_export_cp949,
    pos_upload,
    run_on_commit,
    upload,
)

# 김민준 of P001 again under another member number, his mobile written another way
AGAIN = ["P011", "김민준", "010 1234 5678", "", "1988-04-12", "남", "2024-03-03", "N"]


def test_the_dry_run_shows_the_pairs_the_import_will_send_to_review(
    client: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client.cookies["django_language"] = "en"
    upload(client, file=pos_upload(content=pos_export_cp949([*POS_ROWS, AGAIN])))
    job = ImportJob.objects.get()
    accept_suggestions(client, job)

    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: client.post(f"/data/imports/{job.pk}/dry-run/"),
    )
    job.refresh_from_db()
    assert (job.status, job.duplicate_count) == (ImportStatus.VALIDATED, 1)
    assert not Customer.objects.exists() and not DuplicateCandidate.objects.exists()
    html = client.get(f"/data/imports/{job.pk}/preview/").content.decode()
    assert "Pairs that would go to duplicate review" in html
    assert 'data-count="duplicates">1<' in html
    assert "does not depend on how the file is split into chunks" in html
    progress = client.get(f"/data/imports/{job.pk}/progress/?format=json").json()
    assert progress["duplicates"] == 1

    run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: client.post(f"/data/imports/{job.pk}/commit/"),
    )
    job.refresh_from_db()
    assert (job.status, job.duplicate_count) == (ImportStatus.COMPLETED, 1)
    assert DuplicateCandidate.objects.count() == 1
    html = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert "Pairs sent to duplicate review" in html and 'data-count="duplicates">1<' in html
    assert 'data-testid="review-duplicates"' in html


def test_other_files_and_running_jobs_show_no_pair_count(client: Any, manager: Any) -> None:
    upload(client)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, dry_run=True)

    html = client.get(f"/data/imports/{job.pk}/preview/").content.decode()

    assert 'data-testid="import-duplicates"' not in html  # not counted before the file's end
