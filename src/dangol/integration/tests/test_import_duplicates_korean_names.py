"""The same person twice in a POS file under a name spelled differently (리지은 / 이지은, 길동홍,
"서준 박", 류수빈 / 유수빈) reaches duplicate review, as the matching engine would compare the
names; different names on one phone do not, and the dry run counts what the real run stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dangol.customers.models import Customer
from dangol.integration.dedupe import infile
from dangol.integration.models import DuplicateCandidate
from dangol.integration.tests.test_import_korean_pos import pos
from dangol.integration.tests.test_import_pipeline import run


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("김민수", "김 민수", "exact"),
        ("Minjun Kim", "minjun kim", "exact"),
        ("홍길동", "길동홍", "swapped"),
        ("박서준", "서준 박", "swapped"),
        ("Minjun Kim", "Kim Minjun", "swapped"),
        ("이지은", "리지은", "initial_sound"),
        ("류수빈", "유수빈", "initial_sound"),
        ("임하늘", "림하늘", "initial_sound"),
        ("나미란", "라미란", "initial_sound"),
        ("김라희", "라희김", "swapped"),
        ("이지은", "김지은", "different"),
        ("김민수", "김민서", "different"),
        ("이지은", "이지훈", "different"),
        ("이지은", "지은", "different"),
        ("김민지", "Minji Kim", "different"),
        ("김민지", "", "missing"),
    ],
)
def test_names_compare_as_the_matching_engine_normalises_them(a: str, b: str, level: str) -> None:
    assert infile.name_level(a, b) == level
    assert infile.name_level(b, a) == level


PAIRS = [
    ("이지은", "리지은"),
    ("홍길동", "길동홍"),
    ("류수빈", "유수빈"),
    ("박서준", "서준 박"),
    ("김 민수", "김민수"),
]


def test_the_same_person_spelled_two_ways_reaches_review_and_the_dry_run_counts_it(
    admin: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    rows = []
    for i, (a, b) in enumerate(PAIRS):
        phone = f"010-4{i}00-1234"
        rows.append([f"A{i}", a, phone, "900101", "2", "", "", ""])
        rows.append([f"B{i}", b, phone.replace("-", ""), "900101", "2", "", "", ""])
    # different people on one phone: not a pair
    rows.append(["C1", "이지훈", "010-4000-1234", "900101", "", "", "", ""])
    rows.append(["C2", "김민서", "010-4400-1234", "", "", "", "", ""])
    path = pos(tmp_path / "dup.csv", rows)
    dry = run(admin, "customers", path, dry_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        job = run(admin, "customers", path)

    assert dry.duplicate_count == job.duplicate_count == len(PAIRS)
    found = {
        frozenset(
            Customer.objects.filter(pk__in=[p.left_id, p.right_id]).values_list(
                "full_name", flat=True
            )
        ): p.evidence["name"]
        for p in DuplicateCandidate.objects.all()
    }
    assert found == {
        frozenset({"이지은", "리지은"}): "initial_sound",
        frozenset({"홍길동", "길동홍"}): "swapped",
        frozenset({"류수빈", "유수빈"}): "initial_sound",
        frozenset({"박서준", "서준박"}): "swapped",
        frozenset({"김민수"}): "exact",
    }
