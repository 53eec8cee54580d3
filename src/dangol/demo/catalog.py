"""The demo retailer's catalogue: a category tree, brand lines with standard and premium versions,
and the routine order (cleanser → toner → serum → cream) that drives co-purchases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (path, name) of every category; parents come before children.
CATEGORIES: list[tuple[str, str]] = [
    ("skincare", "스킨케어"), ("skincare/cleanser", "클렌저"), ("skincare/toner", "토너"),
    ("skincare/serum", "세럼·에센스"), ("skincare/cream", "크림"), ("skincare/sunscreen", "선케어"),
    ("skincare/mask", "마스크팩"), ("makeup", "메이크업"), ("makeup/base", "베이스"),
    ("makeup/lip", "립"), ("makeup/eye", "아이"), ("haircare", "헤어케어"),
    ("haircare/shampoo", "샴푸"), ("haircare/treatment", "트리트먼트"), ("bodycare", "바디케어"),
    ("bodycare/lotion", "바디로션"), ("bodycare/wash", "바디워시"), ("lifestyle", "라이프스타일"),
    ("lifestyle/fragrance", "향수·디퓨저"), ("lifestyle/candle", "캔들"),
    ("lifestyle/giftset", "선물세트"),
]  # fmt: skip

# Product "steps": (category path, product noun, base price in KRW, popularity weight).
# The first four are the skincare routine, in the order people add them to their basket.
STEPS: list[tuple[str, str, int, float]] = [
    ("skincare/cleanser", "클렌징폼", 14_000, 1.6), ("skincare/toner", "토너", 22_000, 1.4),
    ("skincare/serum", "세럼", 38_000, 1.2), ("skincare/cream", "크림", 42_000, 1.0),
    ("skincare/sunscreen", "선크림", 21_000, 1.1), ("skincare/mask", "마스크팩", 15_000, 0.9),
    ("makeup/base", "쿠션", 32_000, 0.8), ("makeup/lip", "립틴트", 16_000, 0.9),
    ("makeup/eye", "아이섀도 팔레트", 29_000, 0.5), ("haircare/shampoo", "샴푸", 18_000, 0.8),
    ("haircare/treatment", "트리트먼트", 19_000, 0.5), ("bodycare/lotion", "바디로션", 17_000, 0.6),
    ("bodycare/wash", "바디워시", 13_000, 0.6), ("lifestyle/fragrance", "오 드 퍼퓸", 69_000, 0.3),
    ("lifestyle/candle", "캔들", 28_000, 0.3), ("lifestyle/giftset", "선물세트", 55_000, 0.35),
]  # fmt: skip
ROUTINE = 4  # steps 0..3 follow one another in a basket

# Brand lines: (line name, brand, price factor, popularity).
LINES: list[tuple[str, str, float, float]] = [
    ("그린티 수분", "단골뷰티", 0.8, 1.6), ("히알루론 딥", "단골뷰티", 1.0, 1.3),
    ("시카 진정", "단골더마", 1.1, 1.2), ("레티놀 리페어", "단골더마", 1.5, 0.8),
    ("비타C 브라이트", "단골뷰티", 1.2, 1.0), ("어성초 클리어", "단골내추럴", 0.9, 0.9),
    ("제주 동백", "단골내추럴", 1.3, 0.6), ("인삼 에이징", "단골한방", 2.2, 0.5),
]  # fmt: skip
PREMIUM_FACTOR = 2.2  # the premium version of a product costs about twice as much


@dataclass(frozen=True)
class Catalog:
    """Products as parallel arrays (index = product id - first id)."""

    first_id: int
    sku: np.ndarray
    name: np.ndarray
    category_path: np.ndarray
    line: np.ndarray
    brand: np.ndarray
    tier: np.ndarray  # "standard" / "premium"
    price: np.ndarray  # KRW, int64
    step: np.ndarray  # index into STEPS
    line_i: np.ndarray  # index into LINES
    weight: np.ndarray  # popularity, sums to 1 over standard products

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first_id, self.first_id + len(self.sku), dtype=np.int64)

    def lookup(self, line_i: np.ndarray, step: np.ndarray, premium: np.ndarray) -> np.ndarray:
        """Product index for (line, step, premium) triples."""
        return (line_i * len(STEPS) + step) * 2 + premium.astype(np.int64)


def build_catalog(first_id: int = 1) -> Catalog:
    """Every line × step in a standard and a premium version (8 × 16 × 2 = 256 products)."""
    rows = []
    for li, (line, brand, factor, pop) in enumerate(LINES):
        for si, (path, noun, base, spop) in enumerate(STEPS):
            for premium in (0, 1):
                price = base * factor * (PREMIUM_FACTOR if premium else 1.0)
                price = round(price / 1000.0) * 1000 - 100  # 38,900원 style price points
                name = f"{line} {'프리미엄 ' if premium else ''}{noun}"
                sku = f"DG-{li + 1:02d}{si + 1:02d}-{'P' if premium else 'S'}"
                weight = pop * spop * (0.25 if premium else 1.0)
                rows.append((sku, name, path, line, brand, premium, price, si, li, weight))
    cols = list(zip(*rows, strict=True))
    weights = np.array(cols[9], dtype=float)
    return Catalog(
        first_id=first_id,
        sku=np.array(cols[0], dtype=object),
        name=np.array(cols[1], dtype=object),
        category_path=np.array(cols[2], dtype=object),
        line=np.array(cols[3], dtype=object),
        brand=np.array(cols[4], dtype=object),
        tier=np.where(np.array(cols[5]) == 1, "premium", "standard").astype(object),
        price=np.array(cols[6], dtype=np.int64),
        step=np.array(cols[7], dtype=np.int64),
        line_i=np.array(cols[8], dtype=np.int64),
        weight=weights / weights.sum(),
    )


def step_weights() -> np.ndarray:
    """Popularity of each step, for the first product of a basket."""
    w = np.array([s[3] for s in STEPS])
    return w / w.sum()


def line_weights() -> np.ndarray:
    """Popularity of each brand line, for a customer's favourite line."""
    w = np.array([line[3] for line in LINES])
    return w / w.sum()
