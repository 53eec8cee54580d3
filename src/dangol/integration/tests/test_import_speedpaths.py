"""The column-wise fast paths of the import pipeline give exactly what the per-value functions
give (``core.normalize`` and ``imports.parsing``), and the chunk writers record the change feed."""

from __future__ import annotations

import datetime
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangol.core.normalize import (
    NormalizationError,
    email_match_key,
    full_name,
    normalize_email,
    normalize_phone,
    split_name,
)
from dangol.customers.models import ChangeFeedEntry, ChangeOp, Customer
from dangol.integration.imports import parsing, speedpaths, targets
from dangol.integration.imports.identity import MatchCandidate, deterministic_matcher
from dangol.integration.imports.mapping import FieldSpec
from dangol.integration.tests.test_import_pipeline import ROWS, run, write_csv

RNG = random.Random(20261122)
SEPARATORS = ["-", "", " ", ".", "  ", "/"]


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(["010", "011", "016", "017", "018", "019", "10", "+82 10", "+8210", "02"])
    prefix = rng.choice([prefix, "+82-10", "+82 11", "0505", "070", "1588", "٠١٠"])
    middle = "".join(rng.choice("0123456789") for _ in range(rng.choice([3, 4, 4, 4, 5])))
    last = "".join(rng.choice("0123456789") for _ in range(rng.choice([4, 4, 4, 3])))
    sep = rng.choice(SEPARATORS)
    text = f"{prefix}{sep}{middle}{rng.choice([sep, sep, '-'])}{last}"
    return rng.choice(["", " ", "\t", "\u3000", "\x1c"]) + text + rng.choice(["", " ", "\n"])


def _email(rng: random.Random) -> str:
    local = rng.choice(["kim", "Min.Jun", "a+b", "x..y", ".x", "홍길동", "o'neil", "a b", "q"])
    domain = rng.choice(
        ["Example.COM", "naver.com", "sub.daum.net", "x", "-a.com", "한국.kr", "a.c", "b..com"]
    )
    at = rng.choice(["@", "@", "@", "@@", ""])
    return rng.choice(["", " "]) + f"{local}{at}{domain}" + rng.choice(["", " ", "."])


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1890, 2030), rng.randint(0, 13), rng.randint(0, 32)
    return rng.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{y}.{m}.{d}",
            f"{y}/{m}/{d}",
            f"{y}{m:02d}{d:02d}",
            f"{y}년 {m}월 {d}일",
            f"{y}년{m}월{d}일",
            f"{y}. {m}. {d}.",
            f"{y}-{m:02d}-{d:02d} 10:00:00",
            f"{y}-{m:02d}-{d:02d}T{rng.randint(0, 25)}:{rng.randint(0, 61):02d}",
            f"{y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 60):02d}",
            f"{y}-{m:02d}-{d:02d}T09:30:00+09:00",
            f"{y}-{m:02d}-{d:02d} {rng.choice(['오전', '오후', 'PM', 'am'])} "
            f"{rng.randint(0, 13)}:{rng.randint(0, 59):02d}",
            f"{y}. {m}. {d}. 오후 {rng.randint(0, 13)}:{rng.randint(0, 59):02d}:00",
            f"{y}-{m:02d}-{d:02d} {rng.randint(0, 13)}:{rng.randint(0, 59):02d} PM",
            f"{y}-{m:02d}-{d:02d} 09:30:00.25Z",
            f"{d}/{m}/{y}",
            "어제",
            f" {y}-{m:02d}-{d:02d} ",
        ]
    )


def _birth_date(rng: random.Random) -> str:
    """A birth date cell: any date shape, or six digits YYMMDD (real days, impossible ones,
    today's and tomorrow's, with blanks around, non-ASCII digits)."""
    today = datetime.date.today()
    near = today + datetime.timedelta(days=rng.randint(-2, 2))
    yy, m, d = rng.randint(0, 99), rng.randint(0, 13), rng.randint(0, 32)
    return rng.choice(
        [
            _date(rng),
            f"{yy:02d}{m:02d}{d:02d}",
            f"{yy:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            near.strftime("%y%m%d"),
            f" {yy:02d}{m:02d}{d:02d} ",
            rng.choice(["000229", "010229", "960229", "740211", "٧٤٠٢١١", "74021", "7402111"]),
        ]
    )


def _amount(rng: random.Random) -> str:
    n = rng.randint(-5, 3_000_000)
    return rng.choice([f"{n:,}", f"₩{n:,}", f"{n}원", f"{n}.50", "abc", "NaN", "1e3", f"{n} KRW"])


def _outcome(parse: Any, text: str) -> Any:
    """What the per-value parser gives: its value, or ``("issue", code, message)``."""
    try:
        return parse(text)
    except parsing.FieldIssue as exc:
        return ("issue", exc.code, str(exc.message))


