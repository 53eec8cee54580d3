"""Custom fields: typed definitions per object type, values validated on every write."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from dangol.core.errors import FieldError, ValidationFailed
from dangol.core.models import CustomFieldDefinition, CustomFieldType


def definitions_for(object_type: str) -> list[CustomFieldDefinition]:
    return list(CustomFieldDefinition.objects.filter(object_type=object_type))


def _coerce(defn: CustomFieldDefinition, value: Any) -> Any:
    """Return the JSON value to store, or raise ValueError with a translated reason."""
    t = defn.field_type
    if t == CustomFieldType.TEXT:
        if not isinstance(value, str):
            raise ValueError(_("Enter text."))
        if defn.max_length and len(value) > defn.max_length:
            raise ValueError(_("At most %(n)d characters.") % {"n": defn.max_length})
        return value
    if t == CustomFieldType.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite():
            raise ValueError(_("Enter a number."))
        if defn.min_value is not None and number < defn.min_value:
            raise ValueError(_("Must be at least %(v)s.") % {"v": defn.min_value})
        if defn.max_value is not None and number > defn.max_value:
            raise ValueError(_("Must be at most %(v)s.") % {"v": defn.max_value})
        return int(number) if number == number.to_integral_value() else float(number)
    if t == CustomFieldType.DATE:
        try:
            return datetime.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    if t == CustomFieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(_("Enter true or false."))
        return value
    if t == CustomFieldType.CHOICE:
        if value not in defn.choices:
            raise ValueError(_("Choose one of: %(c)s.") % {"c": ", ".join(map(str, defn.choices))})
        return value
    if t == CustomFieldType.MULTI_CHOICE:
        if not isinstance(value, list) or any(v not in defn.choices for v in value):
            raise ValueError(_("Choose from: %(c)s.") % {"c": ", ".join(map(str, defn.choices))})
        return list(dict.fromkeys(value))
    raise ValueError(_("Unknown field type."))


def validate_custom_fields(
    object_type: str, values: dict[str, Any] | None, *, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge `values` over `current` and validate the result against the definitions.

    Unknown keys, wrong types and missing required fields are all reported together.
    A value of None removes the key.
    """
    merged = dict(current or {})
    merged.update(values or {})
    merged = {k: v for k, v in merged.items() if v is not None and v != ""}
    definitions = {d.key: d for d in definitions_for(object_type)}
    errors: list[FieldError] = []
    cleaned: dict[str, Any] = {}
    for key, value in merged.items():
        defn = definitions.get(key)
        if defn is None:
            errors.append(FieldError(f"custom_fields.{key}", "unknown_field", _("Unknown field.")))
            continue
        try:
            cleaned[key] = _coerce(defn, value)
        except ValueError as exc:
            errors.append(FieldError(f"custom_fields.{key}", "invalid", str(exc)))
    for key, defn in definitions.items():
        if defn.required and key not in merged:
            errors.append(
                FieldError(f"custom_fields.{key}", "required", _("This field is required."))
            )
    if errors:
        raise ValidationFailed(errors)
    return cleaned
