"""A dry run of the organizations import reports what the real run does: the same counters and
the same reasons on the same lines, whatever the chunk size — parents later in the file, chains,
cycles across chunks, parents rejected for other reasons, orphans, the same organization in
several chunks — and also when it stopped and was resumed (ADR 0005, amendment "a parent later
in the file")."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.customers import services as customers
from dangol.customers.models import Address, ContactPoint, ExternalId, Organization
from dangol.integration import services
from dangol.integration.imports import pipeline, targets_org
from dangol.integration.imports.targets_org import OrganizationTarget
from dangol.integration.models import ImportJob, ImportRowError, ImportStatus
from dangol.integration.tests.test_import_leftovers import (
    BIO,
    CHEM,
    ELEC,
    GROUP_HEADER,
    HQ,
    _bn,
    group_file,
)
from dangol.integration.tests.test_import_org_parents_later import (
    CHILDREN_FIRST,
    counters_add_up,
    parent_of,
    write_file,
)
from dangol.integration.tests.test_import_pipeline import run, stop_at_line, write_csv

BAD = HQ[:-1] + str((int(HQ[-1]) + 1) % 10)  # HQ with a wrong check digit

# Each file is imported with chunks of 1, 2, 3 and 100 rows (one chunk), so that a parent and
# its child are in the same chunk or not, and the cycles close in an earlier or the last chunk.
FILES: dict[str, list[list[str]]] = {
    "children before their parent": CHILDREN_FIRST,
    "a chain of four in reverse order": [
        ["G4", "단골증손", "", "G3", ""],
        ["G3", "단골손자", "", "G2", ""],
        ["G2", "단골자회사", "", "G1", ""],
        ["G1", "단골홀딩스", HQ, "", ""],
    ],
    "a cycle across chunks, with a row below it": [
        ["G5", "오각", "", "G6", ""],
        ["G9", "채움", "", "", ""],
        ["G7", "칠각", "", "G5", ""],
        ["G8", "팔각", "", "", ""],
        ["G6", "육각", "", "G5", ""],
    ],
    "a cycle of three, closed by the last row": [
        ["G1", "일", "", "G2", ""],
        ["G2", "이", "", "G3", ""],
        ["G9", "채움", "", "", ""],
        ["G3", "삼", "", "G1", ""],
    ],
    "a cycle through rows accepted in earlier chunks": [
        ["G1", "단골홀딩스", "", "", ""],
        ["G2", "단골자회사", "", "G1", ""],
        ["G3", "단골손자", "", "G2", ""],
        ["G1", "단골홀딩스", "", "G3", ""],  # the holding company under its grandchild
    ],
    "a parent rejected for its business number": [
        ["G2", "단골전자", ELEC, "G1", ""],
        ["G9", "채움", "", "", ""],
        ["G1", "단골홀딩스", BAD, "", ""],  # a wrong check digit
    ],
    "a parent waiting for a parent nobody has": [
        ["G2", "단골전자", ELEC, "G1", ""],
        ["G9", "채움", "", "", ""],
        ["G1", "단골홀딩스", HQ, "G404", ""],
    ],
    "an orphan and its child": [
        ["G5", "고아", "", "G404", ""],
        ["G6", "고아의자식", "", "G5", ""],
        ["G9", "채움", "", "", ""],
    ],
    "a parent's id and number naming two organizations": [
        ["G2", "단골전자", "", "G1", CHEM],
        ["G1", "단골홀딩스", HQ, "", ""],
        ["G3", "단골케미칼", CHEM, "", ""],
    ],
    "the same organization in several chunks": [
        ["G1", "단골홀딩스", HQ, "", ""],
        ["G9", "채움", "", "", ""],
        ["G1", "단골홀딩스", "", "", ""],  # the same again: unchanged (or twice in a chunk)
        ["G7", "단골지주", HQ, "", ""],  # a new id with G1's number: matched to it
        ["G2", "단골전자", ELEC, "G7", ""],  # under G7, which is G1
        ["G3", "단골전자2", ELEC, "", ""],  # G2's number: matched to G2
        ["G1", "단골그룹", "", "", ""],  # renamed: updated
        ["G2", "단골전자", HQ, "", ""],  # G1's number on G2: a duplicate
    ],
}


def reasons_of(job: ImportJob) -> dict[int, list[tuple[str, str]]]:
    return {
        e.line: [(r["field"], r["code"]) for r in e.reasons]
        for e in ImportRowError.objects.filter(job=job)
    }


def base() -> list[Any]:
    """What the base holds of organizations (a dry run must leave it as it is)."""
    return [
        list(Organization.objects.order_by("pk").values_list("pk", "name", "parent_id")),
        ExternalId.objects.count(),
        ContactPoint.objects.count(),
        Address.objects.count(),
    ]


def dry_then_real(actor: Any, path: Path, **kw: Any) -> tuple[ImportJob, ImportJob]:
    """The file's dry run, then its real run from the same base; both finished and consistent,
    and the dry run wrote nothing."""
    before = base()
    dry = run(actor, "organizations", path, dry_run=True, **kw)
    assert dry.status == ImportStatus.VALIDATED
    assert base() == before
    real = run(actor, "organizations", path, **kw)
    assert real.status == ImportStatus.COMPLETED
    assert counters_add_up(dry) and counters_add_up(real)
    return dry, real


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 100])
@pytest.mark.parametrize("name", list(FILES))
def test_the_dry_run_counts_and_rejects_what_the_real_run_does(
    admin: Any, tmp_path: Path, name: str, chunk_size: int
) -> None:
    dry, real = dry_then_real(admin, group_file(tmp_path, FILES[name]), chunk_size=chunk_size)

    assert dry.counts() == real.counts()
    assert reasons_of(dry) == reasons_of(real)


# What the real runs say with one row per chunk, so that the equality above is about the right
# answers (files not listed have no rejected row).
EXPECTED: dict[str, dict[int, list[str]]] = {
    "a cycle across chunks, with a row below it": {
        2: ["parent_rejected"],
        4: ["parent_rejected"],
        6: ["cycle"],
    },
    "a cycle of three, closed by the last row": {
        2: ["parent_rejected"],
        3: ["parent_rejected"],
        5: ["cycle"],
    },
    "a cycle through rows accepted in earlier chunks": {5: ["cycle"]},
    "a parent rejected for its business number": {2: ["parent_not_found"], 4: ["checksum"]},
    "a parent waiting for a parent nobody has": {2: ["parent_rejected"], 4: ["parent_not_found"]},
    "an orphan and its child": {2: ["parent_not_found"], 3: ["parent_rejected"]},
    "a parent's id and number naming two organizations": {2: ["parent_mismatch"]},
    "the same organization in several chunks": {9: ["duplicate"]},
}


@pytest.mark.parametrize("name", list(FILES))
def test_what_the_real_run_reports_for_those_files(admin: Any, tmp_path: Path, name: str) -> None:
    job = run(admin, "organizations", group_file(tmp_path, FILES[name]), chunk_size=1)

    assert {line: [c for _f, c in r] for line, r in reasons_of(job).items()} == EXPECTED.get(
        name, {}
    )
    if name == "the same organization in several chunks":
        assert job.counts() == {
            "rows_read": 8,
            "created": 3,
            "updated": 1,
            "matched": 2,
            "unchanged": 1,
            "rejected": 1,
        }


@pytest.mark.parametrize("fmt", ["jsonl", "xlsx"])
def test_the_dry_run_of_a_json_lines_or_excel_file_too(
    admin: Any, tmp_path: Path, fmt: str
) -> None:
    rows = [*FILES["a cycle across chunks, with a row below it"], *CHILDREN_FIRST]
    dry, real = dry_then_real(admin, write_file(tmp_path, rows, fmt), chunk_size=2)

    assert dry.counts() == real.counts()
    assert reasons_of(dry) == reasons_of(real)
    assert (real.created_count, real.unchanged_count) == (6, 1)  # G9 twice


def test_small_retry_batches_give_the_same_answers(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(targets_org, "RETRY_BATCH", 1)  # one row per retry transaction
    rows = [
        *FILES["a chain of four in reverse order"],
        *FILES["a cycle of three, closed by the last row"],
    ]
    rows[-1:-1] = [["G8", "팔각", "", "G1", ""]]  # waits in the last chunk, then placed

    dry, real = dry_then_real(admin, group_file(tmp_path, rows), chunk_size=2)

    assert dry.counts() == real.counts()
    assert reasons_of(dry) == reasons_of(real)


def test_a_cycle_through_an_organization_of_the_base_in_a_dry_run(
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

    dry, real = dry_then_real(admin, path, chunk_size=1)

    assert {line: [c for _f, c in r] for line, r in reasons_of(real).items()} == {2: ["cycle"]}
    assert reasons_of(dry) == reasons_of(real) and dry.counts() == real.counts()


def test_a_rep_dry_run_finds_what_they_import_as_the_real_run_does(
    make_user: Any, tmp_path: Path
) -> None:
    rep, other = make_user("rep"), make_user("rep")
    customers.create_organization(
        name="남의 그룹",
        business_number=BIO,
        owner=other,
        actor=other,
        external_ids=[("pos", "G8")],
    )
    path = group_file(
        tmp_path,
        [
            ["G2", "단골전자", ELEC, "G1", ""],  # waits for G1
            ["G1", "단골홀딩스", HQ, "", ""],
            ["G1", "단골지주", "", "", ""],  # their own, from an earlier chunk: updated
            ["G3", "단골케미칼", CHEM, "", HQ],  # under G1 by its number
            ["G4", "단골바이오", "", "G8", ""],  # someone else's: not found
            ["G5", "다섯", BIO, "", ""],  # someone else's number
        ],
    )

    dry, real = dry_then_real(rep, path, chunk_size=1)

    assert real.counts() == {
        "rows_read": 6,
        "created": 3,
        "updated": 1,
        "matched": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    assert dry.counts() == real.counts()
    assert reasons_of(dry) == reasons_of(real)


def random_file(rnd: random.Random) -> list[list[str]]:
    """A short file over few ids and numbers, so that ids repeat, parents come before and
    after their children or never, numbers move, and cycles form; with a phone column."""
    ids = ["R1", "R2", "R3", "R4", "R5"]
    numbers = [_bn(f"2028{i:05d}") for i in range(1, 4)]
    return [
        [
            rnd.choice(ids),
            rnd.choice(["가나상사", "다라물산", "마바전자"]),
            rnd.choice(["", "", *numbers, BAD]),
            rnd.choice(["", "", *ids, "R404"]),
            rnd.choice(["", "", "", *numbers]),
            rnd.choice(["", "02-3456-7890", "031-555-0101"]),
        ]
        for _i in range(rnd.randint(3, 9))
    ]


def test_random_files_give_the_same_answers_in_both_runs(admin: Any, tmp_path: Path) -> None:
    """Seeded files: each is dry-run then imported from the base the files before it left (ids
    already known, organizations to match, parents and cycles through the base)."""
    rnd = random.Random(20261123)
    for i in range(24):
        rows = random_file(rnd)
        path = write_csv(tmp_path / f"r{i}.csv", rows, header=[*GROUP_HEADER, "대표전화"])
        chunk_size = rnd.choice([1, 2, 3, 100])

        dry, real = dry_then_real(admin, path, chunk_size=chunk_size)

        assert (dry.counts(), reasons_of(dry)) == (real.counts(), reasons_of(real)), (
            i,
            chunk_size,
            rows,
        )


# --- a dry run that stopped, and a real one ----------------------------------------------------

# With two rows per chunk, the chunk of lines 6-7 fails the first time.
STOPPED = [
    ["G3", "단골손자", "", "G2", ""],  # 2: waits for G2, which comes after the stop
    ["G1", "단골홀딩스", HQ, "", ""],  # 3
    ["G5", "오각", "", "G6", ""],  # 4: waits for G6, which comes after the stop
    ["G8", "팔각", "", "", HQ],  # 5: under G1, from the chunk before
    ["G2", "단골자회사", "", "G1", ""],  # 6: under G1, from before the stop
    ["G6", "육각", "", "G5", ""],  # 7: closes a cycle with a row from before the stop
    ["G1", "단골지주", "", "", ""],  # 8: renames G1, from before the stop: updated
    ["G9", "채움", "", "G8", ""],  # 9: under G8, from before the stop
]
STOPPED_COUNTS = {
    "rows_read": 8,
    "created": 5,
    "updated": 1,
    "matched": 0,
    "unchanged": 0,
    "rejected": 2,
}
STOPPED_CODES = {4: ["parent_rejected"], 7: ["cycle"]}


def run_stopped(actor: Any, path: Path, *, dry_run: bool) -> ImportJob:
    """The job run until it fails at line 6, then resumed (a new process: a new target)."""
    job = services.create_import_job(target="organizations", source="pos", path=path, actor=actor)
    services.start_import(job=job, actor=actor, dry_run=dry_run, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)
    job.refresh_from_db()
    assert (job.status, job.last_committed_line) == (ImportStatus.FAILED, 5)
    assert job.rejected_count == 2  # lines 2 and 4 wait

    services.start_import(job=job, actor=actor, dry_run=dry_run, enqueue=False)
    return services.run_import(job=job, chunk_size=2)


@pytest.mark.parametrize("batch", [20_000, 1])
def test_a_resumed_dry_run_reports_what_the_real_run_does(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(targets_org, "RETRY_BATCH", batch)  # 1: the rebuild carries line 2
    path = group_file(tmp_path, STOPPED)
    stop_at_line(monkeypatch, OrganizationTarget, 6)

    dry = run_stopped(admin, path, dry_run=True)
    assert Organization.objects.count() == 0
    real = run(admin, "organizations", path, chunk_size=2)

    assert dry.status == ImportStatus.VALIDATED and counters_add_up(dry)
    assert dry.counts() == real.counts() == STOPPED_COUNTS
    assert reasons_of(dry) == reasons_of(real)
    if batch > 1:  # one row per retry batch: the cycle's two rows are never tried together
        assert {line: [c for _f, c in r] for line, r in reasons_of(dry).items()} == STOPPED_CODES


def test_a_resumed_real_run_places_rows_that_waited_before_it_stopped(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop_at_line(monkeypatch, OrganizationTarget, 6)

    job = run_stopped(admin, group_file(tmp_path, STOPPED), dry_run=False)

    assert job.status == ImportStatus.COMPLETED and counters_add_up(job)
    assert job.counts() == STOPPED_COUNTS
    assert {line: [c for _f, c in r] for line, r in reasons_of(job).items()} == STOPPED_CODES
    assert (parent_of("G3"), parent_of("G2"), parent_of("G8"), parent_of("G9")) == (
        "G2",
        "G1",
        "G1",
        "G8",
    )
    assert Organization.objects.get(external_ids__key="G1").name == "단골지주"


@pytest.mark.parametrize(
    "name",
    [
        "children before their parent",
        "a chain of four in reverse order",
        "a cycle across chunks, with a row below it",
        "a parent waiting for a parent nobody has",
    ],
)
def test_a_dry_run_that_dies_in_its_retry_resumes_and_reports_what_the_real_run_does(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The dry run retries in ``after_file``, one transaction per batch, as the real run: a
    batch that dies leaves nothing, and the resumed dry run (every chunk committed: no chunk
    left) rebuilds what its chunks and the batches before would have written, then retries the
    rest."""
    monkeypatch.setattr(targets_org, "RETRY_BATCH", 1)
    path = group_file(tmp_path, FILES[name])
    original = OrganizationTarget._settle
    settled: list[int] = []

    def dies_at_the_second_batch(self: Any, *args: Any) -> Any:
        placed = original(self, *args)
        settled.append(len(placed))
        if len(settled) == 2:
            raise RuntimeError("worker lost")  # the first batch is committed, not this one
        return placed

    monkeypatch.setattr(OrganizationTarget, "_settle", dies_at_the_second_batch)
    job = services.create_import_job(target="organizations", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and counters_add_up(job)
    assert job.last_committed_line == len(FILES[name]) + 1  # every chunk committed

    monkeypatch.setattr(OrganizationTarget, "_settle", original)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    dry = services.run_import(job=job, chunk_size=2)
    assert Organization.objects.count() == 0
    real = run(admin, "organizations", path, chunk_size=2)

    assert dry.status == ImportStatus.VALIDATED and counters_add_up(dry)
    assert dry.counts() == real.counts()
    assert reasons_of(dry) == reasons_of(real)


def test_a_dry_run_cancelled_at_its_last_chunk_does_not_retry(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline calls ``after_file`` only once every chunk completed: not after a cancel."""
    job = services.create_import_job(
        target="organizations", source="pos", path=group_file(tmp_path, CHILDREN_FIRST), actor=admin
    )
    original = OrganizationTarget.write

    def cancelled_meanwhile(self: Any, ctx: Any, rows: list[Any]) -> None:
        if rows[0].line == 6:  # the chunk that ends the file
            services.cancel_import(job=ImportJob.objects.get(pk=job.pk), actor=admin)
        original(self, ctx, rows)

    monkeypatch.setattr(OrganizationTarget, "write", cancelled_meanwhile)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    dry = services.run_import(job=job, chunk_size=2)

    assert dry.status == ImportStatus.CANCELLED and counters_add_up(dry)
    assert (dry.created_count, dry.rejected_count) == (2, 3)  # G2, G3, G4 still wait
    assert set(reasons_of(dry)) == {2, 3, 5}


def test_a_preview_during_a_running_dry_run_only_checks_its_rows(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import page shows the preview of a dry run while it runs: it must neither read the
    file again nor retry the job's rows, as the run's own first chunk does."""
    job = services.create_import_job(
        target="organizations", source="pos", path=group_file(tmp_path, STOPPED), actor=admin
    )
    with CaptureQueriesContext(connection) as queries:
        before = pipeline.preview(ImportJob.objects.get(pk=job.pk))
    seen: list[tuple[dict[str, Any], int]] = []
    original = OrganizationTarget.write

    def with_a_preview(self: Any, ctx: Any, rows: list[Any]) -> None:
        if rows[0].line == 6:  # two chunks committed, the job running
            with CaptureQueriesContext(connection) as during:
                checked = pipeline.preview(ImportJob.objects.get(pk=job.pk))
            seen.append((checked, len(during)))
        original(self, ctx, rows)

    monkeypatch.setattr(OrganizationTarget, "write", with_a_preview)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    dry = services.run_import(job=job, chunk_size=2)

    [(during, count)] = seen
    assert during["rows"] == before["rows"] and count == len(queries)
    assert dry.counts() == STOPPED_COUNTS and counters_add_up(dry)


# --- queries ---------------------------------------------------------------------------------


def test_a_dry_run_costs_the_same_queries_whatever_the_number_of_rows(
    admin: Any, tmp_path: Path
) -> None:
    def dry_run_queries(n: int) -> int:
        rows = [
            *([f"K{n}-{i}", f"자회사{i}", "", f"P{n}", ""] for i in range(n)),  # wait for P
            *([f"Q{n}-{i}", f"거래처{i}", "", "", ""] for i in range(n)),
            [f"P{n}", "모회사", "", "", ""],
            *([f"Q{n}-{i}", f"새이름{i}", "", f"P{n}", ""] for i in range(n - 1)),  # updated
        ]
        path = group_file(tmp_path, rows, name=f"{n}.csv")
        with CaptureQueriesContext(connection) as queries:
            job = run(admin, "organizations", path, dry_run=True, chunk_size=n)
        assert (job.created_count, job.updated_count, job.rejected_count) == (2 * n + 1, n - 1, 0)
        return len(queries)

    assert dry_run_queries(3) == dry_run_queries(30)
