"""Whom a user may make the owner of a customer or an organization, enforced by the services
(and so by the API and the pages): anyone active with the scope "all records", their team and
themselves with "team", only themselves with "own"; nobody only with "all records"; the current
owner may always stay."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.utils.translation import gettext

from dangol.core.errors import ValidationFailed
from dangol.core.models import ChangeLog, User
from dangol.core.visibility import Action
from dangol.customers import services
from dangol.customers.models import Customer, Organization
from dangol.web.testing import apply_test_settings

pytestmark = pytest.mark.django_db

REFUSED = {"field": "owner", "code": "owner_not_allowed"}
MESSAGE = "You cannot make this person the owner."


@pytest.fixture(autouse=True)
def _web_settings(settings: Any) -> None:
    apply_test_settings(settings)


@pytest.fixture
def staff(make_user: Any) -> dict[str, Any]:
    """A Seoul rep ("own"), a Seoul colleague, a Seoul lead ("team"), a Busan rep and a manager
    ("all records")."""
    return {
        "rep": make_user(role="rep", display_name="서울담당"),
        "colleague": make_user(role="rep", display_name="서울동료"),
        "lead": make_user(role="lead", display_name="서울팀장"),
        "busan": make_user(role="rep", team="busan", display_name="부산담당"),
        "manager": make_user(role="manager", team=None, display_name="본부장"),
    }


def owned_by(owner: User | None, name: str = "김민준") -> Customer:
    return services.create_customer(
        data=services.CustomerInput(full_name=name, owner=owner), actor=None
    )


def deactivate(user: User) -> User:
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.refresh_from_db()
    return user


def refusal(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.value.errors]


def send(client: Any, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


# --- the rule, in the services --------------------------------------------------------------


def test_an_own_scope_user_cannot_create_a_customer_for_someone_else(staff: Any) -> None:
    rep = staff["rep"]

    with pytest.raises(ValidationFailed) as exc:
        services.create_customer(
            data=services.CustomerInput(full_name="김민준", owner=staff["colleague"]), actor=rep
        )

    assert refusal(exc) == [("owner", "owner_not_allowed")]
    assert str(exc.value.errors[0].message) == gettext(MESSAGE)
    with pytest.raises(ValidationFailed):  # nobody: only with the scope "all records"
        services.create_customer(data=services.CustomerInput(full_name="김민준"), actor=rep)
    assert not Customer.objects.exists()
    mine = services.create_customer(
        data=services.CustomerInput(full_name="김민준", owner=rep), actor=rep
    )
    assert mine.owner == rep


def test_an_own_scope_user_cannot_give_their_customer_away(staff: Any) -> None:
    rep = staff["rep"]
    customer = owned_by(rep)

    with pytest.raises(ValidationFailed) as updating:
        services.update_customer(
            customer=customer, changes={"owner": staff["colleague"]}, actor=rep
        )
    with pytest.raises(ValidationFailed) as assigning:
        services.assign_owner(customers=[customer], owner=staff["colleague"], actor=rep)
    with pytest.raises(ValidationFailed) as unassigning:
        services.update_customer(customer=customer, changes={"owner": None}, actor=rep)

    assert refusal(updating) == refusal(assigning) == refusal(unassigning)
    assert refusal(updating) == [("owner", "owner_not_allowed")]
    customer.refresh_from_db()
    assert customer.owner == rep
    assert not ChangeLog.objects.filter(
        action__in=("customer.updated", "customer.owner_assigned")
    ).exists()


def test_a_team_scope_user_assigns_within_their_team_only(staff: Any) -> None:
    lead, colleague, busan = staff["lead"], staff["colleague"], staff["busan"]
    first, second = owned_by(lead, "김하나"), owned_by(lead, "김두리")

    services.update_customer(customer=first, changes={"owner": colleague}, actor=lead)
    assert services.assign_owner(customers=[second], owner=colleague, actor=lead) == 1
    with pytest.raises(ValidationFailed) as exc:
        services.assign_owner(customers=[first, second], owner=busan, actor=lead)

    assert refusal(exc) == [("owner", "owner_not_allowed")]
    assert set(Customer.objects.values_list("owner_id", flat=True)) == {colleague.pk}
    with pytest.raises(ValidationFailed):
        services.create_customer(
            data=services.CustomerInput(full_name="박지훈", owner=busan), actor=lead
        )
    with pytest.raises(ValidationFailed):  # nobody: only with the scope "all records"
        services.update_customer(customer=first, changes={"owner": None}, actor=lead)


def test_the_scope_all_records_assigns_anyone_active_and_nobody(staff: Any) -> None:
    manager, busan = staff["manager"], staff["busan"]
    customer = owned_by(staff["rep"])

    services.update_customer(customer=customer, changes={"owner": busan}, actor=manager)
    customer.refresh_from_db()
    assert (customer.owner, customer.team) == (busan, busan.team)
    services.assign_owner(customers=[customer], owner=None, actor=manager)
    customer.refresh_from_db()
    assert customer.owner is None
    unowned = services.create_customer(
        data=services.CustomerInput(full_name="박지훈"), actor=manager
    )
    assert unowned.owner is None


def test_nobody_can_make_an_inactive_user_the_owner(staff: Any, admin: Any) -> None:
    gone = deactivate(staff["colleague"])
    customer = owned_by(staff["rep"])

    for actor in (staff["manager"], admin, staff["lead"]):
        with pytest.raises(ValidationFailed) as exc:
            services.update_customer(customer=customer, changes={"owner": gone}, actor=actor)
        assert refusal(exc) == [("owner", "owner_not_allowed")]
        with pytest.raises(ValidationFailed):
            services.assign_owner(customers=[customer], owner=gone, actor=actor)
        with pytest.raises(ValidationFailed):
            services.create_organization(name="한빛상사", owner=gone, actor=actor)

    customer.refresh_from_db()
    assert customer.owner == staff["rep"] and not Organization.objects.exists()


def test_keeping_the_current_owner_is_allowed_even_when_they_could_not_be_chosen(
    staff: Any,
) -> None:
    """The colleague has left (inactive); the Busan customer is outside the lead's team."""
    lead, rep = staff["lead"], staff["rep"]
    left = owned_by(staff["colleague"], "김하나")
    deactivate(staff["colleague"])
    busan_customer = owned_by(staff["busan"], "박지훈")
    unowned = owned_by(None, "이서연")

    services.update_customer(
        customer=left, changes={"owner": staff["colleague"], "region": "seoul"}, actor=lead
    )
    assert services.assign_owner(customers=[busan_customer], owner=staff["busan"], actor=rep)
    services.update_customer(
        customer=unowned, changes={"owner": None, "region": "busan"}, actor=rep
    )

    left.refresh_from_db()
    unowned.refresh_from_db()
    assert (left.owner_id, left.region) == (staff["colleague"].pk, "seoul")
    assert (unowned.owner, unowned.region) == (None, "busan")


