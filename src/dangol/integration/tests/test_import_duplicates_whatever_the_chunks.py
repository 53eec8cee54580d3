"""Duplicates inside a customer file come out the same whatever its chunks, and a dry run
reports them: the rows of a file are never linked to each other (each becomes a customer), they
are compared with the customers as they were before the import and with every other row, and
the pairs the real run sends to the duplicate review queue are the pairs the dry run counts
(``ImportJob.duplicate_count``), in a run stopped and resumed too (ADR 0005, amendment "in-file
duplicates whatever the chunks")."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.customers.models import Customer, ExternalId
from dangol.integration import selectors, services
from dangol.integration.dedupe import infile
from dangol.integration.imports.identity import MatchCandidate, deterministic_matcher
from dangol.integration.imports.targets import CustomerTarget
from dangol.integration.models import DuplicateCandidate, ImportJob, ImportRowKey, ImportStatus
from dangol.integration.tests.test_import_duplicates_in_file import members
from dangol.integration.tests.test_import_org_dry_run import reasons_of
from dangol.integration.tests.test_import_org_parents_later import counters_add_up
from dangol.integration.tests.test_import_pipeline import run, stop_at_line

BORN = "1990-03-15"
# line: what the row is (the base: 김철수 on 010-7777-0000, two 김민지 sharing 010-5555-0000)
ROWS = [
    ["M0001", "김민지", "010-1234-5678", "minji@example.com", BORN, "여"],  # 2
    ["M0002", "이준호", "010-9876-5432", "", "1985-07-02", "남"],  # 3
    ["M0003", "김민지", "010 1234 5678", "", BORN, "여"],  # 4: line 2 again: a pair
    ["M0004", "박영희", "010-1234-5678", "", "1962-01-01", "여"],  # 5: her mother: no pair
    ["M0005", "김철수", "010-7777-0000", "", "", ""],  # 6: the base's 김철수: matched
    ["M0006", "김민지", "010-5555-0000", "", BORN, "여"],  # 7: two in the base hold it: 2 pairs
    ["M0007", "김민지", "", "MINJI@example.com", BORN, ""],  # 8: line 2's e-mail: a pair
    ["M0008", "김철수", "010-7777-0000", "cs@example.com", "", ""],  # 9: matched, adds an e-mail
    ["M0009", "김철수", "", "cs@example.com", "", ""],  # 10: the e-mail line 9 gave him: a pair
]
COUNTS = {
    "rows_read": 9,
    "created": 7,
    "updated": 0,
    "matched": 2,
    "unchanged": 0,
    "rejected": 0,
}


@pytest.fixture
def base(make_customer: Any) -> dict[str, int]:
    """The customers before the import, by a name for the test."""
    cheolsu = make_customer(
        full_name="김철수",
        birth_date=datetime.date(1980, 1, 1),
        contacts=[("mobile", "010-7777-0000")],
    )
    shared = [
        make_customer(full_name="김민지", contacts=[("mobile", "010-5555-0000")]),
        make_customer(
            full_name="김민지",
            birth_date=datetime.date(1990, 3, 15),
            contacts=[("mobile", "010-5555-0000")],
        ),
    ]
    return {"cheolsu": cheolsu.pk, "minji_a": shared[0].pk, "minji_b": shared[1].pk}


def who(pk: int, base: dict[str, int]) -> str:
    """A customer as the test names it: an id of the file, or the base's name."""
    ext = ExternalId.objects.filter(customer_id=pk, source="pos").values_list("key", flat=True)
    keys = sorted(ext)
    for name, base_pk in base.items():
        if base_pk == pk:
            return name
    assert len(keys) == 1, keys
    return keys[0]


def stored_pairs(base: dict[str, int]) -> set[frozenset[str]]:
    return {
        frozenset({who(c.left_id, base), who(c.right_id, base)})
        for c in DuplicateCandidate.objects.all()
    }


EXPECTED_PAIRS = {
    frozenset({"M0001", "M0003"}),
    frozenset({"M0001", "M0007"}),
    frozenset({"M0006", "minji_a"}),
    frozenset({"M0006", "minji_b"}),
    frozenset({"M0009", "cheolsu"}),
}


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 100])
def test_the_dry_run_counts_the_pairs_the_real_run_sends_to_review(
    admin: Any, base: dict[str, int], tmp_path: Path, chunk_size: int
) -> None:
    path = members(tmp_path / "m.csv", ROWS)

    dry = run(admin, "customers", path, dry_run=True, chunk_size=chunk_size)
    assert dry.status == ImportStatus.VALIDATED
    assert (Customer.objects.count(), DuplicateCandidate.objects.count()) == (3, 0)
    real = run(admin, "customers", path, chunk_size=chunk_size)

    assert real.status == ImportStatus.COMPLETED
    assert counters_add_up(dry) and counters_add_up(real)
    assert dry.counts() == real.counts() == COUNTS
    assert reasons_of(dry) == reasons_of(real) == {}
    assert dry.duplicate_count == real.duplicate_count == len(EXPECTED_PAIRS)
    assert stored_pairs(base) == EXPECTED_PAIRS
    assert selectors.review_pairs_from_import(admin, real) == len(EXPECTED_PAIRS)
    assert not ImportRowKey.objects.exists()  # the per-file records go with the file


