"""The dry run counts the pairs the real run sends to duplicate review, in the cases where they
used to differ (ADR 0005, amendment "the dry run's count is the real run's"): a 회원번호 repeated
in two chunks, a row changing an existing customer's name that another row's pair depends on,
the probabilistic matcher's unsure rows; and the per-file records go with the job (target hook
``Target.discard``); a job run before the count existed shows it as unknown."""

from __future__ import annotations

import datetime
import importlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from django.apps import apps as django_apps
from django.db import connection

from dangol.customers.models import Customer
from dangol.integration import selectors, services
from dangol.integration.dedupe import matcher
from dangol.integration.imports.targets import CustomerTarget
from dangol.integration.models import (
    DuplicateCandidate,
    ImportJob,
    ImportProposal,
    ImportRowId,
    ImportRowKey,
    ImportStatus,
)
from dangol.integration.tests.test_import_duplicates_in_file import members
from dangol.integration.tests.test_import_duplicates_whatever_the_chunks import (
    stored_pairs,
)
from dangol.integration.tests.test_import_org_dry_run import reasons_of
from dangol.integration.tests.test_import_pipeline import run, stop_at_line


def no_records() -> bool:
    return not (
        ImportRowKey.objects.exists()
        or ImportRowId.objects.exists()
        or ImportProposal.objects.exists()
    )


# --- a 회원번호 twice in the file --------------------------------------------------------------

REPEATED = [
    ["A1", "김민지", "010-1234-5678", "", "1990-03-15", "여"],  # 2: new
    ["B1", "이준호", "010-9876-5432", "", "", ""],  # 3: new
    ["A1", "김민지", "010-1234-5678", "", "1990-03-15", "여"],  # 4: line 2's id again
    ["C1", "김철수", "010-7777-0000", "", "", ""],  # 5: the base's 김철수: matched
    ["C1", "김철수", "010-3333-0000", "", "", ""],  # 6: line 5's id again, a new number
    ["D1", "김철수", "010-3333-0000", "", "", ""],  # 7: new, line 6's number
    ["E1", "김민지", "010-1234-5678", "", "", ""],  # 8: new: a pair with line 2
]


@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_an_id_repeated_in_a_later_chunk_is_rejected_in_both_runs(
    admin: Any, make_customer: Any, tmp_path: Path, chunk_size: int
) -> None:
    # Before: the real run's line 4 updated the customer line 2 created and line 6 gave the
    # base's 김철수 a number (line 7 then paired with him); the dry run saw lines 4 and 6 as new
    # rows: 4 pairs counted, 2 sent (chunks of 2). Within one chunk both were rejected.
    cheolsu = make_customer(full_name="김철수", contacts=[("mobile", "010-7777-0000")])
    path = members(tmp_path / "r.csv", REPEATED)

    dry = run(admin, "customers", path, dry_run=True, chunk_size=chunk_size)
    real = run(admin, "customers", path, chunk_size=chunk_size)

    assert dry.counts() == real.counts()
    assert (real.created_count, real.matched_count, real.rejected_count) == (4, 1, 2)
    expected = {
        4: [("external_id", "duplicate_in_file")],
        6: [("external_id", "duplicate_in_file")],
    }
    assert reasons_of(dry) == reasons_of(real) == expected
    assert dry.duplicate_count == real.duplicate_count == 1
    assert stored_pairs({"cheolsu": cheolsu.pk}) == {frozenset({"A1", "E1"})}
    assert (
        not Customer.objects.get(pk=cheolsu.pk)
        .contact_points.filter(normalized__endswith="33330000")
        .exists()
    )
    assert no_records()


# --- a row renames an existing customer -------------------------------------------------------


@pytest.mark.parametrize("renamer_first", [True, False])
@pytest.mark.parametrize(
    ("before", "after", "pairs"),
    [("이영희", "김영희", 1), ("김영희", "이영희", 0)],  # the rename makes the pair, or unmakes it
)
@pytest.mark.parametrize("chunk_size", [1, 100])
def test_a_renamed_customer_is_compared_as_the_file_leaves_her_in_both_runs(
    admin: Any,
    make_customer: Any,
    tmp_path: Path,
    renamer_first: bool,
    before: str,
    after: str,
    pairs: int,
    chunk_size: int,
) -> None:
    # A landline: the matcher links by mobile or e-mail only, so line "N1" is a new customer
    # that shares a phone key with her. The real run pairs after the file, with her new name;
    # the dry run used to compare with the name she had before.
    her = make_customer(
        full_name=before, contacts=[("phone", "02-555-1234")], external_ids=[("pos", "P1")]
    )
    renamer = ["P1", after, "", "", "", ""]
    newcomer = ["N1", "김영희", "02-555-1234", "", "", ""]
    rows = [renamer, newcomer] if renamer_first else [newcomer, renamer]
    path = members(tmp_path / "n.csv", rows)

    dry = run(admin, "customers", path, dry_run=True, chunk_size=chunk_size)
    real = run(admin, "customers", path, chunk_size=chunk_size)

    assert Customer.objects.get(pk=her.pk).full_name == after
    assert dry.counts() == real.counts()
    assert (real.created_count, real.updated_count) == (1, 1)
    assert dry.duplicate_count == real.duplicate_count == pairs
    assert stored_pairs({"her": her.pk}) == ({frozenset({"N1", "her"})} if pairs else set())
    assert no_records()


