"""A trained matching model is kept and reused: an import's chunks train it once."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dangol.integration.dedupe import matcher
from dangol.integration.matching import MemoryModelStore, link_records, model
from dangol.integration.models import MatchingModel
from dangol.integration.tests.people_fixture import people
from dangol.integration.tests.test_import_pipeline import run, write_csv


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a model was trained (each call records its number of records)."""
    calls: list[int] = []
    train = model._train

    def counting(linker: Any, inputs: Any, present: set[str], n: int, *, seed: int) -> Any:
        calls.append(n)
        return train(linker, inputs, present, n, seed=seed)

    monkeypatch.setattr(model, "_train", counting)
    return calls


def _halves() -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    records = people(n_persons=250, seed=7)
    first = records.filter(pl.col("person_id").is_first_distinct()).drop("person_id")
    later = records.filter(~pl.col("person_id").is_first_distinct()).drop("person_id")
    return first, [later[0::2], later[1::2]]


def test_a_stored_model_is_reused_and_links_like_a_fresh_one(trainings: list[int]) -> None:
    existing, (one, two) = _halves()
    store = MemoryModelStore()

    first = link_records(one, existing, id_column="record_id", models=store)
    second = link_records(two, existing, id_column="record_id", models=store)

    assert len(trainings) == 1 and store.trained == 1 and len(store.models) == 1
    fresh = link_records(two, existing, id_column="record_id")
    assert len(trainings) == 2
    assert not first.is_empty()
    pairs = {tuple(p) for p in second.select("left_id", "right_id").iter_rows()}
    fresh_pairs = {tuple(p) for p in fresh.select("left_id", "right_id").iter_rows()}
    assert len(pairs & fresh_pairs) / len(pairs | fresh_pairs) >= 0.95


def test_other_columns_need_another_model(trainings: list[int]) -> None:
    existing, (one, two) = _halves()
    store = MemoryModelStore()
    link_records(one, existing, id_column="record_id", models=store)

    link_records(two.drop("email"), existing.drop("email"), id_column="record_id", models=store)

    assert len(trainings) == 2 and len(store.models) == 2
    key = next(iter(store.models))
    assert key.startswith("link_only:")


def test_the_database_store_keeps_models_for_a_week(db: Any) -> None:
    store = matcher.DatabaseModelStore()
    store.put("link_only:abc", {"probability_two_random_records_match": 0.01}, records=10)
    assert store.get("link_only:abc") is None  # too few records to trust for a week
    store.put("link_only:abc", {"probability_two_random_records_match": 0.01}, records=1000)
    store.put("link_only:abc", {"probability_two_random_records_match": 0.02}, records=2000)

    assert store.get("link_only:abc") == {"probability_two_random_records_match": 0.02}
    assert MatchingModel.objects.get().records == 2000
    MatchingModel.objects.update(trained_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    assert store.get("link_only:abc") is None
    assert store.get("link_only:other") is None


def test_an_imports_chunks_train_the_model_once(
    admin: Any,
    make_customer: Any,
    tmp_path: Path,
    trainings: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(matcher, "MODEL_MIN_RECORDS", 0)  # a tiny file, for speed
    names = ["김민준", "이서연", "박지훈", "최유나", "정하은", "강도윤"]
    for i, name in enumerate(names):
        make_customer(
            full_name=name,
            birth_date=datetime.date(1980 + i, 1 + i, 10),
            contacts=[("mobile", f"010-5{i}00-00{i}0")],
        )
    rows = [
        [f"S{i}", name, f"010-7{i}11-11{i}1", "", f"{1980 + i}-{1 + i:02d}-10"]
        for i, name in enumerate(names)
    ]
    path = write_csv(
        tmp_path / "shop.csv", rows, header=["회원번호", "이름", "휴대폰", "이메일", "생년월일"]
    )

    job = run(admin, "customers", path, matcher=matcher.probabilistic_matcher, chunk_size=2)

    assert job.rows_read == 6
    assert len(trainings) == 1  # three chunks, one training
    assert MatchingModel.objects.count() == 1
    assert job.created_count + job.matched_count == 6
