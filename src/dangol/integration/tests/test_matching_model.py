"""Identity resolution end to end on labelled records, and the `dedupe` command."""

from __future__ import annotations

import csv
import functools

import polars as pl
import pytest
from django.core.management import CommandError, call_command

from dangol.integration.matching import (
    cluster_ids,
    evidence_labels,
    find_duplicate_pairs,
    link_records,
)
from dangol.integration.tests.people_fixture import people


def _true_pairs(records: pl.DataFrame) -> pl.DataFrame:
    ids = records.select(pl.col("record_id").alias("id"), "person_id")
    joined = ids.join(ids, on="person_id", suffix="_r").filter(pl.col("id") < pl.col("id_r"))
    return joined.select(pl.col("id").alias("left_id"), pl.col("id_r").alias("right_id"))


@functools.cache
def _labelled_run() -> tuple[pl.DataFrame, pl.DataFrame]:
    records = people(n_persons=700, seed=1)
    found = find_duplicate_pairs(records.drop("person_id"), id_column="record_id")
    return records, found


def _pair_of(records: pl.DataFrame, **where: str) -> tuple[str, str]:
    ids = records.filter(**where)["record_id"].sort().to_list()
    return ids[0], ids[1]


def test_precision_and_recall_on_hard_labelled_records():
    records, found = _labelled_run()
    truth = _true_pairs(records)
    hits = found.join(truth, on=["left_id", "right_id"], how="semi").height
    precision, recall = hits / found.height, hits / truth.height
    assert precision >= 0.98, precision
    assert recall >= 0.95, recall


def test_pairs_are_ordered_unique_and_carry_evidence():
    _records, found = _labelled_run()
    assert (found["left_id"] < found["right_id"]).all()
    assert found.select("left_id", "right_id").is_duplicated().sum() == 0
    assert found["probability"].min() >= 0.9
    labels = evidence_labels()
    for column in ("gamma_name", "gamma_birth_date", "gamma_phone"):
        assert set(found[column].unique().to_list()) <= set(labels[column])


def test_siblings_and_twins_sharing_phone_and_address_are_not_merged():
    records, found = _labelled_run()
    shared = (
        records.filter(pl.col("phone") != "")
        .group_by("phone")
        .agg(pl.col("person_id").n_unique().alias("people"), pl.col("record_id"))
    )
    households = shared.filter(pl.col("people") > 1)
    assert households.height >= 10  # the fixture has them
    merged_across_people = (
        found.join(
            records.select("record_id", "person_id"), left_on="left_id", right_on="record_id"
        )
        .join(
            records.select("record_id", "person_id"),
            left_on="right_id",
            right_on="record_id",
            suffix="_r",
        )
        .filter(pl.col("person_id") != pl.col("person_id_r"))
    )
    assert merged_across_people.height <= 2


def test_small_hand_made_cases():
    rows = [
        # id, family, given, full, birth, phone, email, gender, person
        ("a1", "김", "민준", "", "1990-03-15", "010-1111-2222", "mj@naver.com", "M", "p1"),
        ("a2", "", "", "김민존", "1990-03-15", "01011112222", "MJ@NAVER.COM", "", "p1"),
        ("b1", "이", "서연", "", "1985-04-10", "010-3333-4444", "", "F", "p2"),
        # the lunar birthday (1985-02-21 lunar is 1985-04-10 solar), romanized name
        ("b2", "", "", "Seoyeon Lee", "1985-02-21", "+82 10-3333-4444", "", "F", "p2"),
        # the sibling: same phone and family name, other given name and birthday
        ("c1", "김", "민지", "", "1993-07-01", "010-1111-2222", "", "F", "p3"),
        # the other 김민준: same name, other birthday and contacts
        ("d1", "김", "민준", "", "1978-11-30", "010-5555-6666", "kmj78@daum.net", "M", "p4"),
        ("e1", "Smith", "James", "", "1970-01-02", "010-7777-8888", "js@gmail.com", "M", "p5"),
        ("e2", "", "", "James Smith", "1970-02-01", "", "JS@gmail.com", "M", "p5"),
    ]
    columns = ["id", "family_name", "given_name", "full_name", "birth_date", "phone", "email"]
    columns += ["gender", "person"]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    # enough unrelated people for the model to learn what "different" looks like
    filler = people(n_persons=300, seed=9).drop("person_id").rename({"record_id": "id"})
    records = pl.concat([frame.drop("person"), filler], how="diagonal_relaxed")
    found = find_duplicate_pairs(records, id_column="id")
    pairs = set(zip(found["left_id"], found["right_id"], strict=True))
    assert {("a1", "a2"), ("b1", "b2"), ("e1", "e2")} <= pairs
    assert not pairs & {("a1", "c1"), ("a2", "c1"), ("a1", "d1"), ("a2", "d1")}


def test_link_records_matches_new_rows_against_existing_ones():
    records = people(n_persons=300, seed=4)
    first = records.filter(pl.col("person_id").is_first_distinct())
    later = records.filter(~pl.col("person_id").is_first_distinct())
    links = link_records(later.drop("person_id"), first.drop("person_id"), id_column="record_id")
    assert set(links["left_id"]) <= set(later["record_id"])
    assert set(links["right_id"]) <= set(first["record_id"])
    truth = later.select("record_id", "person_id").join(
        first.select("record_id", "person_id"), on="person_id", suffix="_r"
    )
    truth = truth.select(
        pl.col("record_id").alias("left_id"), pl.col("record_id_r").alias("right_id")
    )
    hits = links.join(truth, on=["left_id", "right_id"], how="semi").height
    assert hits / links.height >= 0.97
    assert hits / truth.height >= 0.9


def test_cluster_ids_are_connected_components():
    pairs = pl.DataFrame({"left_id": ["1", "2", "7"], "right_id": ["2", "3", "8"]})
    clusters = cluster_ids(pairs, ids=pl.Series(["1", "2", "3", "7", "8", "9"]))
    by_id = dict(zip(clusters["id"], clusters["cluster_id"], strict=True))
    assert by_id == {"1": "1", "2": "1", "3": "1", "7": "7", "8": "7", "9": "9"}


def test_too_few_records_give_no_pairs():
    frame = pl.DataFrame({"id": ["1"], "full_name": ["김민준"]})
    assert find_duplicate_pairs(frame, id_column="id").is_empty()


def test_dedupe_command_reads_cp949_and_writes_sorted_pairs(tmp_path):
    records = people(n_persons=200, seed=2).drop("person_id")
    source = tmp_path / "people.csv"
    source.write_bytes(records.write_csv().encode("cp949"))
    target = tmp_path / "pairs.csv"
    call_command("dedupe", str(source), "--id-column", "record_id", "--output", str(target))
    with target.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["left_id", "right_id", "probability"]
    body = [(left, right) for left, right, _p in rows[1:]]
    assert body
    assert all(left < right for left, right in body)
    assert len(set(body)) == len(body)
    assert all(0.9 <= float(p) <= 1.0 for _l, _r, p in rows[1:])


def test_dedupe_command_rejects_a_missing_id_column(tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("id,full_name\n1,김민준\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no column"):
        call_command("dedupe", str(source), "--id-column", "nope", "--output", "x.csv")