def test_a_row_is_never_linked_to_an_earlier_chunks_row(
    admin: Any, base: dict[str, int], tmp_path: Path
) -> None:
    # one row per chunk: before, line 4 (and line 5, her mother, renaming her) were matched to
    # the customer line 2 had created, because that one was in the base by then
    job = run(admin, "customers", members(tmp_path / "m.csv", ROWS), chunk_size=1)

    first, again, mother = (
        Customer.objects.get(external_ids__source="pos", external_ids__key=k)
        for k in ("M0001", "M0003", "M0004")
    )
    assert len({first.pk, again.pk, mother.pk}) == 3
    assert (first.full_name, mother.full_name) == ("김민지", "박영희")
    assert job.matched_count == 2  # the base's 김철수, twice
    cheolsu = Customer.objects.get(pk=base["cheolsu"])
    assert set(cheolsu.external_ids.values_list("key", flat=True)) == {"M0005", "M0008"}


def test_a_number_more_than_ten_rows_share_pairs_nobody_whatever_the_chunks(
    admin: Any, tmp_path: Path
) -> None:
    # the shop's own number typed for eleven walk-in customers of the same name
    shop = [[f"W{i:03}", "손님", "031-123-4567", "", "", ""] for i in range(infile.MAX_HOLDERS + 1)]
    path = members(tmp_path / "w.csv", shop)

    ten = members(tmp_path / "t.csv", shop[:10])
    # ten holders are still evidence (45 pairs), in one chunk or in ten
    assert run(admin, "customers", ten, dry_run=True, chunk_size=1).duplicate_count == 45
    assert run(admin, "customers", ten, dry_run=True, chunk_size=100).duplicate_count == 45

    counts = [
        run(admin, "customers", path, dry_run=True, chunk_size=size).duplicate_count
        for size in (1, 5, 100)
    ]
    real = run(admin, "customers", path, chunk_size=5)

    assert counts == [0, 0, 0] and real.duplicate_count == 0
    assert not DuplicateCandidate.objects.exists()


# --- stopped and resumed ----------------------------------------------------------------------


