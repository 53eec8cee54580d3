"""The segment page words its members and its rules by their labels, in the viewer's language:
고객 단계 재구매 고객 and 지역 서울, not ``repeat`` / ``seoul``; the consent rule's channel, purpose
and night-time flag as 문자(SMS), 마케팅(광고), 아니요."""

from __future__ import annotations

from typing import Any

import pytest

from dangol.analytics import segment_services
from dangol.analytics.segment_views import _describe

pytestmark = pytest.mark.django_db

RULE = {
    "all": [
        {"field": "lifecycle_stage", "op": "in", "value": ["repeat", "lapsed"]},
        {
            "field": "consent",
            "op": "granted",
            "channel": "sms",
            "purpose": "marketing",
            "night_time": False,
        },
    ]
}


@pytest.fixture
def segment(admin: Any, make_customer: Any) -> Any:
    from dangol.customers import services as cs

    member = make_customer(full_name="김민준", lifecycle_stage="repeat", region="gyeongnam")
    cs.grant_consent(customer=member, channel="sms", actor=None)
    return segment_services.create_segment(name="재구매 문자 동의", definition=RULE, actor=admin)


@pytest.mark.parametrize(
    ("language", "shown", "hidden"),
    [
        (
            "ko",
            [
                "재구매 고객",
                "경남",
                "채널: 문자(SMS)",
                "목적: 마케팅(광고)",
                "수신 동의 포함: 아니요",
            ],
            ["채널: sms", "목적: marketing", "False"],
        ),
        (
            "en",
            [
                "Repeat customer",
                "South Gyeongsang",
                "Channel: SMS",
                "Purpose: Marketing (advertising)",
                "consent too: No",
            ],
            ["Channel: sms", "Purpose: marketing", "False"],
        ),
    ],
)
def test_segment_page_shows_labels(
    signed_in: Any, segment: Any, language: str, shown: list[str], hidden: list[str]
) -> None:
    client, _user = signed_in(role="marketer", language=language)

    page = client.get(f"/segments/{segment.pk}/").content.decode()

    for text in shown:
        assert text in page, text
    for text in hidden:
        assert text not in page, text
    assert "<td>repeat</td>" not in page
    assert ">gyeongnam<" not in page


def test_boolean_values_read_yes_or_no() -> None:
    from django.utils import translation

    labels = {"vip": {"label": "VIP", "operators": [{"op": "eq", "label": "="}], "options": []}}

    with translation.override("ko"):
        yes = _describe({"field": "vip", "op": "eq", "value": True}, labels)
    assert yes["label"] == "VIP = 예"
    with translation.override("en"):
        no = _describe({"field": "vip", "op": "eq", "value": False}, labels)
    assert no["label"] == "VIP = No"
