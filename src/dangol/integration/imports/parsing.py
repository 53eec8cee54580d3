"""Parsing what Korean spreadsheets contain: dates, amounts, yes/no, genders, regions, phones and
e-mails in any format. Every failure is a ``FieldIssue`` with a stable code and a translated
message.

Phones and e-mails go through ``dangol.core.normalize``; the common shapes (010-1234-5678,
plain ASCII addresses) take a fast path that yields exactly the same values (a test compares
them on a large sample), because the general parser costs 50-150 µs per value.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.normalize import (
    LEGACY_MOBILE_PREFIXES,
    NormalizationError,
    PhoneKind,
    email_match_key,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
)


class FieldIssue(Exception):
    """A value that cannot be used: stable ``code``, translated ``message``."""

    def __init__(self, code: str, message: Any) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


class Text:
    """Parses a text field: stripped, at most ``limit`` characters (0: any length). A class,
    not a closure, so the column path (``speedpaths.parse_column``) can strip a whole column
    and call it only for the texts that are too long."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit

    def __call__(self, raw: str) -> str:
        text = raw.strip()
        if self.limit and len(text) > self.limit:
            raise FieldIssue("too_long", _("At most %d characters.") % self.limit)
        return text


class KnownText:
    """Parses a free-text field whose known values a file may write as their labels (the
    signup channel: "Store" / "매장" → ``store``): the text as ``Text`` parses it, replaced by
    the value its lower case names in ``known`` (``FieldSpec.accepted``), else kept as it is."""

    __slots__ = ("known", "text")

    def __init__(self, limit: int, known: dict[str, str]) -> None:
        self.text = Text(limit)
        self.known = known

    def __call__(self, raw: str) -> str:
        text = self.text(raw)
        return self.known.get(text.lower(), text)


# --- phones and e-mails ---------------------------------------------------------------------

_KR_META = phonenumbers.PhoneMetadata.metadata_for_region("KR")
assert _KR_META is not None
assert _KR_META.mobile is not None
_KR_MOBILE = re.compile(str(_KR_META.mobile.national_number_pattern))
_FAST_MOBILE = re.compile(r"(?:\+82[ -]?|0)?(1[016789])[ .-]?(\d{3,4})[ .-]?(\d{4})")


def phone_values(raw: str) -> dict[str, Any]:
    """The stored columns of a phone contact point (as ``customers.services`` computes them)."""
    text = raw.strip()
    m = _FAST_MOBILE.fullmatch(text)
    if m is not None:
        prefix, middle, last = m.groups()
        nsn = prefix + middle + last
        if _KR_MOBILE.fullmatch(nsn):
            e164 = "+82" + nsn
            return {
                "normalized": e164,
                "match_key": e164,
                "last4": last,
                "is_legacy": nsn.startswith(LEGACY_MOBILE_PREFIXES),
                "is_landline": False,
            }
    try:
        phone = normalize_phone(raw)
    except NormalizationError as exc:
        raise FieldIssue(exc.code, exc.message) from None
    return {
        "normalized": phone.e164,
        "match_key": phone.e164,
        "last4": phone.last4,
        "is_legacy": phone.is_legacy,
        "is_landline": phone.kind == PhoneKind.LANDLINE,
    }


_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+"
_FAST_EMAIL = re.compile(
    rf"({_ATOM}(?:\.{_ATOM})*)@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}})"
)


def email_values(raw: str) -> dict[str, Any]:
    """The stored columns of an e-mail contact point."""
    text = raw.strip()
    m = _FAST_EMAIL.fullmatch(text) if len(text) <= 254 else None
    if m is not None:
        normalized = f"{m.group(1)}@{m.group(2).lower()}"
        return {
            "normalized": normalized,
            "match_key": normalized.lower(),
            "last4": "",
            "is_legacy": False,
        }
    try:
        normalized = normalize_email(raw)
        key = email_match_key(normalized)
    except NormalizationError as exc:
        raise FieldIssue(exc.code, exc.message) from None
    return {"normalized": normalized, "match_key": key, "last4": "", "is_legacy": False}


def parse_postal_code(raw: str) -> str:
    """A Korean postal code as ``core.normalize.normalize_postal_code`` stores it: ``06236``
    (``6236`` too, its leading zero lost in a spreadsheet), or an old ``135-080``."""
    try:
        return normalize_postal_code(raw)
    except NormalizationError as exc:
        raise FieldIssue(exc.code, exc.message) from None


# --- dates and times ------------------------------------------------------------------------

