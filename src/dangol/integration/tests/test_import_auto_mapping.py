"""The mapping guessed from a file's headers: 이름 is a full name in most Korean files, but the
given name beside 성 (and beside 성명, as Dangol's own export writes them), whatever the order of
the columns; the export's headers map back in both languages."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from dangol.integration.exports import COLUMNS
from dangol.integration.imports.mapping import auto_mapping
from dangol.integration.imports.targets import CustomerTarget

SPECS = CustomerTarget.specs


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["이름", "휴대폰"], {"이름": "full_name"}),
        (["고객명", "이름"], {"고객명": "full_name", "이름": "given_name"}),
        (["성", "이름"], {"성": "family_name", "이름": "given_name"}),
        (["이름", "성"], {"이름": "given_name", "성": "family_name"}),
        (["이름", "성명", "성"], {"이름": "given_name", "성명": "full_name", "성": "family_name"}),
        (["name", "first_name"], {"name": "full_name", "first_name": "given_name"}),
    ],
)
def test_이름_is_the_full_name_alone_and_the_given_name_beside_성(
    header: list[str], expected: dict[str, str]
) -> None:
    mapping = auto_mapping(header, SPECS)
    assert {c: f for c, f in mapping.items() if c in expected} == expected


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_exports_person_columns_map_back(language: str, db: Any) -> None:
    with translation.override(language):
        header = [str(label) for _key, label in COLUMNS]
        by_key = dict(zip((k for k, _ in COLUMNS), header, strict=True))
        mapping = auto_mapping(header, SPECS)
    for key in ("full_name", "family_name", "given_name", "birth_date", "birth_date_is_lunar"):
        assert mapping.get(by_key[key]) == key, (language, key, by_key[key])
    for key in ("gender", "region", "mobile", "phone", "email", "signup_channel"):
        assert mapping.get(by_key[key]) == key, (language, key, by_key[key])
    assert mapping.get(by_key["created_at"]) == "signed_up"