def test_system_jobs_without_a_user_are_not_checked(staff: Any) -> None:
    gone = deactivate(staff["colleague"])

    customer = owned_by(gone)
    services.assign_owner(customers=[customer], owner=staff["busan"], actor=None)

    customer.refresh_from_db()
    assert customer.owner == staff["busan"]


def test_check_owner_is_the_one_rule(staff: Any) -> None:
    """The same answer the owner pickers give (``selectors.assignable_owners``)."""
    lead = staff["lead"]

    services.check_owner(lead, Customer, staff["colleague"], action=Action.CHANGE)
    services.check_owner(
        lead, Customer, staff["busan"], action=Action.CHANGE, current=staff["busan"]
    )
    with pytest.raises(ValidationFailed):
        services.check_owner(lead, Customer, staff["busan"], action=Action.CHANGE)
    with pytest.raises(ValidationFailed):
        services.check_owner(staff["rep"], Organization, lead, action=Action.ADD)


# --- organizations --------------------------------------------------------------------------


def test_organizations_follow_the_same_rule(staff: Any) -> None:
    rep, lead, colleague, busan = staff["rep"], staff["lead"], staff["colleague"], staff["busan"]

    with pytest.raises(ValidationFailed) as creating:
        services.create_organization(name="한빛상사", owner=colleague, actor=rep)
    with pytest.raises(ValidationFailed) as unowned:
        services.create_organization(name="한빛상사", actor=rep)
    org = services.create_organization(name="한빛상사", owner=lead, actor=lead)
    services.update_organization(organization=org, changes={"owner": colleague}, actor=lead)
    with pytest.raises(ValidationFailed) as updating:
        services.update_organization(organization=org, changes={"owner": busan}, actor=lead)

    assert refusal(creating) == refusal(unowned) == refusal(updating)
    assert refusal(updating) == [("owner", "owner_not_allowed")]
    org.refresh_from_db()
    assert org.owner == colleague and Organization.objects.count() == 1
    services.update_organization(organization=org, changes={"owner": busan}, actor=staff["manager"])
    org.refresh_from_db()
    assert org.owner == busan


# --- the API --------------------------------------------------------------------------------


def test_the_api_refuses_a_disallowed_owner_with_422_and_its_code(staff: Any, api: Any) -> None:
    rep, colleague = staff["rep"], staff["colleague"]
    client = api(rep)
    mine = owned_by(rep)

    created = send(
        client, "post", "/api/v1/customers", {"full_name": "박지훈", "owner_id": colleague.pk}
    )
    patched = send(client, "patch", f"/api/v1/customers/{mine.pk}", {"owner_id": colleague.pk})
    org = send(
        client, "post", "/api/v1/organizations", {"name": "한빛상사", "owner_id": colleague.pk}
    )

    for response in (created, patched, org):
        assert response.status_code == 422, response.content
        body = response.json()
        assert body["code"] == "validation_failed"
        assert [{k: e[k] for k in ("field", "code")} for e in body["errors"]] == [REFUSED]
    assert list(Customer.objects.values_list("owner_id", flat=True)) == [rep.pk]
    assert not Organization.objects.exists()


