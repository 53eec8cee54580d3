"""The synthetic people: shape, determinism, duplicates, and normalization parity."""

from __future__ import annotations

import polars as pl
import pytest

from dangol.core.normalize import email_match_key, normalize_email, normalize_phone
from dangol.demo.people import PEOPLE_COLUMNS, generate_people, generate_records, jamo_typo


def test_generate_people_has_the_public_columns_and_is_deterministic():
    a = generate_people(1_000, seed=7)
    assert a.columns == PEOPLE_COLUMNS
    assert len(a) == 1_000
    assert a.equals(generate_people(1_000, seed=7))
    assert not a.equals(generate_people(1_000, seed=8))


def test_about_three_percent_of_people_are_registered_more_than_once():
    people = generate_people(20_000, seed=1)
    per_person = people.group_by("person_id").len()
    dup_people = per_person.filter(pl.col("len") > 1).height / per_person.height
    assert 0.02 < dup_people < 0.04
    assert per_person["len"].max() == 3
    assert people["record_id"].n_unique() == len(people)


def test_duplicates_carry_real_world_noise():
    people = generate_people(20_000, seed=3)
    dups = people.filter(pl.col("person_id").is_duplicated())
    firsts = dups.group_by("person_id").agg(
        pl.col("phone").n_unique().alias("phones"),
        pl.col("full_name").n_unique().alias("names"),
        pl.col("signup_channel").n_unique().alias("channels"),
    )
    assert (firsts["phones"] > 1).mean() > 0.4  # typed in another format
    assert (firsts["names"] > 1).mean() > 0.1  # typos, swapped names
    assert (firsts["channels"] > 1).mean() > 0.4  # store and online
    # the same number underneath every format
    sample = dups.head(200)
    for pid, group in sample.group_by("person_id"):
        keys = {normalize_phone(p).e164 for p in group["phone"]}
        assert len(keys) == 1, pid


def test_generated_phone_and_email_equal_what_the_normalizers_give():
    records = generate_records(3_000, seed=11)
    for row in records.head(1_500).iter_rows(named=True):
        phone = normalize_phone(row["phone"])
        assert phone.e164 == row["phone_e164"]
        assert phone.national == row["phone_national"]
        assert phone.is_legacy == row["is_legacy_phone"]
        if row["email"]:
            local, _, domain = row["email"].partition("@")
            assert normalize_email(row["email"]) == f"{local}@{domain.lower()}"
            assert email_match_key(row["email"]) == row["email"].lower()
    assert records["is_legacy_phone"].any()


@pytest.mark.parametrize("name", ["민준", "서연", "영숙", "지훈"])
def test_jamo_typo_changes_one_syllable(name):
    import numpy as np

    typo = jamo_typo(name, np.random.default_rng(0))
    assert len(typo) == len(name)
    assert sum(a != b for a, b in zip(typo, name, strict=True)) == 1
