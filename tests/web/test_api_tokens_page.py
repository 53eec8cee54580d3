"""API tokens from the preferences page (the same service as ``POST /api/v1/me/tokens``): made
with a name and a scope, the secret shown once, listed by prefix, revoked; audited like the API;
and the API docs page served from local static files, with no external host."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders

from dangol.core.models import ApiToken, ChangeLog

pytestmark = pytest.mark.django_db


def test_create_shows_the_secret_once_and_it_works_on_the_api(signed_in: Any) -> None:
    client, user = signed_in(role="manager")

    created = client.post("/account/api-tokens/", {"name": "ERP 연동", "scope": "read"})

    assert created.status_code == 200
    page = created.content.decode()
    secret = re.search(r'id="new-token-value" value="(dg_[^"]+)"', page)
    assert secret is not None
    token = ApiToken.objects.get(user=user)
    assert (token.name, token.scope, token.prefix) == ("ERP 연동", "read", secret[1][:10])
    assert ChangeLog.objects.filter(action="api_token.created", object_id=str(token.pk)).exists()
    # the secret works on the API, and is never shown again: the list has only the prefix
    me = client.__class__(HTTP_AUTHORIZATION=f"Bearer {secret[1]}").get("/api/v1/me")
    assert me.status_code == 200 and me.json()["id"] == user.pk
    listing = client.get("/account/preferences/").content.decode()
    assert secret[1] not in listing
    assert f"{token.prefix}…" in listing and "ERP 연동" in listing
    assert 'data-testid="new-token"' not in listing


def test_list_shows_scope_created_and_last_used(signed_in: Any) -> None:
    client, _user = signed_in(role="manager", language="en")
    client.post("/account/api-tokens/", {"name": "shop", "scope": "write"})
    client.post("/account/api-tokens/", {"name": "script", "scope": "read"})
    ApiToken.objects.filter(name="shop").update(last_used_at="2026-11-20T01:00:00Z")

    page = client.get("/account/preferences/").content.decode()

    assert page.count('data-testid="api-token"') == 2
    assert "Read and write" in page and "Never" in page
    assert "Nov. 20, 2026, 10 a.m." in page  # last used, in the user's language and time zone


def test_bad_name_or_scope_keeps_the_form_with_an_error(signed_in: Any) -> None:
    client, _user = signed_in(role="manager")

    blank = client.post("/account/api-tokens/", {"name": "  ", "scope": "read"})
    bad_scope = client.post("/account/api-tokens/", {"name": "x", "scope": "admin"})

    assert blank.status_code == 400 and bad_scope.status_code == 400
    assert "is-invalid" in blank.content.decode()
    assert 'value="x"' in bad_scope.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_only_your_own_token(signed_in: Any, make_user: Any) -> None:
    from dangol.core.services import create_api_token

    other, _raw = create_api_token(user=make_user("rep"), name="theirs")
    client, user = signed_in(role="manager")
    mine, raw = create_api_token(user=user, name="mine")

    assert client.post(f"/account/api-tokens/{other.pk}/revoke/").status_code == 404
    response = client.post(f"/account/api-tokens/{mine.pk}/revoke/")

    assert response.status_code == 302
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.revoked_at is not None and other.revoked_at is None
    assert ChangeLog.objects.filter(action="api_token.revoked", object_id=str(mine.pk)).exists()
    assert client.__class__(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me").status_code == 401
    assert 'data-testid="api-token"' not in client.get("/account/preferences/").content.decode()


def test_api_tokens_card_in_korean(signed_in: Any) -> None:
    client, _user = signed_in(role="rep", language="ko")

    page = client.get("/account/preferences/").content.decode()

    assert "API 토큰" in page and "읽기 및 쓰기" in page


def test_api_docs_page_loads_swagger_ui_from_local_static_files(signed_in: Any) -> None:
    client, _user = signed_in(role="rep")

    page = client.get("/api/v1/docs").content.decode()

    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/ninja/swagger-ui-bundle.js" in references
    assert not [r for r in references if r.startswith(("http:", "https:", "//"))], references
    assert not re.search(r"https?://|cdn\.", page)
    for name in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        assert finders.find(f"ninja/{name}") is not None