def _same(kind: str, parse: Any, values: list[str]) -> None:
    """``parse_column`` equals calling ``parse`` on each cell (value, or code and message)."""
    column = speedpaths.parse_column(kind, parse, values)
    for text, got in zip(values, column, strict=True):
        if not text or not text.strip():
            assert got is speedpaths.MISSING, text
            continue
        want = _outcome(parse, text)
        if isinstance(want, tuple) and want and want[0] == "issue":
            assert isinstance(got, parsing.FieldIssue), (text, got)
            assert ("issue", got.code, str(got.message)) == want, text
            continue
        assert got == want, (text, got, want)
        if isinstance(want, dict | tuple):
            continue
        assert type(got) is type(want), text
        if hasattr(want, "tzinfo"):
            assert got.tzinfo == want.tzinfo and got.utcoffset() == want.utcoffset(), text


@pytest.mark.parametrize(
    ("kind", "parse", "make"),
    [
        ("phone", parsing.phone_values, _phone),
        ("email", parsing.email_values, _email),
        ("date", parsing.parse_date, _date),
        ("birthdate", parsing.parse_birth_date, _birth_date),
        ("date", parsing.parse_date, _birth_date),
        ("datetime", parsing.parse_datetime, _birth_date),
        ("datetime", parsing.parse_datetime, _date),
        ("amount", parsing.parse_amount, _amount),
        ("int", parsing.parse_int, _amount),
    ],
)
def test_columns_equal_the_per_value_parsers(kind: str, parse: Any, make: Any) -> None:
    values = [make(RNG) for _ in range(4000)] + ["", "  "]
    RNG.shuffle(values)
    _same(kind, parse, values)


def test_phone_and_email_columns_equal_core_normalization() -> None:
    phones = [_phone(RNG) for _ in range(3000)]
    for text, got in zip(
        phones, speedpaths.parse_column("phone", parsing.phone_values, phones), strict=True
    ):
        try:
            phone = normalize_phone(text)
        except NormalizationError:
            assert isinstance(got, parsing.FieldIssue), text
            continue
        assert (got["normalized"], got["match_key"], got["last4"], got["is_legacy"]) == (
            phone.e164,
            phone.e164,
            phone.last4,
            phone.is_legacy,
        ), text
    emails = [_email(RNG) for _ in range(3000)]
    for text, got in zip(
        emails, speedpaths.parse_column("email", parsing.email_values, emails), strict=True
    ):
        try:
            normalized, key = normalize_email(text), email_match_key(text)
        except NormalizationError:
            assert isinstance(got, parsing.FieldIssue), text
            continue
        assert (got["normalized"], got["match_key"]) == (normalized, key), text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789+-. ()\t가abc@x.", max_size=20), max_size=80))
def test_columns_of_arbitrary_text_equal_the_per_value_parsers(values: list[str]) -> None:
    for kind, parse in (
        ("phone", parsing.phone_values),
        ("email", parsing.email_values),
        ("date", parsing.parse_date),
        ("birthdate", parsing.parse_birth_date),
        ("datetime", parsing.parse_datetime),
    ):
        # above MIN_FAST cells the Polars path is taken: pad to get there
        _same(kind, parse, values + ["010-1234-5678"] * speedpaths.MIN_FAST)


@pytest.mark.parametrize(
    "spec",
    [
        targets.CustomerTarget.specs[5],  # birth_date_is_lunar (bool)
        targets.CustomerTarget.specs[6],  # gender (choice)
        targets.CustomerTarget.specs[7],  # region (choice)
        targets.CustomerTarget.specs[1],  # full_name (name)
        targets.CustomerTarget.specs[0],  # external_id (text, max length)
    ],
)
def test_memoised_columns_equal_the_per_value_parsers(spec: FieldSpec) -> None:
    cells = [
        *parsing.YES,
        *parsing.NO,
        *parsing.GENDERS,
        *parsing.REGIONS,
        "서울특별시",
        "경기도",
        "부산광역시",
        "  Y ",
        "maybe",
        "M",
        "seoul",
        " 김  민준 ",
        "x" * 101,
        "남궁 민",
        "Ｋｉｍ",
    ]
    values = [RNG.choice(cells) for _ in range(3000)]
    _same(spec.kind, targets._parser(spec), values)


