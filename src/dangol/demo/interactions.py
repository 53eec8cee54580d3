"""The customer timeline: calls, chats, e-mails and store visits that follow each customer's story.

Returns bring a complaint or an inquiry a day or two before; customers who dropped out often
complained near their last order; store purchases come with a visit; B2B accounts get their
sales rep's calls and meetings; marketing messages go out only on channels the customer
consented to, on campaign days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dangol.demo.purchases import DAY, Purchases, RetailCalendar

RETURN_SUBJECTS = {
    "change_of_mind": (
        "inquiry",
        "단순 변심 반품 문의",
        "사용 전 제품 반품 절차와 환불 일정을 안내했습니다.",
    ),
    "defect": (
        "complaint",
        "제품 불량 불만",
        "펌프가 작동하지 않는다는 불만. 교환 대신 환불을 원함.",
    ),
    "damaged": ("complaint", "배송 중 파손", "용기가 깨진 채 도착. 사진 확인 후 환불 처리."),
    "wrong_item": ("complaint", "오배송 불만", "주문과 다른 제품이 배송됨. 회수 후 재발송 안내."),
    "skin_trouble": (
        "complaint",
        "피부 트러블 발생",
        "사용 후 붉어짐과 가려움 호소. 성분 안내 및 환불.",
    ),
    "other": ("inquiry", "반품 문의", "반품 가능 여부 문의."),
}
ORDER_INQUIRIES = [
    ("배송 일정 문의", "주문한 제품의 배송 예정일을 문의."),
    ("주소 변경 요청", "배송지 변경 요청, 출고 전이라 변경 처리."),
    ("영수증 재발행 요청", "현금영수증 발행 요청."),
    ("사용법 문의", "세럼과 크림의 사용 순서를 문의."),
]
CHURN_COMPLAINTS = [
    ("배송 지연 불만", "약속한 날짜보다 5일 늦게 도착. 다시 주문하지 않겠다고 함."),
    ("상담 응대 불만", "이전 상담원의 응대에 대한 불만 제기."),
    ("가격 불만", "온라인몰과 매장 가격이 달라 불만."),
]
CAMPAIGN_SUBJECTS = [
    "[단골] 이달의 신상품 소식",
    "[단골] 회원 전용 쿠폰이 도착했어요",
    "[단골] 시즌 기획전 최대 20%",
    "[단골] 명절 선물세트 미리 준비하세요",
    "[단골] 블랙프라이데이 특가",
    "[단골] 생일 축하 쿠폰",
]
B2B_TOPICS = [
    ("call", "phone", "분기 발주 협의", "다음 분기 발주 물량과 단가 협의."),
    ("meeting", "visit", "거래처 방문 미팅", "신제품 라인 소개 및 매대 배치 논의."),
    ("message", "email", "견적서 송부", "요청하신 도매 견적서를 보내드렸습니다."),
]


@dataclass
class TimelineInputs:
    """Per-customer facts the timeline needs, aligned with the chunk's customers."""

    customer_id: np.ndarray
    signup_at: np.ndarray  # epoch seconds
    marketing_channel: np.ndarray  # "sms" / "email" / "kakao" / "" (no consent)
    org_id: np.ndarray  # 0 for retail
    owner_id: np.ndarray  # 0 when none
    store_channels: np.ndarray  # SalesChannel ids that are stores


