"""Duplicates in the base: the batch search stores candidates with evidence, is idempotent,
never reopens decided pairs, merges automatically above the threshold; review through the API
with record scope; the import pipeline's probabilistic matcher."""

from __future__ import annotations

import datetime
from typing import Any

import polars as pl
import pytest

from dangol.core.models import PiiAccessLog
from dangol.customers.models import Customer, MergeRecord, RecordStatus
from dangol.integration import services
from dangol.integration.models import CandidateOrigin, CandidateStatus, DuplicateCandidate
from dangol.integration.selectors import dedupe_settings

API = "/api/v1"


def engine_pairs(pairs: list[tuple[int, int, float, str | None]]) -> Any:
    """A stand-in for the matching engine returning the given pairs with its columns."""
    seen: dict[str, Any] = {}

    def finder(frame: pl.DataFrame, *, id_column: str, threshold: float) -> pl.DataFrame:
        seen["frame"], seen["threshold"] = frame, threshold
        return pl.DataFrame(
            {
                "left_id": [str(max(a, b)) for a, b, _p, _r in pairs],  # engine orders as text
                "right_id": [str(min(a, b)) for a, b, _p, _r in pairs],
                "probability": [p for _a, _b, p, _r in pairs],
                "match_probability": [p for _a, _b, p, _r in pairs],
                "match_weight": [10.0 for _ in pairs],
                "match_rule": pl.Series([r for *_x, r in pairs], dtype=pl.String),
                "gamma_name": [5 for _ in pairs],
                "gamma_birth_date": [4 for _ in pairs],
                "gamma_phone": [2 for _ in pairs],
                "gamma_email": [-1 for _ in pairs],
                "gamma_gender": [0 for _ in pairs],
            }
        )

    finder.seen = seen  # type: ignore[attr-defined]
    return finder


@pytest.fixture
def twins(make_customer: Any) -> tuple[Customer, Customer, Customer]:
    a = make_customer(
        full_name="김민준",
        birth_date=datetime.date(1990, 3, 15),
        gender="M",
        contacts=[("mobile", "010-1111-2222"), ("email", "mj@naver.com")],
    )
    b = make_customer(
        full_name="김민존",
        birth_date=datetime.date(1990, 3, 15),
        contacts=[("mobile", "01011112222")],
    )
    c = make_customer(full_name="이서연", contacts=[("mobile", "010-3333-4444")])
    return a, b, c


def test_search_reads_the_base_and_stores_candidates_with_evidence(twins: Any) -> None:
    a, b, _c = twins
    finder = engine_pairs([(a.pk, b.pk, 0.97, None)])

    run = services.find_duplicates(finder=finder)

    frame = finder.seen["frame"]
    row = frame.filter(pl.col("id") == a.pk).row(0, named=True)
    assert (row["family_name"], row["given_name"], row["birth_date"]) == (
        "김",
        "민준",
        "1990-03-15",
    )
    assert (row["phone"], row["email"], row["gender"]) == ("+821011112222", "mj@naver.com", "M")
    assert finder.seen["threshold"] == dedupe_settings().review_threshold
    assert (run.records, run.pairs_found, run.created_count) == (3, 1, 1)
    cand = DuplicateCandidate.objects.get()
    assert (cand.left_id, cand.right_id) == (a.pk, b.pk)  # ordered by id, not as text
    assert cand.status == CandidateStatus.PENDING and cand.origin == CandidateOrigin.BATCH
    assert cand.evidence == {
        "name": "jamo_typo",
        "birth_date": "exact",
        "phone": "exact",
        "email": "missing",
        "gender": "different",
    }


def test_rerun_is_idempotent_and_dismissed_pairs_stay_dismissed(twins: Any, admin: Any) -> None:
    a, b, c = twins
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.95, None)]))
    again = services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.96, None)]))
    assert (again.created_count, again.updated_count) == (0, 1)
    assert DuplicateCandidate.objects.get().probability == 0.96

    services.dismiss_candidate(candidate=DuplicateCandidate.objects.get(), actor=admin)
    third = services.find_duplicates(
        finder=engine_pairs([(a.pk, b.pk, 0.99, "phone"), (a.pk, c.pk, 0.91, None)])
    )
    assert (third.created_count, third.updated_count, third.skipped_count) == (1, 0, 1)
    dismissed = DuplicateCandidate.objects.get(left=a, right=b)
    assert dismissed.status == CandidateStatus.DISMISSED and dismissed.probability == 0.96
    assert DuplicateCandidate.objects.count() == 2


def test_auto_merge_above_the_threshold_only(twins: Any, make_customer: Any) -> None:
    a, b, c = twins
    d = make_customer(full_name="이서연")
    services.update_dedupe_settings(
        actor=None, changes={"auto_merge": True, "auto_merge_threshold": 0.98}
    )

    run = services.find_duplicates(
        finder=engine_pairs([(a.pk, b.pk, 1.0, "phone"), (c.pk, d.pk, 0.93, None)])
    )

    assert run.auto_merged_count == 1
    merged = DuplicateCandidate.objects.get(left=a, right=b)
    assert merged.status == CandidateStatus.MERGED and merged.reviewer is None
    record = MergeRecord.objects.get()
    assert record.automatic and record.probability == 1.0
    assert (record.survivor_id, record.merged_ids) == (a.pk, [b.pk])  # the older record stays
    b.refresh_from_db()
    assert b.status == RecordStatus.MERGED
    assert DuplicateCandidate.objects.get(left=c, right=d).status == CandidateStatus.PENDING
    # a second run neither merges again nor brings the merged pair back
    again = services.find_duplicates(finder=engine_pairs([(c.pk, d.pk, 0.93, None)]))
    assert (again.auto_merged_count, again.created_count) == (0, 0)


