"""Signing in and out, passwords, and each user's language and time zone."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from dangol.core import auth
from dangol.web.forms import EmailAuthenticationForm, LanguageForm, PreferencesForm


class LoginView(auth_views.LoginView):
    template_name = "web/account/login.html"
    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True
    extra_context = {
        "max_failed": auth.MAX_FAILED_LOGINS,
        "lockout_minutes": auth.LOCKOUT_MINUTES,
    }


class LogoutView(auth_views.LogoutView):
    next_page = "web:login"  # a URL name: resolve_url() turns it into /login/


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/account/password_change.html"
    success_url = reverse_lazy("web:password_change_done")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        auth.record_password_changed(user=form.user, actor=form.user)
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "web/account/password_change_done.html"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "web/account/password_reset.html"
    email_template_name = "web/account/password_reset_email.txt"
    subject_template_name = "web/account/password_reset_subject.txt"
    success_url = reverse_lazy("web:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/account/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/account/password_reset_confirm.html"
    success_url = reverse_lazy("web:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        auth.record_password_changed(user=form.user, actor=form.user, reset=True)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/account/password_reset_complete.html"


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language (Django's ``set_language``) and remember it on the user."""
    form = LanguageForm(request.POST)
    if form.is_valid() and request.user.is_authenticated:
        auth.update_preferences(
            user=request.user,
            actor=request.user,
            language=form.cleaned_data["language"],
        )
    return set_language(request)


def _set_language_cookie(response: HttpResponse, language: str) -> None:
    """The cookie Django's ``set_language`` sets, so this browser keeps the choice."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """The signed-in user's language and time zone."""
    user: Any = request.user
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            auth.update_preferences(
                user=user,
                actor=user,
                language=form.cleaned_data["language"],
                time_zone=form.cleaned_data["timezone"],
            )
            translation.activate(user.language)
            messages.success(request, _("Your preferences have been saved."))
            response = redirect("web:preferences")
            _set_language_cookie(response, user.language)
            return response
    else:
        form = PreferencesForm(initial={"language": user.language, "timezone": user.timezone})
    return render(request, "web/account/preferences.html", {"form": form})