def generate_interactions(
    inputs: TimelineInputs,
    purchases: Purchases,
    cal: RetailCalendar,
    agents: np.ndarray,
    *,
    order_ct: int,
    return_ct: int,
    per_customer: float,
    first_id: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Interactions for one chunk, ≈ ``per_customer`` per customer on average."""
    n = len(inputs.customer_id)
    base_cid = int(inputs.customer_id[0]) if n else 0  # a chunk's ids are contiguous
    end = cal.start_epoch + cal.days * DAY
    parts: list[dict[str, np.ndarray]] = []

    def part(cust: np.ndarray, **cols: np.ndarray | str | int) -> None:
        k = len(cust)
        if not k:
            return
        full: dict[str, np.ndarray] = {"customer_id": cust}
        for key, val in cols.items():
            full[key] = val if isinstance(val, np.ndarray) else np.full(k, val, dtype=object)
        parts.append(full)

    # 1. Returns: a complaint or an inquiry just before the goods come back.
    ret = purchases.returns
    if len(ret["id"]):
        subj = np.array([RETURN_SUBJECTS[r] for r in ret["reason"]], dtype=object)
        k = len(ret["id"])
        part(
            ret["customer_id"],
            channel=np.array(["phone", "chat", "email"], dtype=object)[
                rng.choice(3, k, p=[0.5, 0.35, 0.15])
            ],
            direction="inbound",
            kind=subj[:, 0],
            subject=subj[:, 1],
            body=subj[:, 2],
            occurred_at=ret["returned_at"] - rng.integers(3600, 2 * DAY, k),
            staff_id=agents[rng.integers(0, len(agents), k)],
            related_type_id=np.full(k, return_ct),
            related_id=ret["id"],
        )
    # 2. Questions about an order (delivery, address, receipts).
    orders = purchases.orders
    m = len(orders["id"])
    asked = np.flatnonzero(rng.random(m) < 0.08)
    k = len(asked)
    if k:
        topic = rng.integers(0, len(ORDER_INQUIRIES), k)
        part(
            orders["customer_id"][asked],
            channel=np.array(["chat", "phone", "kakao"], dtype=object)[
                rng.choice(3, k, p=[0.5, 0.3, 0.2])
            ],
            direction="inbound",
            kind="inquiry",
            subject=np.array([t[0] for t in ORDER_INQUIRIES], dtype=object)[topic],
            body=np.array([t[1] for t in ORDER_INQUIRIES], dtype=object)[topic],
            occurred_at=np.minimum(
                orders["placed_at"][asked] + rng.integers(3600, 3 * DAY, k), end - 60
            ),
            staff_id=agents[rng.integers(0, len(agents), k)],
            related_type_id=np.full(k, order_ct),
            related_id=orders["id"][asked],
        )
    # 3. Store purchases come with a visit.
    in_store = np.flatnonzero(
        np.isin(orders["channel_id"], inputs.store_channels) & (rng.random(m) < 0.35)
    )
    k = len(in_store)
    if k:
        part(
            orders["customer_id"][in_store],
            channel="store",
            direction="inbound",
            kind="visit",
            subject="매장 방문 상담",
            body="피부 타입 상담 후 제품 테스트.",
            occurred_at=orders["placed_at"][in_store] - rng.integers(300, 1800, k),
            staff_id=np.zeros(k, dtype=np.int64),
            related_type_id=np.full(k, order_ct),
            related_id=orders["id"][in_store],
        )
    # 4. Regulars who left often complained while fading out; a few one-time buyers too.
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, orders["customer_id"] - base_cid, orders["placed_at"])
    rate = np.where(purchases.leaves, 0.35, np.where(purchases.dropped_out, 0.06, 0.0))
    unhappy = np.flatnonzero(
        (last > 0) & (rng.random(n) < np.clip(rate * purchases.trouble, 0, 0.9))
    )
    k = len(unhappy)
    if k:
        # A leaving regular complains somewhere in the fade, before the last order (a precursor);
        # a one-time buyer around their only order.
        fade = purchases.fade_start[unhappy]
        early = (fade > 0) & (fade < last[unhappy])
        span = np.maximum(last[unhappy] - fade, DAY)
        when = np.where(
            early,
            fade + (rng.random(k) * span).astype(np.int64),
            last[unhappy] + rng.integers(-3 * DAY, 10 * DAY, k),
        )
        topic = rng.integers(0, len(CHURN_COMPLAINTS), k)
        part(
            inputs.customer_id[unhappy],
            channel=np.array(["phone", "chat"], dtype=object)[rng.integers(0, 2, k)],
            direction="inbound",
            kind="complaint",
            subject=np.array([t[0] for t in CHURN_COMPLAINTS], dtype=object)[topic],
            body=np.array([t[1] for t in CHURN_COMPLAINTS], dtype=object)[topic],
            occurred_at=np.minimum(when, end - 60),
            staff_id=agents[rng.integers(0, len(agents), k)],
            related_type_id=np.zeros(k, dtype=np.int64),
            related_id=np.zeros(k, dtype=np.int64),
        )
    # 5. B2B accounts: their sales rep's calls, meetings and quotes.
    b2b = np.flatnonzero(inputs.org_id > 0)
    if len(b2b):
        per = rng.poisson(12, len(b2b))
        who = np.repeat(b2b, per)
        k = len(who)
        topic = rng.integers(0, len(B2B_TOPICS), k)
        span = np.maximum(end - inputs.signup_at[who], DAY)
        part(
            inputs.customer_id[who],
            organization_id=inputs.org_id[who],
            channel=np.array([t[1] for t in B2B_TOPICS], dtype=object)[topic],
            direction="outbound",
            kind=np.array([t[0] for t in B2B_TOPICS], dtype=object)[topic],
            subject=np.array([t[2] for t in B2B_TOPICS], dtype=object)[topic],
            body=np.array([t[3] for t in B2B_TOPICS], dtype=object)[topic],
            occurred_at=inputs.signup_at[who] + (rng.random(k) * span).astype(np.int64),
            staff_id=inputs.owner_id[who],
            related_type_id=np.zeros(k, dtype=np.int64),
            related_id=np.zeros(k, dtype=np.int64),
        )
    # 6. Marketing messages fill the rest, only where the customer consented.
    so_far = sum(len(p["customer_id"]) for p in parts)
    consenting = np.flatnonzero(inputs.marketing_channel != "")
    if len(consenting):
        want = max(per_customer * n - so_far, 0) / len(consenting)
        per = rng.poisson(want, len(consenting))
        who = np.repeat(consenting, per)
        k = len(who)
        campaign_days = np.flatnonzero((cal.discount > 0) | (np.arange(cal.days) % 14 == 0))
        sign_day = np.clip((inputs.signup_at[who] - cal.start_epoch) // DAY, 0, cal.days - 1)
        lo = np.searchsorted(campaign_days, sign_day)
        pick = lo + (rng.random(k) * (len(campaign_days) - lo)).astype(np.int64)
        ok = pick < len(campaign_days)
        who, pick = who[ok], pick[ok]
        k = len(who)
        part(
            inputs.customer_id[who],
            channel=inputs.marketing_channel[who],
            direction="outbound",
            kind="message",
            subject=np.array(CAMPAIGN_SUBJECTS, dtype=object)[
                rng.integers(0, len(CAMPAIGN_SUBJECTS), k)
            ],
            body="",
            occurred_at=cal.start_epoch
            + campaign_days[pick] * DAY
            + 10 * 3600
            + rng.integers(0, 3600, k),
            staff_id=np.zeros(k, dtype=np.int64),
            related_type_id=np.zeros(k, dtype=np.int64),
            related_id=np.zeros(k, dtype=np.int64),
        )
    if not parts:
        return {}
    keys = [
        "customer_id",
        "channel",
        "direction",
        "kind",
        "subject",
        "body",
        "occurred_at",
        "staff_id",
        "related_type_id",
        "related_id",
    ]
    out = {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in keys}
    out["organization_id"] = np.concatenate(
        [p.get("organization_id", np.zeros(len(p["customer_id"]), dtype=np.int64)) for p in parts]
    )
    order = np.lexsort((out["occurred_at"], out["customer_id"]))
    out = {key: val[order] for key, val in out.items()}
    out["occurred_at"] = np.maximum(
        out["occurred_at"], inputs.signup_at[out["customer_id"] - base_cid]
    )
    out["created_at"] = out["occurred_at"]
    out["id"] = np.arange(first_id, first_id + len(order), dtype=np.int64)
    return out
