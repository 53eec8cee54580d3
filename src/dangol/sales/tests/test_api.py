"""The tasks API: list with cursor and filters, create, read, change, complete; scope and 404s."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.utils import timezone

from dangol.sales.models import Task

pytestmark = pytest.mark.django_db


def _post(client: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def test_create_read_update_complete(api: Any, make_user: Any, make_customer: Any) -> None:
    rep = make_user(role="rep")
    customer = make_customer(full_name="김민준", owner=rep)
    client = api(rep)
    due = (timezone.now() + datetime.timedelta(days=3)).isoformat()

    created = _post(
        client, "/api/v1/tasks", {"title": "재구매 안내", "due_at": due, "customer_id": customer.pk}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["assignee_id"] == rep.pk and body["status"] == "open"
    assert body["customer_id"] == customer.pk and body["source"] == "manual"

    got = client.get(f"/api/v1/tasks/{body['id']}").json()
    assert got["title"] == "재구매 안내"
    patched = client.patch(
        f"/api/v1/tasks/{body['id']}",
        json.dumps({"priority": "urgent", "title": "재구매 안내 (긴급)"}),
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["priority"] == "urgent"
    cleared = client.patch(
        f"/api/v1/tasks/{body['id']}",
        json.dumps({"description": None, "title": None}),
        content_type="application/json",
    )
    assert cleared.status_code == 200
    assert (cleared.json()["description"], cleared.json()["title"]) == ("", "재구매 안내 (긴급)")
    done = _post(client, f"/api/v1/tasks/{body['id']}/complete")
    assert done.status_code == 200
    assert done.json()["status"] == "done" and done.json()["completed_by_id"] == rep.pk
    reopened = _post(client, f"/api/v1/tasks/{body['id']}/reopen")
    assert reopened.json()["status"] == "open" and reopened.json()["completed_at"] is None


def test_create_rejects_a_customer_the_caller_cannot_see_and_foreign_assignees(
    api: Any, make_user: Any, make_customer: Any
) -> None:
    rep, other = make_user(role="rep"), make_user(role="rep")
    hidden = make_customer(full_name="남의 고객", owner=other)
    due = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    client = api(rep)

    r = _post(client, "/api/v1/tasks", {"title": "x", "due_at": due, "customer_id": hidden.pk})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_id"
    r = _post(client, "/api/v1/tasks", {"title": "x", "due_at": due, "assignee_id": other.pk})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "not_allowed"
    assert not Task.objects.exists()


def test_list_is_scoped_filtered_and_cursor_paginated(
    api: Any, make_user: Any, make_task: Any
) -> None:
    rep, colleague = make_user(role="rep"), make_user(role="rep")
    lead = make_user(role="lead")
    for i in range(5):
        make_task(rep, title=f"rep-{i}", due_in=i + 1)
    make_task(colleague, title="colleague")
    done = make_task(rep, title="done-one", due_in=10)
    api(rep).post(f"/api/v1/tasks/{done.pk}/complete")

    mine = api(rep).get("/api/v1/tasks", {"status": "open", "limit": 2}).json()
    assert [t["title"] for t in mine["items"]] == ["rep-0", "rep-1"]
    seen = [t["title"] for t in mine["items"]]
    cursor = mine["next_cursor"]
    while cursor:
        page = api(rep).get("/api/v1/tasks", {"status": "open", "limit": 2, "cursor": cursor})
        seen += [t["title"] for t in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert seen == [f"rep-{i}" for i in range(5)]

    team = api(lead).get("/api/v1/tasks", {"status": "open", "limit": 50}).json()
    assert {t["title"] for t in team["items"]} == {f"rep-{i}" for i in range(5)} | {"colleague"}
    only = api(lead).get("/api/v1/tasks", {"assignee_id": colleague.pk}).json()
    assert [t["title"] for t in only["items"]] == ["colleague"]
    assert api(rep).get("/api/v1/tasks", {"status": "done"}).json()["items"][0]["title"] == (
        "done-one"
    )


def test_tasks_of_others_answer_404(api: Any, make_user: Any, make_task: Any) -> None:
    rep, other = make_user(role="rep"), make_user(role="rep", team="busan")
    theirs = make_task(other)
    client = api(rep)
    assert client.get(f"/api/v1/tasks/{theirs.pk}").status_code == 404
    assert _post(client, f"/api/v1/tasks/{theirs.pk}/complete").status_code == 404
    assert client.get("/api/v1/tasks/999999").status_code == 404


def test_read_only_roles_cannot_create(api: Any, make_user: Any) -> None:
    marketer = make_user(role="marketer")
    due = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    r = _post(api(marketer), "/api/v1/tasks", {"title": "x", "due_at": due})
    assert r.status_code == 403
