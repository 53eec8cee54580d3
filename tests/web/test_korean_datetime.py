"""Korean date-times put 오전/오후 before the time (our ``ko`` formats); English is unchanged."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import translation

from dangol.customers import services
from dangol.web.templatetags.dangol import long_datetime

pytestmark = pytest.mark.django_db


def test_korean_date_times_put_오전_before_the_time_and_english_is_unchanged(
    signed_in: Any, make_customer: Any
) -> None:
    client, manager = signed_in(role="manager")
    c = make_customer(full_name="이서연")
    at = datetime.datetime(2026, 11, 3, 10, 28, tzinfo=ZoneInfo("Asia/Seoul"))
    services.record_interaction(
        customer=c, channel="phone", kind="call", subject="통화", occurred_at=at, actor=manager
    )
    body = client.get(f"/customers/{c.pk}/").content.decode()
    assert "2026년 11월 3일 오전 10:28" in body
    assert "10:28 오전" not in body
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(f"/customers/{c.pk}/").content.decode()
    assert "Nov. 3, 2026, 10:28 a.m." in english


def test_the_filter_and_the_short_and_time_formats_agree() -> None:
    from django.template.defaultfilters import date

    at = datetime.datetime(2026, 11, 23, 15, 5, tzinfo=ZoneInfo("Asia/Seoul"))
    with translation.override("ko"):
        assert long_datetime(at) == "2026년 11월 23일 오후 3:05"
        assert date(at, "SHORT_DATETIME_FORMAT") == "2026-11-23 오후 3:05"
        assert date(at, "TIME_FORMAT") == "오후 3:05"
        assert date(at, "DATE_FORMAT") == "2026년 11월 23일"  # Django's, untouched
    with translation.override("en"):
        assert long_datetime(at) == "Nov. 23, 2026, 3:05 p.m."
        assert date(at, "SHORT_DATETIME_FORMAT") == "11/23/2026 3:05 p.m."
