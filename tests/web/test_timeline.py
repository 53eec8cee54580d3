"""The customer timeline as a registry of sources: cursor paging, the kinds, queries per page."""

from __future__ import annotations

import datetime
import html
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.analytics.models import GradeChange, GradeProgram, GradeTier
from dangol.commerce import services as commerce
from dangol.customers import selectors, services, timeline
from dangol.customers import views as customer_views
from dangol.customers.timeline import TimelineCursor, TimelineEntry, TimelineRequest

pytestmark = pytest.mark.django_db


def _fragment(response: Any) -> tuple[list[tuple[str, int]], str | None]:
    """(kind, id) of the entries of a timeline fragment, and its "load more" address."""
    body = response.content.decode()
    entries = [(k, int(i)) for k, i in re.findall(r'data-entry="([a-z_]+)-(\d+)"', body)]
    more = re.search(r'class="timeline-more" hx-get="([^"]+)"', body)
    return entries, html.unescape(more.group(1)) if more else None


def _same_instant_history(c: Any, rep: Any, make_order: Any, at: datetime.datetime) -> None:
    """Four interactions, three notes and two orders, all at the instant `at`."""
    for i in range(4):
        services.record_interaction(
            customer=c, channel="phone", kind="call", subject=f"통화{i}", occurred_at=at, actor=rep
        )
    for i in range(3):
        note = services.add_note(customer=c, body=f"메모{i}", actor=rep)
        note.created_at = at  # notes take the time of writing: move them to the same instant
        note.save(update_fields=["created_at"])
    for _i in range(2):
        make_order(c, placed_at=at)


def test_paging_loses_nothing_when_entries_share_an_instant(
    make_user: Any, make_customer: Any, make_order: Any
) -> None:
    rep = make_user(role="rep")
    c = make_customer(owner=rep)
    at = timezone.now().replace(microsecond=123456) - datetime.timedelta(days=1)
    _same_instant_history(c, rep, make_order, at)
    everything = selectors.timeline(user=rep, customer=c, kinds=("interaction", "note", "order"))
    assert len(everything) == 9

    seen: list[tuple[str, int]] = []
    cursor = None
    for _page in range(10):
        page = selectors.timeline(
            user=rep, customer=c, before=cursor, kinds=("interaction", "note", "order"), limit=2
        )
        if not page:
            break
        seen += [(e.kind, e.id) for e in page]
        cursor = page[-1].cursor
    assert seen == [(e.kind, e.id) for e in everything]
    assert len(set(seen)) == 9
    # Within the instant: kinds in reverse alphabetical order, newest id first.
    assert [k for k, _id in seen] == ["order"] * 2 + ["note"] * 3 + ["interaction"] * 4


