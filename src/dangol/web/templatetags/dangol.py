"""Template helpers of the staff app: money, masked personal data, dates, icons, navigation.

``{% load dangol %}`` then ``{{ order.total|money }}`` → ₩1,234,000,
``{{ email|mask_email }}`` → mi********@example.com, ``{{ phone|mask_phone }}`` → 010-****-5678,
``{{ when|long_date }}`` → 2026년 11월 22일 (November 22, 2026 in English),
``{% icon "users" %}``, ``{% main_nav %}``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from dangol.core import masking, normalize, visibility
from dangol.core.money import default_currency, format_money
from dangol.web.navigation import entries_for

register = template.Library()


@register.filter
def percent(value: float | Decimal | None, digits: int = 1) -> str:
    """A share as a percentage with `digits` decimals, trailing zeros dropped: 0.0391 → 3.9%,
    0.5 → 50%, None → —."""
    if value is None:
        return "—"
    text = f"{float(value) * 100:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


@register.filter
def money(value: Decimal | int | float | None, currency: str | None = None) -> str:
    """An amount with its currency sign and thousands separators: ₩1,234,000."""
    if value is None or value == "":
        return "—"
    return format_money(value, currency or default_currency())


@register.filter
def mask_email(value: str | None) -> str:
    """mi********@example.com (see ``dangol.core.masking``)."""
    return masking.mask_email(str(value)) if value else ""


@register.filter
def mask_phone(value: str | None) -> str:
    """010-****-5678 (see ``dangol.core.masking``)."""
    return masking.mask_phone(str(value)) if value else ""


@register.filter
def national_phone(value: str | None) -> str:
    """+821012345678 → 010-1234-5678 (see ``dangol.core.normalize.national_phone``)."""
    return normalize.national_phone(str(value)) if value else ""


@register.filter
def mask_name(value: str | None) -> str:
    """김*준 (see ``dangol.core.masking``)."""
    return masking.mask_name(str(value)) if value else ""


def _local(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


@register.filter
def long_date(value: datetime.date | datetime.datetime | None) -> str:
    """The date in the active language's long form: 2026년 11월 22일 / Nov. 22, 2026."""
    if not value:
        return ""
    return date_filter(_local(value), "DATE_FORMAT")


@register.filter
def long_datetime(value: datetime.datetime | None) -> str:
    """Date and time in the user's time zone, in the active language's ``DATETIME_FORMAT``:
    2026년 11월 22일 오후 3:05 (``dangol/formats/ko/formats.py``) / Nov. 22, 2026, 3:05 p.m."""
    if not value:
        return ""
    return date_filter(_local(value), "DATETIME_FORMAT")


@register.filter
def short_date(value: datetime.date | datetime.datetime | None) -> str:
    """A compact date for tables: 2026-11-22."""
    if not value:
        return ""
    return date_filter(_local(value), "Y-m-d")


