"""Organizations whose parent row comes later in the file, in a later chunk: the rows rejected
for want of their parent are tried again after the last chunk (ADR 0005, amendment "parents
later in the file")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.core.models import ChangeLog
from dangol.customers import services as customers
from dangol.customers.models import Organization
from dangol.integration import selectors, services
from dangol.integration.imports import pipeline, targets_org
from dangol.integration.imports.readers import Reader
from dangol.integration.imports.targets_org import OrganizationTarget
from dangol.integration.models import ImportJob, ImportRowError, ImportStatus
from dangol.integration.tests.test_import_leftovers import (
    BIO,
    CHEM,
    ELEC,
    GROUP_HEADER,
    HQ,
    group_file,
)
from dangol.integration.tests.test_import_pipeline import rejected_lines, run, write_table

# children first, their parent last: with two rows per chunk the parent is in the third chunk
CHILDREN_FIRST = [
    ["G2", "단골전자", ELEC, "G1", ""],  # by the parent's id
    ["G3", "단골케미칼", CHEM, "", HQ],  # by the parent's business number
    ["G9", "채움", "", "", ""],
    ["G4", "단골바이오", BIO, "G1", HQ],  # by both
    ["G1", "단골홀딩스", HQ, "", ""],
]


def parent_of(key: str) -> str | None:
    org = Organization.objects.select_related("parent").get(external_ids__key=key)
    return org.parent.external_ids.get().key if org.parent else None


def counters_add_up(job: ImportJob) -> bool:
    counts = job.counts()
    outcomes = ("created", "updated", "matched", "unchanged", "rejected")
    return sum(counts[k] for k in outcomes) == counts["rows_read"] and job.rejected_count == (
        ImportRowError.objects.filter(job=job).count()
    )


def write_file(tmp_path: Path, rows: list[list[str]], fmt: str) -> Path:
    """The rows as a CSV (CP949), JSON Lines or XLSX file with ``GROUP_HEADER``."""
    if fmt == "csv":
        return group_file(tmp_path, rows)
    return write_table(tmp_path / f"g.{fmt}", rows, GROUP_HEADER)


# --- the real run ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_children_before_their_parent_in_earlier_chunks_are_all_imported(
    admin: Any, tmp_path: Path, fmt: str
) -> None:
    path = write_file(tmp_path, CHILDREN_FIRST, fmt)

    job = run(admin, "organizations", path, chunk_size=2)

    assert job.status == ImportStatus.COMPLETED
    assert (job.rows_read, job.created_count, job.rejected_count) == (5, 5, 0), rejected_lines(job)
    assert counters_add_up(job)
    assert {k: parent_of(k) for k in ("G1", "G2", "G3", "G4", "G9")} == {
        "G1": None,
        "G2": "G1",
        "G3": "G1",
        "G4": "G1",
        "G9": None,
    }
    retried = ChangeLog.objects.get(action="import.chunk_committed", after__retry=1)
    first = 1 if fmt == "jsonl" else 2  # JSON Lines has no header line
    after = retried.after or {}
    assert after["created_count"] == 3
    assert after["lines"] == [first, first + 3]


@pytest.mark.parametrize(("chunk_size", "batch"), [(1, 20_000), (2, 20_000), (1, 1)])
def test_a_three_level_chain_in_reverse_order_is_imported(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int, batch: int
) -> None:
    monkeypatch.setattr(targets_org, "RETRY_BATCH", batch)  # 1: one row per retry transaction
    path = group_file(
        tmp_path,
        [
            ["G3", "단골손자", "", "G2", ""],  # grandchild
            ["G2", "단골자회사", "", "G1", ""],  # child
            ["G1", "단골홀딩스", HQ, "", ""],  # the root, last
        ],
    )

    job = run(admin, "organizations", path, chunk_size=chunk_size)

    assert (job.created_count, job.rejected_count) == (3, 0), rejected_lines(job)
    assert counters_add_up(job)
    assert (parent_of("G3"), parent_of("G2"), parent_of("G1")) == ("G2", "G1", None)


def test_a_child_whose_parent_is_missing_stays_rejected_and_downloadable(
    admin: Any, tmp_path: Path
) -> None:
    path = group_file(
        tmp_path,
        [
            ["G5", "고아", "", "G404", ""],  # nobody in the file or the base
            ["G6", "고아의자식", "", "G5", ""],  # below the orphan: its parent's row is rejected
            *CHILDREN_FIRST,
        ],
    )

    job = run(admin, "organizations", path, chunk_size=2)

    assert rejected_lines(job) == {2: ["parent_not_found"], 3: ["parent_rejected"]}
    assert (job.rows_read, job.created_count, job.rejected_count) == (7, 5, 2)
    assert counters_add_up(job)
    assert not Organization.objects.filter(external_ids__key__in=["G5", "G6"]).exists()
    content, name, _ctype = selectors.rejected_rows_file(job)
    out = tmp_path / name
    out.write_bytes(content)
    assert [r.raw[0] for r in Reader(out.open("rb"), job.format)] == ["G5", "G6"]


def test_reimporting_the_same_file_changes_nothing(admin: Any, tmp_path: Path) -> None:
    path = group_file(tmp_path, [["G5", "고아", "", "G404", ""], *CHILDREN_FIRST])
    run(admin, "organizations", path, chunk_size=2)
    before = list(Organization.objects.order_by("pk").values_list("pk", "name", "parent_id"))

    again = run(admin, "organizations", path, chunk_size=2)

    assert again.counts() == {
        "rows_read": 6,
        "created": 0,
        "updated": 0,
        "matched": 0,
        "unchanged": 5,
        "rejected": 1,
    }
    assert rejected_lines(again) == {2: ["parent_not_found"]}
    assert list(Organization.objects.order_by("pk").values_list("pk", "name", "parent_id")) == (
        before
    )


def test_a_cycle_across_chunks_is_still_rejected(admin: Any, tmp_path: Path) -> None:
    path = group_file(
        tmp_path,
        [
            ["G5", "오각", "", "G6", ""],  # G5 → G6 → G5, two chunks apart:
            ["G9", "채움", "", "", ""],
            ["G1", "단골홀딩스", HQ, "", ""],
            ["G6", "육각", "", "G5", ""],  # the row that closes the cycle goes,
        ],  # and G5 has no parent to point to then
    )

    job = run(admin, "organizations", path, chunk_size=1)

    assert rejected_lines(job) == {2: ["parent_rejected"], 5: ["cycle"]}
    assert (job.created_count, job.rejected_count) == (2, 2) and counters_add_up(job)
    assert not Organization.objects.filter(external_ids__key__in=["G5", "G6"]).exists()


def test_a_cycle_through_an_organization_of_the_base_is_rejected_on_retry(
    admin: Any, tmp_path: Path
) -> None:
    customers.create_organization(
        name="단골홀딩스", business_number=HQ, actor=admin, external_ids=[("pos", "G1")]
    )
    path = group_file(
        tmp_path,
        [
            ["G1", "단골홀딩스", "", "G2", ""],  # under G2, which comes later ...
            ["G2", "단골전자", "", "G1", ""],  # ... and is created under G1
        ],
    )

    job = run(admin, "organizations", path, chunk_size=1)

    assert rejected_lines(job) == {2: ["cycle"]}
    assert (parent_of("G2"), parent_of("G1")) == ("G1", None)
    assert counters_add_up(job)


def test_the_same_id_twice_before_its_parent_is_written_in_file_order(
    admin: Any, tmp_path: Path
) -> None:
    path = group_file(
        tmp_path,
        [
            ["G2", "옛이름", "", "G1", ""],
            ["G2", "새이름", "", "G1", ""],  # a later row updates the earlier one
            ["G1", "단골홀딩스", HQ, "", ""],
        ],
    )

    job = run(admin, "organizations", path, chunk_size=1)

    assert (job.created_count, job.updated_count, job.rejected_count) == (2, 1, 0)
    assert Organization.objects.get(external_ids__key="G2").name == "새이름"
    assert parent_of("G2") == "G1"


def test_a_job_that_dies_in_the_retry_leaves_nothing_half_done_and_resumes(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = group_file(tmp_path, CHILDREN_FIRST)
    original = OrganizationTarget._settle

    def dies(self: Any, *args: Any) -> Any:
        original(self, *args)  # the batch is written and settled ...
        raise RuntimeError("worker lost")  # ... and then its transaction dies

    monkeypatch.setattr(OrganizationTarget, "_settle", dies)
    job = services.create_import_job(target="organizations", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert (job.created_count, job.rejected_count) == (2, 3) and counters_add_up(job)
    assert Organization.objects.count() == 2  # G9 and G1: nothing of the retry

    monkeypatch.setattr(OrganizationTarget, "_settle", original)
    services.start_import(job=job, actor=admin, enqueue=False)
    job = services.run_import(job=job, chunk_size=2)

    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.COMPLETED, 5, 0)
    assert counters_add_up(job) and Organization.objects.count() == 5


def test_a_job_that_fails_in_a_chunk_does_not_retry_until_it_is_resumed(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = group_file(tmp_path, CHILDREN_FIRST)
    original = OrganizationTarget.write

    def flaky(self: Any, ctx: Any, rows: list[Any]) -> None:
        if rows[0].line == 6:
            raise RuntimeError("worker lost")
        original(self, ctx, rows)

    monkeypatch.setattr(OrganizationTarget, "write", flaky)
    job = services.create_import_job(target="organizations", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)
    job.refresh_from_db()
    assert (job.last_committed_line, job.created_count, job.rejected_count) == (5, 1, 3)

    monkeypatch.setattr(OrganizationTarget, "write", original)
    services.start_import(job=job, actor=admin, enqueue=False)
    job = services.run_import(job=job, chunk_size=2)

    assert (job.created_count, job.rejected_count) == (5, 0) and counters_add_up(job)


def test_a_retry_pass_costs_the_same_queries_whatever_the_number_of_rows(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OrganizationTarget, "after_file", lambda self, ctx: None)

    def retry_queries(n: int) -> int:
        rows = [[f"K{n}-{i}", f"자회사{i}", "", f"P{n}", ""] for i in range(n)]
        path = group_file(tmp_path, [*rows, [f"P{n}", "모회사", "", "", ""]], name=f"{n}.csv")
        job = run(admin, "organizations", path, chunk_size=n)
        assert job.rejected_count == n  # the retry did not run (``after_file`` is off)
        mapping = pipeline.effective_mapping(job, job.header)
        ctx = pipeline._context(job, dry_run=False, matcher=None, fields=mapping.fields)
        with CaptureQueriesContext(connection) as queries:
            assert OrganizationTarget(mapping.fields).retry_waiting_rows(ctx) == n
        job.refresh_from_db()
        assert (job.created_count, job.rejected_count) == (n + 1, 0) and counters_add_up(job)
        return len(queries)

    assert retry_queries(3) == retry_queries(30)


# --- the dry run -------------------------------------------------------------------------------


def test_a_dry_run_reports_what_the_real_run_does(admin: Any, tmp_path: Path) -> None:
    path = group_file(
        tmp_path,
        [
            ["G7", "손자", "", "G6", ""],  # a chain in reverse order, a chunk apart each
            ["G5", "고아", "", "G404", ""],
            ["G6", "자회사", "", "G4", ""],
            *CHILDREN_FIRST,
        ],
    )

    dry = run(admin, "organizations", path, dry_run=True, chunk_size=2)
    assert Organization.objects.count() == 0
    job = run(admin, "organizations", path, chunk_size=2)

    assert dry.status == ImportStatus.VALIDATED
    assert (dry.created_count, dry.rejected_count) == (job.created_count, job.rejected_count)
    assert (job.created_count, job.rejected_count) == (7, 1)
    assert rejected_lines(dry) == rejected_lines(job) == {3: ["parent_not_found"]}
    assert counters_add_up(dry) and counters_add_up(job)
    assert (parent_of("G7"), parent_of("G6")) == ("G6", "G4")


def test_a_dry_run_rejects_a_cycle_across_chunks_too(admin: Any, tmp_path: Path) -> None:
    path = group_file(
        tmp_path,
        [
            ["G5", "오각", "", "G6", ""],
            ["G9", "채움", "", "", ""],
            ["G6", "육각", "", "G5", ""],
        ],
    )

    dry = run(admin, "organizations", path, dry_run=True, chunk_size=1)
    job = run(admin, "organizations", path, chunk_size=1)

    assert (dry.created_count, dry.rejected_count) == (1, 2) and counters_add_up(dry)
    # the row closing the cycle is named, as in the real run, and the other one has no parent
    assert rejected_lines(dry) == rejected_lines(job) == {2: ["parent_rejected"], 4: ["cycle"]}
