"""사업자등록번호 (business registration number): format and check digit."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dangol.core.normalize import (
    NormalizationError,
    business_number_check_digit,
    normalize_business_number,
)

# Published numbers of well-known companies (on their sites' footers): NAVER Corp. and
# Samsung Electronics, both corporations (81 in the middle).
REAL = ["220-81-62517", "124-81-00998"]


def _generated(rng: random.Random) -> str:
    first9 = "".join(rng.choice("0123456789") for _i in range(9))
    return first9 + str(business_number_check_digit(first9))


@pytest.mark.parametrize("number", REAL)
def test_real_numbers_are_valid(number: str) -> None:
    assert normalize_business_number(number) == number
    assert normalize_business_number(number.replace("-", "")) == number


def test_the_check_digit_by_hand() -> None:
    # 220-81-6251?: 2·1 + 2·3 + 0·7 + 8·1 + 1·3 + 6·7 + 2·1 + 5·3 + 1·5 = 83, + (1·5) // 10 = 0
    assert business_number_check_digit("220816251") == 7
    # 124-81-0099?: 1 + 6 + 28 + 8 + 3 + 0 + 0 + 27 + 45 = 118, + 45 // 10 = 4 → 122 → 8
    assert business_number_check_digit("124810099") == 8
    # a sum that is already a multiple of ten gives 0, not 10
    assert business_number_check_digit("000000000") == 0


@pytest.mark.parametrize(
    "raw",
    ["1248100998", "124 81 00998", "124.81.00998", " 124-81-00998 ", "１２４-８１-００９９８"],
)
def test_common_spellings_are_read(raw: str) -> None:
    assert normalize_business_number(raw) == "124-81-00998"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "invalid"),
        ("124-81-0099", "invalid"),  # nine digits
        ("124-81-009981", "invalid"),  # eleven
        ("12a-81-00998", "invalid"),
        ("١٢٤٨١٠٠٩٩٨", "invalid"),  # digits, but not ASCII ones even after NFKC
        ("124-81-00999", "checksum"),
        ("123-45-67890", "checksum"),  # the usual placeholder is not a valid number
        ("220-81-62518", "checksum"),
    ],
)
def test_invalid_numbers_are_refused_with_a_code(raw: str, code: str) -> None:
    with pytest.raises(NormalizationError) as exc:
        normalize_business_number(raw)
    assert exc.value.code == code


def test_generated_numbers_are_valid_and_every_other_last_digit_is_not() -> None:
    rng = random.Random(5)
    for _i in range(500):
        number = _generated(rng)
        assert normalize_business_number(number).replace("-", "") == number
        for other in set("0123456789") - {number[9]}:
            with pytest.raises(NormalizationError):
                normalize_business_number(number[:9] + other)


@given(st.text("0123456789", min_size=9, max_size=9), st.integers(0, 8), st.integers(1, 9))
def test_a_single_wrong_digit_is_always_caught(first9: str, position: int, shift: int) -> None:
    # the weights 1, 3, 7 are units mod 10 and the ninth digit's 5d + d // 2 takes ten
    # different values mod 10, so one mistyped digit always changes the check digit
    number = first9 + str(business_number_check_digit(first9))
    typo = str((int(number[position]) + shift) % 10)
    wrong = number[:position] + typo + number[position + 1 :]
    with pytest.raises(NormalizationError):
        normalize_business_number(wrong)
