"""Field types shared by the API schemas."""

from __future__ import annotations

import datetime
from typing import Annotated

from django.utils import timezone
from pydantic import AfterValidator

MAX_OFFSET = datetime.timedelta(hours=14)  # the widest real UTC offset (Kiribati)


def _to_utc(value: datetime.datetime) -> datetime.datetime:
    """Naive times are Korean time; every time is stored and compared in UTC."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    offset = value.utcoffset() or datetime.timedelta(0)
    if abs(offset) > MAX_OFFSET:
        raise ValueError("time zone offset out of range (at most ±14:00)")
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


ApiDateTime = Annotated[datetime.datetime, AfterValidator(_to_utc)]
