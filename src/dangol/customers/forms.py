"""Forms of the customer pages: quick actions on the 360 page, the profile, bulk actions.

Forms only parse and check what the browser sent; the services decide what is allowed and
their ``ValidationFailed`` errors are put back on the form with `add_service_errors`.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.errors import ValidationFailed
from dangol.core.models import CustomFieldDefinition, CustomFieldType, User
from dangol.customers.models import (
    ConsentChannel,
    ConsentPurpose,
    Direction,
    Gender,
    InteractionChannel,
    LifecycleStage,
    Region,
)

TEXT = {"class": "form-control"}
SELECT = {"class": "form-select"}
MAX_SELECTION = 1000  # customers one bulk action may touch


def add_service_errors(form: forms.Form, exc: ValidationFailed) -> None:
    """Show a service's field errors on the form (on the field when the form has it)."""
    for err in exc.errors or []:
        name = err.field.split(".", 1)[-1] if err.field.startswith("custom_fields.") else err.field
        name = f"cf_{name}" if err.field.startswith("custom_fields.") else name
        form.add_error(name if name in form.fields else None, str(err.message))
    if not exc.errors:
        form.add_error(None, str(exc.message))


class LogKind:
    """What the quick-action buttons log, and how it maps onto an interaction."""

    CALL = "call"
    VISIT = "visit"
    CHANNEL = {CALL: InteractionChannel.PHONE, VISIT: InteractionChannel.VISIT}


