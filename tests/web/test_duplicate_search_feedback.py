"""A click on "Search for duplicates" shows the search at once: its run is stored as running
before the job worker picks it up, so the queue's status line names it and polls until it ends
(it used to show the previous search as completed, and nothing changed until a reload by hand).
The job then fills that same run."""

from __future__ import annotations

from typing import Any

from dangol.integration import services
from dangol.integration.models import DedupeRun, DedupeRunStatus
from dangol.integration.tests.test_duplicates import engine_pairs


def test_the_queue_follows_the_search_from_the_click_on(
    client: Any, admin: Any, make_customer: Any
) -> None:
    client.force_login(admin)
    a = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    b = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    earlier = services.find_duplicates(finder=engine_pairs([]))  # a search finished before
    assert earlier.status == DedupeRunStatus.COMPLETED

    # the click: the job is queued for after the commit (no worker has run it yet)
    page = client.post("/data/duplicates/search/", follow=True).content.decode()

    run = DedupeRun.objects.exclude(pk=earlier.pk).get()
    assert (run.status, run.started_by) == (DedupeRunStatus.RUNNING, admin)
    assert 'id="search-status" data-status="running"' in page
    assert 'hx-get="/data/duplicates/?part=search"' in page  # the line polls

    # the worker's job fills the same run, and the poll reloads the page
    done = services.find_duplicates(
        finder=engine_pairs([(a.pk, b.pk, 0.99, "phone")]), run_id=run.pk
    )
    assert done.pk == run.pk and DedupeRun.objects.count() == 2
    run.refresh_from_db()
    assert (run.status, run.created_count, run.started_by) == (
        DedupeRunStatus.COMPLETED,
        1,
        admin,
    )
    poll = client.get("/data/duplicates/?part=search", headers={"HX-Request": "true"})
    assert poll["HX-Refresh"] == "true"


def test_the_api_stores_the_run_it_queues(api: Any, admin: Any) -> None:
    response = api(admin).post("/api/v1/duplicates/runs")

    assert response.status_code == 202
    run = DedupeRun.objects.get()
    assert (run.status, run.started_by) == (DedupeRunStatus.RUNNING, admin)
    listed = api(admin).get("/api/v1/duplicates/runs").json()
    assert [r["status"] for r in listed] == ["running"]


def test_a_retried_job_runs_its_failed_run_again(admin: Any) -> None:
    run = services.start_duplicate_search(actor=admin)
    DedupeRun.objects.filter(pk=run.pk).update(
        status=DedupeRunStatus.FAILED, error_message="worker lost"
    )

    services.find_duplicates(finder=engine_pairs([]), run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.error_message) == (DedupeRunStatus.COMPLETED, "")
    assert DedupeRun.objects.count() == 1
