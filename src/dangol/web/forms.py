"""Forms of the staff app's shell: sign-in and preferences."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from dangol.core import auth


class EmailAuthenticationForm(AuthenticationForm):
    """E-mail + password, with a clear message when the account is locked.

    The failure counting itself happens in ``dangol.core.auth.EmailBackend``, so the admin site's
    login counts too; this form only asks whether the address is locked, before and after.
    """

    username = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email", "class": "form-control"}
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "current-password", "class": "form-control"}
        ),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "The e-mail address or password is not correct. Check both and try again."
        ),
        "locked": _(
            "Too many failed sign-in attempts. Sign-in is locked for %(minutes)s minutes; "
            "try again later or reset your password."
        ),
    }

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email and password:
            if auth.is_locked_out(email):
                raise self._locked_error()
            self.user_cache = authenticate(self.request, username=email, password=password)
            if self.user_cache is None:
                if auth.is_locked_out(email):
                    raise self._locked_error()
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def _locked_error(self) -> forms.ValidationError:
        return forms.ValidationError(
            self.error_messages["locked"],
            code="locked",
            params={"minutes": auth.LOCKOUT_MINUTES},
        )

    def get_invalid_login_error(self) -> forms.ValidationError:
        return forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA time zone with a region (Asia/Seoul, Europe/Berlin ...), sorted."""
    zones = sorted(
        z
        for z in zoneinfo.available_timezones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return [("UTC", "UTC"), *((z, z.replace("_", " ")) for z in zones)]


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("Dates and times are shown in this time zone."),
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = time_zone_choices()  # type: ignore[attr-defined]


class LanguageForm(forms.Form):
    """The one-click language switch (the value Django's ``set_language`` reads)."""

    language = forms.ChoiceField(choices=settings.LANGUAGES)