def test_the_api_makes_an_own_scope_caller_the_owner_when_none_is_sent(
    staff: Any, api: Any
) -> None:
    rep = staff["rep"]
    client = api(rep)

    customer = send(client, "post", "/api/v1/customers", {"full_name": "박지훈"})
    org = send(client, "post", "/api/v1/organizations", {"name": "한빛상사"})
    nobody = send(client, "post", "/api/v1/customers", {"full_name": "이서연", "owner_id": None})
    manager = send(api(staff["manager"]), "post", "/api/v1/customers", {"full_name": "최유니"})

    assert customer.status_code == 201 and customer.json()["owner_id"] == rep.pk
    assert org.status_code == 201 and org.json()["owner_id"] == rep.pk
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["code"] == "owner_not_allowed"
    assert manager.status_code == 201 and manager.json()["owner_id"] is None


def test_the_api_assigns_within_the_scope_and_keeps_a_departed_owner(staff: Any, api: Any) -> None:
    lead, colleague, busan = staff["lead"], staff["colleague"], staff["busan"]
    client = api(lead)
    customer = owned_by(lead)

    moved = send(client, "patch", f"/api/v1/customers/{customer.pk}", {"owner_id": colleague.pk})
    deactivate(colleague)
    kept = send(
        client,
        "patch",
        f"/api/v1/customers/{customer.pk}",
        {"owner_id": colleague.pk, "region": "seoul"},
    )
    outside = send(client, "patch", f"/api/v1/customers/{customer.pk}", {"owner_id": busan.pk})
    inactive = send(
        api(staff["manager"]),
        "post",
        "/api/v1/customers",
        {"full_name": "박지훈", "owner_id": colleague.pk},
    )

    assert moved.status_code == 200 and moved.json()["owner_id"] == colleague.pk
    assert kept.status_code == 200 and kept.json()["region"] == "seoul"
    assert outside.status_code == 422 and outside.json()["errors"][0]["code"] == "owner_not_allowed"
    assert inactive.status_code == 422
    assert inactive.json()["errors"][0]["code"] == "owner_not_allowed"
    customer.refresh_from_db()
    assert customer.owner_id == colleague.pk


def test_the_bulk_api_reports_a_disallowed_owner_per_record(staff: Any, api: Any) -> None:
    records = [
        {"source": "erp", "external_id": "E1", "full_name": "김하나"},
        {
            "source": "erp",
            "external_id": "E2",
            "full_name": "김두리",
            "owner_id": staff["busan"].pk,
        },
    ]

    body = send(api(staff["rep"]), "post", "/api/v1/customers/bulk", {"records": records}).json()

    statuses = {r["index"]: r["status"] for r in body["results"]}
    assert statuses == {0: "created", 1: "error"}
    assert Customer.objects.get().owner == staff["rep"]


# --- the customer list's bulk assign --------------------------------------------------------


def picker(client: Any) -> set[int]:
    response = client.get("/customers/")
    assert response.status_code == 200
    return {int(v) for v in re.findall(r'value="(\d+)"', str(response.context["owner_options"]))}


def test_the_bulk_assign_picker_lists_only_whom_the_user_may_choose(
    staff: Any, client: Any
) -> None:
    deactivate(staff["busan"])
    client.force_login(staff["rep"])
    assert picker(client) == {staff["rep"].pk}

    client.force_login(staff["lead"])
    assert picker(client) == {staff["rep"].pk, staff["colleague"].pk, staff["lead"].pk}

    client.force_login(staff["manager"])
    assert staff["busan"].pk not in picker(client)
    assert {staff["rep"].pk, staff["lead"].pk, staff["manager"].pk} <= picker(client)


def test_a_forged_bulk_assign_changes_nothing(staff: Any, client: Any) -> None:
    rep = staff["rep"]
    mine = [owned_by(rep, "김하나"), owned_by(rep, "김두리")]
    client.force_login(rep)

    response = client.post(
        "/customers/bulk/",
        {"ids": [c.pk for c in mine], "action": "assign_owner", "owner": staff["colleague"].pk},
        follow=True,
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [gettext(MESSAGE)]
    assert set(Customer.objects.values_list("owner_id", flat=True)) == {rep.pk}
    assert not ChangeLog.objects.filter(action="customer.owner_assigned").exists()


def test_a_bulk_assign_within_the_team_goes_through(staff: Any, client: Any) -> None:
    lead, colleague = staff["lead"], staff["colleague"]
    customers = [owned_by(lead, "김하나"), owned_by(lead, "김두리")]
    client.force_login(lead)

    client.post(
        "/customers/bulk/",
        {"ids": [c.pk for c in customers], "action": "assign_owner", "owner": colleague.pk},
    )

    assert set(Customer.objects.values_list("owner_id", flat=True)) == {colleague.pk}
    assert ChangeLog.objects.filter(action="customer.owner_assigned").count() == 2
