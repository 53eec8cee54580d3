"""Saved segments for the demo's marketer.

A marketer opening Segments should find the groups a cosmetics brand's CRM team keeps: the
valuable customers slipping away, recent skincare buyers who can be reached on KakaoTalk,
lapsing spenders, new members, and one static list frozen for a campaign. They are created
through the segment services by the marketer login (audit rows and events included) and are
dynamic unless said otherwise, so they follow the data and the nightly analytics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dangol.analytics import segment_services
from dangol.analytics.models import Segment, SegmentKind
from dangol.core.models import User

MARKETER = "marketing@dangol.local"


@dataclass(frozen=True)
class DemoSegment:
    name: str
    description: str
    definition: dict[str, Any]
    kind: str = SegmentKind.DYNAMIC


SEGMENTS = (
    DemoSegment(
        "골드 이상 · 이탈 위험",
        "골드 등급 이상인데 이탈 위험이 높은 고객. 담당자 안부 전화와 등급 유지 혜택 안내 대상.",
        {
            "all": [
                {"field": "grade", "op": "gte", "value": "gold"},
                {"field": "churn_band", "op": "eq", "value": "high"},
            ]
        },
    ),
    DemoSegment(
        "최근 90일 스킨케어 구매 · 카카오톡 수신동의",
        "스킨케어를 최근 90일 안에 산 고객 중 카카오톡 광고 수신에 동의한 고객. "
        "신제품 세럼 알림톡 대상.",
        {
            "all": [
                {
                    "field": "bought_category",
                    "op": "within_last_days",
                    "value": 90,
                    "category": "skincare",
                },
                {"field": "consent", "op": "granted", "channel": "kakao"},
            ]
        },
    ),
    DemoSegment(
        "6개월 구매 없음 · 누적 10만~500만 원",
        "반년 동안 구매가 없고 매장 방문도 없는 중간 가치 고객. 재방문 쿠폰 대상.",
        {
            "all": [
                {"field": "last_purchase", "op": "not_within_last_days", "value": 180},
                {"field": "last_visit", "op": "not_within_last_days", "value": 180},
                {"field": "total_spent", "op": "between", "value": [100000, 5000000]},
            ]
        },
    ),
    DemoSegment(
        "신규 가입 30일",
        "최근 30일 안에 가입한 고객. 웰컴 쿠폰과 첫 구매 안내 대상.",
        {"all": [{"field": "signup_date", "op": "within_last_days", "value": 30}]},
    ),
    DemoSegment(
        "VIP 감사 선물 발송 명단",
        "VIP·VVIP 고객 중 문자 수신에 동의한 고객을 발송일 기준으로 고정한 명단(정적 세그먼트).",
        {
            "all": [
                {"field": "grade", "op": "in", "value": ["vip", "vvip"]},
                {"field": "consent", "op": "granted", "channel": "sms"},
            ]
        },
        kind=SegmentKind.STATIC,
    ),
)


def create_demo_segments() -> int:
    """Create the demo segments the marketer does not have yet; how many were created."""
    marketer = User.objects.filter(email=MARKETER).first()
    if marketer is None or not segment_services.can_manage_segment(marketer):
        return 0
    existing = set(Segment.objects.values_list("name", flat=True))
    created = 0
    for spec in SEGMENTS:
        if spec.name in existing:
            continue
        segment_services.create_segment(
            name=spec.name,
            description=spec.description,
            definition=spec.definition,
            kind=spec.kind,
            actor=marketer,
        )
        created += 1
    return created
