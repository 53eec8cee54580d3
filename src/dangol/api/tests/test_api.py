"""The REST API's contract: auth, scopes, errors, pagination, bulk upsert, idempotency, PII."""

import json
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from dangol.commerce import services as commerce
from dangol.core.models import PiiAccessLog
from dangol.customers import services
from dangol.customers.models import Customer


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


def test_requires_authentication(client, db):
    r = client.get("/api/v1/customers")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert client.get("/api/v1/customers", HTTP_AUTHORIZATION="Bearer dg_wrong").status_code == 401


def test_revoked_and_read_only_tokens(admin, api, db):
    from django.test import Client

    from dangol.core.models import ApiToken
    from dangol.core.services import create_api_token, revoke_api_token

    read = api(admin, scope="read")
    assert read.get("/api/v1/customers").status_code == 200
    r = post(read, "/api/v1/customers", {"full_name": "김민준"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    token, raw = create_api_token(user=admin, name="t", scope="write")
    assert ApiToken.objects.get(pk=token.pk).token_hash != raw  # only the hash is stored
    revoke_api_token(token=token, actor=admin)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me").status_code == 401


def test_token_lifecycle_through_the_api(admin, api):
    client = api(admin)
    r = post(client, "/api/v1/me/tokens", {"name": "ERP sync", "scope": "write"})
    assert r.status_code == 201
    raw = r.json()["token"]
    assert raw.startswith("dg_")
    listed = client.get("/api/v1/me/tokens").json()
    assert "token" not in listed[0]
    assert client.delete(f"/api/v1/me/tokens/{r.json()['id']}").status_code == 204


def test_create_get_patch_archive_customer(admin, api):
    client = api(admin)
    r = post(
        client,
        "/api/v1/customers",
        {
            "full_name": "이서연",
            "gender": "F",
            "birth_date": "1990-05-17",
            "birth_date_is_lunar": True,
            "contact_points": [
                {"kind": "mobile", "value": "010-9876-5432"},
                {"kind": "email", "value": "Seoyeon@Example.com"},
            ],
            "external_ids": [{"source": "shop", "key": "M-1"}],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["family_name"] == "이" and body["given_name"] == "서연"
    assert {c["kind"] for c in body["contact_points"]} == {"mobile", "email"}
    cid = body["id"]
    detail = client.get(f"/api/v1/customers/{cid}").json()
    assert detail["contact_points"][0]["masked"] is True  # masked unless asked for ...
    assert not PiiAccessLog.objects.exists()
    detail = client.get(f"/api/v1/customers/{cid}?reveal=true").json()
    assert detail["contact_points"][0]["masked"] is False  # ... then in full, and logged
    assert PiiAccessLog.objects.filter(user=admin, object_id=str(cid), channel="api").exists()
    listed = client.get("/api/v1/customers?reveal=true").json()["items"][0]
    assert not listed["contact_points"][0]["masked"]
    assert PiiAccessLog.objects.filter(channel="api").count() == 2
    r = patch(client, f"/api/v1/customers/{cid}", {"lifecycle_stage": "prospect"})
    assert r.status_code == 200 and r.json()["lifecycle_stage"] == "prospect"
    assert client.delete(f"/api/v1/customers/{cid}").status_code == 204
    assert Customer.objects.get(pk=cid).status == "archived"


def test_validation_errors_are_422_with_field_codes_and_nothing_written(admin, api):
    client = api(admin)
    r = post(
        client,
        "/api/v1/customers",
        {"full_name": "", "gender": "Q", "contact_points": [{"kind": "mobile", "value": "010-12"}]},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    assert {k: body["errors"][0][k] for k in ("field", "code")} == {
        "field": "gender",
        "code": "enum",
    }
    r = post(
        client,
        "/api/v1/customers",
        {"full_name": "", "contact_points": [{"kind": "mobile", "value": "010-12"}]},
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"full_name", "contacts[0].value"}
    assert Customer.objects.count() == 0
    r = client.post("/api/v1/customers", "{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "bad_request"


def test_conflict_is_409(admin, api):
    client = api(admin)
    body = {"full_name": "박지훈", "external_ids": [{"source": "pos", "key": "9"}]}
    assert post(client, "/api/v1/customers", body).status_code == 201
    r = post(client, "/api/v1/customers", body)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_external_id"


def test_role_scopes_apply_to_the_api(make_user, make_customer, api):
    rep_seoul = make_user("rep", "seoul")
    rep_seoul2 = make_user("rep", "seoul")
    lead_seoul = make_user("lead", "seoul")
    rep_busan = make_user("rep", "busan")
    mine = make_customer(actor=rep_seoul, owner=rep_seoul, full_name="김하나")
    colleagues = make_customer(actor=rep_seoul2, owner=rep_seoul2, full_name="김두리")
    busan = make_customer(actor=rep_busan, owner=rep_busan, full_name="김세나")

    def ids(user):
        return {c["id"] for c in api(user).get("/api/v1/customers").json()["items"]}

    assert ids(rep_seoul) == {mine.pk}
    assert ids(lead_seoul) == {mine.pk, colleagues.pk}
    assert ids(make_user(role=None, team=None, is_superuser=True)) == {
        mine.pk,
        colleagues.pk,
        busan.pk,
    }
    # another team's customer: exactly like one that does not exist
    r_hidden = api(rep_seoul).get(f"/api/v1/customers/{busan.pk}")
    r_missing = api(rep_seoul).get("/api/v1/customers/999999")
    assert r_hidden.status_code == r_missing.status_code == 404
    assert r_hidden.json() == r_missing.json()
    assert (
        patch(api(rep_seoul), f"/api/v1/customers/{busan.pk}", {"full_name": "x"}).status_code
        == 404
    )
    assert api(rep_seoul).get(f"/api/v1/interactions?customer_id={busan.pk}").json()["items"] == []


def test_masking_for_roles_without_pii(make_user, make_customer, api, admin):
    marketer = make_user("marketer", "seoul")
    c = make_customer(
        actor=admin, contacts=[("mobile", "010-1234-5678"), ("email", "minjun@example.com")]
    )
    body = api(marketer).get(f"/api/v1/customers/{c.pk}?reveal=true").json()
    values = {cp["kind"]: cp["value"] for cp in body["contact_points"]}
    assert values == {"mobile": "010-****-5678", "email": "mi****@example.com"}
    assert all(cp["masked"] for cp in body["contact_points"])
    assert not PiiAccessLog.objects.filter(user=marketer).exists()


def test_cursor_pagination_walks_every_row_once(admin, api, make_customer):
    made = {make_customer(actor=admin, full_name=f"고객{i:02d}").pk for i in range(23)}
    client = api(admin)
    seen, cursor = [], None
    while True:
        url = "/api/v1/customers?limit=10&sort=full_name" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 23 and set(seen) == made
    r = client.get("/api/v1/customers?cursor=garbage")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    assert client.get("/api/v1/customers?sort=password").status_code == 422


def test_search_by_name_fragment_email_prefix_and_last4(admin, api, make_customer):
    a = make_customer(
        actor=admin,
        full_name="김민준",
        contacts=[("email", "mj.kim@example.com"), ("mobile", "010-2222-7788")],
    )
    make_customer(actor=admin, full_name="이서연", contacts=[("email", "seo@example.com")])
    client = api(admin)

    def found(q):
        return [c["id"] for c in client.get("/api/v1/customers", {"q": q}).json()["items"]]

    assert found("민준") == [a.pk]
    assert found("mj.k") == [a.pk]
    assert found("7788") == [a.pk]
    assert found("010-2222-7788") == [a.pk]


def test_bulk_upsert_keeps_good_records_and_reports_bad_ones(admin, api):
    client = api(admin)
    records = [
        {
            "source": "pos",
            "external_id": "1",
            "full_name": "김민준",
            "contact_points": [{"kind": "mobile", "value": "01011112222"}],
        },
        {"source": "pos", "external_id": "2", "full_name": "", "gender": "F"},
        {
            "source": "pos",
            "external_id": "3",
            "full_name": "이서연",
            "contact_points": [{"kind": "email", "value": "bad"}],
        },
        {"source": "pos", "external_id": "4", "full_name": "박지훈"},
    ]
    body = post(client, "/api/v1/customers/bulk", {"records": records}).json()
    assert (body["created"], body["failed"]) == (2, 2)
    assert [r["status"] for r in body["results"]] == ["created", "error", "error", "created"]
    assert body["results"][1]["errors"][0]["field"] == "full_name"
    assert Customer.objects.count() == 2
    again = post(
        client,
        "/api/v1/customers/bulk",
        {"records": [records[0], {**records[3], "full_name": "박지환"}]},
    ).json()
    assert [r["status"] for r in again["results"]] == ["unchanged", "updated"]
    too_many = post(client, "/api/v1/customers/bulk", {"records": [records[0]] * 1001})
    assert too_many.status_code == 413 and too_many.json()["code"] == "payload_too_large"


def test_idempotency_key_replays_and_rejects_reuse(admin, api):
    client = api(admin)
    body = {"full_name": "정우성"}
    r1 = post(client, "/api/v1/customers", body, HTTP_IDEMPOTENCY_KEY="k-1")
    r2 = post(client, "/api/v1/customers", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r2["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1
    r3 = post(client, "/api/v1/customers", {"full_name": "다른 사람"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert r3.status_code == 422 and r3.json()["code"] == "idempotency_key_reused"


@override_settings(API_RATE_LIMIT_PER_MINUTE=3)
def test_rate_limit_per_token(admin, api):
    client = api(admin)
    codes = [client.get("/api/v1/me").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/v1/me")
    assert r.json()["code"] == "rate_limited" and int(r["Retry-After"]) > 0
    assert api(admin).get("/api/v1/me").status_code == 200  # another token has its own budget


def _grow_history(customer, admin, product, n):
    for i in range(n):
        services.record_interaction(
            customer=customer, channel="phone", kind="call", subject=f"c{i}", actor=admin
        )
        services.add_contact_point(
            customer=customer, kind="email", value=f"x{i}@example.com", actor=admin
        )
        services.grant_consent(
            customer=customer,
            channel=["sms", "email", "kakao", "push", "phone"][i % 5],
            actor=admin,
        )
        commerce.place_order(
            data=commerce.OrderInput(customer=customer, lines=[commerce.LineInput(product, 1)]),
            actor=admin,
        )


def test_detail_and_list_query_counts_do_not_grow(admin, api, make_customer):
    product = commerce.create_product(sku="P1", name="토너", price=Decimal(10000), actor=admin)
    client = api(admin)
    small = make_customer(actor=admin, full_name="작은이")
    _grow_history(small, admin, product, 1)
    big = make_customer(actor=admin, full_name="큰이")
    _grow_history(big, admin, product, 12)

    def count(url):
        client.get(url)  # warm the token's last_used_at
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    # token, customer + 5 prefetches, tags: 8 whatever the customer's history
    assert count(f"/api/v1/customers/{small.pk}") == count(f"/api/v1/customers/{big.pk}") == 8
    few = count("/api/v1/customers?limit=5")
    for i in range(10):
        _grow_history(make_customer(actor=admin, full_name=f"추가{i}"), admin, product, 2)
    assert count("/api/v1/customers?limit=50") == few
    assert count(f"/api/v1/orders?customer_id={big.pk}") == count(
        f"/api/v1/orders?customer_id={small.pk}"
    )


def test_orders_and_returns_through_the_api(admin, api, make_customer):
    client = api(admin)
    customer = make_customer(actor=admin, external_ids=[("shop", "C-1")])
    p = post(client, "/api/v1/products", {"sku": "SR-1", "name": "세럼", "price": "32000"}).json()
    commerce.create_sales_channel(code="web", name="온라인몰", kind="online", actor=admin)
    r = post(
        client,
        "/api/v1/orders",
        {
            "customer_id": customer.pk,
            "channel_code": "web",
            "lines": [{"product_id": p["id"], "quantity": 2}],
        },
    )
    assert r.status_code == 201, r.content
    order = r.json()
    assert Decimal(order["total"]) == Decimal("64000") and order["lines"][0]["sku"] == "SR-1"
    r = post(
        client,
        f"/api/v1/orders/{order['id']}/returns",
        {"reason": "defect", "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 1}]},
    )
    assert r.status_code == 201 and Decimal(r.json()["amount"]) == Decimal("32000")
    bulk = post(
        client,
        "/api/v1/orders/bulk",
        {
            "records": [
                {
                    "source": "erp",
                    "external_id": "O-1",
                    "customer_external_id": "C-1",
                    "customer_source": "shop",
                    "lines": [{"sku": "SR-1", "quantity": 1}],
                },
                {
                    "source": "erp",
                    "external_id": "O-2",
                    "customer_id": 999999,
                    "lines": [{"sku": "SR-1", "quantity": 1}],
                },
            ]
        },
    ).json()
    assert [x["status"] for x in bulk["results"]] == ["created", "error"]
    again = post(
        client,
        "/api/v1/orders/bulk",
        {
            "records": [
                {
                    "source": "erp",
                    "external_id": "O-1",
                    "customer_id": customer.pk,
                    "lines": [{"sku": "SR-1", "quantity": 1}],
                }
            ]
        },
    ).json()
    assert again["results"][0]["status"] == "unchanged"
    customer.refresh_from_db()
    assert customer.order_count == 2 and customer.total_spent == Decimal("64000")


def test_health_endpoints(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (
        ready.status_code == 200
        and ready.json()["database"] == "ok"
        and ready.json()["queue"] == "ok"
    )


def test_out_of_range_ids_are_400_not_500(admin, api):
    r = api(admin).get(f"/api/v1/customers/{2**70}")
    assert r.status_code in (400, 404, 422)
    assert r.json()["code"] in ("bad_request", "not_found", "validation_failed")
