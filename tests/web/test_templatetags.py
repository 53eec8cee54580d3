"""Formatting helpers: money, masking, Korean dates."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import translation

from dangol.web.templatetags import dangol as tags


def test_money_in_won() -> None:
    assert tags.money(Decimal("1234000")) == "₩1,234,000"
    assert tags.money(None) == "—"


def test_percent_of_a_share() -> None:
    assert tags.percent(0.0391) == "3.9%"
    assert tags.percent(0.5) == "50%"
    assert tags.percent(1 / 3, 2) == "33.33%"
    assert tags.percent(0) == "0%"
    assert tags.percent(None) == "—"


def test_masks() -> None:
    assert tags.mask_phone("010-1234-5678") == "010-****-5678"
    assert tags.mask_email("minjun.kim@example.com").endswith("@example.com")
    assert "minjun" not in tags.mask_email("minjun.kim@example.com")
    assert tags.mask_name("김민준") == "김*준"


def test_long_date_in_korean_and_english() -> None:
    day = datetime.date(2026, 11, 22)
    with translation.override("ko"):
        assert tags.long_date(day) == "2026년 11월 22일"
    with translation.override("en"):
        assert tags.long_date(day) == "Nov. 22, 2026"


def test_icons_are_hidden_from_screen_readers() -> None:
    assert 'aria-hidden="true"' in tags.icon("users")
