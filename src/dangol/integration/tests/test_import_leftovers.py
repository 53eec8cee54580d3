"""Issue 5's leftovers: business-number check digits, parent organizations (계열사) in the
organizations import, return lines matched by line id or number, references in the preview."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from dangol.commerce.models import OrderLine, Return, ReturnLine
from dangol.core.normalize import business_number_check_digit
from dangol.customers import services as customers
from dangol.customers.models import ChangeFeedEntry, Organization
from dangol.integration import services
from dangol.integration.imports import pipeline
from dangol.integration.imports.mapping import auto_mapping
from dangol.integration.imports.targets_org import OrganizationTarget
from dangol.integration.imports.targets_returns import ReturnTarget
from dangol.integration.models import ImportRowError
from dangol.integration.tests.test_import_pipeline import (
    ORDER_HEADER,
    ROWS,
    _catalog,
    rejected_lines,
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


def test_the_preview_of_returns_and_organizations_checks_their_references(
    admin: Any, tmp_path: Path
) -> None:
    _orders_with_a_sku_twice(admin, tmp_path)
    returns = write_csv(
        tmp_path / "r.csv",
        [["R1", "O1", "SKU-1", "", "3"], ["R2", "O404", "SKU-1", "", "1"]],
        header=LINE_RETURN_HEADER,
    )
    orgs = group_file(tmp_path, [["G1", "단골홀딩스", HQ, "", ""], ["G2", "고아", "", "G404", ""]])

    checked = [
        pipeline.preview(
            services.create_import_job(target=target, source="pos", actor=admin, path=path)
        )
        for target, path in (("returns", returns), ("organizations", orgs))
    ]

    assert [_codes(c) for c in checked] == [[[], ["order_not_found"]], [[], ["parent_not_found"]]]
    assert not Return.objects.exists() and not Organization.objects.exists()


# --- business numbers and parent organizations (계열사) --------------------------------------

GROUP_HEADER = ["거래처코드", "회사명", "사업자등록번호", "모회사", "모회사 사업자번호"]


def _bn(first9: str) -> str:
    """A valid number with these nine digits (the check digit computed)."""
    return f"{first9[:3]}-{first9[3:5]}-{first9[5:]}{business_number_check_digit(first9)}"


HQ, ELEC, CHEM, BIO = _bn("101810001"), _bn("101810002"), _bn("101810003"), _bn("101810004")


def group_file(tmp_path: Path, rows: list[list[str]], name: str = "g.csv") -> Path:
    return write_csv(tmp_path / name, rows, encoding="cp949", header=GROUP_HEADER)


def test_a_wrong_check_digit_rejects_the_row_with_its_reason(admin: Any, tmp_path: Path) -> None:
    wrong = HQ[:-1] + str((int(HQ[-1]) + 1) % 10)
    path = group_file(
        tmp_path,
        [
            ["G1", "단골홀딩스", HQ.replace("-", ""), "", ""],
            ["G2", "오타상사", wrong, "", ""],
            ["G3", "짧은번호", "101-81-0001", "", ""],
            ["G4", "모회사번호틀림", "", "", wrong],
        ],
    )

    job = run(admin, "organizations", path)

    assert rejected_lines(job) == {
        3: ["checksum"],
        4: ["invalid"],
        5: ["checksum"],
    }
    reasons = ImportRowError.objects.get(job=job, line=3).reasons
    assert reasons[0]["field"] == "business_number" and reasons[0]["message"]
    assert Organization.objects.get().business_number == HQ  # the display form


def test_parents_are_set_by_id_or_business_number_from_the_file_or_the_base(
    admin: Any, tmp_path: Path
) -> None:
    existing = customers.create_organization(name="기존그룹", business_number=BIO, actor=admin)
    path = group_file(
        tmp_path,
        [
            ["G2", "단골전자", ELEC, "G1", ""],  # the parent comes later in the same chunk
            ["G1", "단골홀딩스", HQ, "", ""],
            ["G3", "단골케미칼", CHEM, "", HQ],  # by the parent's business number, in the file
            ["G4", "바이오", "", "", BIO],  # by the number of an organization in the base
            ["G5", "고아", "", "G404", ""],  # nobody
            ["G6", "나자신", "", "G6", ""],  # its own parent
            ["G7", "섞임", "", "G1", BIO],  # id and number name different organizations
        ],
    )

    job = run(admin, "organizations", path)

    assert rejected_lines(job) == {
        6: ["parent_not_found"],
        7: ["cycle"],
        8: ["parent_mismatch"],
    }
    by_key = {o.external_ids.get().key: o for o in Organization.objects.exclude(pk=existing.pk)}
    hq = by_key["G1"]
    assert hq.parent_id is None
    assert by_key["G2"].parent_id == by_key["G3"].parent_id == hq.pk
    assert by_key["G4"].parent_id == existing.pk
    assert set(hq.children.values_list("name", flat=True)) == {"단골전자", "단골케미칼"}

    again = run(admin, "organizations", path)
    assert (again.unchanged_count, again.created_count, again.updated_count) == (4, 0, 0)


def test_a_parent_in_an_earlier_chunk_is_found_in_a_dry_run_and_a_real_one(
    admin: Any, tmp_path: Path
) -> None:
    path = group_file(
        tmp_path,
        [
            ["G1", "단골홀딩스", HQ, "", ""],
            ["G9", "채움", "", "", ""],
            ["G2", "단골전자", ELEC, "G1", ""],
            ["G3", "단골케미칼", CHEM, "", HQ],
        ],
    )

    dry = run(admin, "organizations", path, dry_run=True, chunk_size=2)
    job = run(admin, "organizations", path, chunk_size=2)

    assert (dry.created_count, dry.rejected_count) == (4, 0), rejected_lines(dry)
    assert (job.created_count, job.rejected_count) == (4, 0), rejected_lines(job)
    hq = Organization.objects.get(business_number=HQ)
    assert set(hq.children.values_list("business_number", flat=True)) == {ELEC, CHEM}


def test_cycles_with_the_base_or_inside_the_file_are_rejected(admin: Any, tmp_path: Path) -> None:
    hq = customers.create_organization(
        name="단골홀딩스", business_number=HQ, actor=admin, external_ids=[("pos", "G1")]
    )
    customers.create_organization(
        name="단골전자", parent=hq, actor=admin, external_ids=[("pos", "G2")]
    )
    path = group_file(
        tmp_path,
        [
            ["G1", "단골홀딩스", "", "G2", ""],  # its own subsidiary above it: a cycle
            ["G5", "오각", "", "G6", ""],  # G5 → G6 → G5: the row that closes it goes,
            ["G6", "육각", "", "G5", ""],  # and G5 has no parent to point to then
            ["G7", "칠성", "", "G2", ""],  # fine: a grandchild
        ],
    )

    job = run(admin, "organizations", path)

    assert rejected_lines(job) == {2: ["cycle"], 3: ["parent_rejected"], 4: ["cycle"]}
    hq.refresh_from_db()
    assert hq.parent_id is None
    g7 = Organization.objects.get(external_ids__key="G7")
    assert g7.parent is not None and g7.parent.parent_id == hq.pk


def test_a_parent_changes_an_existing_account_and_the_change_feed_says_so(
    admin: Any, tmp_path: Path
) -> None:
    hq = customers.create_organization(name="단골홀딩스", business_number=HQ, actor=admin)
    elec = customers.create_organization(name="단골전자", actor=admin, external_ids=[("pos", "G2")])
    feed = ChangeFeedEntry.objects.filter(object_id=elec.pk, op="updated").count()

    job = run(admin, "organizations", group_file(tmp_path, [["G2", "단골전자", "", "", HQ]]))

    assert job.updated_count == 1
    elec.refresh_from_db()
    assert elec.parent_id == hq.pk
    assert ChangeFeedEntry.objects.filter(object_id=elec.pk, op="updated").count() == feed + 1


def test_a_rep_cannot_hang_an_account_under_one_they_cannot_see(
    make_user: Any, tmp_path: Path
) -> None:
    rep, other = make_user("rep"), make_user("rep")
    customers.create_organization(
        name="남의 그룹", business_number=HQ, owner=other, actor=other, external_ids=[("pos", "G1")]
    )
    path = group_file(
        tmp_path, [["G2", "단골전자", "", "G1", ""], ["G3", "단골케미칼", "", "", HQ]]
    )

    job = run(rep, "organizations", path)

    assert rejected_lines(job) == {2: ["parent_not_found"], 3: ["parent_not_found"]}


def test_parent_headers_in_korean_are_recognised() -> None:
    mapping = auto_mapping(
        ["거래처코드", "회사명", "상위법인", "모회사 사업자번호"], OrganizationTarget.specs
    )
    assert mapping == {
        "거래처코드": "external_id",
        "회사명": "name",
        "상위법인": "parent_external_id",
        "모회사 사업자번호": "parent_business_number",
    }


def test_the_organization_page_shows_the_parent_and_the_subsidiaries(
    client: Any, admin: Any
) -> None:
    hq = customers.create_organization(name="단골홀딩스", business_number=HQ, actor=admin)
    customers.create_organization(name="단골전자", parent=hq, actor=admin)
    client.force_login(admin)

    page = client.get(f"/organizations/{hq.pk}/").content.decode()
    child = Organization.objects.get(name="단골전자")
    child_page = client.get(f"/organizations/{child.pk}/").content.decode()

    assert "단골전자" in page and f"/organizations/{child.pk}/" in page
    assert f"/organizations/{hq.pk}/" in child_page


# --- return lines matched by line number, line id or SKU and quantity -------------------------

LINE_RETURN_HEADER = ["반품번호", "주문번호", "상품코드", "주문순번", "반품수량"]


def _orders_with_a_sku_twice(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:1]))
    _catalog(admin, tmp_path)
    rows = []
    for order in ("O1", "O4"):  # SKU-1 once at full price, three more at half price
        rows += [
            [order, "A1", "SKU-1", "1", "32,000", "2024-03-01"],
            [order, "A1", "SKU-1", "3", "16,000", "2024-03-01"],
            [order, "A1", "SKU-2", "1", "", "2024-03-01"],
        ]
    rows += [  # the same price on both lines
        ["O2", "A1", "SKU-1", "2", "32,000", "2024-03-02"],
        ["O2", "A1", "SKU-1", "2", "32,000", "2024-03-02"],
    ]
    for order in ("O3", "O5"):  # two each at different prices
        rows += [
            [order, "A1", "SKU-1", "2", "32,000", "2024-03-03"],
            [order, "A1", "SKU-1", "2", "16,000", "2024-03-03"],
        ]
    job = run(admin, "orders", write_csv(tmp_path / "o.csv", rows, header=ORDER_HEADER))
    assert job.created_count == len(rows), rejected_lines(job)


def _returned(order: str) -> list[int]:
    lines = OrderLine.objects.filter(order__external_id=order).order_by("id")
    return [ol.returned_quantity for ol in lines]


def _refund(key: str) -> Decimal:
    return Return.objects.get(external_id=key).amount


def test_a_sku_on_two_lines_is_matched_by_the_quantities_or_rejected(
    admin: Any, tmp_path: Path
) -> None:
    _orders_with_a_sku_twice(admin, tmp_path)
    path = write_csv(
        tmp_path / "r.csv",
        [
            ["R1", "O1", "SKU-1", "", "3"],  # only the half-price line had three
            ["R2", "O1", "SKU-1", "", "1"],  # then only the full-price line has any left
            ["R3", "O2", "SKU-1", "", "1"],  # either line: the same refund, the first
            ["R4", "O3", "SKU-1", "", "1"],  # either line, different prices: ambiguous
            ["R5", "O3", "SKU-1", "", "5"],  # more than the four bought
            ["R6", "O5", "SKU-1", "", "4"],  # everything of the SKU: both lines
            ["R7", "O4", "SKU-1", "", "1"],  # one return, two rows: the larger is matched
            ["R7", "O4", "SKU-1", "", "3"],  # first (the 3 can only be the second line)
        ],
        header=LINE_RETURN_HEADER,
    )

    job = run(admin, "returns", path)

    assert rejected_lines(job) == {5: ["ambiguous_line"], 6: ["too_many"]}
    assert _returned("O1") == [1, 3, 0] and _returned("O4") == [1, 3, 0]
    assert (_refund("R1"), _refund("R2")) == (Decimal(48000), Decimal(32000))
    assert _returned("O2") == [1, 0] and _refund("R3") == Decimal(32000)
    assert _returned("O3") == [0, 0]
    assert _returned("O5") == [2, 2] and _refund("R6") == Decimal(96000)
    assert _refund("R7") == Decimal(80000)
    assert ReturnLine.objects.filter(ret__external_id="R7").count() == 2


def test_a_line_number_or_line_id_names_the_line(admin: Any, tmp_path: Path) -> None:
    _orders_with_a_sku_twice(admin, tmp_path)
    by_number = write_csv(
        tmp_path / "r.csv",
        [
            ["R1", "O3", "", "2", "1"],  # the second line: half price, no SKU needed
            ["R2", "O3", "SKU-1", "1", "1"],  # the first line, the SKU agrees
            ["R3", "O3", "SKU-2", "2", "1"],  # the second line is not SKU-2
            ["R4", "O3", "", "9", "1"],  # no ninth line
            ["R5", "O3", "", "2", "2"],  # one of its two is already back
            ["R6", "O3", "", "", "1"],  # nothing names the product or the line
        ],
        header=LINE_RETURN_HEADER,
    )

    job = run(admin, "returns", by_number)

    assert rejected_lines(job) == {
        4: ["sku_mismatch"],
        5: ["line_not_found"],
        6: ["too_many"],
        7: ["required"],
    }
    assert _returned("O3") == [1, 1]
    assert (_refund("R1"), _refund("R2")) == (Decimal(16000), Decimal(32000))

    half_price = OrderLine.objects.filter(order__external_id="O5").order_by("id")[1]
    other_order = OrderLine.objects.filter(order__external_id="O1").first()
    assert other_order is not None
    by_id = write_csv(
        tmp_path / "r2.csv",
        [
            ["R8", "O5", str(half_price.pk), "2"],
            ["R9", "O5", str(other_order.pk), "1"],  # a line of another order
        ],
        header=["반품번호", "주문번호", "단골주문상품번호", "반품수량"],  # Dangol's line id
    )

    job = run(admin, "returns", by_id)

    assert rejected_lines(job) == {3: ["line_not_found"]}
    assert _returned("O5") == [0, 2] and _refund("R8") == Decimal(32000)


def test_return_line_headers_in_korean_are_recognised() -> None:
    mapping = auto_mapping(
        ["반품번호", "주문번호", "주문상품번호", "주문순번", "순번", "반품수량"], ReturnTarget.specs
    )
    assert mapping["주문상품번호"] == "line_id"  # the source system's own id of the line
    assert auto_mapping(["단골주문상품번호"], ReturnTarget.specs) == {
        "단골주문상품번호": "order_line_id"
    }
    assert mapping["주문순번"] == "line_number"
    assert "순번" not in mapping  # a sheet's own row counter, not the order's line
