"""Signing in and out, passwords, each user's language and time zone, and their personal API
tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from dangol.core import auth
from dangol.core import services as core_services
from dangol.core.errors import ServiceError
from dangol.core.models import ApiToken, TokenScope
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
    return _render_preferences(request, form)


def _render_preferences(
    request: HttpRequest, form: Any, *, new_token: str = "", status: int = 200, **extra: Any
) -> HttpResponse:
    """The preferences page with the user's API tokens (active ones, newest first); a token
    just created is shown once, in this response only (never stored, never in the session)."""
    user: Any = request.user
    context = {
        "form": form,
        "tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        .only("id", "name", "prefix", "scope", "created_at", "expires_at", "last_used_at")
        .order_by("-created_at", "-id")[:100],
        "token_scopes": TokenScope.choices,
        "new_token": new_token,
        **extra,
    }
    return render(request, "web/account/preferences.html", context, status=status)


def _preferences_form(user: Any) -> PreferencesForm:
    return PreferencesForm(initial={"language": user.language, "timezone": user.timezone})


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    """Create a personal API token (the API's ``POST /me/tokens`` service) and show its secret
    once, in this response; a bad name or scope re-renders the form with the error."""
    user: Any = request.user
    name = request.POST.get("name", "")
    scope = request.POST.get("scope", TokenScope.READ)
    try:
        token, raw = core_services.create_api_token(user=user, name=name, scope=scope, actor=user)
    except ServiceError as exc:
        error = str(exc.errors[0].message) if exc.errors else str(exc)
        return _render_preferences(
            request,
            _preferences_form(user),
            status=400,
            token_error=error,
            token_initial={"name": name, "scope": scope},
        )
    return _render_preferences(request, _preferences_form(user), new_token=raw, created=token)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens at once (another user's answers 404)."""
    user: Any = request.user
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise Http404
    core_services.revoke_api_token(token=token, actor=user)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("web:preferences")