def run_stopped(actor: Any, path: Path, *, dry_run: bool, chunk_size: int) -> ImportJob:
    job = services.create_import_job(target="customers", source="pos", path=path, actor=actor)
    services.start_import(job=job, actor=actor, dry_run=dry_run, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=chunk_size)
    job.refresh_from_db()
    assert (job.status, job.last_committed_line) == (ImportStatus.FAILED, 5)
    # what the committed chunks left for the pairing: a dry run's rows, a real run's customers
    if dry_run:
        assert ImportRowKey.objects.filter(job=job).exists()
    else:
        assert len(job.created_ids) == 2 and Customer.objects.count() == 3 + 4

    services.start_import(job=job, actor=actor, dry_run=dry_run, enqueue=False)
    return services.run_import(job=job, chunk_size=chunk_size)


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_resumed_run_reports_what_an_uninterrupted_one_does(
    admin: Any, base: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    # lines 2-5 committed: line 4's pair with line 2 is among them
    stop_at_line(monkeypatch, CustomerTarget, 6)

    job = run_stopped(admin, members(tmp_path / "m.csv", ROWS), dry_run=dry_run, chunk_size=2)

    assert job.status == (ImportStatus.VALIDATED if dry_run else ImportStatus.COMPLETED)
    assert job.counts() == COUNTS
    assert job.duplicate_count == len(EXPECTED_PAIRS)
    assert stored_pairs(base) == (set() if dry_run else EXPECTED_PAIRS)
    assert not ImportRowKey.objects.exists()


def test_a_run_started_again_from_the_top_forgets_the_stopped_ones_rows(
    admin: Any, base: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop_at_line(monkeypatch, CustomerTarget, 6)
    path = members(tmp_path / "m.csv", ROWS)
    job = services.create_import_job(target="customers", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=2)

    # the stopped dry run is not resumed by a real run: that starts from the top
    services.start_import(job=job, actor=admin, dry_run=False, enqueue=False)
    job = services.run_import(job=job, chunk_size=2)

    assert job.counts() == COUNTS
    assert job.duplicate_count == len(EXPECTED_PAIRS)
    assert stored_pairs(base) == EXPECTED_PAIRS


def test_a_cancelled_run_leaves_no_per_file_records(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = CustomerTarget.write

    def cancelled_meanwhile(self: Any, ctx: Any, rows: list[Any]) -> None:
        original(self, ctx, rows)
        ImportJob.objects.filter(pk=ctx.job_id).update(status=ImportStatus.CANCELLED)

    monkeypatch.setattr(CustomerTarget, "write", cancelled_meanwhile)
    job = run(admin, "customers", members(tmp_path / "m.csv", ROWS), chunk_size=2)

    assert (job.status, job.rows_read, job.duplicate_count) == (ImportStatus.CANCELLED, 2, 0)
    assert not ImportRowKey.objects.exists()


# --- the matcher and the queries -------------------------------------------------------------


def test_the_matcher_leaves_out_the_contact_points_an_import_wrote(
    admin: Any, make_customer: Any, tmp_path: Path
) -> None:
    job = run(admin, "customers", members(tmp_path / "m.csv", ROWS[:1]))
    minji = ExternalId.objects.get(source="pos", key="M0001").customer_id
    assert ImportJob.objects.get(pk=job.pk).created_ids == [[minji, minji]]
    row = MatchCandidate(index=0, external_id="X", mobile_keys=["+821012345678"])

    assert deterministic_matcher([row], None) == {0: minji}
    assert deterministic_matcher([row], None, job_id=job.pk) == {}  # its own customer

    # a number the import added to an existing customer (a row matched to him by his e-mail)
    other = make_customer(full_name="이준호", contacts=[("email", "junho@example.com")])
    junho = ["J1", "이준호", "010-9876-5432", "junho@example.com", "", ""]
    added = run(admin, "customers", members(tmp_path / "a.csv", [junho]))
    assert added.matched_count == 1
    ImportRowKey.objects.create(
        job=added,
        line=0,
        linked=True,
        customer_id=other.pk,
        field="phone",
        match_key="+821098765432",
    )  # fmt: skip  (as while the job ran: the records go when the file is paired)
    his = MatchCandidate(index=0, external_id="Y", mobile_keys=["+821098765432"])
    assert deterministic_matcher([his], None) == {0: other.pk}
    assert deterministic_matcher([his], None, job_id=added.pk) == {}


def test_pairing_a_file_costs_the_same_queries_whatever_its_rows(
    admin: Any, tmp_path: Path
) -> None:
    def queries(n: int) -> int:
        job = services.create_import_job(
            target="customers", source="pos", path=members(tmp_path / f"q{n}.csv", []), actor=admin
        )
        family = [(line, f"+8210400{line // 2:05}") for line in range(2, n + 2)]  # twins
        infile.remember(
            job.pk,
            [
                (
                    line,
                    infile.Person(0, "김민지", datetime.date(1990, 3, 15), "F", {("phone", key)}),
                )
                for line, key in family
            ],
        )
        with CaptureQueriesContext(connection) as captured:
            count = infile.finish_file(job.pk, dry_run=True)
        assert count > 0
        return len(captured.captured_queries)

    assert queries(5) == queries(60)


@pytest.mark.parametrize("batch", [1, 2])
def test_small_pairing_batches_find_the_same_pairs(
    admin: Any,
    base: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
) -> None:
    monkeypatch.setattr(infile, "PAIR_BATCH", batch)
    path = members(tmp_path / "m.csv", ROWS)

    dry = run(admin, "customers", path, dry_run=True, chunk_size=3)
    real = run(admin, "customers", path, chunk_size=3)

    assert dry.duplicate_count == real.duplicate_count == len(EXPECTED_PAIRS)
    assert stored_pairs(base) == EXPECTED_PAIRS


# --- what people see --------------------------------------------------------------------------


def test_the_command_prints_the_pairs_of_a_dry_run(
    admin: Any, base: dict[str, int], tmp_path: Path
) -> None:
    import io

    out = io.StringIO()
    path = members(tmp_path / "m.csv", ROWS)
    call_command(
        "import_data", "customers", str(path), "--source", "pos", "--dry-run",
        "--chunk-size", "2", stdout=out,
    )  # fmt: skip

    assert "pairs for duplicate review: 5 (would go to the review queue" in out.getvalue()
    assert not DuplicateCandidate.objects.exists()
