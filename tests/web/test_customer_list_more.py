"""The customer list beyond the basics: filters, sorting with NULLs, saved views, bulk actions."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from dangol.core.models import PiiAccessLog, TaggedItem
from dangol.core.services import define_custom_field, tag_objects
from dangol.customers import services
from dangol.customers import views as customer_views
from dangol.customers.models import Customer
from dangol.web.models import SavedView

pytestmark = pytest.mark.django_db


def names(response: Any) -> list[str]:
    return [c.full_name for c in response.context["page"].items]


def test_filters_by_owner_team_tag_region_and_custom_field(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, _manager = signed_in(role="manager")
    rep = make_user(role="rep")
    busan = make_user(role="rep", team="busan")
    define_custom_field(
        object_type="customers.customer",
        key="skin",
        label="피부 타입",
        field_type="choice",
        choices=["건성", "지성"],
    )
    a = make_customer(full_name="김민준", owner=rep, region="seoul", custom_fields={"skin": "건성"})
    b = make_customer(
        full_name="이서연", owner=busan, region="busan", custom_fields={"skin": "지성"}
    )
    tag_objects(objs=[b], names=["VIP"])

    assert names(client.get("/customers/", {"owner": rep.pk})) == ["김민준"]
    assert names(client.get("/customers/", {"team": busan.team_id})) == ["이서연"]
    assert names(client.get("/customers/", {"tag": "VIP"})) == ["이서연"]
    assert names(client.get("/customers/", {"region": "seoul"})) == ["김민준"]
    assert names(client.get("/customers/", {"cf": "skin", "cf_value": "지성"})) == ["이서연"]
    # A value that is not valid for a filter is ignored, not an error page.
    assert client.get("/customers/", {"owner": "nobody", "signup_from": "x"}).status_code == 200
    assert a.pk and b.pk


def test_filters_by_consent_signup_and_last_purchase(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    client, rep = signed_in(role="rep")
    agreed = make_customer(full_name="동의함", owner=rep)
    withdrawn = make_customer(full_name="철회함", owner=rep)
    make_customer(full_name="미확인", owner=rep)
    services.grant_consent(customer=agreed, channel="sms", actor=rep)
    services.grant_consent(customer=withdrawn, channel="sms", actor=rep)
    services.withdraw_consent(customer=withdrawn, channel="sms", actor=rep)
    make_order(agreed, placed_at=timezone.now() - datetime.timedelta(days=40))
    make_order(withdrawn, placed_at=timezone.now() - datetime.timedelta(days=3))

    sms = {"consent_channel": "sms"}
    assert names(client.get("/customers/", {**sms, "consent": "granted"})) == ["동의함"]
    assert names(client.get("/customers/", {**sms, "consent": "withdrawn"})) == ["철회함"]
    assert names(client.get("/customers/", {**sms, "consent": "none"})) == ["미확인"]
    since = (timezone.localdate() - datetime.timedelta(days=10)).isoformat()
    assert names(client.get("/customers/", {"purchase_from": since})) == ["철회함"]
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    assert len(names(client.get("/customers/", {"signup_from": tomorrow}))) == 0
    assert len(names(client.get("/customers/", {"signup_to": tomorrow}))) == 3


def test_last_purchase_sort_lists_buyers_newest_first_then_the_rest(
    signed_in: Any, make_customer: Any, make_order: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(customer_views, "PAGE_SIZE", 2)
    client, rep = signed_in(role="rep")
    now = timezone.now()
    expected = []
    for i in range(3):
        c = make_customer(full_name=f"구매{i}", owner=rep)
        make_order(c, placed_at=now - datetime.timedelta(days=i))
        expected.append(c.full_name)
    for i in range(3):
        make_customer(full_name=f"미구매{i}", owner=rep)
    seen: list[str] = []
    params = {"sort": "-last_purchase"}
    while True:
        page = client.get("/customers/", params).context["page"]
        seen += [c.full_name for c in page.items]
        if not page.next_cursor:
            break
        params = {"sort": "-last_purchase", "after": page.next_cursor}
    assert seen[:3] == expected
    assert sorted(seen[3:]) == ["미구매0", "미구매1", "미구매2"]


def test_column_headers_sort_and_toggle(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    make_customer(full_name="가나다", owner=rep)
    make_customer(full_name="하하하", owner=rep)
    response = client.get("/customers/", {"sort": "name"})
    assert names(response) == ["가나다", "하하하"]
    body = response.content.decode()
    assert 'aria-sort="ascending"' in body
    assert "sort=-name" in body  # clicking again reverses
    assert names(client.get("/customers/", {"sort": "-name"})) == ["하하하", "가나다"]


def test_saved_views_own_and_shared(signed_in: Any, make_user: Any, client: Any) -> None:
    client, rep = signed_in(role="rep")
    response = client.post(
        "/customers/views/",
        {"name": "단골 고객", "query": "stage=repeat&sort=-spend&after=abc", "shared": "on"},
    )
    assert response.status_code == 302
    view = SavedView.objects.get(owner=rep)
    assert view.query == "sort=-spend&stage=repeat"  # cursors are not part of a view
    assert f"view={view.pk}" in response["Location"]
    # A colleague sees the shared view but cannot remove it.
    other_client = type(client)()
    other = make_user(role="rep")
    other_client.force_login(other)
    assert "단골 고객" in other_client.get("/customers/").content.decode()
    assert other_client.post(f"/customers/views/{view.pk}/delete/").status_code == 404
    assert client.post(f"/customers/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_saving_a_view_without_a_name_says_why(signed_in: Any) -> None:
    client, _rep = signed_in(role="rep")
    response = client.post("/customers/views/", {"name": " ", "query": ""}, follow=True)
    assert "이름" in response.content.decode()
    assert not SavedView.objects.exists()


def test_bulk_assign_owner_and_tags(signed_in: Any, make_user: Any, make_customer: Any) -> None:
    client, lead = signed_in(role="lead")
    a = make_customer(full_name="김민준", owner=lead)
    b = make_customer(full_name="이서연", owner=lead)
    outsider = make_customer(full_name="박지훈", owner=make_user(role="rep", team="busan"))
    colleague = make_user(role="rep")

    client.post(
        "/customers/bulk/",
        {"ids": [a.pk, b.pk, outsider.pk], "action": "assign_owner", "owner": colleague.pk},
    )
    assert set(Customer.objects.filter(owner=colleague).values_list("pk", flat=True)) == {
        a.pk,
        b.pk,
    }
    outsider.refresh_from_db()
    assert outsider.owner != colleague  # not visible to the lead: untouched

    client.post("/customers/bulk/", {"ids": [a.pk, b.pk], "action": "add_tag", "tag": "VIP"})
    assert TaggedItem.objects.filter(tag__name="VIP").count() == 2
    client.post("/customers/bulk/", {"ids": [a.pk], "action": "remove_tag", "tag": "VIP"})
    assert TaggedItem.objects.filter(tag__name="VIP").count() == 1


def test_bulk_action_errors_are_shown(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    response = client.post(
        "/customers/bulk/", {"ids": [c.pk], "action": "assign_owner"}, follow=True
    )
    assert "새 담당자를 선택하세요" in response.content.decode()
    response = client.post("/customers/bulk/", {"action": "add_tag", "tag": "x"}, follow=True)
    assert "먼저 고객을 선택하세요" in response.content.decode()


def test_export_is_masked_without_pii_permission(signed_in: Any, make_customer: Any) -> None:
    client, _marketer = signed_in(role="marketer")
    c = make_customer(full_name="김민준", contacts=[("mobile", "010-1234-5678")])
    response = client.post("/customers/bulk/", {"ids": [c.pk], "action": "export_csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1][1] == "김민준"
    assert rows[1][4] == "010-****-5678"
    assert not PiiAccessLog.objects.exists()


def test_export_unmasked_for_pii_roles_is_logged(signed_in: Any, make_customer: Any) -> None:
    client, manager = signed_in(role="manager")
    c = make_customer(
        full_name="김민준", contacts=[("mobile", "010-1234-5678"), ("email", "minjun@example.com")]
    )
    response = client.post("/customers/bulk/", {"ids": [c.pk], "action": "export_xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    row = [cell.value for cell in sheet[2]]
    assert row[1] == "김민준"
    assert row[4] == "010-1234-5678"
    assert row[5] == "minjun@example.com"
    log = PiiAccessLog.objects.get()
    assert (log.channel, log.object_id, log.user_id) == ("export", str(c.pk), manager.pk)


def test_export_needs_the_export_permission(signed_in: Any, make_customer: Any) -> None:
    client, _agent = signed_in(role="agent")  # view/change/add, no export
    c = make_customer()
    assert (
        client.post("/customers/bulk/", {"ids": [c.pk], "action": "export_csv"}).status_code == 403
    )
    assert "export_csv" not in client.get("/customers/").content.decode()


def test_filtered_sorted_list_query_count_is_constant(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    params = {
        "sort": "-spend",
        "stage": "lead",
        "tag": "VIP",
        "consent_channel": "sms",
        "consent": "granted",
    }

    def grow(n: int) -> None:
        for i in range(n):
            c = make_customer(
                full_name=f"고객{i}", owner=rep, contacts=[("mobile", f"010-5555-{i:04d}")]
            )
            tag_objects(objs=[c], names=["VIP"])
            services.grant_consent(customer=c, channel="sms", actor=rep)

    grow(1)
    with CaptureQueriesContext(connection) as few:
        assert len(names(client.get("/customers/", params))) == 1
    grow(12)
    with CaptureQueriesContext(connection) as many:
        assert len(names(client.get("/customers/", params))) == 13
    assert len(many) == len(few)


def test_searched_and_deep_list_pages_query_count_is_constant(
    signed_in: Any, make_customer: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(customer_views, "PAGE_SIZE", 3)
    client, rep = signed_in(role="rep")

    def grow(n: int) -> None:
        for _i in range(n):
            make_customer(
                full_name="김민준",
                family_name="김",
                given_name="민준",
                owner=rep,
                contacts=[("mobile", "010-5555-1393")],
            )

    def counts() -> list[int]:
        out = []
        for params in ({"q": "민준"}, {"q": "1393"}, {"q": "김민준", "sort": "-created"}):
            first = client.get("/customers/", params).context["page"]
            with CaptureQueriesContext(connection) as deep:
                page = client.get("/customers/", {**params, "after": first.next_cursor})
            assert page.status_code == 200 and page.context["page"].items
            out.append(len(deep))
        return out

    grow(4)
    few = counts()
    grow(10)
    assert counts() == few
