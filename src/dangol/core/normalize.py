"""Normalization of what people type: Korean phone numbers, e-mail addresses, Korean names.

Every contact point and name is stored both as entered and normalized, and lookups, matching
and deduplication use the normalized form.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext_lazy as _

DEFAULT_REGION = "KR"
# Second-generation mobile prefixes (011, 016-019), migrated to 010 since 2004: still valid to
# dial for a few subscribers, but a record carrying one is usually stale.
LEGACY_MOBILE_PREFIXES = ("11", "16", "17", "18", "19")


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"
    OTHER = "other"


class NormalizationError(ValueError):
    """A value that cannot be normalized; `code` is stable, `message` translated."""

    def __init__(self, code: str, message: object) -> None:
        super().__init__(code)  # the message is translated lazily, when shown
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class Phone:
    """A normalized phone number."""

    e164: str  # +821012345678
    national: str  # 010-1234-5678
    kind: PhoneKind
    is_legacy: bool

    @property
    def last4(self) -> str:
        return self.e164[-4:]


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> Phone:
    """Parse a phone number as typed in Korea (010-1234-5678, 01012345678, +82 10 ..., 02-...)."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        raise NormalizationError("phone_empty", _("Enter a phone number."))
    if not re.fullmatch(r"[0-9+()\-.\s]+", text):
        raise NormalizationError("phone_invalid", _("A phone number may only contain digits."))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise NormalizationError("phone_invalid", _("This is not a valid phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        raise NormalizationError("phone_invalid", _("This is not a valid phone number."))
    number_type = phonenumbers.number_type(number)
    if number_type in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        kind = PhoneKind.MOBILE
    elif number_type == phonenumbers.PhoneNumberType.FIXED_LINE:
        kind = PhoneKind.LANDLINE
    else:
        kind = PhoneKind.OTHER
    national_digits = str(number.national_number)
    is_legacy = (
        number.country_code == 82
        and kind == PhoneKind.MOBILE
        and national_digits.startswith(LEGACY_MOBILE_PREFIXES)
    )
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        national=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        kind=kind,
        is_legacy=is_legacy,
    )


@functools.lru_cache(maxsize=65536)
def national_phone(e164: str) -> str:
    """+821012345678 → 010-1234-5678 (what people in Korea read); anything unparsable as given."""
    try:
        number = phonenumbers.parse(e164, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


_email_validator = EmailValidator()


def normalize_email(raw: str) -> str:
    """Trim, lowercase the domain and IDNA-encode it; the local part keeps its case."""
    text = unicodedata.normalize("NFC", raw or "").strip()
    if text.count("@") != 1:
        raise NormalizationError("email_invalid", _("Enter a valid e-mail address."))
    local, domain = text.split("@")
    domain = domain.strip().rstrip(".").lower()
    if not local or not domain:
        raise NormalizationError("email_invalid", _("Enter a valid e-mail address."))
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise NormalizationError("email_invalid", _("Enter a valid e-mail address.")) from None
    email = f"{local}@{ascii_domain}"
    try:
        _email_validator(email)
    except ValidationError:
        raise NormalizationError("email_invalid", _("Enter a valid e-mail address.")) from None
    return email


def email_match_key(email: str) -> str:
    """The key e-mail lookups and matching use: the normalized address, case-folded."""
    return normalize_email(email).lower()


# Two-syllable family names (복성); everything else takes the first syllable.
COMPOUND_FAMILY_NAMES = frozenset(
    {"남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "어금", "망절", "소봉", "장곡"}
)


def is_hangul(text: str) -> bool:
    """Whether `text` is non-empty and made only of Hangul syllables."""
    return bool(text) and all("\uac00" <= ch <= "\ud7a3" for ch in text)


def clean_name(raw: str | None) -> str:
    """NFC, trimmed, inner runs of white space folded to one space."""
    return " ".join(unicodedata.normalize("NFC", raw or "").split())


def full_name(family: str, given: str) -> str:
    """Korean names are written family+given without a space (김민준); others "Given Family"."""
    family, given = clean_name(family), clean_name(given)
    if is_hangul(family + given.replace(" ", "")):
        return f"{family}{given.replace(' ', '')}"
    return " ".join(part for part in (given, family) if part)


def split_name(raw: str) -> tuple[str, str]:
    """Split a full name into (family, given). 김민준 → (김, 민준); 남궁민 → (남궁, 민);
    "Minjun Kim" → (Kim, Minjun)."""
    name = clean_name(raw)
    compact = name.replace(" ", "")
    if is_hangul(compact):
        if " " in name:
            family, _, given = name.partition(" ")
            return family, given.replace(" ", "")
        if len(compact) >= 3 and compact[:2] in COMPOUND_FAMILY_NAMES:
            return compact[:2], compact[2:]
        if len(compact) == 1:
            return "", compact
        return compact[:1], compact[1:]
    parts = name.split(" ")
    if len(parts) == 1:
        return "", parts[0]
    return parts[-1], " ".join(parts[:-1])


def to_jamo(text: str) -> str:
    """Hangul syllables decomposed into conjoining jamo (민준 → 민준), for edit distance."""
    return unicodedata.normalize("NFD", clean_name(text))


# 사업자등록번호: 3 digits (the tax office), 2 (the kind of business: 01-79 individuals, 81-88
# corporations ...), 4 (a serial number) and a check digit computed from the first nine.
BUSINESS_NUMBER_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
_BUSINESS_NUMBER_SEPARATORS = re.compile(r"[\s\-.]")


def business_number_check_digit(first9: str) -> int:
    """The check digit of a business registration number from its first nine digits: the
    digits weighted 1,3,7,1,3,7,1,3,5, plus the tens digit of the ninth digit × 5, and the
    check digit is what brings the sum to a multiple of ten."""
    digits = [int(c) for c in first9]
    if len(digits) != 9:
        raise ValueError("nine digits")
    total = sum(d * w for d, w in zip(digits, BUSINESS_NUMBER_WEIGHTS, strict=True))
    total += digits[8] * 5 // 10
    return (10 - total % 10) % 10


def normalize_business_number(raw: str) -> str:
    """A business registration number (사업자등록번호) as typed (``1234567891``,
    ``123-45-67891``, ``123 45 67891``, full-width digits) → ``123-45-67891``, the form it is
    stored and shown in. Raises ``NormalizationError`` with code ``invalid`` when it is not ten
    digits and ``checksum`` when its check digit does not match."""
    digits = _BUSINESS_NUMBER_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))
    if not (len(digits) == 10 and digits.isascii() and digits.isdigit()):
        raise NormalizationError("invalid", _("A business number has ten digits."))
    if business_number_check_digit(digits[:9]) != int(digits[9]):
        raise NormalizationError(
            "checksum",
            _("This business registration number is not valid: its check digit does not match."),
        )
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


# --- the initial-sound rule (두음법칙) of family names ---------------------------------------

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_SYLLABLES_PER_INITIAL = 21 * 28
_RIEUL, _NIEUN, _IEUNG = 5, 2, 11  # ㄹ, ㄴ, ㅇ among the 19 initial consonants
# vowels read with an i/y glide (ㅑ ㅒ ㅕ ㅖ ㅛ ㅠ ㅣ): ㄹ before them is dropped (리 → 이)
_Y_VOWELS = frozenset({2, 3, 6, 7, 12, 17, 20})


def fold_initial_sound(name: str) -> str:
    """``name`` with the 두음법칙 applied to its first syllable, as South Korea writes family
    names that North Korea and older records write with ㄹ: ㄹ before an i/y vowel is dropped
    (리 → 이, 류 → 유, 림 → 임, 려 → 여), else read ㄴ (라 → 나, 로 → 노, 뢰 → 뇌). The same fold
    the matching engine's ``korean.sound_key(family=True)`` makes on romanized names (Rhee/Lee
    → i, Ryu → yu, Lim → im, Ra → na). Anything else is returned as it is."""
    if not name or not _HANGUL_FIRST <= ord(name[0]) <= _HANGUL_LAST:
        return name
    index = ord(name[0]) - _HANGUL_FIRST
    initial, rest = divmod(index, _SYLLABLES_PER_INITIAL)
    if initial != _RIEUL:
        return name
    medial = rest // 28
    initial = _IEUNG if medial in _Y_VOWELS else _NIEUN
    return chr(_HANGUL_FIRST + initial * _SYLLABLES_PER_INITIAL + rest) + name[1:]


# --- postal codes and addresses -----------------------------------------------------------------

_POSTAL_SEPARATORS = re.compile(r"[\s\-.]")


def normalize_postal_code(raw: str) -> str:
    """A Korean postal code (우편번호) as typed → as stored: the five-digit code since 2015
    (``06236``; ``6236``, a spreadsheet's number that lost its leading zero, is ``06236``), or
    an old six-digit code (``135-080``, ``135080``) as ``135-080``, which older member files
    still hold. Full-width digits are read. Raises ``NormalizationError`` (code ``invalid``)
    for anything else, including five digits outside the codes in use (01000-63999)."""
    digits = _POSTAL_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))
    if digits.isascii() and digits.isdigit():
        if len(digits) == 4 and digits[0] != "0":
            digits = "0" + digits
        if len(digits) == 5 and "01" <= digits[:2] <= "63":
            return digits
        if len(digits) == 6 and digits[0] != "0":
            return f"{digits[:3]}-{digits[3:]}"
    raise NormalizationError(
        "invalid",
        _("Enter a postal code of five digits, such as 06236 (or an old one such as 135-080)."),
    )


