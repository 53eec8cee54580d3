"""An export read back: a customer file exported in the Korean or the English UI (choice labels
in the requester's language: 충북 / North Chungcheong, 여성 / Female, 매장 / Store, 예 / Yes)
imports again with no rejected row and the same values, through the labels every choice field
accepts in every language (``FieldSpec.accepted``)."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from dangol.customers import services as customers
from dangol.customers.models import Customer, Gender, Region, SignupChannel
from dangol.integration import exports
from dangol.integration.imports.mapping import auto_mapping
from dangol.integration.imports.targets import CustomerTarget
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_exports_labels import export
from dangol.integration.tests.test_import_pipeline import run

SOURCE = "dangol-export"
# every region, and each gender and known signup channel, with a free-text channel beside
PEOPLE = [
    (
        region,
        [Gender.FEMALE, Gender.MALE, Gender.OTHER, Gender.UNKNOWN][i % 4],
        [*SignupChannel.values, "kiosk-3", ""][i % 6],
        i % 2 == 0,
    )
    for i, region in enumerate(Region.values)
]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(make_customer: Any, admin: Any) -> list[Customer]:
    out = []
    for i, (region, gender, channel, lunar) in enumerate(PEOPLE):
        c = make_customer(
            family_name="김",
            given_name=f"고객{i}",
            birth_date=datetime.date(1980, 1, 1) + datetime.timedelta(days=97 * i),
            birth_date_is_lunar=lunar,
            gender=gender,
            region=region,
            signup_channel=channel,
            contacts=[("mobile", f"010-5000-{i:04d}"), ("email", f"c{i}@example.com")],
        )
        customers.add_external_id(customer=c, source=SOURCE, key=str(c.pk), actor=admin)
        out.append(c)
    return out


FIELDS = ("gender", "region", "signup_channel", "birth_date_is_lunar", "birth_date")


@pytest.mark.parametrize("language", ["ko", "en"])
def test_an_export_in_either_language_reimports_with_the_same_values(
    language: str, people: list[Customer], make_user: Any, admin: Any
) -> None:
    path = exports.export_file(export(make_user("manager", language=language)))
    text = path.read_text(encoding="utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    labels = {"ko": ("충북", "여성", "매장"), "en": ("North Chungcheong", "Female", "Store")}
    assert set(labels[language]) <= {cell for row in rows for cell in row}  # labels, not codes

    # the values as the importer reads them, in the other language's UI too
    mapping = auto_mapping(header, CustomerTarget.specs)
    target = CustomerTarget(set(mapping.values()))
    texts = [
        {mapping[h]: v for h, v in zip(header, row, strict=True) if h in mapping} for row in rows
    ]
    with translation.override("en" if language == "ko" else "ko"):
        checked = target.clean_many(texts)
    assert [why for _data, why in checked if why] == []
    stored = {str(c.pk): c for c in people}
    for data, _why in checked:
        c = stored[data["external_id"]]
        assert {f: data.get(f, "") for f in FIELDS} == {f: getattr(c, f) for f in FIELDS}

    job = run(admin, "customers", path, dry_run=True, source=SOURCE)

    assert (job.status, job.rejected_count) == (ImportStatus.VALIDATED, 0)
    assert (job.unchanged_count, job.updated_count) == (len(PEOPLE), 0)  # nothing to change


def test_every_labelled_field_of_every_target_reads_its_labels_in_every_language() -> None:
    """Consent channels, product tiers, organization sizes, interaction kinds ...: a field
    with labels takes each label, in Korean and in English, as its value."""
    from django.conf import settings

    from dangol.integration.imports.targets import TARGETS, _parser

    checked = 0
    for target in TARGETS.values():
        for spec in target.specs:
            if not spec.labels:
                continue
            parse = _parser(spec)
            for value, label in spec.labels.items():
                if not value or (spec.choices and value not in spec.choices):
                    continue
                for code, _name in settings.LANGUAGES:
                    with translation.override(code):
                        text = str(label)
                    assert parse(f" {text.upper()} ") == value, (target.name, spec.name, text)
                    checked += 1
    assert checked > 50
