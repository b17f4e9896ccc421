"""The OpenAPI document is valid, and generated requests never get a 5xx (Schemathesis)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)


def test_openapi_document_is_valid(client: FlaskClient) -> None:
    """/api/openapi.json is a valid OpenAPI 3.1 document covering every public operation."""
    doc = client.get("/api/openapi.json").get_json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/",
        "/api/openapi.json",
        "/api/items",
        "/api/townships",
        "/api/slots",
        "/api/bookings",
        "/api/bookings/{reference}",
        "/api/bookings/{reference}/lookup",
        "/api/bookings/{reference}/cancel",
        "/api/bookings/{reference}/move",
    }
    request = doc["components"]["schemas"]["BookingRequest"]
    assert request["additionalProperties"] is False
    assert set(request["required"]) == {
        "item",
        "applicant",
        "address",
        "reason",
        "date",
        "half_day",
    }


NO_INPUT = {"GET /api/", "GET /api/items", "GET /api/townships"}


@pytest.mark.slow
def test_api_never_fails_with_5xx(app: Flask) -> None:
    """Schemathesis: generated requests get documented statuses and JSON bodies, never a 5xx."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    # Schemathesis leaves out the document it was loaded from (GET /api/openapi.json).
    assert len(operations) == 9, sorted(o.label for o in operations)
    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and operation.label in NO_INPUT:
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def run(case: Any) -> None:
            case.call_and_validate(checks=checks)

        run()
