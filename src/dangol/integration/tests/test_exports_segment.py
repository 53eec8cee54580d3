"""Exporting a segment's customers: the reader's export scope and masking still apply."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from dangol.analytics import segment_services
from dangol.core.errors import ValidationFailed
from dangol.core.models import PiiAccessLog
from dangol.integration import exports, services
from dangol.integration.tests.test_exports import export, read_csv


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def shop(make_user: Any, make_customer: Any, admin: Any) -> dict[str, Any]:
    seoul = make_user("lead", team="seoul")
    busan = make_user("lead", team="busan")
    people = {
        "kim": make_customer(
            full_name="김민준",
            region="seoul",
            owner=seoul,
            team=seoul.team,
            birth_date=datetime.date(1990, 3, 15),
            contacts=[("mobile", "010-1234-5678")],
        ),
        "park": make_customer(
            full_name="박지훈",
            region="seoul",
            owner=busan,
            team=busan.team,
            contacts=[("mobile", "010-2222-3333")],
        ),
        "lee": make_customer(full_name="이서연", region="busan", owner=seoul, team=seoul.team),
    }
    segment = segment_services.create_segment(
        name="서울 고객",
        definition={"all": [{"field": "region", "op": "eq", "value": "seoul"}]},
        actor=admin,
    )
    return {"seoul": seoul, "busan": busan, "segment": segment, **people}


def names(job: Any) -> list[str]:
    return sorted(r[1] for r in read_csv(job)[1:])


def test_a_segment_export_holds_its_customers_within_the_readers_scope(
    shop: dict[str, Any], make_user: Any
) -> None:
    segment = shop["segment"].pk

    assert names(export(make_user("manager"), segment=segment)) == ["김민준", "박지훈"]
    # the Seoul team lead sees only their team's customers of the segment
    assert names(export(shop["seoul"], segment=segment)) == ["김민준"]
    assert names(export(shop["busan"], segment=segment)) == ["박지훈"]
    # the segment combines with the list filters
    assert names(export(make_user("manager"), segment=segment, q="김민준")) == ["김민준"]


def test_a_segment_export_masks_contacts_for_roles_without_pii(
    shop: dict[str, Any], make_user: Any
) -> None:
    job = export(make_user("marketer"), segment=shop["segment"].pk)

    keys = [k for k, _label in exports.COLUMNS]
    rows = [dict(zip(keys, r, strict=True)) for r in read_csv(job)[1:]]
    assert sorted(r["mobile"] for r in rows) == ["010-****-3333", "010-****-5678"]
    assert all(r["birth_date"] == "" for r in rows)
    assert not job.unmasked and not PiiAccessLog.objects.exists()


def test_an_unknown_or_hidden_segment_is_refused(shop: dict[str, Any], make_user: Any) -> None:
    for bad in (999_999, "abc", 0):
        with pytest.raises(ValidationFailed) as caught:
            services.request_export(
                actor=shop["seoul"], format="csv", filters={"segment": bad}, enqueue=False
            )
        assert caught.value.errors[0].code == "not_found"


def test_the_segment_page_links_to_an_export_of_it(
    shop: dict[str, Any], client: Any, make_user: Any
) -> None:
    client.force_login(make_user("manager"))
    segment = shop["segment"]

    detail = client.get(reverse("web:segment_detail", args=[segment.pk])).content.decode()
    assert f"/data/exports/?segment={segment.pk}" in detail
    page = client.get(f"/data/exports/?segment={segment.pk}")
    html = page.content.decode()
    assert page.context["segment"] == segment
    assert f'name="segment" value="{segment.pk}"' in html and "서울 고객" in html
    response = client.post("/data/exports/", {"format": "csv", "segment": segment.pk})
    assert response.status_code == 302
    job = services.ExportJob.objects.get()
    assert (job.filters, job.segment) == ({"segment": str(segment.pk)}, "서울 고객")
    assert "서울 고객" in client.get("/data/exports/").content.decode()  # the list says which
