"""Merging customers after an analytics run: the one-per-customer results (metrics, grade, the
demo's answer key) stay with their record, a segment snapshot's memberships fold into the
survivor, an unmerge gives back exactly what was there, and the next run skips the merged-away
record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from dangol.analytics import engine, segment_services, services
from dangol.analytics.models import CustomerGrade, CustomerMetrics, SegmentKind, SegmentMember
from dangol.commerce import services as commerce
from dangol.customers.merge import merge_customers, unmerge
from dangol.demo.models import DemoIdentityLabel

SEOUL = ZoneInfo("Asia/Seoul")
AS_OF = timezone.localdate() - dt.timedelta(days=1)


def _rows(*customers: Any) -> dict[str, list[Any]]:
    ids = [c.pk for c in customers]
    return {
        "metrics": sorted(
            CustomerMetrics.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "frequency", "monetary"
            )
        ),
        "grades": sorted(
            CustomerGrade.objects.filter(customer_id__in=ids).values_list("customer_id", "tier_id")
        ),
        "members": sorted(
            SegmentMember.objects.filter(customer_id__in=ids).values_list(
                "segment_id", "customer_id"
            )
        ),
        "labels": sorted(
            DemoIdentityLabel.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "person_id"
            )
        ),
    }


def test_merge_after_an_analytics_run_and_unmerge(admin: Any, make_customer: Any) -> None:
    product = commerce.create_product(actor=admin, sku="MG-1", name="크림", price=Decimal(1000))
    store, online, other = (make_customer(full_name=n) for n in ("김하나", "김하나", "이둘"))
    for customer, amount in ((store, 30_000), (online, 50_000), (other, 10_000)):
        commerce.place_order(
            data=commerce.OrderInput(
                customer=customer,
                lines=[commerce.LineInput(product=product, quantity=1, unit_price=Decimal(amount))],
                placed_at=dt.datetime.combine(AS_OF - dt.timedelta(days=3), dt.time(12), SEOUL),
            ),
            actor=admin,
        )
    services.create_grade_program(
        actor=admin,
        name="멤버십",
        tiers=[
            services.TierInput("welcome", "Welcome", 0),
            services.TierInput("silver", "Silver", 1, min_spend=Decimal(40_000)),
        ],
        activate=True,
    )
    engine.run(as_of=AS_OF)
    everyone = segment_services.create_segment(
        name="모두", kind=SegmentKind.STATIC, definition={"all": []}, actor=admin
    )
    buyers = segment_services.create_segment(
        name="구매 고객", kind=SegmentKind.STATIC, definition={"all": []}, actor=admin
    )
    SegmentMember.objects.filter(segment=buyers, customer=store).delete()  # only `online` in it
    DemoIdentityLabel.objects.bulk_create(
        [DemoIdentityLabel(customer=c, person_id=7) for c in (store, online)]
    )
    before = _rows(store, online)
    assert len(before["metrics"]) == len(before["grades"]) == len(before["labels"]) == 2

    merge = merge_customers(survivor=store, duplicates=[online], actor=admin)

    after = _rows(store, online)
    assert after["metrics"] == before["metrics"]  # each record keeps its own run's results
    assert after["grades"] == before["grades"]
    assert after["labels"] == before["labels"]
    # `online` was in both snapshots: `모두` had `store` too (removed), `구매 고객` did not (moved)
    assert after["members"] == sorted([(everyone.pk, store.pk), (buyers.pk, store.pk)])

    unmerge(merge=merge, actor=admin)
    assert _rows(store, online) == before

    merge_customers(survivor=store, duplicates=[online], actor=admin)
    engine.run(as_of=AS_OF)  # the next run: the survivor's spend is both records', and the
    # merged-away record has no results any more
    survivor = CustomerMetrics.objects.get(customer=store)
    assert survivor.frequency == 2 and survivor.monetary == Decimal(80_000)
    assert not CustomerMetrics.objects.filter(customer=online).exists()
    assert CustomerGrade.objects.get(customer=store).tier.code == "silver"
    assert not CustomerGrade.objects.filter(customer=online).exists()