# the long names of the provinces and metropolitan cities, as their short names (an address
# written 서울특별시 or 서울 is the same address)
REGION_SHORT = {
    "서울특별시": "서울",
    "부산광역시": "부산",
    "대구광역시": "대구",
    "인천광역시": "인천",
    "광주광역시": "광주",
    "대전광역시": "대전",
    "울산광역시": "울산",
    "세종특별자치시": "세종",
    "경기도": "경기",
    "강원특별자치도": "강원",
    "강원도": "강원",
    "충청북도": "충북",
    "충청남도": "충남",
    "전북특별자치도": "전북",
    "전라북도": "전북",
    "전라남도": "전남",
    "경상북도": "경북",
    "경상남도": "경남",
    "제주특별자치도": "제주",
}
_ADDRESS_NOISE = re.compile(r"[\s,.()#\"'\-]+")
_CITY_SUFFIX = re.compile(r"^(서울|부산|대구|인천|광주|대전|울산|세종)시(?=\s)")


@functools.lru_cache(maxsize=65_536)
def address_key(line1: str, line2: str = "") -> str:
    """The key two spellings of one postal address share: NFC, lower case, the province or
    city in its short form (서울특별시 / 서울시 → 서울), without spaces and punctuation, the
    detail (동·호수) after the address. ``서울특별시 강남구 테헤란로 152`` and ``서울 강남구
    테헤란로152`` are one address; the postal code is not part of the key (the same address
    with and without it is one)."""
    parts = []
    for line in (line1, line2):
        text = unicodedata.normalize("NFC", line or "").strip().lower()
        first, _space, rest = text.partition(" ")
        first = REGION_SHORT.get(first, first)
        text = _CITY_SUFFIX.sub(r"\1", f"{first} {rest}" if rest else first)
        parts.append(_ADDRESS_NOISE.sub("", text))
    return "|".join(parts)
