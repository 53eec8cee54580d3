"""The same person twice in one customer file (two ids of the source), or a new customer who
is one of several existing ones, reaches the duplicate review queue when the import commits,
without anyone running the duplicate search; the import's result page counts the pairs."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from dangol.customers.models import Customer, ExternalId
from dangol.integration import selectors
from dangol.integration.dedupe import infile
from dangol.integration.models import CandidateOrigin, CandidateStatus, DuplicateCandidate
from dangol.integration.tests.test_import_pipeline import run, write_csv

HEADER = ["회원번호", "고객명", "휴대폰", "이메일", "생년월일", "성별"]
MINJI = ["김민지", "010-1234-5678", "minji.kim@example.com", "1990-03-15", "여"]


def members(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, rows, encoding="cp949", header=HEADER)


def customer_id(key: str, source: str = "pos") -> int:
    cid = ExternalId.objects.get(source=source, key=key).customer_id
    assert cid is not None
    return cid


def test_the_same_person_twice_in_a_file_is_a_pair_to_review(
    admin: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [
        ["M0001", *MINJI],
        ["M0002", "이준호", "010-9876-5432", "junho@example.co.kr", "1985-07-02", "남"],
        ["M0006", "김민지", "010 1234 5678", "MINJI.KIM@example.com", "1990-03-15", "여"],
        # her mother on the same phone: a family, not a duplicate
        ["M0007", "박영희", "010-1234-5678", "", "1962-01-01", "여"],
    ]
    with django_capture_on_commit_callbacks(execute=True):
        job = run(admin, "customers", members(tmp_path / "m.csv", rows))

    assert job.created_count == 4
    pair = DuplicateCandidate.objects.get()
    assert {pair.left_id, pair.right_id} == {customer_id("M0001"), customer_id("M0006")}
    assert (pair.origin, pair.status, pair.probability) == (
        CandidateOrigin.IMPORT,
        CandidateStatus.PENDING,
        1.0,
    )
    assert pair.evidence == {
        "name": "exact",
        "birth_date": "exact",
        "gender": "exact",
        "phone": "exact",
        "email": "exact",
        "match_rule": "phone",
    }
    assert selectors.review_pairs_from_import(admin, job) == 1


def test_a_new_customer_sharing_a_phone_with_several_is_paired_with_them(
    admin: Any, make_customer: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # two records already share the number, so the matcher cannot pick one
    first = make_customer(full_name="김민지", contacts=[("mobile", "010-1234-5678")])
    second = make_customer(
        full_name="김민지",
        birth_date=datetime.date(1990, 3, 15),
        contacts=[("mobile", "010-1234-5678")],
    )
    other = make_customer(
        full_name="김철수",
        birth_date=datetime.date(1960, 1, 1),
        contacts=[("mobile", "010-1234-5678")],
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = run(admin, "customers", members(tmp_path / "m.csv", [["M0001", *MINJI]]))

    assert (job.created_count, job.matched_count) == (1, 0)
    new = customer_id("M0001")
    pairs = {(c.left_id, c.right_id) for c in DuplicateCandidate.objects.all()}
    assert pairs == {(first.pk, new), (second.pk, new)}  # not 김철수, another person
    assert other.pk not in {i for p in pairs for i in p}
    assert selectors.review_pairs_from_import(admin, job) == 2


def test_a_dry_run_stores_no_pairs(
    admin: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [["M0001", *MINJI], ["M0006", *MINJI]]
    with django_capture_on_commit_callbacks(execute=True):
        job = run(admin, "customers", members(tmp_path / "m.csv", rows), dry_run=True)

    assert job.created_count == 2
    assert not DuplicateCandidate.objects.exists()
    assert not Customer.objects.exists()


def test_importing_the_file_again_adds_no_pairs(
    admin: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    path = members(tmp_path / "m.csv", [["M0001", *MINJI], ["M0006", *MINJI]])
    with django_capture_on_commit_callbacks(execute=True):
        run(admin, "customers", path)
    with django_capture_on_commit_callbacks(execute=True):
        again = run(admin, "customers", path)

    assert again.unchanged_count == 2
    assert DuplicateCandidate.objects.count() == 1


def test_a_pair_in_a_committed_chunk_is_stored(
    transactional_db: Any, admin: Any, tmp_path: Path
) -> None:
    rows = [["M0001", *MINJI], ["M0006", *MINJI]]

    job = run(admin, "customers", members(tmp_path / "m.csv", rows))

    pair = DuplicateCandidate.objects.get()
    assert {pair.left_id, pair.right_id} == {customer_id("M0001"), customer_id("M0006")}
    assert selectors.review_pairs_from_import(admin, job) == 1


# --- the rule ---------------------------------------------------------------------------------


def person(pk: int, name: str = "김민지", **kw: Any) -> infile.Person:
    keys = kw.pop("keys", {("phone", "+821012345678")})
    return infile.Person(pk, name, keys=keys, **kw)


def test_pairs_need_a_shared_key_and_nothing_personal_against() -> None:
    born = datetime.date(1990, 3, 15)
    people = [
        person(1, birth_date=born, gender="F"),
        person(2, birth_date=born),  # gender missing: fine
        person(3, birth_date=datetime.date(1991, 3, 15)),  # another birth date
        person(4, gender="M"),  # another gender
        person(5, "김민수"),  # another name
        person(6, keys={("email", "minji@example.com")}),  # no shared key
        person(7, "", keys={("phone", "+821012345678"), ("email", "minji@example.com")}),
    ]

    pairs = {(p["left_id"], p["right_id"]) for p in infile.pairs_among(people)}

    # 1-3: birth dates differ, 1-4: genders, 1-5 ... 4-5: names; 6 shares only with 7
    assert pairs == {(1, 2), (2, 4), (3, 4), (1, 7), (2, 7), (3, 7), (4, 7), (5, 7), (6, 7)}


def test_a_number_shared_by_many_is_no_evidence() -> None:
    shop_phone = [person(i) for i in range(1, infile.MAX_HOLDERS + 2)]

    assert infile.pairs_among(shop_phone) == []
    assert len(infile.pairs_among(shop_phone[:3])) == 3
