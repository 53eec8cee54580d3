"""Forms of the customer pages: quick actions on the 360 page, the profile, bulk actions.

Forms only parse and check what the browser sent; the services decide what is allowed and
their ``ValidationFailed`` errors are put back on the form with `add_service_errors`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.errors import ServiceError
from dangol.core.models import CustomFieldDefinition, CustomFieldType, User
from dangol.core.visibility import Action
from dangol.customers import selectors, services
from dangol.customers.models import (
    ConsentChannel,
    ConsentPurpose,
    ContactKind,
    Customer,
    Direction,
    Gender,
    InteractionChannel,
    LifecycleStage,
    Organization,
    OrganizationSize,
    RecordStatus,
    Region,
    SignupChannel,
)

TEXT = {"class": "form-control"}
SELECT = {"class": "form-select"}
MAX_SELECTION = 1000  # customers one bulk action may touch


def add_service_errors(
    form: forms.Form, exc: ServiceError, aliases: Mapping[str, str] | None = None
) -> None:
    """Show a service's field errors on the form (on the field when the form has it);
    `aliases` names the form field of a service field (``contacts[0].value`` → ``mobile``)."""
    for err in exc.errors or []:
        name = err.field.split(".", 1)[-1] if err.field.startswith("custom_fields.") else err.field
        name = f"cf_{name}" if err.field.startswith("custom_fields.") else name
        name = (aliases or {}).get(err.field, name)
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
        custom = _custom_values(self.definitions, data)
        if custom:
            changes["custom_fields"] = custom
        return changes


def _custom_values(
    definitions: list[CustomFieldDefinition], data: dict[str, Any]
) -> dict[str, Any]:
    """The custom-field values of a form's ``cf_<key>`` fields, as the services take them
    (None for an empty field: it removes the key)."""
    custom: dict[str, Any] = {}
    for d in definitions:
        value = data.get(f"cf_{d.key}")
        if d.field_type == CustomFieldType.DATE and value:
            value = value.isoformat()
        custom[d.key] = value if value not in ("", [], None) else None
    return custom


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


# --- new customers and organizations --------------------------------------------------------


class OwnerChoiceField(forms.ModelChoiceField):
    """Staff to choose as owner, shown with their team (the queryset selects it)."""

    def label_from_instance(self, obj: Any) -> str:
        name = obj.display_name or obj.email
        return f"{name} · {obj.team}" if obj.team_id else str(name)


def _owner_field(
    form: forms.Form, *, user: Any, model: type[Any], action: Action, current: User | None
) -> None:
    """Limit the owner choices to whom `user` may give the record (see
    ``selectors.assignable_owners``); "nobody" only with the scope "all records" (or when the
    record has no owner now), else an empty choice means `user`. A new record belongs to
    `user` unless they choose otherwise."""
    field = form.fields["owner"]
    assert isinstance(field, forms.ModelChoiceField)
    field.queryset = selectors.assignable_owners(
        user, model, action, keep=current.pk if current else None
    )
    anyone = selectors.may_leave_unowned(user, model, action)
    form.default_owner = None  # type: ignore[attr-defined]
    if not (anyone or (action == Action.CHANGE and current is None)):
        field.empty_label = None
        form.default_owner = user  # type: ignore[attr-defined]
    if action == Action.ADD and not form.is_bound and "owner" not in form.initial:
        form.initial["owner"] = user.pk


def _clean_owner(form: forms.Form) -> User | None:
    owner: User | None = form.cleaned_data.get("owner")
    return owner or getattr(form, "default_owner", None)


def _custom_fields(form: forms.Form, definitions: list[CustomFieldDefinition]) -> None:
    for d in definitions:
        form.fields[f"cf_{d.key}"] = _custom_field(d)


def _phone_field(label: Any, placeholder: str) -> forms.CharField:
    """An optional phone number box (checked and normalized by the services)."""
    return forms.CharField(
        label=label,
        max_length=40,
        required=False,
        widget=forms.TextInput(
            attrs={
                **TEXT,
                "type": "tel",
                "inputmode": "tel",
                "autocomplete": "off",
                "placeholder": placeholder,
            }
        ),
    )


class CustomerCreateForm(forms.Form):
    """A customer entered by hand (over the phone, at the counter), with marketing consents.

    ``confirm`` carries the ids of the possible duplicates the user was shown and chose to
    create the customer anyway."""

    family_name = forms.CharField(
        label=_("Family name"),
        max_length=50,
        required=False,
        widget=forms.TextInput(attrs={**TEXT, "autocomplete": "off"}),
    )
    given_name = forms.CharField(
        label=_("Given name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={**TEXT, "autocomplete": "off"}),
    )
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=160,
        required=False,
        help_text=_("Or the whole name in one box; it is split into family and given name."),
        widget=forms.TextInput(attrs={**TEXT, "autocomplete": "off"}),
    )
    mobile = _phone_field(_("Mobile"), "010-1234-5678")
    email = forms.CharField(
        label=_("E-mail"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(
            attrs={**TEXT, "autocomplete": "off", "placeholder": "name@example.com"}
        ),
    )
    phone = _phone_field(_("Landline"), "02-123-4567")
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={**TEXT, "type": "date"}, format="%Y-%m-%d"),
    )
    birth_date_is_lunar = forms.BooleanField(
        label=_("Lunar calendar"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input m-0"}),
    )
    gender = forms.ChoiceField(
        label=_("Gender"), choices=Gender.choices, required=False, widget=forms.Select(attrs=SELECT)
    )
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"),
        choices=LifecycleStage.choices,
        initial=LifecycleStage.LEAD,
        widget=forms.Select(attrs=SELECT),
    )
    region = forms.ChoiceField(
        label=_("Region"),
        choices=[("", "—"), *Region.choices],
        required=False,
        widget=forms.Select(attrs=SELECT),
    )
    signup_channel = forms.ChoiceField(
        label=_("Signup channel"),
        choices=[("", "—"), *SignupChannel.choices],
        required=False,
        widget=forms.Select(attrs=SELECT),
    )
    owner = OwnerChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Nobody"),
        widget=forms.Select(attrs=SELECT),
    )
    consent_channels = forms.MultipleChoiceField(
        label=_("Agreed to marketing messages by"),
        choices=ConsentChannel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    consent_night_time = forms.BooleanField(
        label=_("Also agreed to messages between 21:00 and 08:00"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    consent_evidence = forms.CharField(
        label=_("How it was given"),
        max_length=500,
        required=False,
        help_text=_("Kept as evidence in the consent history."),
        widget=forms.TextInput(
            attrs={**TEXT, "placeholder": _("e.g. agreed on the phone when signing up")}
        ),
    )
    confirm = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        user: Any,
        definitions: list[CustomFieldDefinition] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = definitions or []
        _owner_field(self, user=user, model=Customer, action=Action.ADD, current=None)
        _custom_fields(self, self.definitions)

    @property
    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[f"cf_{d.key}"] for d in self.definitions]

    def clean_owner(self) -> User | None:
        return _clean_owner(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any((data.get(k) or "").strip() for k in ("family_name", "given_name", "full_name")):
            self.add_error("full_name", _("Enter the customer's name."))
        if data.get("consent_channels") and not (data.get("consent_evidence") or "").strip():
            self.add_error(
                "consent_evidence", _("Say how the customer told us (for example: phone call).")
            )
        return data

    def confirmed_ids(self) -> set[int]:
        """The possible duplicates the user saw and created the customer anyway."""
        raw = self.cleaned_data.get("confirm") or ""
        return {int(part) for part in raw.split(",") if part.strip().isdigit()}

    def full_name_entered(self) -> str:
        """The name as it will be stored (compared with existing customers)."""
        d = self.cleaned_data
        return services.resolve_names(d["family_name"], d["given_name"], d["full_name"])[2]

    def customer_input(self) -> tuple[services.CustomerInput, dict[str, str]]:
        """What `services.create_customer` takes, and which form field each contact came from
        (for its errors)."""
        d = self.cleaned_data
        contacts: list[services.ContactInput] = []
        aliases: dict[str, str] = {}
        for name, kind in (
            ("mobile", ContactKind.MOBILE),
            ("email", ContactKind.EMAIL),
            ("phone", ContactKind.PHONE),
        ):
            if d[name].strip():
                aliases[f"contacts[{len(contacts)}].value"] = name
                contacts.append(services.ContactInput(kind, d[name], is_primary=True))
        data = services.CustomerInput(
            family_name=d["family_name"],
            given_name=d["given_name"],
            full_name=d["full_name"],
            birth_date=d["birth_date"],
            birth_date_is_lunar=d["birth_date_is_lunar"] and d["birth_date"] is not None,
            gender=d["gender"],
            lifecycle_stage=d["lifecycle_stage"],
            region=d["region"],
            owner=d["owner"],
            source=WEB_SOURCE,
            signup_channel=d["signup_channel"],
            custom_fields={
                k: v for k, v in _custom_values(self.definitions, d).items() if v is not None
            },
            contacts=contacts,
        )
        return data, aliases


WEB_SOURCE = "web"  # the source of records and consents entered in the staff app


class OrganizationForm(forms.Form):
    """A new organization, or an existing one edited. The parent is picked by searching
    (``web:organization_parent_options``); the services refuse a parent that makes a cycle."""

    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        error_messages={"required": _("Enter the organization's name.")},
        widget=forms.TextInput(attrs={**TEXT, "autocomplete": "off"}),
    )
    business_number = forms.CharField(
        label=_("Business registration number"),
        max_length=20,
        required=False,
        help_text=_("Ten digits, with or without dashes: 123-45-67891."),
        widget=forms.TextInput(
            attrs={
                **TEXT,
                "inputmode": "numeric",
                "autocomplete": "off",
                "placeholder": "123-45-67891",
            }
        ),
    )
    industry = forms.CharField(
        label=_("Industry"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs=TEXT),
    )
    size = forms.ChoiceField(
        label=_("Size"),
        choices=[("", "—"), *((v, label) for v, label in OrganizationSize.choices if v)],
        required=False,
        widget=forms.Select(attrs=SELECT),
    )
    website = forms.URLField(
        label=_("Website"),
        max_length=200,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={**TEXT, "placeholder": "https://"}),
    )
    region = forms.ChoiceField(
        label=_("Region"),
        choices=[("", "—"), *Region.choices],
        required=False,
        widget=forms.Select(attrs=SELECT),
    )
    parent = forms.ModelChoiceField(
        label=_("Parent organization"),
        queryset=Organization.objects.none(),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("Choose an organization from the search results.")},
    )
    owner = OwnerChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Nobody"),
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(
        self,
        *args: Any,
        user: Any,
        organization: Organization | None = None,
        definitions: list[CustomFieldDefinition] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.definitions = definitions or []
        parent = self.fields["parent"]
        assert isinstance(parent, forms.ModelChoiceField)
        current_parent = organization.parent_id if organization else None
        parent.queryset = Organization.objects.visible_to(user).filter(
            Q(status=RecordStatus.ACTIVE) | Q(pk=current_parent or 0)
        )
        _owner_field(
            self,
            user=user,
            model=Organization,
            action=Action.CHANGE if organization else Action.ADD,
            current=organization.owner if organization else None,
        )
        _custom_fields(self, self.definitions)

    @property
    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[f"cf_{d.key}"] for d in self.definitions]

    @classmethod
    def initial_for(cls, org: Organization) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(org, name)
            for name in ("name", "business_number", "industry", "size", "website", "region")
        }
        initial["parent"] = org.parent_id
        initial["owner"] = org.owner_id
        initial.update({f"cf_{k}": v for k, v in (org.custom_fields or {}).items()})
        return initial

    def clean_owner(self) -> User | None:
        return _clean_owner(self)

    def clean_parent(self) -> Organization | None:
        parent: Organization | None = self.cleaned_data.get("parent")
        self.parent_sent = parent  # still shown when the service refuses it (a cycle)
        return parent

    def chosen_parent(self) -> Organization | None:
        """The parent to show in the picker: the one sent (when valid), else the current one."""
        if self.is_bound:
            return getattr(self, "parent_sent", None)
        return self.organization.parent if self.organization else None

    def values(self) -> dict[str, Any]:
        """The fields as `create_organization` and `update_organization` take them."""
        d = self.cleaned_data
        values = {
            name: d[name] or ""
            for name in ("name", "business_number", "industry", "size", "website", "region")
        }
        values["parent"] = d["parent"]
        values["owner"] = d["owner"]
        custom = _custom_values(self.definitions, d)
        if custom:
            values["custom_fields"] = custom
        return values
