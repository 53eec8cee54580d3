"""Test support for the staff app (used by tests/web and tests/browser conftests).

Static files in tests: production uses WhiteNoise's ``CompressedManifestStaticFilesStorage``,
whose ``{% static %}`` needs the manifest that ``collectstatic`` writes, and then points at hashed
names. Tests should not depend on a (possibly stale) collectstatic run, so they switch to the
plain ``StaticFilesStorage``: ``{% static %}`` returns the unhashed name, and pytest-django's
``live_server`` serves it through Django's ``StaticFilesHandler``, i.e. straight from the
finders: our app's ``static/`` and the ``assets_build/`` that ``npm run build`` fills.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from django.conf import settings as django_settings
from django.urls import NoReverseMatch, include, path, reverse

ASSETS_BUILD = Path(__file__).resolve().parent / "assets_build"

AUTH_BACKEND = "dangol.core.auth.EmailBackend"
LOCALE_MIDDLEWARE = "dangol.web.middleware.KoreanFirstLocaleMiddleware"


def assets_built() -> bool:
    return (ASSETS_BUILD / "lib" / "tabler" / "tabler.min.css").exists()


def apply_test_settings(settings: Any) -> None:
    """Apply to pytest-django's ``settings`` fixture: plain static storage (see above), and
    the wiring this app needs if the project's settings/urls do not have it yet."""
    settings.STORAGES = {
        **django_settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    if ASSETS_BUILD.exists() and ASSETS_BUILD not in map(Path, settings.STATICFILES_DIRS):
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, ASSETS_BUILD]
    settings.WHITENOISE_AUTOREFRESH = True
    settings.WHITENOISE_USE_FINDERS = True

    # Until the project wires the staff app in (see the web app's hand-over notes), do it here.
    if AUTH_BACKEND not in settings.AUTHENTICATION_BACKENDS:
        settings.AUTHENTICATION_BACKENDS = [AUTH_BACKEND]
    if LOCALE_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [
            LOCALE_MIDDLEWARE if m == "django.middleware.locale.LocaleMiddleware" else m
            for m in settings.MIDDLEWARE
        ]
    try:
        reverse("web:home")
    except NoReverseMatch:
        from dangol import urls as project_urls

        urlconf = ModuleType("dangol_web_test_urls")
        wiring = {
            "urlpatterns": [*project_urls.urlpatterns, path("", include("dangol.web.urls"))],
            "handler400": "dangol.web.views.bad_request",
            "handler403": "dangol.web.views.permission_denied",
            "handler404": "dangol.web.views.page_not_found",
            "handler500": "dangol.web.views.server_error",
        }
        for name, value in wiring.items():
            setattr(urlconf, name, value)
        settings.ROOT_URLCONF = urlconf
