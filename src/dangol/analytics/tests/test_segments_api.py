"""Segment services, the REST API and the staff pages: CRUD, preview with masked samples,
members with cursor pagination, snapshots, permissions and scope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dangol.analytics import segment_services
from dangol.analytics.models import Segment, SegmentMember
from dangol.core.errors import Forbidden, ValidationFailed
from dangol.core.models import ChangeLog

BASE = "/api/v1/segments"
SEOUL = {"all": [{"field": "region", "op": "eq", "value": "seoul"}]}


@pytest.fixture
def people(make_customer: Any, make_user: Any) -> dict[str, Any]:
    rep = make_user("rep", "seoul")
    other = make_user("rep", "busan")
    mine = [make_customer(full_name=f"김고객{i}", region="seoul", owner=rep) for i in range(3)]
    theirs = make_customer(full_name="이서연", region="seoul", owner=other)
    make_customer(full_name="박지우", region="busan", owner=other)
    return {"rep": rep, "other": other, "mine": mine, "theirs": theirs}


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


# --- services -----------------------------------------------------------------------------------


def test_create_update_archive_with_audit(admin: Any) -> None:
    segment = segment_services.create_segment(name=" 서울 ", definition=SEOUL, actor=admin)
    assert segment.name == "서울" and segment.kind == "dynamic"
    with pytest.raises(ValidationFailed) as exc:
        segment_services.create_segment(name="서울", definition={"all": "x"}, actor=admin)
    assert {e.field for e in exc.value.errors} == {"name", "definition.all"}
    segment_services.update_segment(segment=segment, name="서울 고객", actor=admin)
    segment_services.archive_segment(segment=segment, actor=admin)
    segment_services.create_segment(name="서울 고객", definition=SEOUL, actor=admin)  # name free
    actions = list(
        ChangeLog.objects.filter(object_id=str(segment.pk), object_type="analytics.segment")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["segment.created", "segment.updated", "segment.archived"]


def test_only_the_creator_or_an_all_scope_user_may_change(
    people: dict[str, Any], make_user: Any
) -> None:
    segment = segment_services.create_segment(name="mine", definition=SEOUL, actor=people["rep"])
    with pytest.raises(Forbidden):
        segment_services.update_segment(segment=segment, name="x", actor=people["other"])
    marketer = make_user("marketer")
    segment_services.take_snapshot(segment=segment, actor=marketer)
    with pytest.raises(Forbidden):
        segment_services.create_segment(name="x", definition=SEOUL, actor=make_user(None))


# --- API ------------------------------------------------------------------------------------------


def test_api_crud_preview_members_and_snapshot(api: Any, people: dict[str, Any]) -> None:
    client = api(people["rep"])
    r = post(client, f"{BASE}/preview", {"definition": SEOUL})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["count"] == 3  # the rep's own customers only
    assert {s["name"] for s in body["sample"]} == {"김**0", "김**1", "김**2"}
    r = post(client, f"{BASE}/preview", {"definition": {"all": [{"field": "region", "op": "gt"}]}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "definition.all[0].op"

    r = post(client, BASE, {"name": "서울", "definition": SEOUL})
    assert r.status_code == 201, r.content
    sid = r.json()["id"]
    assert client.get(f"{BASE}/{sid}/count").json() == {"segment_id": sid, "count": 3}
    page = client.get(f"{BASE}/{sid}/members?limit=2").json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"{BASE}/{sid}/members?limit=2&cursor={page['next_cursor']}").json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert "김고객" not in json.dumps(page, ensure_ascii=False)  # names are masked

    r = client.patch(
        f"{BASE}/{sid}",
        data=json.dumps({"description": "서울 고객"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["description"] == "서울 고객"
    r = client.post(f"{BASE}/{sid}/snapshot")
    assert r.status_code == 201 and r.json()["count"] == 4  # stored unscoped
    assert SegmentMember.objects.filter(segment_id=sid).count() == 4
    listed = client.get(BASE).json()
    assert [s["id"] for s in listed["items"]] == [sid]
    assert client.post(f"{BASE}/{sid}/archive").json()["status"] == "archived"
    assert client.get(BASE).json()["items"] == []
    assert client.get(f"{BASE}/fields").status_code == 200


def test_api_answers_403_without_customer_view(api: Any, make_user: Any) -> None:
    client = api(make_user(None))
    assert client.get(BASE).status_code == 403
    assert post(client, f"{BASE}/preview", {"definition": SEOUL}).status_code == 403


def test_member_list_query_count_does_not_grow(api: Any, admin: Any, make_customer: Any) -> None:
    client = api(admin)
    segment = segment_services.create_segment(name="all", definition={"all": []}, actor=admin)
    make_customer(full_name="하나")
    client.get(f"{BASE}/{segment.pk}/members")
    with CaptureQueriesContext(connection) as few:
        client.get(f"{BASE}/{segment.pk}/members")
    for i in range(5):
        make_customer(full_name=f"고객{i}")
    with CaptureQueriesContext(connection) as many:
        client.get(f"{BASE}/{segment.pk}/members")
    assert len(many.captured_queries) == len(few.captured_queries)


# --- pages ----------------------------------------------------------------------------------------


def test_pages_list_builder_detail_and_preview(client: Client, people: dict[str, Any]) -> None:
    client.force_login(people["rep"])
    assert client.get("/segments/").status_code == 200
    r = client.get("/segments/new/")
    assert r.status_code == 200 and b"segment-builder-data" in r.content
    r = client.post(
        "/segments/new/",
        {"name": "서울", "kind": "static", "definition": json.dumps(SEOUL)},
    )
    assert r.status_code == 302
    segment = Segment.objects.get(name="서울")
    assert segment.snapshot_count == 4
    r = client.get(f"/segments/{segment.pk}/")
    assert r.status_code == 200 and "김**0" in r.content.decode()
    assert "이서연" not in r.content.decode()
    assert client.get(f"/segments/{segment.pk}/count/").content == b"3"
    r = client.post(
        "/segments/preview/",
        data=json.dumps({"definition": {"all": [{"field": "nope", "op": "eq"}]}}),
        content_type="application/json",
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "definition.all[0].field"
    r = client.post("/segments/new/", {"name": "", "kind": "dynamic", "definition": "{not json"})
    assert r.status_code == 422
    assert client.get(f"/segments/{segment.pk}/edit/").status_code == 200
    assert client.post(f"/segments/{segment.pk}/snapshot/").status_code == 302
    assert client.post(f"/segments/{segment.pk}/archive/").status_code == 302
    assert Segment.objects.get(pk=segment.pk).status == "archived"


def test_pages_refuse_users_without_customer_view(client: Client, make_user: Any) -> None:
    client.force_login(make_user(None))
    assert client.get("/segments/").status_code == 403
    assert client.get("/segments/new/").status_code == 403