_DATE = re.compile(
    r"(\d{4})\s*(?:[-./]\s*(\d{1,2})\s*[-./]\s*(\d{1,2})\.?|년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일?"
    r"|(\d{2})(\d{2}))"
)
# An optional time: h:mm[:ss[.ffffff]] on a 24-hour clock, or on a 12-hour clock with 오전/오후
# or AM/PM (any case) before or after it, as Korean POS, ERP and .NET exports write
# (``2024-10-03 오후 3:15:00``, ``2024-10-03 3:15 PM``); then an optional ISO offset.
_HALF = r"(?i:오전|오후|am|pm)"
_TIME = re.compile(
    rf"(?:[T\s]+(?:({_HALF})\s*)?(\d{{1,2}}):(\d{{2}})(?::(\d{{2}})(?:\.(\d{{1,6}}))?)?"
    rf"(?:\s*({_HALF}))?)?\s*(Z|[+-]\d{{2}}:?\d{{2}})?"
)
_AFTERNOON = frozenset({"오후", "pm"})


def _hour(hh: str | None, before: str | None, after: str | None) -> int:
    """The 24-hour hour of a time's hour and its 오전/오후 (AM/PM) marker, if any: 12 오전 is
    0 h, 12 오후 is 12 h; a marked hour must be 1-12 and a time has one marker at most
    (``FieldIssue`` otherwise)."""
    hour = int(hh or 0)
    half = (before or after or "").lower()
    if not half:
        return hour
    if (before and after) or not 1 <= hour <= 12:
        raise FieldIssue(
            "invalid_datetime",
            _("With AM or PM write the hour as 1 to 12, and the marker once: 2024-03-01 2:30 PM."),
        )
    return hour % 12 + (12 if half in _AFTERNOON else 0)


def _local_tz() -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def parse_date(raw: str) -> datetime.date:
    """2024-03-01, 2024.03.01, 2024/3/1, 20240301, 2024년 3월 1일 (a time part is ignored)."""
    text = raw.strip()
    m = _DATE.match(text)
    if m is None or (len(text) > m.end() and not _TIME.fullmatch(text, m.end())):
        raise FieldIssue("invalid_date", _("Enter a date such as 2024-03-01."))
    y, mo, d = (
        m.group(1),
        m.group(2) or m.group(4) or m.group(6),
        m.group(3) or m.group(5) or m.group(7),
    )
    try:
        return datetime.date(int(y), int(mo), int(d))
    except ValueError:
        raise FieldIssue("invalid_date", _("This date does not exist.")) from None


# A birth date as six digits, YYMMDD (the front half of a 주민등록번호, as most Korean POS and
# membership exports write it): ASCII digits only, nothing else in the cell.
_SHORT_DATE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})")


def short_year_date(yy: int, month: int, day: int, today: datetime.date) -> datetime.date:
    """The date of a two-digit year: 20YY when that day is not after ``today``, else 19YY
    (``260301`` read on 2026-11-23 is 2026-03-01; ``740211`` and ``261231`` are 1974 and 1926).
    The choice is made on the numbers, before the date is checked, so a day that does not
    exist (``010229``) is rejected rather than moved to another century."""
    year = 2000 + yy
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise FieldIssue("invalid_date", _("This date does not exist.")) from None


def parse_birth_date(raw: str) -> datetime.date:
    """A birth date: what ``parse_date`` reads, and six digits YYMMDD (``740211``), whose
    century ``short_year_date`` chooses (20YY unless that is after today, else 19YY). Only
    birth dates take the short form: in an order, contract or start date six digits may as
    well be a YYYYMM month, and a future date is meaningful there."""
    m = _SHORT_DATE.fullmatch(raw.strip())
    if m is None:
        return parse_date(raw)
    return short_year_date(int(m[1]), int(m[2]), int(m[3]), timezone.localdate())


def parse_datetime(raw: str) -> datetime.datetime:
    """A date (midnight, Korean time) or a date and time; ISO offsets are honoured. The time
    may be on a 12-hour clock with 오전/오후 or AM/PM (``2024. 10. 3. 오후 3:15:00``,
    ``2024년 10월 3일 오후 3:15``, ``2024-10-03 3:15 PM``)."""
    text = raw.strip()
    m = _DATE.match(text)
    t = _TIME.fullmatch(text, m.end()) if m is not None else None
    if m is None or t is None:
        raise FieldIssue("invalid_datetime", _("Enter a date and time such as 2024-03-01 14:30."))
    day = parse_date(text[: m.end()])
    before, hh, mm, ss, frac, after, offset = t.groups()
    hour = _hour(hh, before, after)
    try:
        value = datetime.datetime(
            day.year,
            day.month,
            day.day,
            hour,
            int(mm or 0),
            int(ss or 0),
            int((frac or "0").ljust(6, "0")),
        )
    except ValueError:
        raise FieldIssue("invalid_datetime", _("This time does not exist.")) from None
    if offset:
        if offset == "Z":
            tz: datetime.tzinfo = datetime.UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            tz = datetime.timezone(
                sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            )
        return value.replace(tzinfo=tz)
    return value.replace(tzinfo=_local_tz())