def test_scrolling_the_page_follows_the_cursor_across_a_shared_instant(
    signed_in: Any, make_customer: Any, make_order: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(customer_views, "TIMELINE_PAGE", 4)
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    at = timezone.now() - datetime.timedelta(hours=5)
    _same_instant_history(c, rep, make_order, at)

    first = client.get(f"/customers/{c.pk}/")
    shown = [(e.kind, e.id) for e in first.context["entries"]]
    more = first.context["more_url"]
    while more:
        response = client.get(more, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        entries, more = _fragment(response)
        shown += entries
    assert len(shown) == len(set(shown)) == 9


def test_cursor_round_trips_and_bad_cursors_start_over(signed_in: Any, make_customer: Any) -> None:
    at = timezone.now().replace(microsecond=5)
    cursor = TimelineCursor(at, "order", 42)
    assert TimelineCursor.decode(cursor.encode()) == cursor
    assert TimelineCursor.decode(at.isoformat()) == TimelineCursor(at)
    assert TimelineCursor.decode("yesterday|order|x") is None

    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    services.record_interaction(customer=c, channel="phone", kind="call", subject="A", actor=rep)
    response = client.get(f"/customers/{c.pk}/timeline/", {"before": "garbage"})
    assert response.status_code == 200
    assert _fragment(response)[0] == [("interaction", c.interactions.get().pk)]


def _grade_change(c: Any, at: datetime.datetime) -> GradeChange:
    program = GradeProgram.objects.filter(name="멤버십").first()
    if program is None:
        program = GradeProgram.objects.create(name="멤버십", is_active=True)
        GradeTier.objects.create(program=program, code="silver", name="실버", rank=1)
        GradeTier.objects.create(program=program, code="gold", name="골드", rank=2)
    silver = GradeTier.objects.get(program=program, code="silver")
    gold = GradeTier.objects.get(program=program, code="gold")
    return GradeChange.objects.create(
        customer=c, program=program, from_tier=silver, to_tier=gold, reason="upgrade", at=at
    )


def test_orders_returns_and_grade_changes_come_from_their_apps(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    now = timezone.now()
    order = make_order(c, amount=50000, placed_at=now - datetime.timedelta(days=3))
    commerce.record_return(
        order=order,
        lines=[commerce.ReturnLineInput(order.lines.get(), 1)],
        reason="defect",
        returned_at=now - datetime.timedelta(days=2),
        actor=rep,
    )
    _grade_change(c, now - datetime.timedelta(days=1))

    kinds = [k for k, _label in timeline.kind_choices(rep)]
    assert {"interaction", "order", "return", "note", "grade"} <= set(kinds)
    assert kinds.index("interaction") < kinds.index("order") < kinds.index("return")

    response = client.get(f"/customers/{c.pk}/")
    entries = response.context["entries"]
    assert [e.kind for e in entries[:3]] == ["grade", "return", "order"]
    body = response.content.decode()
    assert "등급 변경" in body and "실버 → 골드" in body
    assert f'href="/orders/{order.pk}/"' in body
    assert "₩50,000" in body
    # The kind filter offers the registered kinds, and filters by them.
    assert '<option value="grade"' in body
    only = client.get(f"/customers/{c.pk}/timeline/", {"kind": "return"}, HTTP_HX_REQUEST="true")
    assert [k for k, _id in _fragment(only)[0]] == ["return"]


def test_a_role_without_orders_sees_neither_the_kind_nor_the_orders(
    make_user: Any, make_customer: Any, make_order: Any
) -> None:
    from dangol.core.services import create_role

    role = create_role(
        name="고객만", grants={"customers.customer": (["view"], "all")}, can_view_pii=False
    )
    viewer = make_user(role=None)
    viewer.role = role
    viewer.save()
    c = make_customer()
    make_order(c)
    assert "order" not in [k for k, _label in timeline.kind_choices(viewer)]
    assert [e.kind for e in selectors.timeline(user=viewer, customer=c)] == []


def test_a_registered_source_joins_the_timeline_and_the_filter(
    signed_in: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    at = timezone.now() - datetime.timedelta(minutes=1)
    asked: list[TimelineRequest] = []

    def fetch(r: TimelineRequest) -> list[TimelineEntry]:
        asked.append(r)
        return [TimelineEntry(kind="task", at=at, id=7, title="견적서 보내기", icon="check")]

    try:
        timeline.register_timeline_source("task", "Tasks", fetch, position=70)
        response = client.get(f"/customers/{c.pk}/")
        assert [e.title for e in response.context["entries"]] == ["견적서 보내기"]
        assert ("task", "Tasks") in response.context["kind_choices"]
        assert asked[0].customer == c and asked[0].before is None
        # A channel filter leaves out the sources that cannot filter by channel.
        client.get(f"/customers/{c.pk}/timeline/", {"channel": "email"})
        assert len(asked) == 1
    finally:
        timeline._SOURCES.pop("task", None)


def test_timeline_page_queries_do_not_grow_with_history(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)

    def grow(n: int) -> None:
        now = timezone.now()
        for i in range(n):
            at = now - datetime.timedelta(days=40 + i)
            services.record_interaction(
                customer=c, channel="phone", kind="call", subject=f"통화{i}", actor=rep
            )
            services.add_note(customer=c, body=f"메모{i}", actor=rep)
            services.grant_consent(customer=c, channel=["sms", "email", "kakao"][i % 3], actor=rep)
            order = make_order(c, placed_at=at)
            commerce.record_return(
                order=order,
                lines=[commerce.ReturnLineInput(order.lines.get(), 1)],
                reason="defect",
                returned_at=at + datetime.timedelta(days=1),
                actor=rep,
            )
            _grade_change(c, at)

    grow(1)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/customers/{c.pk}/timeline/", HTTP_HX_REQUEST="true")
    grow(8)
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/customers/{c.pk}/timeline/", HTTP_HX_REQUEST="true")
    entries, more = _fragment(response)
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    # A page past the first costs the same.
    assert more is not None
    with CaptureQueriesContext(connection) as later:
        older, _more = _fragment(client.get(more, HTTP_HX_REQUEST="true"))
    assert len(later) == len(many)
    kinds = {k for k, _id in entries + older}
    assert kinds == {"order", "return", "grade", "note", "interaction", "consent"}


def test_interactions_notes_and_consents_need_their_grants(
    make_user: Any, make_customer: Any, make_order: Any
) -> None:
    from dangol.core.services import create_role

    role = create_role(
        name="현장",
        grants={
            "customers.customer": (["view"], "all"),
            "customers.interaction": (["view"], "all"),
            "commerce.order": (["view"], "all"),
        },
    )
    viewer = make_user(role=None)
    viewer.role = role
    viewer.save()
    rep = make_user(role="rep")
    c = make_customer(owner=rep)
    services.record_interaction(customer=c, channel="visit", kind="visit", subject="A", actor=rep)
    services.add_note(customer=c, body="내부 메모", actor=rep)
    services.grant_consent(customer=c, channel="sms", actor=rep)
    make_order(c)
    kinds = {k for k, _label in timeline.kind_choices(viewer)}
    assert {"interaction", "order"} <= kinds
    assert not {"note", "consent"} & kinds
    shown = {e.kind for e in selectors.timeline(user=viewer, customer=c)}
    assert shown == {"interaction", "order"}
    assert {"note", "consent"} <= {e.kind for e in selectors.timeline(user=rep, customer=c)}
