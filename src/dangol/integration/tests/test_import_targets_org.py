"""Importing organizations (B2B accounts) and the people who work for them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.core.management import call_command

from dangol.customers import services as customers
from dangol.customers.models import (
    Address,
    ChangeFeedEntry,
    ContactPoint,
    ExternalId,
    Organization,
    OrganizationMembership,
)
from dangol.integration.imports.targets_org import business_number
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import ROWS, rejected_lines, run, write_csv

ORG_HEADER = [
    "거래처코드",
    "회사명",
    "사업자등록번호",
    "업종",
    "대표전화",
    "이메일",
    "주소",
    "상세주소",
]
ORGS = [
    [
        "C1",
        "(주)단골상사",
        "123-45-67891",
        "도소매",
        "02-123-4567",
        "info@dangol.co.kr",
        "서울 강남구 테헤란로 1",
        "3층",
    ],
    ["C2", "한빛화장품", "2208162517", "제조", "", "", "", ""],
    ["C3", "", "1112233333", "", "", "", "", ""],  # no name
    ["C4", "숫자모자람", "123-45-678", "", "", "", "", ""],  # nine digits
    ["C5", "전화틀림", "", "", "02-12", "", "", ""],  # bad phone
    ["C1", "중복", "", "", "", "", "", ""],  # the same id again
]


def orgs_file(tmp_path: Path, rows: list[list[str]] = ORGS, encoding: str = "cp949") -> Path:
    return write_csv(tmp_path / "orgs.csv", rows, encoding=encoding, header=ORG_HEADER)


def test_business_numbers_are_read_in_any_format() -> None:
    assert business_number("123-45-67891") == business_number("1234567891") == "123-45-67891"
    assert business_number("123 45 67891") == "123-45-67891"
    assert business_number("123-45-6789") is None
    assert business_number("12a4567890") is None
    assert business_number("123-45-67890") is None  # the check digit would be 1


def test_a_cp949_organization_file_creates_accounts_with_contacts_and_address(
    admin: Any, tmp_path: Path
) -> None:
    job = run(admin, "organizations", orgs_file(tmp_path))

    assert job.status == ImportStatus.COMPLETED and job.encoding == "cp949"
    assert (job.created_count, job.rejected_count) == (2, 4), rejected_lines(job)
    assert rejected_lines(job) == {
        4: ["required"],
        5: ["invalid"],
        6: ["phone_invalid"],
        7: ["duplicate_in_file"],
    }
    c1 = Organization.objects.get(external_ids__source="pos", external_ids__key="C1")
    assert (c1.name, c1.business_number, c1.industry, c1.source) == (
        "(주)단골상사",
        "123-45-67891",
        "도소매",
        "pos",
    )
    assert sorted(
        ContactPoint.objects.filter(organization=c1).values_list(
            "kind", "normalized", "value", "is_primary"
        )
    ) == [
        ("email", "info@dangol.co.kr", "info@dangol.co.kr", True),
        ("phone", "+8221234567", "02-123-4567", True),
    ]
    address = Address.objects.get(organization=c1)
    assert (address.line1, address.line2, address.kind, address.is_primary) == (
        "서울 강남구 테헤란로 1",
        "3층",
        "work",
        True,
    )
    assert Organization.objects.get(external_ids__key="C2").business_number == "220-81-62517"
    feed = ChangeFeedEntry.objects.filter(object_type="organization")
    assert sorted(feed.values_list("object_id", "op")) == sorted(
        (o.pk, "created") for o in Organization.objects.all()
    )


def test_reimporting_organizations_changes_nothing_and_a_change_updates(
    admin: Any, tmp_path: Path
) -> None:
    path = orgs_file(tmp_path)
    run(admin, "organizations", path)
    counts = (Organization.objects.count(), ContactPoint.objects.count(), Address.objects.count())
    feed = ChangeFeedEntry.objects.count()

    again = run(admin, "organizations", path)

    assert (again.unchanged_count, again.created_count, again.updated_count) == (2, 0, 0)
    assert counts == (
        Organization.objects.count(),
        ContactPoint.objects.count(),
        Address.objects.count(),
    )
    assert ChangeFeedEntry.objects.count() == feed
    changed = write_csv(
        tmp_path / "c.csv",
        [["C2", "한빛화장품", "", "화장품 제조", "031-765-4321", "", "", ""]],
        header=ORG_HEADER,
    )
    job = run(admin, "organizations", changed)
    assert job.updated_count == 1
    c2 = Organization.objects.get(external_ids__key="C2")
    assert (c2.industry, c2.business_number) == ("화장품 제조", "220-81-62517")  # blank keeps
    assert ContactPoint.objects.get(organization=c2).normalized == "+82317654321"
    assert ChangeFeedEntry.objects.filter(object_id=c2.pk, op="updated").count() == 1


def test_a_known_business_number_matches_the_existing_account(admin: Any, tmp_path: Path) -> None:
    existing = customers.create_organization(
        name="단골상사", business_number="1234567891", actor=admin
    )

    job = run(admin, "organizations", orgs_file(tmp_path, ORGS[:1]))

    assert (job.matched_count, job.created_count) == (1, 0)
    assert ExternalId.objects.get(source="pos", key="C1").organization_id == existing.pk
    existing.refresh_from_db()
    assert existing.name == "(주)단골상사" and existing.industry == "도소매"


def test_a_rep_owns_the_accounts_they_import_and_cannot_touch_others(
    make_user: Any, tmp_path: Path
) -> None:
    rep, other = make_user("rep"), make_user("rep")
    customers.create_organization(
        name="남의 회사",
        business_number="2208162517",
        owner=other,
        actor=other,
        external_ids=[("pos", "C9")],
    )
    rows = [
        ["C9", "남의 회사", "", "", "", "", "", ""],  # known id, someone else's account
        ["C2", "한빛화장품", "220-81-62517", "", "", "", "", ""],  # their business number
        ["C1", "(주)단골상사", "", "", "", "", "", ""],
    ]

    job = run(rep, "organizations", orgs_file(tmp_path, rows))

    assert rejected_lines(job) == {2: ["not_found"], 3: ["duplicate"]}
    mine = Organization.objects.get(external_ids__key="C1")
    assert (mine.owner_id, mine.team_id) == (rep.pk, rep.team_id)
    assert Organization.objects.visible_to(rep).filter(pk=mine.pk).exists()


def test_dry_run_of_organizations_writes_nothing(admin: Any, tmp_path: Path) -> None:
    job = run(admin, "organizations", orgs_file(tmp_path), dry_run=True)

    assert job.status == ImportStatus.VALIDATED
    assert (job.created_count, job.rejected_count) == (2, 4)
    assert not Organization.objects.exists() and not ContactPoint.objects.exists()
    assert not ChangeFeedEntry.objects.exists()


# --- memberships -------------------------------------------------------------------------------

MEMBER_HEADER = ["회원번호", "거래처코드", "사업자등록번호", "직함", "주담당자"]


def _people_and_accounts(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    run(admin, "organizations", orgs_file(tmp_path, ORGS[:2]))


def test_members_are_linked_with_their_title_and_one_primary_contact(
    admin: Any, tmp_path: Path
) -> None:
    _people_and_accounts(admin, tmp_path)
    path = write_csv(
        tmp_path / "members.csv",
        [
            ["A1", "C1", "", "구매 담당", "Y"],
            ["A2", "", "220-81-62517", "대표", "N"],  # by business number
            ["A5", "C1", "", "과장", "Y"],  # the later primary wins
            ["A9", "C1", "", "", ""],  # unknown person
            ["A1", "C7", "", "", ""],  # unknown account
            ["A2", "", "", "", ""],  # no account at all
            ["A1", "C1", "", "팀장", ""],  # the same pair again
        ],
        header=MEMBER_HEADER,
    )

    job = run(admin, "memberships", path)

    assert job.created_count == 3, rejected_lines(job)
    assert rejected_lines(job) == {
        5: ["customer_not_found"],
        6: ["organization_not_found"],
        7: ["required"],
        8: ["duplicate_in_file"],
    }
    c1 = Organization.objects.get(external_ids__key="C1")
    members = dict(
        OrganizationMembership.objects.filter(organization=c1).values_list(
            "customer__external_ids__key", "is_primary"
        )
    )
    assert members == {"A1": False, "A5": True}
    a2 = OrganizationMembership.objects.get(customer__external_ids__key="A2")
    assert (a2.role, a2.organization.name) == ("대표", "한빛화장품")
    assert ChangeFeedEntry.objects.filter(
        object_type="customer", op="updated", object_id=a2.customer_id
    ).exists()

    again = run(admin, "memberships", path)
    assert (again.unchanged_count, again.created_count, again.updated_count) == (3, 0, 0)
    retitled = write_csv(tmp_path / "r.csv", [["A2", "C2", "", "이사", ""]], header=MEMBER_HEADER)
    assert run(admin, "memberships", retitled).updated_count == 1
    assert OrganizationMembership.objects.get(pk=a2.pk).role == "이사"


def test_the_cli_imports_organizations(admin: Any, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command(
        "import_data",
        "organizations",
        str(orgs_file(tmp_path)),
        "--source",
        "erp",
        "--user",
        admin.email,
        stdout=out,
    )
    assert "completed" in out.getvalue() and "created 2" in out.getvalue()
    assert ExternalId.objects.filter(source="erp", organization__isnull=False).count() == 2


def test_an_organizations_postal_code_is_read_as_the_customer_import_reads_it(
    admin: Any, tmp_path: Path
) -> None:
    header = ["거래처코드", "회사명", "주소", "우편번호"]
    rows = [
        ["P1", "새우편", "서울 강남구 테헤란로 1", "06236"],
        ["P2", "영잃음", "서울 종로구 종로 1", "3154"],  # a spreadsheet dropped the zero
        ["P3", "옛우편", "서울 강남구 역삼동 1", "135080"],  # the six-digit code before 2015
        ["P4", "틀림", "서울 중구 세종대로 1", "99999"],
    ]
    job = run(admin, "organizations", write_csv(tmp_path / "o.csv", rows, header=header))

    assert rejected_lines(job) == {5: ["invalid"]}
    assert dict(
        Address.objects.filter(organization__isnull=False).values_list(
            "organization__name", "postal_code"
        )
    ) == {"새우편": "06236", "영잃음": "03154", "옛우편": "135-080"}
