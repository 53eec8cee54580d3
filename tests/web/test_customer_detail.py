"""The customer 360 page: visibility, masking and reveal, quick actions, timeline, queries."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.analytics.models import GradeChange, GradeProgram, GradeTier
from dangol.commerce import services as commerce
from dangol.core.models import PiiAccessLog
from dangol.core.services import define_custom_field, tag_objects
from dangol.customers import selectors, services
from dangol.customers import views as customer_views
from dangol.customers.models import Customer, Interaction, Note

pytestmark = pytest.mark.django_db


def test_shows_the_customer_with_figures_and_masked_contacts(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(
        full_name="김민준",
        owner=rep,
        lifecycle_stage="repeat",
        contacts=[("mobile", "010-1234-5678"), ("email", "minjun@example.com")],
    )
    tag_objects(objs=[c], names=["VIP"])
    make_order(c, amount=120000)
    make_order(c, amount=30000)

    response = client.get(f"/customers/{c.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<title>김민준 · 고객 · 단골</title>" in body
    assert "₩150,000" in body and "₩75,000" in body  # lifetime spend, average order value
    assert "010-****-5678" in body
    assert "1234-5678" not in body and "01012345678" not in body and "+821012345678" not in body
    assert "mi****" in body
    assert "VIP" in body
    assert "공개" not in body  # no reveal button without the PII permission
    assert not PiiAccessLog.objects.exists()


def test_another_teams_customer_is_404_like_a_missing_one(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, _rep = signed_in(role="rep")
    other = make_customer(full_name="박지훈", owner=make_user(role="rep", team="busan"))
    hidden = client.get(f"/customers/{other.pk}/")
    missing = client.get("/customers/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert "박지훈" not in hidden.content.decode()
    for path in ("timeline/", "contacts/", "profile/"):
        assert client.get(f"/customers/{other.pk}/{path}").status_code == 404
    assert client.post(f"/customers/{other.pk}/log/call/", {"call-kind": "call"}).status_code == 404


def test_reveal_needs_the_pii_permission_and_is_logged(signed_in: Any, make_customer: Any) -> None:
    client, lead = signed_in(role="lead")
    c = make_customer(owner=lead, contacts=[("mobile", "010-1234-5678")])
    assert "010-****-5678" in client.get(f"/customers/{c.pk}/").content.decode()
    assert not PiiAccessLog.objects.exists()

    fragment = client.post(f"/customers/{c.pk}/contacts/reveal/", HTTP_HX_REQUEST="true")
    assert "010-1234-5678" in fragment.content.decode()
    log = PiiAccessLog.objects.get()
    assert (log.channel, log.object_id, log.fields) == ("web", str(c.pk), ["mobile"])
    assert log.endpoint == f"/customers/{c.pk}/contacts/reveal/"


def test_reveal_is_refused_without_the_pii_permission(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep, contacts=[("mobile", "010-1234-5678")])
    assert client.post(f"/customers/{c.pk}/contacts/reveal/").status_code == 403
    assert not PiiAccessLog.objects.exists()


def test_logging_a_call_returns_the_new_entry_and_a_fresh_form(
    signed_in: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    response = client.post(
        f"/customers/{c.pk}/log/call/",
        {
            "call-kind": "call",
            "call-direction": "outbound",
            "call-subject": "재구매 상담",
            "call-body": "다음 주 방문 예정",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "재구매 상담" in body and 'hx-swap-oob="true"' in body
    i = Interaction.objects.get()
    assert (i.channel, i.kind, i.staff_id) == ("phone", "call", rep.pk)
    first = selectors.timeline(user=rep, customer=c)[0]
    assert first.obj == i


def test_logging_without_a_subject_keeps_the_form_with_a_message(
    signed_in: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    future = (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/customers/{c.pk}/log/visit/",
        {"visit-kind": "visit", "visit-direction": "inbound", "visit-occurred_at": future},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response["HX-Retarget"] == "#log-visit-form"
    assert "무엇에 관한 것이었는지 적어 주세요" in body
    assert "미래 시점입니다" in body
    assert not Interaction.objects.exists()


def test_writing_a_note(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    response = client.post(
        f"/customers/{c.pk}/log/note/", {"note-body": "선물 포장 선호"}, HTTP_HX_REQUEST="true"
    )
    assert "선물 포장 선호" in response.content.decode()
    assert Note.objects.get().customer == c


def test_recording_a_consent_change(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    response = client.post(
        f"/customers/{c.pk}/consents/",
        {
            "consent-channel": "sms",
            "consent-purpose": "marketing",
            "consent-action": "grant",
            "consent-evidence": "전화로 동의",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "동의 변경을 기록했습니다" in body
    assert c.consents.get().status == "granted"
    response = client.post(
        f"/customers/{c.pk}/consents/",
        {"consent-channel": "sms", "consent-purpose": "marketing", "consent-action": "withdraw"},
        HTTP_HX_REQUEST="true",
    )
    assert "고객이 어떻게 알려 왔는지" in response.content.decode()
    assert c.consents.get().status == "granted"


def test_editing_the_profile_inline(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    define_custom_field(
        object_type="customers.customer",
        key="skin",
        label="피부 타입",
        field_type="choice",
        choices=["건성", "지성"],
    )
    c = make_customer(full_name="김민준", owner=rep)
    form = client.get(f"/customers/{c.pk}/profile/?edit=1", HTTP_HX_REQUEST="true")
    assert 'name="full_name"' in form.content.decode()
    assert "피부 타입" in form.content.decode()

    saved = client.post(
        f"/customers/{c.pk}/profile/",
        {"full_name": "김민준", "lifecycle_stage": "repeat", "region": "busan", "cf_skin": "지성"},
        HTTP_HX_REQUEST="true",
    )
    assert "저장했습니다" in saved.content.decode()
    c.refresh_from_db()
    assert (c.lifecycle_stage, c.region, c.custom_fields) == ("repeat", "busan", {"skin": "지성"})

    error = client.post(
        f"/customers/{c.pk}/profile/",
        {"full_name": "", "lifecycle_stage": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert "고객 이름을 입력하세요" in error.content.decode()


def test_read_only_roles_cannot_change(signed_in: Any, make_customer: Any) -> None:
    client, _marketer = signed_in(role="marketer")  # view + export only
    c = make_customer()
    assert client.get(f"/customers/{c.pk}/profile/?edit=1").status_code == 404
    assert client.post(f"/customers/{c.pk}/log/call/", {"call-kind": "call"}).status_code == 403
    body = client.get(f"/customers/{c.pk}/").content.decode()
    assert "통화 기록" not in body


def test_timeline_pages_and_filters(signed_in: Any, make_customer: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(customer_views, "TIMELINE_PAGE", 3)
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep)
    start = timezone.now() - datetime.timedelta(days=10)
    for i in range(5):
        services.record_interaction(
            customer=c,
            channel="phone",
            kind="call",
            subject=f"통화{i}",
            occurred_at=start + datetime.timedelta(hours=i),
            actor=rep,
        )
    services.record_interaction(
        customer=c,
        channel="email",
        kind="message",
        subject="메일",
        occurred_at=start - datetime.timedelta(hours=1),
        actor=rep,
    )

    first = client.get(f"/customers/{c.pk}/")
    assert [e.title for e in first.context["entries"]] == ["통화4", "통화3", "통화2"]
    more = first.context["more_url"]
    second = client.get(more, HTTP_HX_REQUEST="true").content.decode()
    assert second.index("통화1") < second.index("통화0") < second.index("메일")
    assert "통화2" not in second

    filtered = client.get(
        f"/customers/{c.pk}/timeline/", {"channel": "email"}, HTTP_HX_REQUEST="true"
    )
    assert "메일" in filtered.content.decode()
    assert "통화" not in filtered.content.decode()
    assert filtered["HX-Push-Url"] == f"/customers/{c.pk}/?channel=email"
    # The pushed address renders the same filter on a full page load.
    page = client.get(f"/customers/{c.pk}/", {"channel": "email"})
    assert [e.title for e in page.context["entries"]] == ["메일"]


def test_360_query_count_does_not_grow_with_history(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    client, rep = signed_in(role="rep")
    c = make_customer(owner=rep, contacts=[("mobile", "010-1234-5678")])
    program = GradeProgram.objects.create(name="멤버십", is_active=True)
    tier = GradeTier.objects.create(program=program, code="gold", name="골드", rank=1)

    def grow(n: int) -> None:
        for i in range(n):
            services.record_interaction(
                customer=c, channel="phone", kind="call", subject=f"통화{i}", actor=rep
            )
            services.add_note(customer=c, body=f"메모{i}", actor=rep)
            services.add_contact_point(
                customer=c, kind="email", value=f"a{n}-{i}@example.com", actor=rep
            )
            services.grant_consent(customer=c, channel=["sms", "email", "kakao"][i % 3], actor=rep)
            order = make_order(c)
            # Every timeline source grows too: returns (commerce) and grade changes (analytics).
            commerce.record_return(
                order=order,
                lines=[commerce.ReturnLineInput(order.lines.get(), 1)],
                reason="defect",
                actor=rep,
            )
            GradeChange.objects.create(
                customer=c, program=program, from_tier=None, to_tier=tier, reason="initial"
            )
        tag_objects(objs=[c], names=[f"태그{n}"])

    grow(1)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/customers/{c.pk}/")
    grow(6)
    with CaptureQueriesContext(connection) as many:
        client.get(f"/customers/{c.pk}/")
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert Customer.objects.get().order_count == 7