# --- numbers --------------------------------------------------------------------------------

_AMOUNT_NOISE = re.compile(r"[\s,₩￦원]|KRW", re.IGNORECASE)


def parse_amount(raw: str) -> Decimal:
    """1,234,000 / ₩1,234,000 / 1234000원 / 12.50 → Decimal."""
    text = _AMOUNT_NOISE.sub("", raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FieldIssue("invalid_amount", _("Enter an amount such as 12,000.")) from None
    if not value.is_finite():
        raise FieldIssue("invalid_amount", _("Enter an amount such as 12,000."))
    return value


def parse_int(raw: str) -> int:
    text = raw.replace(",", "").strip()
    if text.endswith(".0"):
        text = text[:-2]
    try:
        return int(text)
    except ValueError:
        raise FieldIssue("invalid_number", _("Enter a whole number.")) from None


# --- yes / no, genders, regions -------------------------------------------------------------

YES = frozenset(
    {
        "y",
        "yes",
        "true",
        "t",
        "1",
        "o",
        "예",
        "네",
        "동의",
        "수신",
        "수신동의",
        "승인",
        "허용",
        "on",
    }
)
NO = frozenset(
    {
        "n",
        "no",
        "false",
        "f",
        "0",
        "x",
        "아니오",
        "아니요",
        "거부",
        "미동의",
        "비동의",
        "수신거부",
        "거절",
        "철회",
        "off",
    }
)


def parse_bool(raw: str) -> bool:
    """Y/N, 예/아니오, 동의/거부, O/X, 1/0, true/false."""
    text = raw.strip().lower()
    if text in YES:
        return True
    if text in NO:
        return False
    raise FieldIssue("invalid_boolean", _("Enter Y or N (예/아니오, 동의/거부)."))


# What a file may write for a gender (lower-cased; the field's labels in both languages are
# accepted too, ``FieldSpec.accepted``). 1-4 are the 7th digit of a 주민등록번호 (1/3 male, 2/4
# female: born in the 1900s / 2000s), as POS exports write the field, and as the matching engine
# reads it (``matching.prepare``). A word for "unknown" is the empty value: the row is kept and
# the stored gender left as it is.
GENDERS = {
    "m": "M",
    "male": "M",
    "man": "M",
    "남": "M",
    "남자": "M",
    "남성": "M",
    "1": "M",
    "3": "M",
    "f": "F",
    "w": "F",
    "female": "F",
    "woman": "F",
    "여": "F",
    "여자": "F",
    "여성": "F",
    "2": "F",
    "4": "F",
    "x": "X",
    "other": "X",
    "기타": "X",
    "u": "",
    "unknown": "",
    "미상": "",
    "모름": "",
    "알수없음": "",
}

REGIONS = {
    "서울": "seoul",
    "부산": "busan",
    "대구": "daegu",
    "인천": "incheon",
    "광주": "gwangju",
    "대전": "daejeon",
    "울산": "ulsan",
    "세종": "sejong",
    "경기": "gyeonggi",
    "강원": "gangwon",
    "충북": "chungbuk",
    "충청북도": "chungbuk",
    "충남": "chungnam",
    "충청남도": "chungnam",
    "전북": "jeonbuk",
    "전라북도": "jeonbuk",
    "전남": "jeonnam",
    "전라남도": "jeonnam",
    "경북": "gyeongbuk",
    "경상북도": "gyeongbuk",
    "경남": "gyeongnam",
    "경상남도": "gyeongnam",
    "제주": "jeju",
    "해외": "overseas",
}
_REGION_SUFFIX = re.compile(r"(특별자치시|특별자치도|특별시|광역시|자치시|자치도|시|도)$")


def parse_choice(raw: str, values: frozenset[str], aliases: dict[str, str] | None = None) -> str:
    text = raw.strip()
    if text in values:
        return text
    low = text.lower()
    if low in values:
        return low
    if aliases:
        if (hit := aliases.get(low)) is not None:
            return hit
        if (hit := aliases.get(_REGION_SUFFIX.sub("", text))) is not None:
            return hit
    raise FieldIssue("invalid_choice", _("Not a valid choice."))
