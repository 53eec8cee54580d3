from decimal import Decimal

import pytest

from dangol.core.masking import mask_email, mask_name, mask_phone
from dangol.core.money import Money, format_money, quantize
from dangol.core.normalize import (
    NormalizationError,
    PhoneKind,
    email_match_key,
    full_name,
    national_phone,
    normalize_email,
    normalize_phone,
    split_name,
    to_jamo,
)


@pytest.mark.parametrize(
    "raw",
    [
        "010-1234-5678",
        "01012345678",
        "+82 10 1234 5678",
        "010 1234 5678",
        "(010)1234-5678",
        "+82-10-1234-5678",
        "０１０-１２３４-５６７８",
    ],
)
def test_korean_mobile_formats_normalize_to_one_e164(raw):
    phone = normalize_phone(raw)
    assert phone.e164 == "+821012345678"
    assert phone.national == "010-1234-5678"
    assert phone.kind == PhoneKind.MOBILE
    assert not phone.is_legacy
    assert phone.last4 == "5678"


@pytest.mark.parametrize(
    ("e164", "national"),
    [
        ("+821012345678", "010-1234-5678"),
        ("+8221234567", "02-123-4567"),
        ("not a phone", "not a phone"),
    ],
)
def test_national_phone_is_what_lists_show_whatever_was_typed(e164, national):
    assert national_phone(e164) == national
    if national[0].isdigit():
        assert mask_phone(national_phone(e164)).count("*") == 4


def test_seoul_landline():
    phone = normalize_phone("02-123-4567")
    assert phone.e164 == "+8221234567"
    assert phone.kind == PhoneKind.LANDLINE
    assert phone.national == "02-123-4567"


@pytest.mark.parametrize(
    "raw", ["011-234-5678", "016-9876-5432", "017-123-4567", "018-234-5678", "019-345-6789"]
)
def test_second_generation_mobile_prefixes_are_flagged_legacy(raw):
    phone = normalize_phone(raw)
    assert phone.is_legacy
    assert phone.e164.startswith("+821")


@pytest.mark.parametrize(
    "raw", ["", "   ", "010-1234", "abc-defg", "010-1234-56789", "12", "+82 99 1"]
)
def test_invalid_phone_numbers_are_rejected_with_a_code(raw):
    with pytest.raises(NormalizationError) as exc:
        normalize_phone(raw)
    assert exc.value.code in {"phone_empty", "phone_invalid"}


def test_email_keeps_local_part_and_lowercases_and_encodes_domain():
    assert normalize_email("  Minjun.Kim@Example.COM ") == "Minjun.Kim@example.com"
    assert normalize_email("user@한국.kr") == "user@xn--3e0b707e.kr"
    assert email_match_key("Minjun.Kim@Example.COM") == "minjun.kim@example.com"


@pytest.mark.parametrize(
    "raw", ["", "no-at-sign", "a@@b.com", "@example.com", "user@", "us er@example.com"]
)
def test_invalid_emails(raw):
    with pytest.raises(NormalizationError):
        normalize_email(raw)


def test_korean_names():
    assert full_name("김", "민준") == "김민준"
    assert full_name("Kim", "Minjun") == "Minjun Kim"
    assert split_name("김민준") == ("김", "민준")
    assert split_name("남궁민수") == ("남궁", "민수")
    assert split_name("김 민준") == ("김", "민준")
    assert split_name("Minjun Kim") == ("Kim", "Minjun")
    # NFD input (as macOS produces) comes out NFC
    assert full_name("\u1100\u1175\u11b7", "민준") == "김민준"
    assert len(to_jamo("민준")) == 6


def test_money_has_no_minor_unit_in_krw():
    assert quantize("1234.5") == Decimal("1235")
    assert quantize("12.345", "USD") == Decimal("12.35")
    assert format_money(Decimal("1234000")) == "₩1,234,000"
    assert format_money(Decimal("-500")) == "-₩500"
    assert str(Money.of(1000) + Money.of(234)) == "₩1,234"
    with pytest.raises(ValueError):
        Money.of(1) + Money.of(1, "USD")
    with pytest.raises(ValueError):
        quantize("NaN")


def test_masking():
    assert mask_email("minjun.kim@example.com") == "mi********@example.com"
    assert mask_phone("010-1234-5678") == "010-****-5678"
    assert mask_name("김민준") == "김*준"
