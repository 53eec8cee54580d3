"""A product file's 카테고리 column names a category by its path (``skincare``), its name
(``스킨케어``, any case) or its name path (``스킨케어 > 세럼``); a name that fits several
categories, or none, is rejected with a reason that says what to write instead. One query
reads the tree per chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.commerce import services as commerce
from dangol.commerce.models import Product, ProductCategory
from dangol.integration.imports import targets
from dangol.integration.models import ImportRowError
from dangol.integration.tests.test_import_pipeline import run, write_csv

HEADER = ["상품코드", "상품명", "카테고리", "판매가"]


@pytest.fixture
def tree(admin: Any) -> dict[str, ProductCategory]:
    skin = commerce.create_category(name="스킨케어", slug="skincare", actor=admin)
    sun = commerce.create_category(name="선케어", slug="suncare", actor=admin)
    make_up = commerce.create_category(name="Makeup", slug="makeup", actor=admin)
    body = commerce.create_category(name="바디", slug="body", actor=admin)
    return {
        "skin": skin,
        "sun": sun,
        "makeup": make_up,
        "body": body,
        "skin_serum": commerce.create_category(name="세럼", slug="serum", parent=skin, actor=admin),
        "body_serum": commerce.create_category(name="세럼", slug="serum", parent=body, actor=admin),
        "toner": commerce.create_category(name="토너", slug="toner", parent=skin, actor=admin),
    }


def products(path: Path, categories: list[str]) -> Path:
    rows = [[f"SKU-{i}", f"상품 {i}", c, "10,000"] for i, c in enumerate(categories, start=1)]
    return write_csv(path, rows, encoding="cp949", header=HEADER)


def category_of(sku: str) -> int | None:
    return Product.objects.get(sku=sku).category_id


def reasons(job: Any) -> dict[int, tuple[str, str]]:
    return {
        e.line: (e.reasons[0]["code"], e.reasons[0]["message"])
        for e in ImportRowError.objects.filter(job=job)
    }


def test_paths_names_and_name_paths_find_the_category(
    admin: Any, tree: dict[str, ProductCategory], tmp_path: Path
) -> None:
    texts = [
        "skincare",  # path
        "스킨케어",  # name
        " 선케어 ",  # name, trimmed
        "MAKEUP",  # name, any case
        "스킨케어 > 세럼",  # name path
        "바디>세럼",  # name path without spaces
        "바디 / 세럼",  # name path with a slash
        "skincare/serum",  # path of a child
        "토너",  # a child's unique name
    ]

    job = run(admin, "products", products(tmp_path / "p.csv", texts))

    assert (job.created_count, job.rejected_count) == (9, 0)
    got = [category_of(f"SKU-{i}") for i in range(1, 10)]
    t = tree
    assert got == [
        t["skin"].pk,
        t["skin"].pk,
        t["sun"].pk,
        t["makeup"].pk,
        t["skin_serum"].pk,
        t["body_serum"].pk,
        t["body_serum"].pk,
        t["skin_serum"].pk,
        t["toner"].pk,
    ]


def test_an_ambiguous_name_names_the_candidates(
    admin: Any, tree: dict[str, ProductCategory], tmp_path: Path
) -> None:
    job = run(admin, "products", products(tmp_path / "p.csv", ["세럼"]))

    assert job.rejected_count == 1
    code, message = reasons(job)[2]
    assert code == "ambiguous"
    assert "스킨케어 > 세럼" in message and "바디 > 세럼" in message


def test_an_unknown_category_lists_valid_names(
    admin: Any, tree: dict[str, ProductCategory], tmp_path: Path
) -> None:
    job = run(admin, "products", products(tmp_path / "p.csv", ["스킨캐어", "없는분류 > 세럼"]))

    assert job.rejected_count == 2
    code, message = reasons(job)[2]
    assert code == "not_found"
    listed = message.split(":", 1)[1].strip().split(", ")
    assert listed[0] == "스킨케어"  # the closest first
    assert len([n for n in listed if n != "…"]) == targets.CATEGORY_HINTS
    assert reasons(job)[3][0] == "not_found"
    assert Product.objects.count() == 0


def test_without_categories_the_reason_says_there_are_none(admin: Any, tmp_path: Path) -> None:
    job = run(admin, "products", products(tmp_path / "p.csv", ["스킨케어"]))

    assert reasons(job)[2][0] == "not_found"
    assert Product.objects.count() == 0


def test_the_tree_is_read_once_per_chunk(admin: Any, tree: dict[str, ProductCategory]) -> None:
    target = targets.ProductTarget({"sku", "name", "price", "category"})
    few = target.clean_many([{"sku": "S-1", "name": "a", "price": "1", "category": "스킨케어"}])
    many = target.clean_many(
        [
            {"sku": f"S-{i}", "name": "a", "price": "1", "category": c}
            for i, c in enumerate(["스킨케어", "바디 > 세럼", "세럼", "nope", "skincare"] * 40)
        ]
    )

    def queries(cleaned: list[Any]) -> int:
        rows = [targets.Row(i + 2, None, d, r) for i, (d, r) in enumerate(cleaned)]
        ctx = _context(admin)
        with CaptureQueriesContext(connection) as captured:
            target.write(ctx, rows)
        return len(captured)

    assert queries(many) == queries(few)


def _context(admin: Any) -> targets.Context:
    from django.utils import timezone

    from dangol.integration.imports.identity import deterministic_matcher

    return targets.Context(
        job_id=0,
        source="pos",
        actor=admin,
        now=timezone.now(),
        dry_run=True,
        fields={"sku", "name", "price", "category"},
        matcher=deterministic_matcher,
        visible_customers=None,
    )