def test_rejected_cells_leave_no_reference_cycle() -> None:
    """A cell the per-value parser rejects is kept as its ``FieldIssue`` without a traceback or
    the error it was raised from: nothing of the column is left for the cyclic collector (the
    pipeline turns it off while a chunk is built and collects once after)."""
    import gc

    texts = ["1990-02-30", "1990.02.31", "2024-03-01", "어제"] * 500
    gc.collect()
    gc.disable()
    try:
        column = speedpaths.parse_column("date", parsing.parse_date, texts)
        issues = [v for v in column if isinstance(v, parsing.FieldIssue)]
        assert len(issues) == 1500
        assert all(i.__traceback__ is None and i.__context__ is None for i in issues)
        del column, issues
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_names_resolve_like_split_name_and_full_name() -> None:
    family_names = ["김", "이", "남궁", "황보", "Kim", "", "O'Neil"]
    given_names = ["민준", "서연", "민", "Min Jun", "", "지 훈"]
    fulls = [
        "김민준",
        "남궁민",
        "황보석준",
        "Minjun Kim",
        "김 민준",
        "김",
        "Mary Ann Lee",
        "",
        "이",
    ]
    for _ in range(3000):
        family, given, full = (
            RNG.choice([RNG.choice(family_names), ""]),
            RNG.choice([RNG.choice(given_names), ""]),
            RNG.choice(fulls),
        )
        f, g, n = family, given, full
        if n and not (f or g):
            f, g = split_name(n)
        if f or g:
            n = full_name(f, g)
        assert speedpaths.resolve_name(family, given, full) == (f, g, n)


@pytest.mark.parametrize("target_cls", [targets.CustomerTarget, targets.OrderTarget])
def test_clean_many_equals_clean_row_by_row(target_cls: type[targets.Target]) -> None:
    names = [s.name for s in target_cls.specs]
    makers: dict[str, Any] = {
        "phone": _phone,
        "email": _email,
        "date": _date,
        "birthdate": _birth_date,
        "postal": lambda r: r.choice(["06236", "6236", "135-080", "123", "", "서울"]),
        "datetime": _date,
        "amount": _amount,
        "int": lambda r: r.choice(["1", "2", "0", "-1", "1,000", "x", "3.0"]),
        "bool": lambda r: r.choice(["Y", "N", "예", "maybe", ""]),
        "choice": lambda r: r.choice(["남", "F", "서울", "paid", "결제완료", "usd", "?"]),
        "name": lambda r: r.choice(["김민준", "Minjun Kim", "", " 남궁 민 "]),
        "text": lambda r: r.choice(["A1", "", "  ", "x" * 120, "B-SKU-1", "web"]),
    }
    kinds = {s.name: s.kind for s in target_cls.specs}
    texts = [
        {n: makers[kinds[n]](RNG) if RNG.random() > 0.1 else "" for n in names} for _ in range(2000)
    ]
    target = target_cls(set(names))
    together = target.clean_many(texts)
    for one, (data, reasons) in zip(texts, together, strict=True):
        assert target.clean(dict(one)) == (data, reasons)


# --- the database side ------------------------------------------------------------------------


@pytest.mark.django_db
def test_imported_customers_are_in_the_change_feed(admin: Any, tmp_path: Path) -> None:
    before = ChangeFeedEntry.objects.count()
    job = run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    created = set(Customer.objects.filter(external_ids__source="pos").values_list("pk", flat=True))
    entries = ChangeFeedEntry.objects.order_by("id")[before:]
    assert job.created_count == len(created) == 3
    assert {(e.object_type, e.object_id, e.op) for e in entries} == {
        ("customer", pk, ChangeOp.CREATED) for pk in created
    }
    assert all(e.data == {} for e in entries)

    changed = [r[:] for r in ROWS]
    changed[0][4] = "1991.03.01"  # A1's birth date changes; the others are unchanged
    mark = ChangeFeedEntry.objects.count()
    job = run(admin, "customers", write_csv(tmp_path / "m2.csv", changed))
    assert job.updated_count == 1
    a1 = Customer.objects.get(external_ids__source="pos", external_ids__key="A1")
    assert [(e.object_id, e.op) for e in ChangeFeedEntry.objects.order_by("id")[mark:]] == [
        (a1.pk, ChangeOp.UPDATED)
    ]


@pytest.mark.django_db
def test_lookups_take_any_number_of_keys_in_one_query(
    admin: Any, tmp_path: Path, django_assert_max_num_queries: Any
) -> None:
    rows = [
        [f"K{i}", "김민준", f"010-3{i // 1000:03d}-{i % 1000:04d}", "", "", ""] for i in range(2500)
    ]
    run(admin, "customers", write_csv(tmp_path / "many.csv", rows))
    keys = [f"K{i}" for i in range(2500)] + ["nobody"]
    with django_assert_max_num_queries(1):
        found, hidden = targets.customers_by_external_id("pos", keys, None)
    assert len(found) == 2500 and not hidden
    candidates = [
        MatchCandidate(
            index=i, external_id=f"X{i}", mobile_keys=[f"+82103{i // 1000:03d}{i % 1000:04d}"]
        )
        for i in range(2500)
    ]
    with django_assert_max_num_queries(1):
        matches = deterministic_matcher(candidates, None)
    assert matches == {i: found[f"K{i}"] for i in range(2500)}
