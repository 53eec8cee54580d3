"""Column-wise (per chunk) versions of the per-value parsers in ``parsing`` and of the name rules
of ``core.normalize``.

A chunk's column is checked at once: the common shapes (``010-1234-5678`` mobiles, plain ASCII
e-mails, ``2024-03-01`` / ``20240301`` / ``2024년 3월 1일`` dates, a birth date's ``740211``,
``2024-03-01 14:30[:05]`` times) are recognised with Polars (Rust) regexes that accept a
*subset* of what the per-value parsers accept, and produce the same values; every other value,
and every value the fast path cannot vouch for, goes through the per-value function, memoised
for the column (a chunk's dates, amounts, genders, yes/no cells and names repeat a lot). The
result of a column is therefore exactly what calling the per-value parser on each cell gives
(the tests in ``test_import_speedpaths.py`` compare both on thousands of varied values).

``parse_column`` returns, per cell, the parsed value, ``MISSING`` (an empty or blank cell) or
the ``FieldIssue`` the per-value parser raised.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from django.conf import settings
from django.utils import timezone

from dangol.core.normalize import LEGACY_MOBILE_PREFIXES, full_name, split_name
from dangol.integration.imports import parsing
from dangol.integration.imports.parsing import FieldIssue

MISSING: Any = object()

# Subsets of parsing._FAST_MOBILE / _FAST_EMAIL / _DATE / _TIME, ASCII digits only, anchored.
# 12-hour times (오전/오후, AM/PM) are left out: the per-value parser takes those cells.
_MOBILE_RS = r"^(?:\+82[ -]?|0)?(1[016789])[ .-]?([0-9]{3,4})[ .-]?([0-9]{4})$"
_KR_MOBILE_RS = "^(?:" + parsing._KR_MOBILE.pattern.replace(r"\d", "[0-9]") + ")$"
_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+"
_EMAIL_RS = (
    rf"^({_ATOM}(?:\.{_ATOM})*)@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63})$"
)
_DATE_RS = (
    r"^([0-9]{4})(?:[-./]([0-9]{1,2})[-./]([0-9]{1,2})|년 ?([0-9]{1,2})월 ?([0-9]{1,2})일"
    r"|([0-9]{2})([0-9]{2}))$"
)
# a birth date's YYMMDD (``parsing._SHORT_DATE``)
_SHORT_DATE_RS = r"^([0-9]{2})([0-9]{2})([0-9]{2})$"
_DATETIME_RS = (
    r"^([0-9]{4})[-./]([0-9]{1,2})[-./]([0-9]{1,2})"
    r"(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?$"
)


def _blank(text: str) -> bool:
    return not text or not text.strip()


def _plain(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def call(text: str) -> Any:
        try:
            return parse(text)
        except FieldIssue as exc:
            # kept as the cell's value: without its traceback, nor the ValueError it was raised
            # from (``raise … from None`` hides it but keeps it as ``__context__``, traceback
            # and all), whose frames hold the whole column (and this list of results) in a
            # reference cycle only the collector frees
            exc.__context__ = None
            return exc.with_traceback(None)

    return call


def _groups(texts: list[str], pattern: str, n: int) -> list[list[Any]]:
    """The ``n`` capture groups of ``pattern`` for each (stripped) text, as columns (None where
    the text does not match or the group did not take part)."""
    s = pl.Series("v", texts, dtype=pl.String).str.strip_chars()
    frame = s.str.extract_groups(pattern).struct.unnest()
    return [frame.to_series(i).to_list() for i in range(n)]


def _phones(texts: list[str], slow: Callable[[str], Any]) -> list[Any]:
    s = pl.Series("v", texts, dtype=pl.String).str.strip_chars()
    groups = s.str.extract_groups(_MOBILE_RS).struct.unnest()
    nsn = groups.select(pl.concat_str(pl.all()).alias("nsn")).to_series()
    ok = nsn.str.contains(_KR_MOBILE_RS).fill_null(False).to_list()
    legacy = nsn.str.starts_with(LEGACY_MOBILE_PREFIXES[0])
    for prefix in LEGACY_MOBILE_PREFIXES[1:]:
        legacy = legacy | nsn.str.starts_with(prefix)
    out: list[Any] = []
    for text, good, number, last, old in zip(
        texts, ok, nsn.to_list(), groups.to_series(2).to_list(), legacy.to_list(), strict=True
    ):
        if good:
            e164 = "+82" + number
            out.append(
                {
                    "normalized": e164,
                    "match_key": e164,
                    "last4": last,
                    "is_legacy": bool(old),
                    "is_landline": False,
                }
            )
        else:
            out.append(slow(text))
    return out


def _emails(texts: list[str], slow: Callable[[str], Any]) -> list[Any]:
    s = pl.Series("v", texts, dtype=pl.String).str.strip_chars()
    short = (s.str.len_chars() <= 254).to_list()
    local, domain = _groups(texts, _EMAIL_RS, 2)
    out: list[Any] = []
    for text, fits, loc, dom in zip(texts, short, local, domain, strict=True):
        if fits and loc is not None:
            normalized = f"{loc}@{dom.lower()}"
            out.append(
                {
                    "normalized": normalized,
                    "match_key": normalized.lower(),
                    "last4": "",
                    "is_legacy": False,
                }
            )
        else:
            out.append(slow(text))
    return out


def _dates(texts: list[str], slow: Callable[[str], Any]) -> list[Any]:
    y, m1, d1, m2, d2, m3, d3 = _groups(texts, _DATE_RS, 7)
    out: list[Any] = []
    made: dict[tuple[str, str, str], datetime.date] = {}
    for i, text in enumerate(texts):
        year = y[i]
        if year is not None:
            key = (year, m1[i] or m2[i] or m3[i], d1[i] or d2[i] or d3[i])
            hit = made.get(key)
            if hit is None:
                try:
                    hit = made[key] = datetime.date(int(key[0]), int(key[1]), int(key[2]))
                except ValueError:
                    hit = None
            if hit is not None:
                out.append(hit)
                continue
        out.append(slow(text))
    return out


def _birth_dates(texts: list[str], slow: Callable[[str], Any]) -> list[Any]:
    """``parsing.parse_birth_date`` of each text: YYMMDD through ``short_year_date`` with the
    day's date read once, every other text through ``_dates`` (the same values as
    ``parse_date``, which ``parse_birth_date`` is for them)."""
    yy, mm, dd = _groups(texts, _SHORT_DATE_RS, 3)
    out: list[Any] = [None] * len(texts)
    rest: list[int] = []
    today = timezone.localdate()
    for i, year in enumerate(yy):
        if year is None:
            rest.append(i)
            continue
        try:
            out[i] = parsing.short_year_date(int(year), int(mm[i]), int(dd[i]), today)
        except FieldIssue:
            out[i] = slow(texts[i])  # the per-value parser's issue, as it raises it
    if rest:
        for i, value in zip(rest, _dates([texts[i] for i in rest], slow), strict=True):
            out[i] = value
    return out


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(name)


def _datetimes(texts: list[str], slow: Callable[[str], Any]) -> list[Any]:
    y, mo, d, hh, mm, ss = _groups(texts, _DATETIME_RS, 6)
    tz = _zone(settings.TIME_ZONE)
    out: list[Any] = []
    for i, text in enumerate(texts):
        if y[i] is not None:
            try:
                out.append(
                    datetime.datetime(
                        int(y[i]),
                        int(mo[i]),
                        int(d[i]),
                        int(hh[i] or 0),
                        int(mm[i] or 0),
                        int(ss[i] or 0),
                        tzinfo=tz,
                    )
                )
                continue
            except ValueError:
                pass
        out.append(slow(text))
    return out


FAST_KINDS: dict[str, Callable[[list[str], Callable[[str], Any]], list[Any]]] = {
    "phone": _phones,
    "email": _emails,
    "date": _dates,
    "birthdate": _birth_dates,
    "datetime": _datetimes,
}
MIN_FAST = 64  # below this many cells the per-value path is as quick


def parse_column(kind: str, parse: Callable[[str], Any] | None, texts: Sequence[str]) -> list[Any]:
    """Per cell: the parsed value, ``MISSING`` (blank) or the ``FieldIssue`` of ``parse``.
    Without ``parse`` (a required field the mapping does not feed) the text is kept.

    Each distinct text of the column is parsed once (the per-value parsers are pure
    functions of the text): through the column's fast path when it has one, else through
    ``parse``; texts (``parsing.Text``) are stripped as a column."""
    n = len(texts)
    present = [i for i, t in enumerate(texts) if t and not t.isspace()]
    whole = len(present) == n
    if parse is None:
        if whole:
            return list(texts)
        out: list[Any] = [MISSING] * n
        for i in present:
            out[i] = texts[i]
        return out
    values = list(texts) if whole else [texts[i] for i in present]
    unique = list(dict.fromkeys(values))
    call = _plain(parse)
    fast = FAST_KINDS.get(kind)
    if isinstance(parse, parsing.Text):
        limit = parse.limit
        stripped = [v.strip() for v in unique]
        results = [s if len(s) <= limit else call(s) for s in stripped] if limit else stripped
    elif fast is not None and len(unique) >= MIN_FAST:
        results = fast(unique, call)
    else:
        results = [call(v) for v in unique]
    if len(unique) == len(values):
        parsed = results
    else:
        table = dict(zip(unique, results, strict=True))
        parsed = list(map(table.__getitem__, values))
    if whole:
        return parsed
    out = [MISSING] * n
    for i, value in zip(present, parsed, strict=True):
        out[i] = value
    return out


@functools.lru_cache(maxsize=65_536)
def resolve_name(family: str, given: str, full: str) -> tuple[str, str, str]:
    """The (family, given, full) a customer row ends with, as ``create_customer`` resolves them
    (``split_name`` when only the full name is given, then ``full_name``): a pure function of
    its inputs, so it is memoised (names repeat a lot)."""
    if full and not (family or given):
        family, given = split_name(full)
    if family or given:
        full = full_name(family, given)
    return family, given, full
