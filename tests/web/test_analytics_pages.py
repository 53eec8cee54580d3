"""Analytics pages: dashboards for a marketer, a rep's scope, CSV exports, the run button, the
analytics on the customer 360 page (constant query count) and the list's analytics filters."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.analytics.models import CustomerMetrics, ModelRun, RunStatus
from dangol.analytics.tests.test_dashboards import build_shop

pytestmark = pytest.mark.django_db

PAGES = ("", "rfm/", "grades/", "clv/", "churn/", "next-best-offer/", "cohorts/")


@pytest.fixture
def shop(admin: Any, make_customer: Any, make_user: Any) -> dict[str, Any]:
    rep = make_user(role="rep", email="rep-shop@dangol.test")
    return {**build_shop(admin, make_customer, rep), "rep": rep}


def test_every_dashboard_renders_for_a_marketer(signed_in: Any, shop: dict[str, Any]) -> None:
    client, _user = signed_in(role="marketer")
    for page in PAGES:
        response = client.get(f"/analytics/{page}")
        assert response.status_code == 200, page
    body = client.get("/analytics/rfm/").content.decode()
    assert "lib/echarts/echarts.min.js" in body and 'id="analytics-data"' in body
    assert 'data-chart="segments"' in body and 'data-chart="grid"' in body
    # ECharts is only loaded where charts are drawn
    assert "echarts" not in client.get("/customers/").content.decode()


def test_dashboards_in_english_and_korean(signed_in: Any, shop: dict[str, Any]) -> None:
    client, _user = signed_in(role="marketer")
    client.post("/language/", {"language": "en", "next": "/analytics/rfm/"})
    assert "RFM segments" in client.get("/analytics/rfm/").content.decode()
    client.post("/language/", {"language": "ko", "next": "/analytics/rfm/"})
    assert client.get("/analytics/rfm/")["Content-Language"] == "ko"


def test_rep_sees_only_their_customers(signed_in: Any, shop: dict[str, Any], client: Any) -> None:
    client.force_login(shop["rep"])
    response = client.get("/analytics/rfm/")
    segments = {
        r["segment"]: r["customers"] for r in response.context["chart_data"]["charts"]["segments"]
    }
    assert sum(segments.values()) == 1 and segments["champions"] == 1
    churn = client.get("/analytics/churn/")
    assert {r["customer_id"] for r in churn.context["to_save"]} <= {shop["minjun"].pk}


def test_chart_csv_and_the_filters(signed_in: Any, shop: dict[str, Any]) -> None:
    client, _user = signed_in(role="marketer")
    response = client.get("/analytics/rfm/segments.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("segment,label,customers")
    assert "champions,Champions,1," in text or "champions,챔피언,1," in text
    online = client.get("/analytics/rfm/grid.csv", {"channel": shop["online"].pk})
    assert (
        sum(int(line.split(",")[2]) for line in online.content.decode("utf-8-sig").splitlines()[1:])
        == 2
    )
    assert client.get("/analytics/rfm/nothing.csv").status_code == 404
    assert client.get("/analytics/rfm/", {"start": "not a date"}).status_code == 200


def test_run_button_is_for_administrators(
    signed_in: Any, shop: dict[str, Any], client: Any
) -> None:
    marketer_client, _user = signed_in(role="marketer")
    assert "Run analytics now" not in marketer_client.get("/analytics/").content.decode()
    assert marketer_client.post("/analytics/runs/start/").status_code == 404

    marketer_client.logout()
    admin_client, _admin = signed_in(role=None, is_superuser=True, email="boss@dangol.test")
    page = admin_client.get("/analytics/")
    assert 'action="/analytics/runs/start/"' in page.content.decode()
    response = admin_client.post("/analytics/runs/start/", {"next": "/analytics/rfm/"})
    assert response.status_code == 302 and response["Location"] == "/analytics/rfm/"
    assert ModelRun.objects.filter(model=ModelRun.ENGINE, status=RunStatus.QUEUED).count() == 1
    again = admin_client.post("/analytics/runs/start/", follow=True)
    assert again.status_code == 200  # refused politely: already queued


def test_360_shows_the_analytics_in_constant_queries(
    signed_in: Any, shop: dict[str, Any], client: Any
) -> None:
    client.force_login(shop["rep"])
    minjun = shop["minjun"]
    CustomerMetrics.objects.filter(customer=minjun).update(
        clv_12m=1_234_000, p_alive=0.87, churn_risk=0.42, churn_band="medium",
        churn_drivers=[{"key": "lapse", "v": [150, 20]}],
        # the figures behind the offer, worded when the page is read (in the reader's language)
        next_best_offers=[{"product_id": shop["serum"].pk, "kind": "cross_sell", "score": 0.5,
                           "because_product_id": shop["toner"].pk, "pct": 57,
                           "lift": 3.1}],
    )  # fmt: skip
    with CaptureQueriesContext(connection) as one_offer:
        body = client.get(f"/customers/{minjun.pk}/").content.decode()
    assert 'data-testid="grade-badge"' in body and "골드" in body and "무료 배송" in body
    assert "R 5 · F 5 · M 5" in body and "1,234,000" in body and "87%" in body
    toner, serum = shop["toner"].name, shop["serum"].name
    assert "최근 구매 후 150일 경과(평소 구매 주기 20일)" in body
    assert f"{toner} 구매 고객의 57%가 {serum}도 구매(평소 대비 3.1배)" in body
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(f"/customers/{minjun.pk}/").content.decode()
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert f"57% of {toner} buyers buy {serum}, 3.1x the usual rate" in english
    assert "150 days since the last purchase, usually buys every 20 days" in english

    offers = [
        {"product_id": shop[p].pk, "kind": "popular", "score": 0.1, "buyers": 40}
        for p in ("serum", "toner")
    ] * 3
    CustomerMetrics.objects.filter(customer=minjun).update(
        next_best_offers=offers, churn_drivers=["a", "b", "c"]
    )
    with CaptureQueriesContext(connection) as many_offers:
        client.get(f"/customers/{minjun.pk}/")
    assert len(many_offers) == len(one_offer)

    CustomerMetrics.objects.filter(customer=minjun).delete()  # before the first run
    assert client.get(f"/customers/{minjun.pk}/").status_code == 200


def test_list_filters_by_grade_segment_churn_band_and_clv(
    signed_in: Any, shop: dict[str, Any]
) -> None:
    client, _user = signed_in(role="marketer")
    CustomerMetrics.objects.filter(customer=shop["seoyeon"]).update(
        churn_band="high", clv_12m=200_000
    )

    def names(**params: Any) -> set[str]:
        page = client.get("/customers/", params).context["page"]
        return {c.full_name for c in page.items}

    assert names(grade="gold") == {"김민준"}
    assert names(grade="welcome") == {"이서연", "박지훈", "최리드"}
    assert names(rfm_segment="lost") == {"박지훈"}
    assert names(churn_band="high") == {"이서연"}
    assert names(clv_min=100_000, clv_max=300_000) == {"이서연"}
    body = client.get(
        "/customers/", {"cols": ["grade", "segment", "churn", "clv"]}
    ).content.decode()
    assert 'data-col="grade"' in body and "골드" in body and 'data-col="clv"' in body


def test_list_query_count_with_columns_does_not_grow(
    signed_in: Any, shop: dict[str, Any], make_customer: Any
) -> None:
    client, _user = signed_in(role="marketer")
    params = {"cols": ["grade", "segment", "churn", "clv"]}
    client.get("/customers/", params)
    with CaptureQueriesContext(connection) as few:
        client.get("/customers/", params)
    for i in range(5):
        make_customer(full_name=f"추가{i}")
    with CaptureQueriesContext(connection) as many:
        client.get("/customers/", params)
    assert len(many) == len(few)


def test_segment_builder_preview_names_regions(signed_in: Any, make_customer: Any) -> None:
    import json

    client, lead = signed_in(role="lead")
    make_customer(full_name="김서울", region="seoul", owner=lead)
    response = client.post(
        "/segments/preview/",
        data=json.dumps(
            {"definition": {"all": [{"field": "region", "op": "eq", "value": "seoul"}]}}
        ),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert [row["region"] for row in response.json()["sample"]] == ["서울"]


def test_customers_to_save_offer_a_follow_up_only_to_roles_that_may_add_tasks(
    shop: dict[str, Any], client: Any, make_user: Any
) -> None:
    CustomerMetrics.objects.filter(customer=shop["minjun"]).update(
        churn_risk=0.9, churn_band="high", clv_12m=500_000
    )
    client.force_login(make_user(role="marketer"))
    assert 'data-testid="save-create-task"' not in client.get("/analytics/churn/").content.decode()
    client.force_login(make_user(role="manager"))
    body = client.get("/analytics/churn/").content.decode()
    assert 'data-testid="save-create-task"' in body and "할 일 만들기" in body
