"""The read queries added for the staff pages: organization 360 and timeline, commerce lists."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from dangol.commerce.selectors import organization_orders, product_recent_lines
from dangol.customers import selectors, services

pytestmark = pytest.mark.django_db


def test_organization_detail_shows_only_visible_people_masked(
    make_user: Any, make_customer: Any
) -> None:
    rep = make_user(role="rep")
    other = make_user(role="rep", team="busan")
    org = services.create_organization(name="한빛상사", owner=rep, actor=rep)
    mine = make_customer(full_name="김민준", owner=rep)
    theirs = make_customer(full_name="박지훈", owner=other)
    for c in (mine, theirs):
        services.link_to_organization(customer=c, organization=org, actor=rep)
    services.add_contact_point(organization=org, kind="phone", value="02-1234-5678", actor=rep)

    view = selectors.organization_detail(user=rep, organization_id=org.pk)
    assert view is not None
    assert [m.customer for m in view.members] == [mine]
    assert view.contacts[0].masked
    assert selectors.organization_detail(user=other, organization_id=org.pk) is None


def test_organization_timeline_merges_members_and_own_entries(
    make_user: Any, make_customer: Any
) -> None:
    rep = make_user(role="rep")
    org = services.create_organization(name="한빛상사", owner=rep, actor=rep)
    member = make_customer(owner=rep)
    outsider = make_customer(owner=rep)
    services.link_to_organization(customer=member, organization=org, actor=rep)
    now = timezone.now()
    services.record_interaction(
        customer=member,
        channel="phone",
        kind="call",
        subject="A",
        occurred_at=now - datetime.timedelta(hours=2),
        actor=rep,
    )
    services.record_interaction(
        customer=outsider, channel="phone", kind="call", subject="X", actor=rep
    )
    services.add_note(organization=org, body="계약 갱신 예정", actor=rep)

    entries = selectors.organization_timeline(user=rep, organization=org)
    assert [(e.kind, e.title) for e in entries] == [
        ("note", "계약 갱신 예정"),
        ("interaction", "A"),
    ]
    older = selectors.organization_timeline(user=rep, organization=org, before=entries[0].at)
    assert [e.title for e in older] == ["A"]


def test_commerce_selectors_respect_scope(
    make_user: Any, make_customer: Any, make_order: Any, make_product: Any
) -> None:
    rep = make_user(role="rep")
    other = make_user(role="rep", team="busan")
    org = services.create_organization(name="한빛상사", owner=rep, actor=rep)
    product = make_product()
    mine = make_order(make_customer(owner=rep), product=product, organization=org)
    make_order(make_customer(owner=other), product=product, organization=org)

    assert organization_orders(user=rep, organization=org) == [mine]
    assert [line.order for line in product_recent_lines(user=rep, product=product)] == [mine]
