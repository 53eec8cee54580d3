"""The committed OpenAPI schema matches the code, and the API never answers 5xx to any input."""

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from dangol.core.management.commands.openapi import schema_json

COMMITTED = Path(__file__).resolve().parents[4] / "docs" / "openapi.json"


def test_committed_schema_is_current():
    assert COMMITTED.read_text(encoding="utf-8") == schema_json(), (
        "docs/openapi.json is stale: run `make openapi` and commit it"
    )


def test_schema_is_openapi_3_1():
    import json

    assert json.loads(schema_json())["openapi"].startswith("3.1")


@pytest.fixture
def wsgi_schema(db):
    """The schema loaded through the WSGI app itself, as Django's test client does it:
    requests must not close the test's database connection (it holds the test transaction)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from dangol.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_no_server_error_on_generated_input(admin, wsgi_schema):
    """Schemathesis generates requests from our own OpenAPI for every operation: none may 5xx."""
    from hypothesis import given
    from schemathesis.checks import not_a_server_error

    from dangol.core.models import ApiToken
    from dangol.core.services import create_api_token

    token, raw = create_api_token(user=admin, name="fuzz", scope="write")
    headers = {"Authorization": f"Bearer {raw}"}
    operations = [result.ok() for result in wsgi_schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)  # it may revoke itself
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        check()
