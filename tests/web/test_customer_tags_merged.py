"""The customer list's tag actions and merged-away customers: the live customers of the
selection are tagged, the merged ones are skipped and named with where they went."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages

from dangol.core.models import TaggedItem
from dangol.core.services import tag_objects
from dangol.customers.merge import merge_customers

pytestmark = pytest.mark.django_db


def tagged(*customers: Any) -> list[int]:
    return sorted(
        TaggedItem.objects.filter(
            tag__name="VIP", object_id__in=[c.pk for c in customers]
        ).values_list("object_id", flat=True)
    )


def shown(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def merged_pair(make_customer: Any) -> tuple[Any, Any]:
    survivor = make_customer(full_name="김민지")
    gone = make_customer(full_name="김민지")
    merge_customers(survivor=survivor, duplicates=[gone], actor=None)
    return survivor, gone


def test_a_selection_with_merged_customers_tags_the_others_and_names_the_skipped(
    signed_in: Any, make_customer: Any, merged_pair: tuple[Any, Any]
) -> None:
    client, _manager = signed_in(role="manager", language="en")
    survivor, gone = merged_pair
    other_survivor = make_customer(full_name="박지훈")
    other_gone = make_customer(full_name="박지훈")
    merge_customers(survivor=other_survivor, duplicates=[other_gone], actor=None)
    live = make_customer(full_name="이서연")

    response = client.post(
        "/customers/bulk/",
        {"ids": [survivor.pk, gone.pk, other_gone.pk, live.pk], "action": "add_tag", "tag": "VIP"},
    )

    assert response.status_code == 302
    assert tagged(survivor, gone, other_gone, live) == sorted([survivor.pk, live.pk])
    assert shown(response) == [
        ("success", "Tagged 2 customers with “VIP”."),
        (
            "error",
            f"2 customers were not tagged: they were merged into other records "
            f"(#{gone.pk} → #{survivor.pk}, #{other_gone.pk} → #{other_survivor.pk}). "
            "Tag the surviving records instead.",
        ),
    ]


def test_a_merged_customer_alone_gets_the_merged_error(
    signed_in: Any, merged_pair: tuple[Any, Any]
) -> None:
    client, _manager = signed_in(role="manager", language="en")
    survivor, gone = merged_pair

    response = client.post(
        "/customers/bulk/", {"ids": [gone.pk], "action": "add_tag", "tag": "VIP"}, follow=True
    )

    page = response.content.decode()
    assert f"This customer was merged into #{survivor.pk}; record it there." in page
    assert "Tagged" not in page
    assert tagged(gone) == []


def test_removing_a_tag_skips_the_merged_record_too(signed_in: Any, make_customer: Any) -> None:
    client, _manager = signed_in(role="manager", language="en")
    survivor = make_customer(full_name="최유진")
    gone = make_customer(full_name="최유진")
    tag_objects(objs=[survivor, gone], names=["VIP"])
    merge_customers(survivor=survivor, duplicates=[gone], actor=None)

    response = client.post(
        "/customers/bulk/",
        {"ids": [survivor.pk, gone.pk], "action": "remove_tag", "tag": "VIP"},
    )

    assert tagged(survivor, gone) == []  # the merge had folded gone's VIP into the survivor's
    assert shown(response) == [
        ("success", "Removed “VIP” from 1 customer."),
        (
            "error",
            f"1 customer was left as it was: it was merged into another record "
            f"(#{gone.pk} → #{survivor.pk}).",
        ),
    ]
