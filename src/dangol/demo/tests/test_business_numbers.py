"""The demo organizations carry valid, distinct 사업자등록번호."""

from __future__ import annotations

import datetime

import pytest

from dangol.core.normalize import normalize_business_number
from dangol.customers.models import Organization
from dangol.demo import loader
from dangol.demo.company import business_number


def test_generated_numbers_are_valid_distinct_and_in_the_display_form() -> None:
    ids = [*range(1, 20_001), 799 * 10_000 - 1, 799 * 10_000, 63_919_999]
    numbers = [business_number(i) for i in ids]
    assert len(set(numbers)) == len(numbers)
    assert all(normalize_business_number(n) == n for n in numbers)
    assert {n[4:6] for n in numbers} <= {str(k) for k in range(81, 89)}  # corporations


@pytest.mark.django_db
def test_a_loaded_demo_company_has_only_valid_business_numbers(settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]
    loader.load(300, seed=42, as_of=datetime.date(2025, 11, 1), chunk=120)

    numbers = list(Organization.objects.values_list("business_number", flat=True))
    assert numbers and all(normalize_business_number(n) == n for n in numbers)