class InteractionForm(forms.Form):
    """Log a call or a visit."""

    kind = forms.ChoiceField(
        choices=[(LogKind.CALL, _("Call")), (LogKind.VISIT, _("Visit"))], widget=forms.HiddenInput
    )
    direction = forms.ChoiceField(
        label=_("Direction"),
        choices=Direction.choices,
        initial=Direction.OUTBOUND,
        widget=forms.Select(attrs=SELECT),
    )
    subject = forms.CharField(
        label=_("Subject"),
        max_length=200,
        required=True,
        error_messages={"required": _("Write what it was about.")},
        widget=forms.TextInput(attrs=TEXT),
    )
    body = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={**TEXT, "rows": 3}),
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={**TEXT, "type": "datetime-local"}),
    )

    def clean_occurred_at(self) -> datetime.datetime | None:
        value: datetime.datetime | None = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + datetime.timedelta(minutes=5):
            raise forms.ValidationError(_("This is in the future."), code="in_future")
        return value

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "channel": LogKind.CHANNEL[data["kind"]],
            "kind": data["kind"],
            "direction": data["direction"],
            "subject": data["subject"],
            "body": data["body"],
            "occurred_at": data["occurred_at"],
        }


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"),
        max_length=5000,
        error_messages={"required": _("Write something.")},
        widget=forms.Textarea(attrs={**TEXT, "rows": 3}),
    )
    pinned = forms.BooleanField(
        label=_("Pin to the top"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


class ConsentAction:
    GRANT = "grant"
    WITHDRAW = "withdraw"


class ConsentChangeForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"), choices=ConsentChannel.choices, widget=forms.Select(attrs=SELECT)
    )
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        choices=ConsentPurpose.choices,
        initial=ConsentPurpose.MARKETING,
        widget=forms.Select(attrs=SELECT),
    )
    action = forms.ChoiceField(
        label=_("Change"),
        choices=[(ConsentAction.GRANT, _("Agreed")), (ConsentAction.WITHDRAW, _("Withdrawn"))],
        widget=forms.Select(attrs=SELECT),
    )
    night_time = forms.BooleanField(
        label=_("Also agreed to messages between 21:00 and 08:00"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    evidence = forms.CharField(
        label=_("How it was given"),
        max_length=500,
        required=True,
        error_messages={"required": _("Say how the customer told us (for example: phone call).")},
        help_text=_("Kept as evidence in the consent history."),
        widget=forms.TextInput(attrs=TEXT),
    )


class ProfileForm(forms.Form):
    """The editable profile, with one field per custom field defined for customers."""

    full_name = forms.CharField(
        label=_("Name"),
        max_length=160,
        error_messages={"required": _("Enter the customer's name.")},
        widget=forms.TextInput(attrs=TEXT),
    )
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"),
        choices=LifecycleStage.choices,
        widget=forms.Select(attrs=SELECT),
    )
    gender = forms.ChoiceField(
        label=_("Gender"), choices=Gender.choices, required=False, widget=forms.Select(attrs=SELECT)
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={**TEXT, "type": "date"}, format="%Y-%m-%d"),
    )
    region = forms.ChoiceField(
        label=_("Region"),
        choices=[("", "—"), *Region.choices],
        required=False,
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(
        self, *args: Any, definitions: list[CustomFieldDefinition] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = definitions or []
        for d in self.definitions:
            self.fields[f"cf_{d.key}"] = _custom_field(d)

    @classmethod
    def initial_for(cls, customer: Any) -> dict[str, Any]:
        initial = {
            "full_name": customer.full_name,
            "lifecycle_stage": customer.lifecycle_stage,
            "gender": customer.gender,
            "birth_date": customer.birth_date,
            "region": customer.region,
        }
        initial.update({f"cf_{k}": v for k, v in (customer.custom_fields or {}).items()})
        return initial

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes = {k: data[k] or ("" if k != "birth_date" else None) for k in self.base_fields}
        custom: dict[str, Any] = {}
        for d in self.definitions:
            value = data.get(f"cf_{d.key}")
            if d.field_type == CustomFieldType.DATE and value:
                value = value.isoformat()
            custom[d.key] = value if value not in ("", [], None) else None
        if custom:
            changes["custom_fields"] = custom
        return changes


def _custom_field(d: CustomFieldDefinition) -> forms.Field:
    common: dict[str, Any] = {"label": d.label, "required": d.required}
    if d.field_type == CustomFieldType.NUMBER:
        return forms.DecimalField(
            **common,
            min_value=d.min_value,
            max_value=d.max_value,
            widget=forms.NumberInput(attrs=TEXT),
        )
    if d.field_type == CustomFieldType.DATE:
        return forms.DateField(**common, widget=forms.DateInput(attrs={**TEXT, "type": "date"}))
    if d.field_type == CustomFieldType.BOOLEAN:
        return forms.BooleanField(
            label=d.label,
            required=False,
            widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
        )
    if d.field_type == CustomFieldType.CHOICE:
        return forms.ChoiceField(
            **common,
            choices=[("", "—"), *((c, c) for c in d.choices)],
            widget=forms.Select(attrs=SELECT),
        )
    if d.field_type == CustomFieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            **common,
            choices=[(c, c) for c in d.choices],
            widget=forms.CheckboxSelectMultiple,
        )
    return forms.CharField(
        **common, max_length=d.max_length or 500, widget=forms.TextInput(attrs=TEXT)
    )


class BulkAction:
    ASSIGN_OWNER = "assign_owner"
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    EXPORT_CSV = "export_csv"
    EXPORT_XLSX = "export_xlsx"
    CHANGES = (ASSIGN_OWNER, ADD_TAG, REMOVE_TAG)
    EXPORTS = (EXPORT_CSV, EXPORT_XLSX)


class BulkForm(forms.Form):
    """A selection of customers and what to do with it."""

    ids = forms.TypedMultipleChoiceField(
        coerce=int, error_messages={"required": _("Select customers first.")}
    )
    action = forms.ChoiceField(choices=[(a, a) for a in (*BulkAction.CHANGES, *BulkAction.EXPORTS)])
    owner = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True), required=False)
    tag = forms.CharField(max_length=64, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any number is acceptable as an id; unknown and invisible ones simply match nothing.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]

    def clean_ids(self) -> list[int]:
        ids: list[int] = self.cleaned_data["ids"]
        if len(ids) > MAX_SELECTION:
            raise forms.ValidationError(
                _("Select at most %(n)s customers at once.") % {"n": f"{MAX_SELECTION:,}"}
            )
        return ids

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == BulkAction.ASSIGN_OWNER and not data.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        if (
            action in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG)
            and not (data.get("tag") or "").strip()
        ):
            self.add_error("tag", _("Enter a tag."))
        return data


class SavedViewForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the view"),
        max_length=80,
        error_messages={"required": _("Give the view a name.")},
        widget=forms.TextInput(attrs=TEXT),
    )
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    shared = forms.BooleanField(
        label=_("Share with everyone"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
