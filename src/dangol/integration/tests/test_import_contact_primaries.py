"""Re-importing customers: a changed e-mail, mobile or phone becomes the primary of its kind (the
file is the source's latest word) and the old one stays as a contact point that is not primary;
every (customer, kind) keeps exactly one primary; one UPDATE per chunk demotes the old ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext

from dangol.customers.models import ContactPoint, Customer
from dangol.integration.tests.test_import_pipeline import run, write_csv

HEADER = ["회원번호", "이름", "휴대폰", "전화", "이메일"]


def contacts(customer: Customer) -> list[tuple[str, str, bool]]:
    return sorted(customer.contact_points.values_list("kind", "normalized", "is_primary"))


def primaries_per_kind() -> set[int]:
    """How many primaries each (customer, kind) with contact points has."""
    counts = ContactPoint.objects.values("customer_id", "kind").annotate(
        n=Count("id", filter=Q(is_primary=True))
    )
    return {c["n"] for c in counts}


def test_changed_values_become_primary_and_the_old_ones_stay(admin: Any, tmp_path: Path) -> None:
    first = [["A1", "김민준", "010-1234-5678", "02-345-6789", "minjun@example.com"]]
    run(admin, "customers", write_csv(tmp_path / "a.csv", first, header=HEADER))
    changed = [["A1", "김민준", "010-9999-8888", "02-345-6789", "mj@example.kr"]]

    job = run(admin, "customers", write_csv(tmp_path / "b.csv", changed, header=HEADER))

    assert job.updated_count == 1
    kim = Customer.objects.get(external_ids__key="A1")
    assert contacts(kim) == [
        ("email", "minjun@example.com", False),
        ("email", "mj@example.kr", True),
        ("mobile", "+821012345678", False),
        ("mobile", "+821099998888", True),
        ("phone", "+8223456789", True),  # unchanged: still the primary
    ]
    assert primaries_per_kind() == {1}
    again = run(admin, "customers", write_csv(tmp_path / "c.csv", changed, header=HEADER))
    assert again.unchanged_count == 1 and len(contacts(kim)) == 5


def test_a_dry_run_changes_no_primary(admin: Any, tmp_path: Path) -> None:
    run(
        admin,
        "customers",
        write_csv(tmp_path / "a.csv", [["A1", "김민준", "", "", "a@x.kr"]], header=HEADER),
    )

    job = run(
        admin,
        "customers",
        write_csv(tmp_path / "b.csv", [["A1", "김민준", "", "", "b@x.kr"]], header=HEADER),
        dry_run=True,
    )

    assert job.updated_count == 1
    assert contacts(Customer.objects.get()) == [("email", "a@x.kr", True)]


def test_a_value_the_customer_already_has_is_left_as_it_is(
    admin: Any, make_customer: Any, tmp_path: Path
) -> None:
    """As the customer API's upsert: a value already recorded is not added again, nor made
    primary (only a new value is the source's news)."""
    make_customer(
        external_ids=[("pos", "A1")],
        contacts=[("email", "a@x.kr"), ("email", "b@x.kr")],  # the first is primary
    )

    job = run(
        admin,
        "customers",
        write_csv(tmp_path / "b.csv", [["A1", "김민준", "", "", "b@x.kr"]], header=HEADER),
    )

    assert job.unchanged_count == 1
    assert contacts(Customer.objects.get()) == [
        ("email", "a@x.kr", True),
        ("email", "b@x.kr", False),
    ]


def test_one_customer_under_two_ids_of_a_chunk_keeps_one_primary(
    admin: Any, make_customer: Any, tmp_path: Path
) -> None:
    """Two ids of one customer (a merge left both) with new addresses, and a row with two new
    phones (a landline in the mobile column and one in the phone column): the later row's
    address and the row's first phone are primary."""
    kim = make_customer(
        external_ids=[("pos", "A1"), ("pos", "A2")],
        contacts=[("email", "old@x.kr"), ("phone", "031-111-2222")],
    )
    rows = [
        ["A1", "김민준", "02-345-6789", "051-987-6543", "first@x.kr"],
        ["A2", "김민준", "", "", "second@x.kr"],
    ]

    run(admin, "customers", write_csv(tmp_path / "b.csv", rows, header=HEADER))

    assert contacts(kim) == [
        ("email", "first@x.kr", False),
        ("email", "old@x.kr", False),
        ("email", "second@x.kr", True),
        ("phone", "+8223456789", True),
        ("phone", "+82311112222", False),
        ("phone", "+82519876543", False),
    ]
    assert primaries_per_kind() == {1}


def test_the_import_agrees_with_the_api_upsert_of_a_value_sent_as_primary(
    admin: Any, api: Any, make_customer: Any, tmp_path: Path
) -> None:
    by_api = make_customer(external_ids=[("erp", "E1")], contacts=[("email", "old@x.kr")])
    by_file = make_customer(external_ids=[("pos", "A1")], contacts=[("email", "old@x.kr")])
    record = {
        "source": "erp",
        "external_id": "E1",
        "full_name": "김민준",
        "contact_points": [{"kind": "email", "value": "new@x.kr", "is_primary": True}],
    }

    r = api(admin).post(
        "/api/v1/customers/bulk", json.dumps({"records": [record]}), "application/json"
    )
    run(
        admin,
        "customers",
        write_csv(tmp_path / "b.csv", [["A1", "김민준", "", "", "new@x.kr"]], header=HEADER),
    )

    assert r.json()["results"][0]["status"] == "updated"
    assert (
        contacts(by_file)
        == contacts(by_api)
        == [
            ("email", "new@x.kr", True),
            ("email", "old@x.kr", False),
        ]
    )


def test_a_chunk_demotes_the_old_primaries_in_one_update(admin: Any, tmp_path: Path) -> None:
    people = [[f"A{i}", "김민준", f"010-1000-{i:04d}", "", f"p{i}@x.kr"] for i in range(30)]
    run(admin, "customers", write_csv(tmp_path / "a.csv", people, header=HEADER))
    changed = [[f"A{i}", "김민준", f"010-2000-{i:04d}", "", f"q{i}@x.kr"] for i in range(30)]

    with CaptureQueriesContext(connection) as ctx:
        job = run(admin, "customers", write_csv(tmp_path / "b.csv", changed, header=HEADER))

    table = ContactPoint._meta.db_table
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')]
    assert job.updated_count == 30 and len(updates) == 1
    assert primaries_per_kind() == {1}
    assert ContactPoint.objects.filter(is_primary=True, normalized__startswith="q").count() == 30