def test_a_dry_runs_later_chunk_sees_the_earlier_rename(
    admin: Any, make_customer: Any, tmp_path: Path
) -> None:
    # named back in a later chunk: unchanged as far as the pair goes, in both runs
    her = make_customer(
        full_name="이영희", contacts=[("phone", "02-555-1234")], external_ids=[("pos", "P1")]
    )
    rows = [
        ["P1", "김영희", "", "", "", ""],
        ["N1", "이영희", "02-555-1234", "", "", ""],
        ["P1", "이영희", "", "", "", ""],  # a known id repeated: updates her again (both runs)
    ]
    path = members(tmp_path / "b.csv", rows)

    dry = run(admin, "customers", path, dry_run=True, chunk_size=1)
    real = run(admin, "customers", path, chunk_size=1)

    assert Customer.objects.get(pk=her.pk).full_name == "이영희"
    assert dry.counts() == real.counts() and real.updated_count == 2
    assert dry.duplicate_count == real.duplicate_count == 1


# --- the probabilistic matcher's unsure rows --------------------------------------------------


def run_probabilistic(admin: Any, path: Path, *, dry_run: bool, chunk_size: int) -> ImportJob:
    job = services.create_import_job(target="customers", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, dry_run=dry_run, enqueue=False)
    return services.run_import(
        job=job, matcher=matcher.probabilistic_matcher, chunk_size=chunk_size
    )


@pytest.mark.parametrize("chunk_size", [1, 100])
def test_unsure_rows_are_counted_and_sent_once_in_both_runs(
    admin: Any,
    make_customer: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    chunk_size: int,
) -> None:
    unsure = make_customer(full_name="박지훈", birth_date=datetime.date(1979, 1, 2))
    # two holders of one number: no deterministic match, two rule pairs (one also unsure)
    twins = [
        make_customer(full_name="김민지", contacts=[("mobile", "010-5555-0000")]) for _i in range(2)
    ]

    def fake_link(new: pl.DataFrame, existing: pl.DataFrame, *, threshold: float) -> Any:
        by_name = dict(zip(new["full_name"], new["id"], strict=True))
        found = [
            (by_name.get("박지운"), unsure.pk, 0.93),
            (by_name.get("김민지"), twins[0].pk, 0.9),
        ]
        found = [f for f in found if f[0] is not None]
        return pl.DataFrame(
            {
                "left_id": [f[0] for f in found],
                "right_id": [str(f[1]) for f in found],
                "probability": [f[2] for f in found],
                "match_rule": pl.Series([None] * len(found), dtype=pl.String),
                "gamma_name": [5] * len(found),
            },
            schema_overrides={"left_id": pl.String},
        )

    monkeypatch.setattr(matcher, "link", fake_link)
    path = members(
        tmp_path / "p.csv",
        [
            ["S3", "박지운", "", "", "1979-01-02", ""],  # unsure about 박지훈
            ["S4", "김민지", "010-5555-0000", "", "", ""],  # the rule: both twins
        ],
    )

    with django_capture_on_commit_callbacks(execute=True):
        dry = run_probabilistic(admin, path, dry_run=True, chunk_size=chunk_size)
        assert not DuplicateCandidate.objects.exists()
        real = run_probabilistic(admin, path, dry_run=False, chunk_size=chunk_size)

    names = {"unsure": unsure.pk, "twin_a": twins[0].pk, "twin_b": twins[1].pk}
    expected = {
        frozenset({"S3", "unsure"}),
        frozenset({"S4", "twin_a"}),
        frozenset({"S4", "twin_b"}),
    }
    assert dry.duplicate_count == real.duplicate_count == len(expected)
    assert stored_pairs(names) == expected
    assert selectors.review_pairs_from_import(admin, real) == len(expected)
    unsure_pair = DuplicateCandidate.objects.get(right_id__gt=twins[1].pk, left_id=unsure.pk)
    assert unsure_pair.probability == 0.93 and unsure_pair.evidence["name"] == "jamo_typo"
    assert DuplicateCandidate.objects.get(left_id=twins[0].pk).probability == 1.0  # the rule's
    assert no_records()