def test_settings_are_validated(admin: Any, make_user: Any) -> None:
    from dangol.core.errors import Forbidden, ValidationFailed

    with pytest.raises(ValidationFailed):
        services.update_dedupe_settings(actor=admin, changes={"review_threshold": 1.5})
    with pytest.raises(ValidationFailed):
        services.update_dedupe_settings(actor=admin, changes={"auto_merge_threshold": 0.5})
    with pytest.raises(Forbidden):
        services.update_dedupe_settings(actor=make_user("manager"), changes={"auto_merge": True})


# --- review through the API -------------------------------------------------------------------


def pair(make_customer: Any, owner: Any, **kw: Any) -> DuplicateCandidate:
    a = make_customer(
        full_name="박지훈",
        owner=owner,
        team=owner.team,
        contacts=[("mobile", "010-5555-6666")],
        **kw,
    )
    b = make_customer(
        full_name="박지운", owner=owner, team=owner.team, contacts=[("email", "jh@daum.net")], **kw
    )
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.95, None)]))
    return DuplicateCandidate.objects.get(left=a, right=b)


def test_review_queue_masks_and_reveal_is_logged(
    make_user: Any, make_customer: Any, api: Any
) -> None:
    lead = make_user("lead")  # team scope, PII permission
    cand = pair(make_customer, lead)
    client = api(lead)

    page = client.get(f"{API}/duplicates").json()
    assert [i["id"] for i in page["items"]] == [cand.pk]
    item = page["items"][0]
    assert item["left"]["contacts"][0]["value"] == "010-****-6666"
    assert {e["field"]: e["verdict"] for e in item["evidence"]}["phone"] == "agree"
    assert not PiiAccessLog.objects.exists()

    revealed = client.get(f"{API}/duplicates/{cand.pk}?reveal=true").json()
    assert revealed["left"]["contacts"][0]["value"] == "010-5555-6666"
    logged = PiiAccessLog.objects.filter(channel="api")
    assert sorted(int(x) for x in logged.values_list("object_id", flat=True)) == sorted(
        [cand.left_id, cand.right_id]
    )


def test_merge_dismiss_and_undo_through_the_api(
    make_user: Any, make_customer: Any, api: Any
) -> None:
    lead = make_user("lead")
    cand = pair(make_customer, lead)
    client = api(lead)

    bad = client.post(
        f"{API}/duplicates/{cand.pk}/merge", {"survivor_id": 10**9}, "application/json"
    )
    assert bad.status_code == 422
    merged = client.post(
        f"{API}/duplicates/{cand.pk}/merge", {"survivor_id": cand.right_id}, "application/json"
    )
    assert merged.status_code == 200, merged.json()
    assert merged.json()["status"] == "merged" and merged.json()["merge_id"]
    assert Customer.objects.get(pk=cand.left_id).merged_into_id == cand.right_id
    again = client.post(f"{API}/duplicates/{cand.pk}/dismiss")
    assert again.status_code == 409

    undone = client.post(f"{API}/duplicates/{cand.pk}/undo")
    assert undone.status_code == 200 and undone.json()["status"] == "pending"
    assert Customer.objects.get(pk=cand.left_id).status == RecordStatus.ACTIVE

    dismissed = client.post(f"{API}/duplicates/{cand.pk}/dismiss")
    assert dismissed.json()["status"] == "dismissed"
    assert dismissed.json()["reviewer_id"] == lead.pk


def test_another_teams_pair_answers_404(make_user: Any, make_customer: Any, api: Any) -> None:
    seoul = make_user("lead", team="seoul")
    busan = make_user("lead", team="busan")
    cand = pair(make_customer, seoul)
    client = api(busan)

    assert client.get(f"{API}/duplicates").json()["items"] == []
    assert client.get(f"{API}/duplicates/{cand.pk}").status_code == 404
    response = client.post(
        f"{API}/duplicates/{cand.pk}/merge", {"survivor_id": cand.left_id}, "application/json"
    )
    assert response.status_code == 404
    assert client.post(f"{API}/duplicates/{cand.pk}/dismiss").status_code == 404
    # one record visible is not enough
    mixed = pair(make_customer, seoul)
    Customer.objects.filter(pk=mixed.right_id).update(owner=busan, team=busan.team)
    assert client.get(f"{API}/duplicates/{mixed.pk}").status_code == 404
    # a role that may only view customers has no queue
    assert api(make_user("marketer")).get(f"{API}/duplicates").json()["items"] == []


def test_command_runs_the_search(twins: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from django.core.management import call_command

    from dangol.integration import matching

    a, b, _c = twins
    monkeypatch.setattr(matching, "find_duplicate_pairs", engine_pairs([(a.pk, b.pk, 0.97, None)]))
    out = io.StringIO()
    call_command("find_duplicates", stdout=out)
    assert "3 records, 1 pairs: 1 new" in out.getvalue()
    assert DuplicateCandidate.objects.count() == 1
