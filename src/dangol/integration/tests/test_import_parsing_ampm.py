"""Date-times on a 12-hour clock with 오전/오후 or AM/PM, as Korean POS, ERP and .NET exports
write them, parse to the same instant as their 24-hour form; the column fast path stays a
subset (it leaves these cells to the per-value parser, which gives the same values)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.conf import settings as django_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from dangol.integration.imports import parsing, speedpaths

LOCAL = zoneinfo.ZoneInfo(django_settings.TIME_ZONE)  # a time without offset is local


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2024-10-03 오후 3:15:00", (15, 15, 0)),
        ("2024. 10. 3. 오후 3:15:00", (15, 15, 0)),
        ("2024년 10월 3일 오후 3:15", (15, 15, 0)),
        ("2024-10-03 PM 3:15", (15, 15, 0)),
        ("2024-10-03 3:15 PM", (15, 15, 0)),
        ("2024-10-03 3:15 pm", (15, 15, 0)),
        ("2024-10-03 오후3:15", (15, 15, 0)),
        ("2024-10-03 오전 9:05:30", (9, 5, 30)),
        ("2024-10-03 12:00 오전", (0, 0, 0)),
        ("2024-10-03 오전 12:30", (0, 30, 0)),
        ("2024-10-03 오후 12:30", (12, 30, 0)),
        ("2024-10-03 12:30 AM", (0, 30, 0)),
        ("2024. 10. 3. 15:15", (15, 15, 0)),
        ("2024. 10. 3.", (0, 0, 0)),
        ("2024-10-03 15:15", (15, 15, 0)),
    ],
)
def test_twelve_hour_times(text: str, want: tuple[int, int, int]) -> None:
    value = parsing.parse_datetime(text)
    assert value == datetime.datetime(2024, 10, 3, *want, tzinfo=LOCAL)


@pytest.mark.parametrize(
    "text",
    [
        "2024-10-03 오후 13:15",
        "2024-10-03 오전 0:15",
        "2024-10-03 13:15 PM",
        "2024-10-03 오후 3:15 PM",
        "2024-10-03 오후",
        "2024-10-03 오후 3",
        "2024-10-03 저녁 3:15",
    ],
)
def test_bad_twelve_hour_times_are_rejected(text: str) -> None:
    with pytest.raises(parsing.FieldIssue) as exc:
        parsing.parse_datetime(text)
    assert exc.value.code == "invalid_datetime"


def test_a_marked_hour_out_of_range_says_how_to_write_it() -> None:
    with pytest.raises(parsing.FieldIssue) as exc:
        parsing.parse_datetime("2024-10-03 오후 13:15")
    assert "1" in str(exc.value.message) and "12" in str(exc.value.message)


def test_the_column_path_gives_the_per_value_result_for_marked_times() -> None:
    texts = [
        f"2024-10-{d:02d} {m} {h}:{mi:02d}"
        for d in (1, 2)
        for m in ("오전", "오후", "PM")
        for h in range(0, 14)
        for mi in (0, 59)
    ]
    texts += [f"2024-10-03 {h:02d}:30" for h in range(24)]  # plain ones take the fast path
    column = speedpaths.parse_column("datetime", parsing.parse_datetime, texts)
    assert len(texts) >= speedpaths.MIN_FAST
    for text, got in zip(texts, column, strict=True):
        want = _outcome(text)
        if isinstance(want, tuple):
            assert isinstance(got, parsing.FieldIssue), text
            assert (got.code, str(got.message)) == want, text
        else:
            assert got == want and got.utcoffset() == want.utcoffset(), text


def _outcome(text: str) -> datetime.datetime | tuple[str, str]:
    try:
        return parsing.parse_datetime(text)
    except parsing.FieldIssue as issue:
        return (issue.code, str(issue.message))


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2099, 12, 31)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    second=st.one_of(st.none(), st.integers(0, 59)),
    korean=st.booleans(),
    after=st.booleans(),
    upper=st.booleans(),
    date_form=st.sampled_from(["{y}-{m:02d}-{d:02d}", "{y}. {m}. {d}.", "{y}년 {m}월 {d}일"]),
)
def test_a_twelve_hour_time_is_its_24_hour_time(
    day: datetime.date,
    hour: int,
    minute: int,
    second: int | None,
    korean: bool,
    after: bool,
    upper: bool,
    date_form: str,
) -> None:
    twelve = hour % 12 or 12
    if korean:
        marker = "오후" if hour >= 12 else "오전"
    else:
        marker = ("PM" if hour >= 12 else "AM") if upper else ("pm" if hour >= 12 else "am")
    clock = f"{twelve}:{minute:02d}" + (f":{second:02d}" if second is not None else "")
    time = f"{clock} {marker}" if after else f"{marker} {clock}"
    date = date_form.format(y=day.year, m=day.month, d=day.day)
    plain = f"{day.isoformat()} {hour:02d}:{minute:02d}:{second or 0:02d}"
    assert parsing.parse_datetime(f"{date} {time}") == parsing.parse_datetime(plain)
