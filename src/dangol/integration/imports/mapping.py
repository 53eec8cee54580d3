"""Column mapping: which column of the file feeds which field of the target, with transforms.

A mapping is ``{"column header": "field"}``. Without one, columns are matched to fields by
their names and common Korean headers (이름, 휴대폰, 이메일, 생년월일 ...). Transforms run on the
text before it is parsed: ``strip``, ``upper``, ``lower``, ``digits``, ``{"op": "map",
"values": {...}}``, ``{"op": "default", "value": "..."}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from dangol.core.errors import FieldError, ValidationFailed

Reason = dict[str, str]


@dataclass(frozen=True)
class FieldSpec:
    """A field a target accepts: its kind (how the text is parsed) and the headers it answers to."""

    name: str
    # text, name, phone, email, date, birthdate (a date or YYMMDD), datetime, amount, int, bool,
    # choice
    kind: str = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_length: int = 0
    choices: frozenset[str] = frozenset()
    choice_aliases: dict[str, str] = field(default_factory=dict)
    # a choice's stored values as people read them (``dict(Gender.choices)``: lazy labels, so
    # they follow the user's language); a value without a label is shown as it is
    labels: Mapping[str, Any] = field(default_factory=dict)
    # an alias this field shares with another goes to this one when a column maps to one of
    # these fields (이름 beside 성 is the given name: ``auto_mapping``)
    preferred_beside: tuple[str, ...] = ()

    def label(self, value: str) -> str:
        """A stored value of this choice field in the active language: "M" → "남성" / "Male"."""
        return str(self.labels.get(value, value))

    def accepted(self) -> dict[str, str]:
        """What a file may write for a stored value, lower-cased → the value: the
        ``choice_aliases`` and the ``labels`` in every language of ``settings.LANGUAGES``
        ("male" and "남성" → "M", "north chungcheong" and "충북" → "chungbuk"), so that a file
        Dangol exported in either language reads back. An alias wins over a label that reads
        the same; a label of a value outside ``choices`` (when given) is left out."""
        table: dict[str, str] = {}
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                for value, label in self.labels.items():
                    if value and (not self.choices or value in self.choices):
                        table.setdefault(str(label).strip().lower(), value)
        table.update(self.choice_aliases)
        return table


def _key(text: str) -> str:
    return re.sub(r"[\s_\-./()]+", "", text).lower()


def auto_mapping(header: Sequence[str], specs: Sequence[FieldSpec]) -> dict[str, str]:
    """Guess ``{column: field}`` from the headers: field names, then known aliases, each field
    for one column. An alias two fields share (이름: the full name in most files, the given name
    beside 성, as in Dangol's own export with 성명, 성 and 이름) is placed after the columns that
    name one field only: to a field whose ``preferred_beside`` fields are mapped, else to the
    first of its fields still free. So the header's order does not decide it."""
    by_key: dict[str, list[FieldSpec]] = {}
    for spec in specs:
        for alias in (spec.name, *spec.aliases):
            fields = by_key.setdefault(_key(alias), [])
            if spec not in fields:
                fields.append(spec)
    out: dict[str, str] = {}
    used: set[str] = set()
    for shared in (False, True):
        for column in header:
            fields = by_key.get(_key(column), [])
            if column in out or (len(fields) > 1) != shared:
                continue
            free = [f for f in fields if f.name not in used]
            beside = [f for f in free if used.intersection(f.preferred_beside)]
            if chosen := beside or free:
                out[column] = chosen[0].name
                used.add(chosen[0].name)
    return {column: out[column] for column in header if column in out}


def _transform(op: Any) -> Callable[[str], str]:
    if op == "strip":
        return str.strip
    if op == "upper":
        return str.upper
    if op == "lower":
        return str.lower
    if op == "digits":
        return lambda v: re.sub(r"\D", "", v)
    if isinstance(op, dict) and op.get("op") == "map":
        values = {str(k): str(v) for k, v in (op.get("values") or {}).items()}
        return lambda v: values.get(v.strip(), v)
    if isinstance(op, dict) and op.get("op") == "default":
        default = str(op.get("value", ""))
        return lambda v: v if v.strip() else default
    raise ValidationFailed.single("transforms", "invalid", _("Unknown transform: %s") % op)


@dataclass
class CompiledMapping:
    """A mapping checked against a target, ready to turn raw values into field texts."""

    columns: list[tuple[str, str]]  # (column, field)
    transforms: dict[str, list[Callable[[str], str]]]
    fields: set[str]

    def apply(self, values: dict[str, str]) -> dict[str, str]:
        out = {f: values.get(c, "") for c, f in self.columns}
        for name, funcs in self.transforms.items():
            v = out.get(name, "")
            for fn in funcs:
                v = fn(v)
            out[name] = v
        return out

    def apply_columns(self, column: Callable[[str], list[str]], n: int) -> dict[str, list[str]]:
        """``apply`` for a chunk of ``n`` rows, column by column: ``column(header)`` gives the
        texts of one column of the file; returns ``{field: texts}``."""
        out = {f: column(c) for c, f in self.columns}
        for name, funcs in self.transforms.items():
            texts = out.get(name) or [""] * n
            for fn in funcs:
                texts = [fn(v) for v in texts]
            out[name] = texts
        return out

    def apply_many(self, rows: list[dict[str, str]]) -> list[dict[str, str]]:
        """``apply`` for a chunk of rows."""
        if self.transforms:
            return [self.apply(values) for values in rows]
        columns = self.columns
        return [{f: values.get(c, "") for c, f in columns} for values in rows]


def compile_mapping(
    mapping: dict[str, str], transforms: dict[str, Any], specs: Sequence[FieldSpec]
) -> CompiledMapping:
    """Check that every mapped field exists and every required field is mapped."""
    names = {s.name for s in specs}
    errors = [
        FieldError(f"mapping.{column}", "unknown_field", _("No such field: %s") % target)
        for column, target in mapping.items()
        if target and target not in names
    ]
    mapped = {t for t in mapping.values() if t}
    errors += [
        FieldError(f"transforms.{name}", "unknown_field", _("No such field: %s") % name)
        for name in transforms
        if name not in names
    ]
    funcs: dict[str, list[Callable[[str], str]]] = {}
    for name, ops in transforms.items():
        funcs[name] = [_transform(op) for op in (ops if isinstance(ops, list) else [ops])]
    has_default = {
        n
        for n, ops in transforms.items()
        for op in (ops if isinstance(ops, list) else [ops])
        if isinstance(op, dict) and op.get("op") == "default"
    }
    for spec in specs:
        if spec.required and spec.name not in mapped and spec.name not in has_default:
            errors.append(
                FieldError(
                    f"mapping.{spec.name}",
                    "required",
                    _("Map a column to the required field “%s”.") % spec.name,
                )
            )
    if errors:
        raise ValidationFailed(errors, message=_("The column mapping does not fit this target."))
    columns = [(c, t) for c, t in mapping.items() if t]
    return CompiledMapping(columns=columns, transforms=funcs, fields=mapped | set(funcs))
