"""Template filters of the export pages: ``{% load exports %}``."""

from __future__ import annotations

from typing import Any

from django import template

from dangol.integration.exports import describe_filters

register = template.Library()


@register.filter
def export_filters(filters: dict[str, Any] | None) -> list[str]:
    """An export job's filters as readable lines ("출처: pos"), for the export history."""
    return describe_filters(filters or {})
