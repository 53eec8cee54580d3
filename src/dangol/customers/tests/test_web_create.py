"""Entering customers and organizations in the staff app: the new-customer page with its
duplicate warning, and the organization create / edit / archive pages."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.core.errors import ValidationFailed
from dangol.core.models import ChangeLog
from dangol.core.normalize import business_number_check_digit
from dangol.customers import services
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    Organization,
    RecordStatus,
)
from dangol.web.testing import apply_test_settings

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Dangol-2026!"  # the root conftest's make_user default
NEW = "/customers/new/"


@pytest.fixture(autouse=True)
def _web_settings(settings: Any) -> None:
    apply_test_settings(settings)


@pytest.fixture
def signed_in(client: Any, make_user: Any) -> Callable[..., tuple[Any, Any]]:
    """``signed_in(role="rep")`` → (client, user), signed in through the login page."""

    def sign_in(**kw: Any) -> tuple[Any, Any]:
        user = make_user(**kw)
        response = client.post("/login/", {"username": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content[:500]
        return client, user

    return sign_in


def business_number(first9: str) -> str:
    """A valid 사업자등록번호 from its first nine digits."""
    return f"{first9[:3]}-{first9[3:5]}-{first9[5:]}{business_number_check_digit(first9)}"


def entry(**kw: Any) -> dict[str, Any]:
    """What the new-customer form posts: a name, and `kw`."""
    return {"full_name": "김민준", "lifecycle_stage": "lead", **kw}


# --- the new-customer page ------------------------------------------------------------------


def test_a_customer_entered_on_the_page_is_written_normalized_with_owner_and_consents(
    signed_in: Any,
) -> None:
    client, rep = signed_in(role="rep")
    page = client.get(NEW)
    assert page.status_code == 200
    body = page.content.decode()
    assert "<title>새 고객 · 고객 · 단골</title>" in body
    assert f'<option value="{rep.pk}" selected>' in body  # the owner is the user by default

    response = client.post(
        NEW,
        entry(
            full_name="",
            family_name="김",
            given_name="민준",
            mobile="010 1234 5678",
            email="MinJun.Kim@Example.COM ",
            phone="02-123-4567",
            birth_date="1988-04-12",
            birth_date_is_lunar="on",
            gender="M",
            region="seoul",
            signup_channel="call_center",
            owner=str(rep.pk),
            consent_channels=["sms", "kakao"],
            consent_evidence="가입 통화 중 구두 동의",
        ),
    )

    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert (customer.family_name, customer.given_name, customer.full_name) == (
        "김",
        "민준",
        "김민준",
    )
    assert (customer.owner, customer.team) == (rep, rep.team)
    assert customer.birth_date == datetime.date(1988, 4, 12) and customer.birth_date_is_lunar
    assert (customer.gender, customer.region) == ("M", "seoul")
    assert (customer.source, customer.signup_channel) == ("web", "call_center")
    contacts = {
        cp.kind: (cp.normalized, cp.match_key, cp.is_primary)
        for cp in ContactPoint.objects.filter(customer=customer)
    }
    assert contacts == {
        "mobile": ("+821012345678", "+821012345678", True),
        "email": ("MinJun.Kim@example.com", "minjun.kim@example.com", True),
        "phone": ("+8221234567", "+8221234567", True),
    }
    consents = Consent.objects.filter(customer=customer).order_by("channel")
    assert [(c.channel, c.status, c.source) for c in consents] == [
        ("kakao", "granted", "web"),
        ("sms", "granted", "web"),
    ]
    assert {(e.actor_id, e.evidence) for e in ConsentEvent.objects.all()} == {
        (rep.pk, "가입 통화 중 구두 동의")
    }
    assert ChangeLog.objects.filter(action="customer.created", actor=rep).count() == 1

    landed = client.get(response["Location"]).content.decode()
    assert "고객 김민준 님을 등록했습니다." in landed
    assert "콜센터" in landed  # the signup channel, in the reader's language


def test_errors_are_shown_next_to_the_fields_and_nothing_is_written(signed_in: Any) -> None:
    client, _rep = signed_in(role="rep")

    unnamed = client.post(
        NEW, entry(full_name="", consent_channels=["sms"], mobile="010-1234-5678")
    )
    assert unnamed.status_code == 200
    assert unnamed.context["form"].errors == {
        "full_name": ["고객 이름을 입력하세요."],
        "consent_evidence": ["고객이 어떻게 알려 왔는지 적어 주세요(예: 전화 통화)."],
    }

    # The service normalizes the contact points: its errors land on the fields they came from.
    bad = client.post(NEW, entry(mobile="010-12", email="kim@", phone="02-123-4567"))
    errors = bad.context["form"].errors
    assert errors["mobile"] == ["올바른 전화번호가 아닙니다."]
    assert errors["email"] == ["올바른 이메일 주소를 입력하세요."]
    assert "phone" not in errors
    body = bad.content.decode()
    assert "올바른 전화번호가 아닙니다." in body
    assert 'value="010-12"' in body  # what was typed is kept
    assert not Customer.objects.exists()
    assert not ContactPoint.objects.exists()


def test_a_failing_consent_leaves_no_customer_behind(signed_in: Any, monkeypatch: Any) -> None:
    client, _rep = signed_in(role="rep")

    def refuse(**kw: Any) -> None:
        raise ValidationFailed.single("channel", "invalid_choice", "채널이 올바르지 않습니다.")

    monkeypatch.setattr(services, "grant_consent", refuse)
    response = client.post(NEW, entry(consent_channels=["sms"], consent_evidence="전화"))

    assert response.status_code == 200
    assert "채널이 올바르지 않습니다." in response.content.decode()
    assert not Customer.objects.exists()


def test_the_same_mobile_warns_first_and_create_anyway_then_creates(
    signed_in: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")  # no PII permission: names are masked
    existing = make_customer(full_name="김민준", owner=rep, contacts=[("mobile", "010-1234-5678")])

    first = client.post(NEW, entry(mobile="01012345678", email="new@example.com"))

    assert first.status_code == 200
    assert Customer.objects.count() == 1
    [dup] = first.context["duplicates"]
    assert dup.customer == existing
    body = first.content.decode()
    assert "이미 있는 고객일 수 있습니다" in body
    assert f'href="/customers/{existing.pk}/"' in body
    assert "김*준" in body and "010-****-5678" in body
    assert "같은 휴대전화 번호" in body
    assert f'name="confirm" value="{existing.pk}"' in body
    assert "그래도 새로 만들기" in body

    # Another number typed before confirming: the new match is shown, nothing is created.
    other = make_customer(full_name="이서연", owner=rep, contacts=[("email", "seo@example.com")])
    changed = client.post(
        NEW, entry(mobile="01012345678", email="SEO@example.com", confirm=str(existing.pk))
    )
    assert {d.customer for d in changed.context["duplicates"]} == {existing, other}
    assert Customer.objects.count() == 2

    anyway = client.post(
        NEW, entry(mobile="01012345678", email="new@example.com", confirm=str(existing.pk))
    )
    assert anyway.status_code == 302
    created = Customer.objects.latest("pk")
    assert created.pk != existing.pk
    assert created.contact_points.get(kind="mobile").match_key == "+821012345678"


def test_name_and_birth_date_match_and_pii_roles_see_the_name(
    signed_in: Any, make_customer: Any
) -> None:
    client, lead = signed_in(role="lead")  # team scope, with the PII permission

    same = make_customer(full_name="김민준", owner=lead, birth_date=datetime.date(1988, 4, 12))
    make_customer(full_name="김민준", owner=lead, birth_date=datetime.date(1990, 1, 1))

    response = client.post(
        NEW, entry(family_name="김", given_name="민 준", full_name="", birth_date="1988-04-12")
    )

    [dup] = response.context["duplicates"]
    assert dup.customer == same and dup.name == "김민준"
    assert "같은 이름과 생년월일" in response.content.decode()


def test_without_the_add_permission_there_is_no_button_and_no_page(
    signed_in: Any, make_user: Any, client: Any
) -> None:
    client, _marketer = signed_in(role="marketer")  # view + export
    listing = client.get("/customers/").content.decode()
    assert NEW not in listing and "새 고객" not in listing
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, entry(mobile="010-1234-5678")).status_code == 403
    assert not Customer.objects.exists()

    client.force_login(make_user(role=None))  # may not even see customers
    assert client.get(NEW).status_code == 404

    client.force_login(make_user(role="rep"))
    assert f'href="{NEW}"' in client.get("/customers/").content.decode()


def test_a_rep_is_not_warned_about_another_teams_customer(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    busan = make_user(role="rep", team="busan")
    make_customer(full_name="박지훈", owner=busan, contacts=[("mobile", "010-2222-3333")])

    response = client.post(NEW, entry(full_name="박지훈", mobile="010-2222-3333"))

    assert response.status_code == 302  # created at once: nothing the rep can see matched
    assert "박" not in response.content.decode()
    assert Customer.objects.filter(owner=rep).count() == 1


def test_the_owner_choices_follow_the_scope(signed_in: Any, make_user: Any, client: Any) -> None:
    teammate = make_user(role="rep", display_name="동료")
    busan = make_user(role="rep", team="busan", display_name="부산담당")
    client, rep = signed_in(role="rep")  # own scope: only themselves
    choices = {u.pk for u in client.get(NEW).context["form"].fields["owner"].queryset}
    assert choices == {rep.pk}
    refused = client.post(NEW, entry(owner=str(teammate.pk)))
    assert "owner" in refused.context["form"].errors and not Customer.objects.exists()

    lead = make_user(role="lead")
    client.force_login(lead)
    choices = {u.pk for u in client.get(NEW).context["form"].fields["owner"].queryset}
    assert teammate.pk in choices and lead.pk in choices and busan.pk not in choices
    assert client.post(NEW, entry(owner=str(teammate.pk))).status_code == 302
    assert Customer.objects.get().owner == teammate


def test_the_new_customer_page_runs_a_constant_number_of_queries(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, lead = signed_in(role="lead")

    def grow(n: int) -> None:
        for i in range(n):
            make_user(role="rep")
            make_customer(
                full_name="김민준",
                owner=lead,
                contacts=[("mobile", "010-1234-5678"), ("email", f"k{i}@example.com")],
            )

    grow(1)
    with CaptureQueriesContext(connection) as few_get:
        client.get(NEW)
    with CaptureQueriesContext(connection) as few_post:
        response = client.post(NEW, entry(mobile="010-1234-5678", email="k0@example.com"))
    assert len(response.context["duplicates"]) == 1
    grow(7)
    with CaptureQueriesContext(connection) as many_get:
        client.get(NEW)
    with CaptureQueriesContext(connection) as many_post:
        response = client.post(NEW, entry(mobile="010-1234-5678", email="k0@example.com"))
    assert len(response.context["duplicates"]) == 8
    assert len(many_get) == len(few_get), [q["sql"] for q in many_get.captured_queries]
    assert len(many_post) == len(few_post), [q["sql"] for q in many_post.captured_queries]


# --- organizations --------------------------------------------------------------------------


def test_an_organization_is_created_with_a_normalized_business_number(
    signed_in: Any,
) -> None:
    client, rep = signed_in(role="rep")
    listing = client.get("/organizations/").content.decode()
    assert 'href="/organizations/new/"' in listing and "새 조직" in listing

    response = client.post(
        "/organizations/new/",
        {
            "name": "한빛상사",
            "business_number": "220 81 62517",
            "industry": "유통",
            "size": "50-299",
            "website": "hanbit.example.com",
            "region": "seoul",
            "owner": str(rep.pk),
        },
    )

    org = Organization.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/organizations/{org.pk}/"
    assert (org.name, org.business_number, org.industry, org.size) == (
        "한빛상사",
        "220-81-62517",
        "유통",
        "50-299",
    )
    assert (org.website, org.region, org.owner, org.team, org.source) == (
        "https://hanbit.example.com",
        "seoul",
        rep,
        rep.team,
        "web",
    )
    assert "조직을 만들었습니다: 한빛상사" in client.get(response["Location"]).content.decode()


def test_a_wrong_check_digit_is_shown_and_nothing_is_written(signed_in: Any) -> None:
    client, _rep = signed_in(role="rep")

    response = client.post(
        "/organizations/new/", {"name": "한빛상사", "business_number": "220-81-62518"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "business_number": [
            "유효하지 않은 사업자등록번호입니다. 마지막 자리(검증번호)가 맞지 않습니다."
        ]
    }
    assert 'value="220-81-62518"' in response.content.decode()
    assert not Organization.objects.exists()


def test_a_parent_that_makes_a_cycle_is_refused_with_the_services_message(
    signed_in: Any,
) -> None:
    client, rep = signed_in(role="rep")
    group = services.create_organization(name="한빛그룹", owner=rep, actor=rep)
    child = services.create_organization(name="한빛상사", parent=group, owner=rep, actor=rep)
    grandchild = services.create_organization(name="한빛물류", parent=child, owner=rep, actor=rep)

    page = client.get(f"/organizations/{group.pk}/edit/")
    assert page.status_code == 200
    assert 'value="한빛그룹"' in page.content.decode()

    # The picker offers neither the organization itself nor those below it ...
    options = client.get("/organizations/parents/", {"q": "한빛", "exclude": group.pk})
    assert "한빛상사" not in options.content.decode() and "한빛물류" not in options.content.decode()
    options = client.get("/organizations/parents/", {"q": "한빛", "exclude": grandchild.pk})
    assert "한빛그룹" in options.content.decode() and "한빛물류" not in options.content.decode()

    # ... and a cycle sent anyway is refused by the service, shown on the field.
    response = client.post(
        f"/organizations/{group.pk}/edit/",
        {"name": "한빛그룹", "parent": str(grandchild.pk), "owner": str(rep.pk)},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "parent": ["조직은 자기 자신의 상위 조직이 될 수 없습니다."]
    }
    assert "한빛물류" in response.content.decode()  # the refused choice is still shown
    group.refresh_from_db()
    assert group.parent is None


def test_editing_an_organization_saves_and_the_owner_brings_the_team(
    signed_in: Any, make_user: Any
) -> None:
    client, manager = signed_in(role="manager")
    busan = make_user(role="rep", team="busan")
    org = services.create_organization(name="한빛상사", owner=manager, actor=manager)
    group = services.create_organization(name="한빛그룹", actor=manager)
    taken = services.create_organization(
        name="다른회사", business_number=business_number("123456789"), actor=manager
    )

    detail = client.get(f"/organizations/{org.pk}/").content.decode()
    assert f'href="/organizations/{org.pk}/edit/"' in detail
    assert f'href="/organizations/{org.pk}/archive/"' in detail

    duplicate = client.post(
        f"/organizations/{org.pk}/edit/",
        {"name": "한빛상사", "business_number": taken.business_number, "owner": str(busan.pk)},
    )
    assert "같은 사업자등록번호의 조직이 이미 있습니다." in duplicate.content.decode()

    saved = client.post(
        f"/organizations/{org.pk}/edit/",
        {
            "name": "한빛상사(주)",
            "business_number": "2208162517",
            "parent": str(group.pk),
            "owner": str(busan.pk),
        },
    )
    assert saved.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.business_number, org.parent, org.owner, org.team) == (
        "한빛상사(주)",
        "220-81-62517",
        group,
        busan,
        busan.team,
    )


def test_archiving_asks_first_and_needs_the_delete_permission(
    signed_in: Any, make_user: Any, client: Any
) -> None:
    client, agent = signed_in(role="agent")  # view, change, add: no delete
    org = services.create_organization(name="한빛상사", owner=agent, actor=agent)
    detail = client.get(f"/organizations/{org.pk}/").content.decode()
    assert "/edit/" in detail and "/archive/" not in detail
    assert client.post(f"/organizations/{org.pk}/archive/").status_code == 404

    client.force_login(make_user(role="manager"))
    confirm = client.get(f"/organizations/{org.pk}/archive/")
    assert "한빛상사 조직을 보관할까요?" in confirm.content.decode()
    org.refresh_from_db()
    assert org.status == RecordStatus.ACTIVE  # a GET changes nothing

    done = client.post(f"/organizations/{org.pk}/archive/")
    assert done.status_code == 302 and done["Location"] == "/organizations/"
    org.refresh_from_db()
    assert org.status == RecordStatus.ARCHIVED
    listing = client.get("/organizations/").content.decode()
    assert "조직을 보관했습니다: 한빛상사" in listing
    assert f'href="/organizations/{org.pk}/"' not in listing


def test_an_archived_organization_is_restored_from_its_page(
    signed_in: Any, make_user: Any, client: Any
) -> None:
    client, manager = signed_in(role="manager")
    org = services.create_organization(name="한빛상사", owner=manager, actor=manager)
    services.archive_organization(organization=org, actor=manager)
    detail = client.get(f"/organizations/{org.pk}/").content.decode()
    assert f'action="/organizations/{org.pk}/restore/"' in detail and "/archive/" not in detail
    assert client.get(f"/organizations/{org.pk}/restore/").status_code == 405  # POST only

    client.force_login(make_user(role="agent"))  # no delete permission: no button, no restore
    assert "/restore/" not in client.get(f"/organizations/{org.pk}/").content.decode()
    assert client.post(f"/organizations/{org.pk}/restore/").status_code == 404
    org.refresh_from_db()
    assert org.status == RecordStatus.ARCHIVED

    client.force_login(manager)
    done = client.post(f"/organizations/{org.pk}/restore/", follow=True)
    org.refresh_from_db()
    assert org.status == RecordStatus.ACTIVE
    assert "조직을 복원했습니다: 한빛상사" in done.content.decode()
    assert f'href="/organizations/{org.pk}/"' in client.get("/organizations/").content.decode()
    again = client.post(f"/organizations/{org.pk}/restore/", follow=True)  # not archived now
    assert "보관된 조직만 복원할 수 있습니다." in again.content.decode()
    assert ChangeLog.objects.filter(action="organization.restored").count() == 1


def test_organization_pages_need_their_permissions(
    signed_in: Any, make_user: Any, client: Any
) -> None:
    client, _marketer = signed_in(role="marketer")  # customers.organization: view + export
    org = services.create_organization(name="한빛상사", actor=None)
    assert "/organizations/new/" not in client.get("/organizations/").content.decode()
    assert "/edit/" not in client.get(f"/organizations/{org.pk}/").content.decode()
    assert client.get("/organizations/new/").status_code == 403
    assert client.post("/organizations/new/", {"name": "새회사"}).status_code == 403
    assert client.get(f"/organizations/{org.pk}/edit/").status_code == 404
    assert client.post(f"/organizations/{org.pk}/edit/", {"name": "바뀐회사"}).status_code == 404
    assert list(Organization.objects.values_list("name", flat=True)) == ["한빛상사"]

    rep = make_user(role="rep")
    client.force_login(rep)  # another owner's organization: invisible, so 404 like a missing one
    assert client.get(f"/organizations/{org.pk}/edit/").status_code == 404
    assert client.get("/organizations/999999/edit/").status_code == 404


def test_organization_form_pages_run_a_constant_number_of_queries(
    signed_in: Any, make_user: Any
) -> None:
    client, manager = signed_in(role="manager")
    top = services.create_organization(name="한빛그룹", actor=manager)

    def grow(n: int) -> None:
        parent = top
        for i in range(n):  # a deeper and deeper group, and more staff to choose from
            make_user(role="rep")
            parent = services.create_organization(
                name=f"한빛{top.pk}-{i}", parent=parent, owner=manager, actor=manager
            )

    grow(1)
    with CaptureQueriesContext(connection) as few_new:
        client.get("/organizations/new/")
    with CaptureQueriesContext(connection) as few_edit:
        client.get(f"/organizations/{top.pk}/edit/")
    with CaptureQueriesContext(connection) as few_pick:
        client.get("/organizations/parents/", {"q": "한빛", "exclude": top.pk})
    grow(6)
    with CaptureQueriesContext(connection) as many_new:
        client.get("/organizations/new/")
    with CaptureQueriesContext(connection) as many_edit:
        client.get(f"/organizations/{top.pk}/edit/")
    with CaptureQueriesContext(connection) as many_pick:
        client.get("/organizations/parents/", {"q": "한빛", "exclude": top.pk})
    assert len(many_new) == len(few_new)
    assert len(many_edit) == len(few_edit)
    assert len(many_pick) == len(few_pick)
