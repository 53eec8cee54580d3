"""Staff pages: the duplicate queue (masked, reveal logged, merge / dismiss / undo, another
team's pair 404), data quality with the plan form, exports with requester-only download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dangol.core.models import PiiAccessLog
from dangol.customers.models import Customer, RecordStatus
from dangol.integration import services
from dangol.integration.models import CandidateStatus, DuplicateCandidate, ExportJob
from dangol.integration.tests.test_duplicates import engine_pairs
from dangol.web.testing import apply_test_settings


@pytest.fixture(autouse=True)
def _web(settings: Any, tmp_path: Path) -> None:
    apply_test_settings(settings)
    settings.MEDIA_ROOT = tmp_path / "media"


def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


@pytest.fixture
def cand(make_user: Any, make_customer: Any) -> DuplicateCandidate:
    lead = make_user("lead", team="seoul", email="lead@dangol.test")
    a = make_customer(
        full_name="박지훈", owner=lead, team=lead.team, contacts=[("mobile", "010-5555-6666")]
    )
    b = make_customer(full_name="박지운", owner=lead, team=lead.team)
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.95, "phone")]))
    return DuplicateCandidate.objects.get()


def test_queue_shows_masked_pairs_and_reveal_is_logged(
    client: Any, cand: DuplicateCandidate
) -> None:
    lead = Customer.objects.get(pk=cand.left_id).owner
    signed_in(client, lead)
    page = client.get("/data/duplicates/")
    text = page.content.decode()
    assert page.status_code == 200 and "박지훈" in text and "박지운" in text
    assert "010-****-6666" in text and "010-5555-6666" not in text
    revealed = client.post(f"/data/duplicates/{cand.pk}/reveal/").content.decode()
    assert "010-5555-6666" in revealed
    logged = PiiAccessLog.objects.get(user=lead, channel="web")  # b has no contact data
    assert logged.object_id == str(cand.left_id)


def test_queue_query_count_does_not_grow_with_pairs(
    client: Any, cand: DuplicateCandidate, make_customer: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lead = Customer.objects.get(pk=cand.left_id).owner
    assert lead is not None
    signed_in(client, lead)
    client.get("/data/duplicates/")
    with CaptureQueriesContext(connection) as one:
        client.get("/data/duplicates/")
    more: list[tuple[int, int, float, str | None]] = []
    for i in range(3):
        a = make_customer(
            full_name=f"최유나{i}",
            owner=lead,
            team=lead.team,
            contacts=[("mobile", f"010-7777-000{i}")],
        )
        b = make_customer(full_name=f"최유니{i}", owner=lead, team=lead.team)
        more.append((a.pk, b.pk, 0.93, None))
    services.find_duplicates(finder=engine_pairs(more))
    with CaptureQueriesContext(connection) as four:
        page = client.get("/data/duplicates/")
    assert page.content.decode().count("duplicate-pair") == 4
    assert len(four) == len(one)


def test_queue_pages_through_every_pair_likeliest_first(
    client: Any, cand: DuplicateCandidate, make_customer: Any, monkeypatch: Any
) -> None:
    import re

    from dangol.integration import views

    monkeypatch.setattr(views, "QUEUE_SIZE", 2)
    lead = Customer.objects.get(pk=cand.left_id).owner
    assert lead is not None
    more: list[tuple[int, int, float, str | None]] = []
    for i, p in enumerate((0.93, 0.97, 0.93, 0.6)):
        a = make_customer(full_name=f"최유나{i}", owner=lead, team=lead.team)
        b = make_customer(full_name=f"최유니{i}", owner=lead, team=lead.team)
        more.append((a.pk, b.pk, p, None))
    services.find_duplicates(finder=engine_pairs(more))
    expected = list(
        DuplicateCandidate.objects.order_by("-probability", "-id").values_list("pk", flat=True)
    )
    signed_in(client, lead)

    seen: list[int] = []
    url = "/data/duplicates/"
    pages = []
    while url:
        text = client.get(url).content.decode()
        pages.append(text)
        seen += [int(x) for x in re.findall(r'action="/data/duplicates/(\d+)/merge/"', text)]
        nxt = re.search(r'href="\?([^"]*after=[^"]+)" rel="next"', text)
        url = f"/data/duplicates/?{nxt.group(1).replace('&amp;', '&')}" if nxt else ""

    assert seen == expected and len(pages) == 3  # five pairs, two a page, each once
    assert "status=pending" in pages[1] and 'rel="prev"' in pages[1]


def test_merge_then_undo_then_dismiss(client: Any, cand: DuplicateCandidate) -> None:
    lead = Customer.objects.get(pk=cand.left_id).owner
    signed_in(client, lead)
    client.post(f"/data/duplicates/{cand.pk}/merge/", {"survivor": cand.right_id})
    assert Customer.objects.get(pk=cand.left_id).status == RecordStatus.MERGED
    merged_page = client.get("/data/duplicates/?status=merged").content.decode()
    assert f"/data/duplicates/{cand.pk}/undo/" in merged_page
    client.post(f"/data/duplicates/{cand.pk}/undo/")
    assert Customer.objects.get(pk=cand.left_id).status == RecordStatus.ACTIVE
    client.post(f"/data/duplicates/{cand.pk}/dismiss/")
    cand.refresh_from_db()
    assert cand.status == CandidateStatus.DISMISSED


def test_another_teams_pair_is_not_found(
    client: Any, cand: DuplicateCandidate, make_user: Any
) -> None:
    signed_in(client, make_user("lead", team="busan"))
    assert "박지훈" not in client.get("/data/duplicates/").content.decode()
    assert client.get(f"/data/duplicates/{cand.pk}/").status_code == 404
    assert (
        client.post(f"/data/duplicates/{cand.pk}/merge/", {"survivor": cand.left_id}).status_code
        == 404
    )
    cand.refresh_from_db()
    assert cand.status == CandidateStatus.PENDING


def test_quality_page_and_plan_form(
    client: Any, admin: Any, make_customer: Any, make_user: Any
) -> None:
    make_customer(full_name="홍길동", source="pos", contacts=[("mobile", "011-234-5678")])
    signed_in(client, admin)
    page = client.get("/data/quality/")
    assert page.status_code == 200 and "pos" in page.content.decode()
    client.post("/data/quality/plan/", {"source": "pos", "level_email": "required"})
    from dangol.integration.quality import plan_for

    assert plan_for("pos") == {"email": "required"}
    signed_in(client, make_user("lead"))
    assert client.get("/data/quality/").status_code == 404


def test_export_page_and_download(
    client: Any, make_user: Any, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    marketer = make_user("marketer")
    make_customer(full_name="김민준", contacts=[("mobile", "010-1234-5678")])
    signed_in(client, marketer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/data/exports/", {"format": "csv", "q": "김민준"})
    job = ExportJob.objects.get()
    assert job.row_count == 1 and job.filters == {"q": "김민준"}
    listing = client.get("/data/exports/").content.decode()
    assert f"/data/exports/{job.pk}/download/" in listing
    body = b"".join(client.get(f"/data/exports/{job.pk}/download/").streaming_content)
    assert "010-****-5678" in body.decode("utf-8-sig")
    signed_in(client, make_user("manager"))
    assert client.get(f"/data/exports/{job.pk}/download/").status_code == 404


@pytest.mark.parametrize(
    ("language", "channel", "plan_item"),
    [("ko", "카카오톡", "이름 (필수)"), ("en", "KakaoTalk", "Name (Required)")],
)
def test_quality_page_words_channels_and_the_plan_in_the_users_language(
    client: Any, admin: Any, make_customer: Any, language: str, channel: str, plan_item: str
) -> None:
    make_customer(full_name="홍길동", source="pos", contacts=[("mobile", "010-2345-6789")])
    admin.language = language
    admin.save(update_fields=["language"])
    signed_in(client, admin)

    page = client.get("/data/quality/").content.decode()

    assert f'<th scope="row">{channel}</th>' in page
    assert plan_item in page
    assert '<th scope="row">kakao</th>' not in page and "name (required)" not in page


def test_export_page_filters_by_region_and_stage_from_lists(
    client: Any, make_user: Any, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    marketer = make_user("marketer")
    make_customer(full_name="김서울", region="seoul", lifecycle_stage="customer")
    make_customer(full_name="박서울", region="seoul", lifecycle_stage="lead")
    make_customer(full_name="이부산", region="busan", lifecycle_stage="customer")
    signed_in(client, marketer)

    page = client.get("/data/exports/").content.decode()
    assert '<option value="seoul">' in page and '<option value="lead">' in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/data/exports/", {"format": "csv", "region": "seoul", "lifecycle_stage": "customer"}
        )
    job = ExportJob.objects.get()
    assert job.filters == {"region": "seoul", "lifecycle_stage": "customer"}
    body = b"".join(client.get(f"/data/exports/{job.pk}/download/").streaming_content)
    text = body.decode("utf-8-sig")
    assert job.row_count == 1 and "김서울" in text and "박서울" not in text


def test_personal_data_file_from_the_customer_page(
    client: Any, admin: Any, make_user: Any, make_customer: Any
) -> None:
    import json

    customer = make_customer(full_name="홍길동", contacts=[("mobile", "010-2345-6789")])
    url = f"/data/personal-data/{customer.pk}/"
    signed_in(client, admin)

    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert url in page and f"{url}xlsx/" in page  # the JSON and the readable Excel document
    response = client.post(url)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["profile"]["full_name"] == "홍길동"
    assert [c["value"] for c in data["contact_points"]] == ["010-2345-6789"]  # unmasked
    assert PiiAccessLog.objects.filter(user=admin, object_id=str(customer.pk)).exists()
    assert client.get(url).status_code == 405  # a link prefetch reads nothing

    # the marketer exports lists but may not see personal data: no button, no file
    marketer = make_user("marketer")
    signed_in(client, marketer)
    assert url not in client.get(f"/customers/{customer.pk}/").content.decode()
    assert client.post(url).status_code == 404
    assert client.post(f"{url}xlsx/").status_code == 404
    assert not PiiAccessLog.objects.filter(user=marketer).exists()
