"""Korean first: the interface language is a choice people make, not a browser guess."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class KoreanFirstLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware without the ``Accept-Language`` guess.

    The language comes from the language cookie (set by the language switch) or else
    ``LANGUAGE_CODE`` (Korean). A signed-in user's saved language is applied afterwards by
    ``dangol.core.middleware.UserPreferencesMiddleware`` when there is no cookie.
    """

    def process_request(self, request: HttpRequest) -> None:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or settings.LANGUAGE_CODE
        try:
            language = translation.get_supported_language_variant(chosen)
        except LookupError:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