# Our own line icons (24×24, stroked with currentColor): no third-party icon set is copied.
_ICONS: dict[str, tuple[str, ...]] = {
    "upload": ("M12 20V9", "M7 14l5-5 5 5", "M5 4h14"),
    "home": ("M4 11l8-7 8 7", "M6 9.5V20h12V9.5", "M10 20v-5h4v5"),
    "users": (
        "M5.5 8a3.5 3.5 0 1 0 7 0a3.5 3.5 0 1 0-7 0",
        "M3 20c0-3.3 2.7-6 6-6s6 2.7 6 6",
        "M15.5 4.6a3.5 3.5 0 0 1 0 6.8",
        "M17.5 14.3c2 .7 3.5 2.9 3.5 5.7",
    ),
    "building": ("M3 21h18", "M5 21V4h10v17", "M15 9h4v12", "M8.5 8h3", "M8.5 12h3", "M8.5 16h3"),
    "package": ("M12 3l8 4.5v9L12 21l-8-4.5v-9z", "M4 7.5l8 4.5 8-4.5", "M12 12v9"),
    "receipt": ("M6 3h12v18l-3-2-3 2-3-2-3 2z", "M9 8h6", "M9 12h6", "M9 16h3"),
    "search": ("M5 11a6 6 0 1 0 12 0a6 6 0 1 0-12 0", "M20 20l-4.2-4.2"),
    "bell": ("M6 17v-6a6 6 0 0 1 12 0v6l1.5 2h-15z", "M10 21.5h4"),
    "user": ("M8 8a4 4 0 1 0 8 0a4 4 0 1 0-8 0", "M4 21c0-4.4 3.6-8 8-8s8 3.6 8 8"),
    "logout": ("M14 8V5H5v14h9v-3", "M10 12h11", "M18 9l3 3-3 3"),
    "key": ("M4 15a4 4 0 1 0 8 0a4 4 0 1 0-8 0", "M11 12l9-9", "M17 6l3 3", "M15 8l2 2"),
    "globe": (
        "M3 12a9 9 0 1 0 18 0a9 9 0 1 0-18 0",
        "M3.5 9h17",
        "M3.5 15h17",
        "M12 3c2.8 3 2.8 15 0 18",
        "M12 3c-2.8 3-2.8 15 0 18",
    ),
    "clock": ("M3 12a9 9 0 1 0 18 0a9 9 0 1 0-18 0", "M12 7v5l3 2"),
    "settings": (
        "M4 7h10",
        "M18 7h2",
        "M4 17h4",
        "M12 17h8",
        "M14 7a2 2 0 1 0 4 0a2 2 0 1 0-4 0",
        "M8 17a2 2 0 1 0 4 0a2 2 0 1 0-4 0",
    ),
    "chevron-left": ("M15 6l-6 6 6 6",),
    "chevron-right": ("M9 6l6 6-6 6",),
    "alert": ("M12 3.5l9.5 16.5h-19z", "M12 10v4", "M12 17v.01"),
    "lock": ("M6 11h12v10H6z", "M8.5 11V8a3.5 3.5 0 0 1 7 0v3", "M12 15v2"),
    "inbox": ("M3 13h5l1.5 3h5l1.5-3h5", "M3 13l3-8h12l3 8v6H3z"),
    "mail": ("M3 6h18v12H3z", "M3 7l9 6 9-6"),
    "arrow-left": ("M19 12H5", "M11 6l-6 6 6 6"),
    "bookmark": ("M7 4h10v17l-5-3.5L7 21z",),
    "x": ("M6 6l12 12", "M18 6L6 18"),
    "plus": ("M12 5v14", "M5 12h14"),
    "filter": ("M4 5h16l-6 7.5V19l-4 2v-8.5z",),
    "download": ("M12 4v11", "M7 10l5 5 5-5", "M5 20h14"),
    "chevron-up": ("M6 15l6-6 6 6",),
    "chevron-down": ("M6 9l6 6 6-6",),
    "selector": ("M8 9l4-4 4 4", "M16 15l-4 4-4-4"),
    "phone": (
        "M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4"
        "a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2",
    ),
    "map-pin": (
        "M9 11a3 3 0 1 0 6 0a3 3 0 1 0-6 0",
        "M12 21s-7-6.2-7-11a7 7 0 0 1 14 0c0 4.8-7 11-7 11z",
    ),
    "eye": (
        "M2.5 12s3.5-6.5 9.5-6.5 9.5 6.5 9.5 6.5-3.5 6.5-9.5 6.5S2.5 12 2.5 12z",
        "M9.5 12a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0-5 0",
    ),
    "eye-off": (
        "M3 3l18 18",
        "M10.6 5.6A9.8 9.8 0 0 1 12 5.5c6 0 9.5 6.5 9.5 6.5a17 17 0 0 1-2.7 3.4",
        "M6.6 6.7A16.6 16.6 0 0 0 2.5 12s3.5 6.5 9.5 6.5a9.5 9.5 0 0 0 4.4-1.1",
    ),
    "edit": ("M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"),
    "note": ("M6 3h9l4 4v14H6z", "M14 3v5h5", "M9 13h7", "M9 17h5"),
    "shield": ("M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z", "M9 12l2 2 4-4"),
    "walk": (
        "M13 4a1.5 1.5 0 1 0 3 0a1.5 1.5 0 1 0-3 0",
        "M7 21l3-4",
        "M16 21l-2-4-3-3 1-6",
        "M6 12l2-3 4-1 3 3 3 1",
    ),
    "message": ("M4 5h16v11H9l-5 4z",),
    "cart": (
        "M3 4h2l2.5 11h11L21 7H6.2",
        "M9 20a1 1 0 1 0 2 0a1 1 0 1 0-2 0",
        "M16 20a1 1 0 1 0 2 0a1 1 0 1 0-2 0",
    ),
    "return": ("M9 14l-4-4 4-4", "M5 10h10a5 5 0 0 1 0 10h-3"),
    "check": ("M5 12l5 5L20 7",),
    "archive": ("M3 4h18v4H3z", "M5 8v12h14V8", "M10 12h4"),
    "tag": ("M3 12V4h8l10 10-8 8z", "M7.5 8a.5.5 0 1 0 1 0a.5.5 0 1 0-1 0"),
    "activity": ("M3 12h4l3-8 4 16 3-8h4",),
    "gauge": ("M4 17a8 8 0 1 1 16 0", "M12 17l3.5-5", "M11 17a1 1 0 1 0 2 0a1 1 0 1 0-2 0"),
    "merge": (
        "M5 18a2 2 0 1 0 4 0a2 2 0 1 0-4 0",
        "M5 6a2 2 0 1 0 4 0a2 2 0 1 0-4 0",
        "M15 12a2 2 0 1 0 4 0a2 2 0 1 0-4 0",
        "M7 8v8",
        "M7 8a4 4 0 0 0 4 4h4",
    ),
}


@register.simple_tag
def icon(name: str, size: int = 20, css_class: str = "icon") -> SafeString:
    """An inline SVG icon, hidden from screen readers (label the control around it instead)."""
    paths = format_html_join("", '<path d="{}"/>', ((d,) for d in _ICONS.get(name, ())))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="{}" width="{}" height="{}" '
        'viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.75" '
        'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">'
        "{}</svg>",
        css_class,
        size,
        size,
        paths,
    )


@register.simple_tag(takes_context=True)
def can(context: template.Context, action: str, object_type: str) -> bool:
    """``{% can "add" "sales.task" as may_add %}``: whether the signed-in user's role allows
    `action` on some records of `object_type` (for links into another domain's pages)."""
    request = context.get("request")
    return request is not None and visibility.can(request.user, action, object_type)


@register.inclusion_tag("web/components/nav.html", takes_context=True)
def main_nav(context: template.Context) -> dict[str, Any]:
    """The side navigation, filtered by what the signed-in user may see."""
    request = context["request"]
    return {"entries": entries_for(request), "request": request}


@register.filter
def initials(user: Any) -> str:
    """One or two letters for an avatar: the first character of the name."""
    name = str(user or "").strip()
    if not name:
        return "?"
    if "@" in name:
        name = name.split("@", 1)[0]
    return name[:1].upper()
