import pytest

from dangol.core.customfields import validate_custom_fields
from dangol.core.errors import ValidationFailed
from dangol.core.models import TaggedItem
from dangol.core.services import define_custom_field, tag_objects, untag_objects


@pytest.fixture
def fields(db):
    define_custom_field(
        object_type="customers.customer",
        key="skin_type",
        label="피부 타입",
        field_type="choice",
        choices=["dry", "oily", "combination"],
    )
    define_custom_field(
        object_type="customers.customer",
        key="visits",
        label="방문",
        field_type="number",
        min_value=0,
        max_value=1000,
    )
    define_custom_field(
        object_type="customers.customer", key="member_since", label="가입", field_type="date"
    )
    define_custom_field(
        object_type="customers.customer", key="vip", label="VIP", field_type="boolean"
    )
    define_custom_field(
        object_type="customers.customer",
        key="interests",
        label="관심",
        field_type="multi_choice",
        choices=["skincare", "makeup", "fragrance"],
    )
    define_custom_field(
        object_type="customers.customer",
        key="memo",
        label="메모",
        field_type="text",
        max_length=5,
        required=True,
    )


def test_valid_values_are_coerced(fields):
    out = validate_custom_fields(
        "customers.customer",
        {
            "skin_type": "dry",
            "visits": "12",
            "member_since": "2024-02-29",
            "vip": True,
            "interests": ["makeup", "makeup", "skincare"],
            "memo": "hi",
        },
    )
    assert out == {
        "skin_type": "dry",
        "visits": 12,
        "member_since": "2024-02-29",
        "vip": True,
        "interests": ["makeup", "skincare"],
        "memo": "hi",
    }


def test_every_error_is_reported_at_once(fields):
    with pytest.raises(ValidationFailed) as exc:
        validate_custom_fields(
            "customers.customer",
            {
                "skin_type": "wet",
                "visits": 5000,
                "member_since": "2024-13-01",
                "vip": "yes",
                "interests": ["cars"],
                "nope": 1,
            },
        )
    by_field = {e.field: e.code for e in exc.value.errors}
    assert by_field == {
        "custom_fields.skin_type": "invalid",
        "custom_fields.visits": "invalid",
        "custom_fields.member_since": "invalid",
        "custom_fields.vip": "invalid",
        "custom_fields.interests": "invalid",
        "custom_fields.nope": "unknown_field",
        "custom_fields.memo": "required",
    }


def test_none_removes_a_value_and_merges_over_current(fields):
    out = validate_custom_fields(
        "customers.customer", {"visits": None}, current={"visits": 3, "memo": "x"}
    )
    assert out == {"memo": "x"}


def test_tags_are_generic_and_idempotent(make_customer):
    a, b = make_customer(full_name="김민준"), make_customer(full_name="이서연")
    assert tag_objects(objs=[a, b], names=["VIP", "도매"]) == 4
    assert tag_objects(objs=[a], names=["VIP"]) == 0
    assert untag_objects(objs=[a], names=["VIP"]) == 1
    assert sorted(
        TaggedItem.objects.filter(object_id=a.pk).values_list("tag__name", flat=True)
    ) == ["도매"]