# --- the per-file records go with the job -----------------------------------------------------


def test_a_cancelled_job_leaves_none_of_its_records(
    admin: Any, make_customer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_customer(full_name="김철수", contacts=[("mobile", "010-7777-0000")])
    original = CustomerTarget.write
    seen: list[bool] = []

    def cancelled_meanwhile(self: Any, ctx: Any, rows: list[Any]) -> None:
        original(self, ctx, rows)
        if rows[-1].line >= 5:  # the matched row's id (and a dry run's keys) are recorded by now
            seen.append(
                ImportRowId.objects.exists() and (ImportRowKey.objects.exists() or not ctx.dry_run)
            )
            ImportJob.objects.filter(pk=ctx.job_id).update(status=ImportStatus.CANCELLED)

    monkeypatch.setattr(CustomerTarget, "write", cancelled_meanwhile)
    for dry_run in (True, False):
        job = run(admin, "customers", members(tmp_path / "c.csv", REPEATED), dry_run, chunk_size=2)
        assert job.status == ImportStatus.CANCELLED
        assert no_records()
    assert seen == [True, True]


def test_a_finished_dry_run_leaves_none_of_its_records(admin: Any, tmp_path: Path) -> None:
    job = run(admin, "customers", members(tmp_path / "d.csv", REPEATED), True, chunk_size=2)

    assert job.status == ImportStatus.VALIDATED and job.duplicate_count == 1
    assert no_records()


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_failed_job_keeps_what_its_resume_needs_and_no_more_after(
    admin: Any, make_customer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    # A failed job resumes after its last committed chunk (the task's retries, "Start again"):
    # the records of those chunks are what keeps its count and its rejections right.
    make_customer(full_name="김철수", contacts=[("mobile", "010-7777-0000")])
    rows = [*REPEATED[:4], ["A1", "김민지", "010-1234-5678", "", "", ""], *REPEATED[4:]]
    stop_at_line(monkeypatch, CustomerTarget, 6)

    job = services.create_import_job(
        target="customers", source="pos", path=members(tmp_path / "f.csv", rows), actor=admin
    )
    services.start_import(job=job, actor=admin, dry_run=dry_run, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)
    assert ImportRowId.objects.filter(job=job).exists()  # line 2's id (dry) / line 5's (real)
    assert ImportRowKey.objects.filter(job=job).exists() == dry_run  # a dry run's new rows
    services.start_import(job=job, actor=admin, dry_run=dry_run, enqueue=False)
    job = services.run_import(job=job, chunk_size=2)

    assert reasons_of(job) == {
        line: [("external_id", "duplicate_in_file")] for line in (4, 6, 7)
    }  # line 6 repeats line 2's id across the failure
    assert job.duplicate_count == 1
    assert no_records()


def test_starting_again_from_the_top_drops_the_earlier_records(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop_at_line(monkeypatch, CustomerTarget, 6)
    job = services.create_import_job(
        target="customers", source="pos", path=members(tmp_path / "t.csv", REPEATED), actor=admin
    )
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)
    assert ImportRowId.objects.filter(job=job).exists()

    services.start_import(job=job, actor=admin, dry_run=False, enqueue=False)  # from the top

    assert no_records()


# --- jobs from before the count -------------------------------------------------------------


def test_jobs_run_before_the_count_existed_show_it_as_unknown(
    admin: Any, tmp_path: Path, client: Any, api: Any
) -> None:
    migration = importlib.import_module("dangol.integration.migrations.0006_import_file_records")
    path = members(tmp_path / "o.csv", REPEATED[:1])
    old = run(admin, "customers", path)
    new = run(admin, "customers", members(tmp_path / "n.csv", REPEATED[1:2]))
    orders = run(admin, "customers", path, dry_run=True)
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    ImportJob.objects.filter(pk__in=[old.pk, orders.pk]).update(
        finished_at=long_ago, updated_at=long_ago
    )
    ImportJob.objects.filter(pk=orders.pk).update(target="orders")

    migration.unknown_counts(django_apps, SimpleNamespace(connection=connection))

    counts = dict(ImportJob.objects.values_list("pk", "duplicate_count"))
    assert (counts[old.pk], counts[new.pk], counts[orders.pk]) == (None, 0, 0)
    token = api(admin)
    assert token.get(f"/api/v1/imports/{old.pk}").json()["duplicates"] is None
    assert token.get(f"/api/v1/imports/{new.pk}").json()["duplicates"] == 0
    client.force_login(admin)
    page = client.get(f"/data/imports/{old.pk}/").content.decode()
    assert 'data-count="duplicates"><span title=' in page and "—</span>" in page
    page = client.get(f"/data/imports/{new.pk}/").content.decode()
    assert 'data-count="duplicates">0</div>' in page
