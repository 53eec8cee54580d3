"""A landline in a customer file's mobile column (a POS's 연락처 holds either) is kept as the
customer's phone, not as a mobile that SMS campaigns would reach for nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dangol.customers.models import ContactPoint, Customer
from dangol.integration.imports import parsing, speedpaths
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import run, write_csv


def test_a_landline_in_the_mobile_column_becomes_the_customers_phone(
    admin: Any, tmp_path: Path
) -> None:
    rows = [
        ["L1", "김민준", "02-700-1234", "", "", ""],
        ["L2", "이서연", "010-2345-6789", "", "", ""],
        ["L3", "박지훈", "031 765 4321", "", "", ""],
    ]
    job = run(admin, "customers", write_csv(tmp_path / "c.csv", rows))

    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.COMPLETED, 3, 0)
    stored = set(
        ContactPoint.objects.values_list(
            "customer__external_ids__key", "kind", "normalized", "is_primary"
        )
    )
    assert stored == {
        ("L1", "phone", "+8227001234", True),
        ("L2", "mobile", "+821023456789", True),
        ("L3", "phone", "+82317654321", True),
    }
    assert Customer.objects.count() == 3

    # the same file again changes nothing: the landline is found as the phone it became
    again = run(admin, "customers", write_csv(tmp_path / "c.csv", rows))
    assert (again.unchanged_count, ContactPoint.objects.count()) == (3, 3)


def test_the_column_path_and_the_value_path_agree_on_landlines() -> None:
    texts = [f"010-{i:04d}-{i:04d}" for i in range(70)] + ["02-700-1234", "031-765-4321"]
    column = speedpaths.parse_column("phone", parsing.phone_values, texts)

    assert column == [parsing.phone_values(t) for t in texts]
    assert [c["is_landline"] for c in column[-3:]] == [False, True, True]
