"""Issue 5's leftovers: business-number check digits, parent organizations (계열사) in the
organizations import, return lines matched by line id or number, references in the preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dangol.commerce.models import Return
from dangol.integration import services
from dangol.integration.imports import pipeline
from dangol.integration.tests.test_import_pipeline import (
    ORDER_HEADER,
    ROWS,
    _catalog,
    run,
    write_csv,
)

RETURN_HEADER = ["반품번호", "주문번호", "상품코드", "반품수량"]


def _codes(result: dict[str, Any]) -> list[list[str]]:
    return [[e["code"] for e in r["errors"]] for r in result["rows"]]


# --- the preview checks references ------------------------------------------------------------


def test_the_preview_reports_unknown_references_like_the_dry_run(
    admin: Any, tmp_path: Path
) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:1]))
    _catalog(admin, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        [
            ["O1", "A1", "SKU-1", "1", "", "2024-03-01"],
            ["O2", "A9", "SKU-1", "1", "", "2024-03-01"],  # no such customer
            ["O3", "A1", "SKU-404", "1", "", "2024-03-01"],  # no such product
            ["O4", "A1", "SKU-1", "0", "", "2024-03-01"],  # bad quantity (a cell check)
        ],
        header=ORDER_HEADER,
    )
    job = services.create_import_job(target="orders", source="pos", actor=admin, path=path)

    result = pipeline.preview(job)
    dry = run(admin, "orders", path, dry_run=True)

    assert [r["valid"] for r in result["rows"]] == [True, False, False, False]
    codes = _codes(result)
    assert codes[0] == [] and codes[3] == ["min_value"]
    dry_codes = {e.line: [r["code"] for r in e.reasons] for e in dry.row_errors.all()}
    assert {r["line"]: c for r, c in zip(result["rows"], codes, strict=True) if c} == dry_codes
    assert not Return.objects.exists()
