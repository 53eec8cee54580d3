"""The engine: one metrics row per customer, the run log, idempotent re-runs, ``--only``, the
CLV step against clv.py, the nightly job, and the API's visibility and permissions."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from dangol.analytics import clv, engine
from dangol.analytics.models import CustomerMetrics, ModelRun, RunStatus
from dangol.commerce import services as commerce
from dangol.commerce.models import Order
from dangol.core.errors import ValidationFailed

SEOUL = ZoneInfo("Asia/Seoul")
AS_OF = timezone.localdate() - dt.timedelta(days=1)


@pytest.fixture
def shop(admin: Any, make_customer: Any, make_user: Any) -> dict[str, Any]:
    """14 customers (two owned by a rep) with repeat purchases over ~10 months; one lead."""
    rep = make_user(role="rep")
    product = commerce.create_product(actor=admin, sku="EN-1", name="토너", price=Decimal(1000))
    rng = np.random.default_rng(7)
    people = []
    for i in range(14):
        c = make_customer(full_name=f"고객{i}", owner=rep if i < 2 else None)
        people.append(c)
        for _ in range(int(rng.integers(1, 5))):
            day = AS_OF - dt.timedelta(days=int(rng.integers(0, 300)))
            commerce.place_order(
                data=commerce.OrderInput(
                    customer=c,
                    lines=[
                        commerce.LineInput(
                            product=product,
                            quantity=1,
                            unit_price=Decimal(int(rng.integers(10, 90)) * 1000),
                        )
                    ],
                    placed_at=dt.datetime.combine(day, dt.time(13), SEOUL),
                ),
                actor=admin,
            )
    lead = make_customer(full_name="리드", owner=rep)
    return {"people": people, "lead": lead, "rep": rep, "admin": admin}


def test_run_writes_one_row_per_customer_and_logs_the_run(shop: dict[str, Any]) -> None:
    run = engine.run(as_of=AS_OF)

    assert run.status == RunStatus.SUCCEEDED
    assert CustomerMetrics.objects.count() == 15
    assert set(CustomerMetrics.objects.values_list("run_id", flat=True)) == {run.pk}
    steps = {s.model: s for s in run.steps.all()}
    assert set(steps) >= {"rfm", "clv", "grades"}
    assert steps["grades"].status == RunStatus.SKIPPED  # no grade programme yet
    assert steps["clv"].status == RunStatus.SUCCEEDED
    assert steps["clv"].parameters["purchase_model"]["r"] > 0
    assert steps["clv"].quality["customers"] == 14
    assert run.rows_in["customers"] == 15 and run.rows_in["orders"] == Order.objects.count()
    lead = CustomerMetrics.objects.get(customer=shop["lead"])
    assert (lead.frequency, lead.rfm_segment, lead.p_alive, lead.churn_risk) == (0, "", None, None)
    assert lead.churn_drivers == [] and lead.next_best_offers == []


def test_rerun_is_idempotent(shop: dict[str, Any]) -> None:
    columns = ("pk", "recency_days", "frequency", "monetary", "r_score", "rfm_segment", "grade")
    engine.run(as_of=AS_OF)
    first = list(CustomerMetrics.objects.order_by("pk").values_list(*columns))
    engine.run(as_of=AS_OF)
    again = list(CustomerMetrics.objects.order_by("pk").values_list(*columns))

    assert again == first and len(again) == 15
    assert ModelRun.objects.filter(model=ModelRun.ENGINE).count() == 2
    # (CLV values are not compared exactly: clv.py's optimiser starts from a group-by of
    # unspecified order, so two fits of the same data agree only to about 1e-4.)


def test_only_runs_the_named_step_and_keeps_the_other_columns(shop: dict[str, Any]) -> None:
    engine.run(as_of=AS_OF)
    before = dict(CustomerMetrics.objects.values_list("pk", "p_alive"))
    out = StringIO()
    call_command("analytics", "run", "--only", "rfm", "--as-of", AS_OF.isoformat(), stdout=out)

    run = ModelRun.objects.filter(model=ModelRun.ENGINE).latest("id")
    assert [s.model for s in run.steps.all()] == ["rfm"]
    assert dict(CustomerMetrics.objects.values_list("pk", "p_alive")) == before
    assert "rfm" in out.getvalue() and run.status in out.getvalue()
    with pytest.raises(ValidationFailed):
        engine.run(only=["nope"], as_of=AS_OF)


def test_clv_step_equals_clv_module(shop: dict[str, Any]) -> None:
    run = engine.run(only=["clv"], as_of=AS_OF)

    orders = Order.objects.values_list("customer_id", "placed_at", "total")
    transactions = pl.DataFrame(
        [(c, timezone.localtime(at).date(), float(t)) for c, at, t in orders],
        schema={"customer_id": pl.Int64, "date": pl.Date, "amount": pl.Float64},
        orient="row",
    )
    reference = clv.run_clv(transactions, observation_end=AS_OF)
    params = run.steps.get().parameters
    # The fit: the same maximum (the optimiser's start order is unspecified in clv.py).
    fitted = params["purchase_model"]
    assert fitted["log_likelihood"] == pytest.approx(reference.bgnbd.log_likelihood, abs=1e-4)
    # The predictions: exactly clv.py's functions with the logged parameters.
    model = clv.BGNBD(**fitted)
    spend = clv.GammaGamma(**params["gamma_gamma"])
    s = reference.customers
    x, tx, t_obs = (
        s["frequency"].to_numpy().astype(float),
        s["recency"].to_numpy(),
        s["T"].to_numpy(),
    )
    m = s["monetary_value"].fill_null(np.nan).to_numpy()
    expected = {
        "p_alive": model.p_alive(x, tx, t_obs),
        "expected_purchases_90d": model.expected_purchases(90 / 7, x, tx, t_obs),
        "clv_12m": clv.customer_lifetime_value(model, spend, x, tx, t_obs, m),
    }
    got = {mm.customer_id: mm for mm in CustomerMetrics.objects.exclude(p_alive=None)}
    assert sorted(got) == s["customer_id"].to_list()
    for column, values in expected.items():
        actual = [getattr(got[c], column) for c in s["customer_id"].to_list()]
        # the engine stores a prediction the model cannot make (NaN) as null
        wanted = [None if v != v else v for v in values.tolist()]
        assert [a is None for a in actual] == [w is None for w in wanted], column
        assert [a for a in actual if a is not None] == pytest.approx(
            [w for w in wanted if w is not None], rel=1e-9
        ), column
    assert CustomerMetrics.objects.get(customer=shop["lead"]).clv_12m is None


def test_nightly_task_runs_the_engine(shop: dict[str, Any]) -> None:
    from dangol.analytics.tasks import nightly_analytics

    nightly_analytics.call_local()
    run = ModelRun.objects.get(model=ModelRun.ENGINE)
    assert (run.trigger, run.status, run.as_of) == ("schedule", "succeeded", AS_OF)


def _mounted() -> bool:
    from dangol.analytics.api import router
    from dangol.api.api import api

    return any(r is router for _prefix, r in api._routers)


if _mounted():
    urlpatterns: list[Any] = []
else:  # until dangol/api/api.py mounts the router: the same API, with it mounted
    from django.urls import path
    from ninja import NinjaAPI

    from dangol.analytics.api import router as analytics_router
    from dangol.api import errors
    from dangol.api.auth import SessionAuth, TokenAuth

    _api = NinjaAPI(auth=[TokenAuth(), SessionAuth()], urls_namespace="analytics-test")
    errors.install(_api)
    _api.add_router("/analytics", analytics_router)
    urlpatterns = [path("api/v1/", _api.urls)]


@pytest.fixture
def api_urls(settings: Any) -> None:
    if not _mounted():
        settings.ROOT_URLCONF = __name__


@pytest.mark.usefixtures("api_urls")
def test_api_metrics_follow_customer_visibility(shop: dict[str, Any], api: Any) -> None:
    engine.run(as_of=AS_OF)
    rep = api(shop["rep"])
    mine, other = shop["people"][0], shop["people"][5]

    own = rep.get(f"/api/v1/analytics/customers/{mine.pk}")
    assert own.status_code == 200, own.content
    assert own.json()["customer_id"] == mine.pk
    assert own.json()["rfm_segment"] in {"champions", "loyal", "potential_loyalists", "new",
                                         "at_risk", "cant_lose", "hibernating", "lost"}  # fmt: skip
    assert rep.get(f"/api/v1/analytics/customers/{other.pk}").status_code == 404
    counts = rep.get("/api/v1/analytics/rfm/segments").json()
    assert sum(c["customers"] for c in counts) == 2  # the rep's two buyers only
    everyone = api(shop["admin"]).get("/api/v1/analytics/rfm/segments").json()
    assert sum(c["customers"] for c in everyone) == 14


@pytest.mark.usefixtures("api_urls")
def test_api_starts_a_run_for_admins_only(
    shop: dict[str, Any], api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = json.dumps({"only": ["rfm"], "as_of": AS_OF.isoformat()})
    refused = api(shop["rep"]).post("/api/v1/analytics/runs", body, content_type="application/json")
    assert refused.status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        started = api(shop["admin"]).post(
            "/api/v1/analytics/runs", body, content_type="application/json"
        )
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    detail = api(shop["admin"]).get(f"/api/v1/analytics/runs/{run_id}").json()
    assert detail["status"] == "succeeded"
    assert [s["model"] for s in detail["steps"]] == ["rfm"]
    listing = api(shop["admin"]).get("/api/v1/analytics/runs").json()
    assert [r["id"] for r in listing["items"]] == [run_id]


def test_line_products_leave_out_cancelled_orders_and_fully_returned_lines(
    shop: dict[str, Any],
) -> None:
    from dangol.analytics import data
    from dangol.commerce.models import OrderLine

    admin = shop["admin"]
    person = max(shop["people"], key=lambda c: Order.objects.filter(customer=c).count())
    cancelled, returned, kept = Order.objects.filter(customer=person).order_by("pk")[:3]
    commerce.cancel_order(order=cancelled, actor=admin)
    line = returned.lines.get()
    commerce.record_return(
        order=returned,
        lines=[commerce.ReturnLineInput(order_line=line, quantity=line.quantity)],
        reason="defect",
        actor=admin,
    )
    orders = data.read_orders(until=AS_OF)
    bought = data.read_line_products(orders)

    counted = OrderLine.objects.exclude(order__status="cancelled").filter(
        quantity__gt=F("returned_quantity")
    )
    assert bought.columns == ["customer_id", "product_id", "day"]
    assert bought.height == counted.count() == OrderLine.objects.count() - 2
    mine = bought.filter(pl.col("customer_id") == person.pk)
    assert mine["day"].to_list().count(timezone.localtime(kept.placed_at).date()) >= 1
    assert cancelled.pk not in orders["order_id"].to_list()


def test_ml_steps_log_their_sample_and_held_out_quality(shop: dict[str, Any]) -> None:
    run = engine.run(as_of=AS_OF)
    steps = {s.model: s for s in run.steps.all()}
    nbo_step = steps["nbo"]
    assert nbo_step.status == RunStatus.SUCCEEDED
    assert nbo_step.parameters["fit_sample"] == 50_000
    assert nbo_step.parameters["fit_customers"] == 14  # all of them: fewer than the sample
    quality = nbo_step.quality
    assert {"k", "customers", "hit_rate", "popularity_hit_rate", "split_date"} <= set(quality)
    assert quality["sampled_customers"] == 14 and quality["k"] == 5
    assert nbo_step.window_end == AS_OF


def test_previous_metrics_read_only_the_compared_and_kept_columns(shop: dict[str, Any]) -> None:
    first = engine.run(as_of=AS_OF)
    ctx = engine.Context(as_of=AS_OF, run=first, now=timezone.now(), kept=["p_alive", "clv_12m"])
    previous = ctx.previous
    assert previous.columns == ["customer_id", "rfm_segment", "churn_band", "p_alive", "clv_12m"]
    assert previous.height == 15
    stored = dict(CustomerMetrics.objects.values_list("pk", "p_alive"))
    assert dict(previous.select("customer_id", "p_alive").iter_rows()) == stored


def test_churn_reads_the_complaints_and_returns_its_features_look_back_on(
    shop: dict[str, Any],
) -> None:
    from dangol.analytics import data
    from dangol.customers import services as customers

    admin = shop["admin"]
    person = shop["people"][0]
    seoul = ZoneInfo("Asia/Seoul")
    at = dt.datetime.combine(AS_OF - dt.timedelta(days=20), dt.time(11), seoul)
    customers.record_interaction(
        customer=person, channel="phone", kind="complaint", actor=admin, occurred_at=at
    )
    customers.record_interaction(
        customer=person, channel="web", kind="web_event", actor=admin, occurred_at=at
    )
    old = dt.datetime.combine(AS_OF - dt.timedelta(days=2000), dt.time(11), seoul)
    customers.record_interaction(
        customer=person, channel="phone", kind="complaint", actor=admin, occurred_at=old
    )
    order = Order.objects.filter(customer=person).order_by("-placed_at").first()
    assert order is not None
    line = order.lines.order_by("pk")[0]
    commerce.record_return(
        order=order,
        lines=[commerce.ReturnLineInput(order_line=line, quantity=1)],
        reason="defect",
        actor=admin,
        returned_at=at,
    )

    contacts = data.read_contacts(since=AS_OF - dt.timedelta(days=900), until=AS_OF)
    returns = data.read_returns(since=AS_OF - dt.timedelta(days=900), until=AS_OF)

    # the complaint inside the window; not the clickstream, not the five-year-old complaint
    assert contacts.filter(pl.col("customer_id") == person.pk)["kind"].to_list() == ["complaint"]
    assert returns["customer_id"].to_list() == [person.pk]
    churn_step = engine.run(as_of=AS_OF).steps.get(model="churn")
    assert churn_step.rows_in["contacts"] >= 1 and churn_step.rows_in["returns"] == 1
