"""Duplicates with the real matching engine (Splink: a few seconds each, so only two tests) and
the import pipeline's probabilistic matcher."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dangol.customers import services as customer_services
from dangol.customers.models import Customer, ExternalId
from dangol.integration import services
from dangol.integration.dedupe import matcher
from dangol.integration.models import CandidateOrigin, DuplicateCandidate, ImportJob
from dangol.integration.tests.people_fixture import people


def load_people(n: int, seed: int) -> None:
    """Unrelated people through the customer service, so the model learns "different"."""
    frame = people(n_persons=n, seed=seed).unique("person_id", keep="first")
    for r in frame.iter_rows(named=True):
        contacts = [("mobile", r["phone"])] if r.get("phone") else []
        try:
            customer_services.create_customer(
                data=customer_services.CustomerInput(
                    full_name=r.get("full_name") or f"{r['family_name']}{r['given_name']}",
                    birth_date=datetime.date.fromisoformat(r["birth_date"])
                    if r.get("birth_date")
                    else None,
                    contacts=[customer_services.ContactInput(k, v) for k, v in contacts],
                ),
                actor=None,
            )
        except Exception:  # noqa: S112  (a generated value the service refuses)
            continue


def test_search_with_the_engine_finds_the_pair_and_not_the_sibling(make_customer: Any) -> None:
    load_people(150, seed=5)
    a = make_customer(
        family_name="김",
        given_name="민준",
        birth_date=datetime.date(1990, 3, 15),
        gender="M",
        contacts=[("mobile", "010-1111-2222"), ("email", "mj@naver.com")],
    )
    b = make_customer(
        full_name="김민존",
        birth_date=datetime.date(1990, 3, 15),
        contacts=[("mobile", "01011112222"), ("email", "MJ@NAVER.COM")],
    )
    sibling = make_customer(
        family_name="김",
        given_name="민지",
        birth_date=datetime.date(1993, 7, 1),
        gender="F",
        contacts=[("mobile", "010-1111-2222")],
    )

    run = services.find_duplicates()

    assert run.status == "completed" and run.records >= 100
    pairs = set(DuplicateCandidate.objects.values_list("left_id", "right_id"))
    assert (a.pk, b.pk) in pairs
    assert not pairs & {(a.pk, sibling.pk), (b.pk, sibling.pk)}
    cand = DuplicateCandidate.objects.get(left=a, right=b)
    assert cand.evidence["name"] == "jamo_typo" and cand.evidence["birth_date"] == "exact"
    assert cand.evidence["phone"] == "exact" and cand.evidence.get("match_rule") in (
        "phone",
        "email",
    )
    # a second search stores nothing new
    assert services.find_duplicates().created_count == 0


def test_search_in_a_small_base_without_duplicates_finds_none(db: Any) -> None:
    """No pair meets a deterministic rule, so the prior cannot be estimated (it would be 0,
    whose match weight is log 0): the search keeps the default prior and completes."""
    load_people(40, seed=11)

    run = services.find_duplicates()

    assert run.status == "completed" and run.records >= 30
    assert not DuplicateCandidate.objects.exists()


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["회원번호", "이름", "휴대폰", "이메일", "생년월일"])
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    return path


def run_import(admin: Any, path: Path, source: str = "shop", dry_run: bool = False) -> ImportJob:
    from dangol.integration import services as integration

    job = integration.create_import_job(target="customers", source=source, path=path, actor=admin)
    integration.start_import(job=job, actor=admin, dry_run=dry_run, enqueue=False)
    return integration.run_import(job=job, matcher=matcher.probabilistic_matcher)


def test_import_matcher_links_sure_rows_and_queues_unsure_ones(
    admin: Any,
    make_customer: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    phone_owner = make_customer(full_name="최유나", contacts=[("mobile", "010-5555-6666")])
    sure = make_customer(full_name="이서연", birth_date=datetime.date(1985, 4, 10))
    unsure = make_customer(full_name="박지훈", birth_date=datetime.date(1979, 1, 2))
    asked: dict[str, Any] = {}

    def fake_link(new: pl.DataFrame, existing: pl.DataFrame, *, threshold: float) -> Any:
        asked["new"], asked["existing"] = new, existing
        by_name = dict(zip(new["full_name"], new["id"], strict=True))
        return pl.DataFrame(
            {
                "left_id": [by_name["이서연"], by_name["박지운"]],
                "right_id": [str(sure.pk), str(unsure.pk)],
                "probability": [0.995, 0.93],
                "match_rule": pl.Series([None, None], dtype=pl.String),
                "gamma_name": [7, 5],
                "gamma_birth_date": [4, 4],
            }
        )

    monkeypatch.setattr(matcher, "link", fake_link)
    path = write_csv(
        tmp_path / "shop.csv",
        [
            ["S1", "최유나", "010-5555-6666", "", ""],  # deterministic: the phone
            ["S2", "이서연", "", "", "1985-04-10"],  # sure
            ["S3", "박지운", "", "", "1979-01-02"],  # unsure: a new record and a question
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = run_import(admin, path)

    assert (job.matched_count, job.created_count) == (2, 1)
    # the engine saw only the rows the rules left, against the customers they could be
    assert set(asked["new"]["full_name"]) == {"이서연", "박지운"}
    assert set(asked["existing"]["id"].cast(pl.Int64)) == {sure.pk, unsure.pk}
    assert ExternalId.objects.get(source="shop", key="S1").customer_id == phone_owner.pk
    assert ExternalId.objects.get(source="shop", key="S2").customer_id == sure.pk
    new = ExternalId.objects.get(source="shop", key="S3").customer
    assert new is not None
    cand = DuplicateCandidate.objects.get()
    assert (cand.left_id, cand.right_id) == (unsure.pk, new.pk)
    assert cand.origin == CandidateOrigin.IMPORT and cand.probability == 0.93
    assert cand.evidence == {"name": "jamo_typo", "birth_date": "exact"}
    assert Customer.objects.count() == 4


def test_a_dry_run_queues_nothing(
    admin: Any,
    make_customer: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    unsure = make_customer(full_name="박지훈", birth_date=datetime.date(1979, 1, 2))
    monkeypatch.setattr(
        matcher,
        "link",
        lambda new, existing, threshold: pl.DataFrame(
            {
                "left_id": [new["id"][0]],
                "right_id": [str(unsure.pk)],
                "probability": [0.93],
                "match_rule": pl.Series([None], dtype=pl.String),
            }
        ),
    )
    path = write_csv(tmp_path / "shop.csv", [["S3", "박지운", "", "", "1979-01-02"]])
    with django_capture_on_commit_callbacks(execute=True):
        job = run_import(admin, path, dry_run=True)
    assert job.created_count == 1
    assert not DuplicateCandidate.objects.exists()
