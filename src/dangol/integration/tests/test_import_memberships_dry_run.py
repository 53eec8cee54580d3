"""A dry run of the memberships import reports what the real run does, whatever the chunk size:
a (customer, organization) pair an earlier chunk would have written is updated or unchanged,
not created again, and a later chunk's primary contact unsets the organization's others; and so
does a dry run that stopped and was resumed (it rebuilds what its committed chunks would have
written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dangol.customers.models import OrganizationMembership
from dangol.integration import services
from dangol.integration.imports import targets_org
from dangol.integration.imports.targets_org import MembershipTarget
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_org_dry_run import reasons_of
from dangol.integration.tests.test_import_org_parents_later import counters_add_up
from dangol.integration.tests.test_import_pipeline import ROWS, run, stop_at_line, write_csv
from dangol.integration.tests.test_import_targets_org import MEMBER_HEADER, ORGS, orgs_file

MEMBERS = [
    ["A1", "C1", "", "구매 담당", "Y"],  # 2: created, C1's primary contact ...
    ["A5", "C1", "", "과장", "Y"],  # 3: ... until A5 is
    ["A1", "C1", "", "구매 담당", "N"],  # 4: no longer primary since line 3: unchanged
    ["A5", "C2", "", "", "Y"],  # 5: C2's primary contact instead of A2 (the base's)
    ["A2", "C2", "", "대표", "N"],  # 6: no longer primary since line 5: unchanged
    ["A5", "C1", "", "부장", ""],  # 7: a new title: updated
    ["A1", "C2", "", "", ""],  # 8: created
]


def members(org: str) -> dict[str, tuple[str, bool]]:
    return {
        m.customer.external_ids.get().key: (m.role, m.is_primary)
        for m in OrganizationMembership.objects.filter(
            organization__external_ids__key=org
        ).select_related("customer")
    }


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 100])
def test_the_dry_run_of_memberships_counts_what_the_real_run_does(
    admin: Any, tmp_path: Path, chunk_size: int
) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    run(admin, "organizations", orgs_file(tmp_path, ORGS[:2]))
    base = write_csv(tmp_path / "b.csv", [["A2", "C2", "", "대표", "Y"]], header=MEMBER_HEADER)
    assert run(admin, "memberships", base).created_count == 1
    path = write_csv(tmp_path / "members.csv", MEMBERS, header=MEMBER_HEADER)

    dry = run(admin, "memberships", path, dry_run=True, chunk_size=chunk_size)
    assert dry.status == ImportStatus.VALIDATED
    assert OrganizationMembership.objects.count() == 1
    real = run(admin, "memberships", path, chunk_size=chunk_size)

    assert real.status == ImportStatus.COMPLETED
    assert counters_add_up(dry) and counters_add_up(real)
    assert dry.counts() == real.counts()
    assert reasons_of(dry) == reasons_of(real)
    if chunk_size == 1:
        assert real.counts() == {
            "rows_read": 7,
            "created": 4,
            "updated": 1,
            "matched": 0,
            "unchanged": 2,
            "rejected": 0,
        }
        assert members("C1") == {"A1": ("구매 담당", False), "A5": ("부장", True)}
        assert members("C2") == {"A1": ("", False), "A2": ("대표", False), "A5": ("", True)}


# --- a dry run that stopped and was resumed -----------------------------------------------------

STOPPED = [
    ["A1", "C1", "", "구매 담당", "Y"],  # 2: created, C1's primary contact ...
    ["A5", "C1", "", "과장", "Y"],  # 3: ... until A5 is
    ["A1", "C1", "", "팀장", "N"],  # 4: line 2's, a new title: updated (in a later chunk)
    ["NOBODY", "C1", "", "", ""],  # 5: no such customer: rejected before the stop
    ["A2", "C2", "", "대표", "N"],  # 6: the stop; the base's primary contact of C2: updated
    ["A5", "C2", "", "", "Y"],  # 7: created, C2's primary contact
    ["A5", "C1", "", "부장", ""],  # 8: line 3's, a new title: updated
    ["A1", "C1", "", "팀장", ""],  # 9: line 4's title again: unchanged
]


@pytest.mark.parametrize("chunk_size", [1, 2])
@pytest.mark.parametrize("batch", [20_000, 1, 2])
def test_a_resumed_dry_run_of_memberships_counts_what_the_real_run_does(
    admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int, batch: int
) -> None:
    monkeypatch.setattr(targets_org, "RETRY_BATCH", batch)  # the rebuild's batches
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    run(admin, "organizations", orgs_file(tmp_path, ORGS[:2]))
    base = write_csv(tmp_path / "b.csv", [["A2", "C2", "", "대표", "Y"]], header=MEMBER_HEADER)
    assert run(admin, "memberships", base).created_count == 1
    path = write_csv(tmp_path / "members.csv", STOPPED, header=MEMBER_HEADER)
    stop_at_line(monkeypatch, MembershipTarget, 6)

    job = services.create_import_job(target="memberships", source="pos", path=path, actor=admin)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    with pytest.raises(RuntimeError):
        services.run_import(job=job, chunk_size=chunk_size)
    job.refresh_from_db()
    assert (job.status, job.last_committed_line) == (ImportStatus.FAILED, 5)
    services.start_import(job=job, actor=admin, dry_run=True, enqueue=False)
    dry = services.run_import(job=job, chunk_size=chunk_size)
    assert dry.status == ImportStatus.VALIDATED
    assert OrganizationMembership.objects.count() == 1
    real = run(admin, "memberships", path, chunk_size=chunk_size)

    assert counters_add_up(dry) and counters_add_up(real)
    assert (
        dry.counts()
        == real.counts()
        == {
            "rows_read": 8,
            "created": 3,
            "updated": 3,
            "matched": 0,
            "unchanged": 1,
            "rejected": 1,
        }
    )
    assert reasons_of(dry) == reasons_of(real)
    assert members("C1") == {"A1": ("팀장", False), "A5": ("부장", True)}
    assert members("C2") == {"A2": ("대표", False), "A5": ("", True)}
