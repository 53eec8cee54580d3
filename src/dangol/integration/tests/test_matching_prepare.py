"""Normalisation and Korean name helpers used by the matching model."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from dangol.core.normalize import NormalizationError, email_match_key, normalize_phone
from dangol.integration.matching import korean
from dangol.integration.matching.prepare import (
    decode_bytes,
    prepare_records,
    read_records_csv,
)

PHONES = [
    "010-1234-5678",
    "01012345678",
    "010 1234 5678",
    "+82 10-1234-5678",
    "+821012345678",
    "82-10-1234-5678",
    "(010) 1234.5678",
    "011-234-5678",
    "02-123-4567",
    "031-123-4567",
    "1588-1234",
    "12345",
    "abc",
]
EMAILS = [
    "Minjun.Kim@Naver.com",
    " minjun_kim+shop@gmail.com ",
    "a..b@x.com",
    "no-at-sign",
    "홍길동@example.com",
    "user@한국.kr",
    "x@y",
    "first.last@sub.example.co.kr",
]


def _prepared(**columns: list[str | None]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return prepare_records(
        pl.DataFrame({"id": [str(i) for i in range(n)], **columns}), id_column="id"
    )


def _reference_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw).e164
    except NormalizationError:
        return None


def _reference_email(raw: str) -> str | None:
    try:
        return email_match_key(raw)
    except NormalizationError:
        return None


def test_phone_fast_path_agrees_with_core_normalize_phone():
    prepared = _prepared(phone=PHONES)
    assert prepared["phone"].to_list() == [_reference_phone(p) for p in PHONES]


def test_email_fast_path_agrees_with_core_email_match_key():
    prepared = _prepared(email=EMAILS)
    assert prepared["email"].to_list() == [_reference_email(e) for e in EMAILS]


def test_full_names_are_split_like_core_split_name():
    prepared = _prepared(full_name=["김민준", "남궁민수", "이 서연", "Minjun Kim", "Madonna", None])
    assert prepared["fam"].to_list() == ["김", "남궁", "이", "kim", None, None]
    assert prepared["giv"].to_list() == ["민준", "민수", "서연", "minjun", "madonna", None]
    assert prepared["name"].to_list()[:4] == ["김민준", "남궁민수", "이서연", "kimminjun"]


def test_split_columns_win_over_full_name():
    prepared = _prepared(family_name=["박", ""], given_name=["지우", ""], full_name=["", "최수빈"])
    assert prepared["name"].to_list() == ["박지우", "최수빈"]


@pytest.mark.parametrize(
    ("spellings", "family"),
    [
        (["김", "Kim", "Gim", "KIM"], True),
        (["이", "Lee", "Yi", "Rhee", "Ree", "I"], True),
        (["박", "Park", "Bak", "Pak"], True),
        (["최", "Choi", "Choe"], True),
        (["정", "Jung", "Jeong", "Chung"], True),
        (["윤", "Yoon", "Yun"], True),
        (["류", "유", "Ryu", "Yoo", "Yu"], True),
        (["안", "Ahn", "An"], True),
        (["민준", "Minjun", "Min-jun", "Minjoon", "Min Jun"], False),
        (["서연", "Seoyeon", "Seo-yeon", "Seo Yeon"], False),
        (["현우", "Hyunwoo", "Hyeonu", "Hyun-woo"], False),
        (["지우", "Jiwoo", "Ji-woo", "Jiu"], False),
    ],
)
def test_romanization_variants_share_one_sound_key(spellings, family):
    frame = pl.DataFrame({"name": spellings})
    keys = frame.select(korean.sound_key(pl.col("name"), family=family))["name"].to_list()
    assert len(set(keys)) == 1, dict(zip(spellings, keys, strict=True))


def test_sound_key_keeps_different_names_apart():
    frame = pl.DataFrame({"name": ["김", "박", "이", "최", "정", "강", "조", "장"]})
    keys = frame.select(korean.sound_key(pl.col("name"), family=True))["name"].to_list()
    assert len(set(keys)) == len(keys)


def test_jamo_code_makes_one_jamo_one_edit():
    codes = pl.DataFrame({"n": ["김민준", "김민존", "김민주", "김민지"]}).select(
        korean.jamo_code(pl.col("n"))
    )["n"]
    con = duckdb.connect()
    distances = [
        con.execute("select damerau_levenshtein(?, ?)", [codes[0], other]).fetchone()[0]
        for other in codes[1:]
    ]
    assert distances == [1, 1, 2]
    assert all(ord(ch) < 128 for ch in "".join(codes.to_list()))


def test_birth_dates_in_many_shapes_and_their_variants():
    prepared = _prepared(
        birth_date=["1990-03-15", "1990.3.15", "19900315", "1990/15/03", "1990-02-30", "", None]
    )
    assert prepared["birth_date"].to_list() == ["1990-03-15"] * 4 + [None, None, None]
    one = _prepared(birth_date=["1985-04-07"])
    assert one["birth_date_swapped"].item() == "1985-07-04"
    # 1990-03-15 read as a lunar date is 1990-04-10 in the solar calendar.
    assert prepared["birth_date_from_lunar"][0] == "1990-04-10"


def test_address_region_spellings_agree():
    prepared = _prepared(
        address=[
            "서울특별시 강남구 테헤란로 1, 101호",
            "서울 강남구 테헤란로 1 101호",
            "서울시 강남구 테헤란로 1",
        ]
    )
    assert prepared["address"][0] == prepared["address"][1]
    assert prepared["address_street"].n_unique() == 1


def test_gender_spellings():
    prepared = _prepared(gender=["남", "여성", "M", "female", "2", "x", ""])
    assert prepared["gender"].to_list() == ["M", "F", "M", "F", "F", None, None]


def test_ids_must_be_present_and_unique():
    with pytest.raises(KeyError):
        prepare_records(pl.DataFrame({"x": ["1"]}), id_column="id")
    with pytest.raises(ValueError, match="repeated"):
        prepare_records(pl.DataFrame({"id": ["1", "1"]}), id_column="id")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949", "euc-kr"])
def test_csv_in_korean_encodings_is_read(tmp_path, encoding):
    text = "id,full_name,phone\n1,김민준,010-1234-5678\n2,이서연,\n"
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode(encoding))
    frame = read_records_csv(path)
    assert frame.columns == ["id", "full_name", "phone"]
    assert frame["full_name"].to_list() == ["김민준", "이서연"]


def test_decode_falls_back_to_charset_detection():
    assert decode_bytes("plain ascii".encode("utf-16")) != ""
