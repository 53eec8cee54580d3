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
from typing import Any

from django.conf import settings as django_settings

ASSETS_BUILD = Path(__file__).resolve().parent / "assets_build"


def assets_built() -> bool:
    return (ASSETS_BUILD / "lib" / "tabler" / "tabler.min.css").exists()


def apply_test_settings(settings: Any) -> None:
    """Apply to pytest-django's ``settings`` fixture: plain static storage (see above)."""
    settings.STORAGES = {
        **django_settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    if ASSETS_BUILD.exists() and ASSETS_BUILD not in map(Path, settings.STATICFILES_DIRS):
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, ASSETS_BUILD]
    settings.WHITENOISE_AUTOREFRESH = True
    settings.WHITENOISE_USE_FINDERS = True
