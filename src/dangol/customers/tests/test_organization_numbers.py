"""사업자등록번호 entering through the organization API (and so the services): normalized to
123-45-67891, refused with its code when the length or the check digit is wrong; and an
organization archived and restored through the API."""

from __future__ import annotations

from typing import Any

from dangol.customers import services
from dangol.customers.models import Organization

URL = "/api/v1/organizations"


def _errors(response: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def test_the_api_stores_a_valid_number_in_the_display_form(api: Any, admin: Any) -> None:
    client = api(admin)

    created = client.post(
        URL, {"name": "네이버", "business_number": "220 81 62517"}, content_type="application/json"
    )

    assert created.status_code == 201, created.json()
    assert created.json()["business_number"] == "220-81-62517"
    assert Organization.objects.get().business_number == "220-81-62517"


def test_the_api_refuses_a_wrong_check_digit_or_length(api: Any, admin: Any) -> None:
    client = api(admin)

    wrong = client.post(
        URL, {"name": "오타", "business_number": "220-81-62518"}, content_type="application/json"
    )
    short = client.post(
        URL, {"name": "짧음", "business_number": "220-81-6251"}, content_type="application/json"
    )

    assert wrong.status_code == short.status_code == 422
    assert _errors(wrong) == [("business_number", "checksum")]
    assert _errors(short) == [("business_number", "invalid")]
    assert not Organization.objects.exists()


def test_a_patch_checks_a_new_number_and_keeps_an_old_one(api: Any, admin: Any) -> None:
    org = services.create_organization(name="삼성전자", actor=admin)
    # a number stored before the check digit was tested (an older import, the old demo data)
    Organization.objects.filter(pk=org.pk).update(business_number="123-45-67890")
    client = api(admin)

    other_field = client.patch(
        f"{URL}/{org.pk}", {"industry": "전자"}, content_type="application/json"
    )
    wrong = client.patch(
        f"{URL}/{org.pk}", {"business_number": "124-81-00990"}, content_type="application/json"
    )
    right = client.patch(
        f"{URL}/{org.pk}", {"business_number": "1248100998"}, content_type="application/json"
    )

    assert other_field.status_code == 200 and other_field.json()["industry"] == "전자"
    assert wrong.status_code == 422 and _errors(wrong) == [("business_number", "checksum")]
    assert right.status_code == 200 and right.json()["business_number"] == "124-81-00998"


def test_the_api_archives_and_restores_an_organization(api: Any, admin: Any) -> None:
    client = api(admin)
    org = services.create_organization(name="한빛상사", actor=admin)

    assert client.post(f"{URL}/{org.pk}/restore").status_code == 409  # not archived
    assert client.delete(f"{URL}/{org.pk}").status_code == 204
    restored = client.post(f"{URL}/{org.pk}/restore")

    assert restored.status_code == 200 and restored.json()["status"] == "active"
    org.refresh_from_db()
    assert org.status == "active"
