"""The API fuzzed against its own OpenAPI document (schemathesis): no 500, responses as documented,
and no action taken without the right role.

Each operation is called with generated input twice: as generated (codes of no session) and aimed
at the sample session, once with a member's token (every action must be refused) and once with the
secretary's (allowed, or refused by the rules with 409; never a 500)."""

from __future__ import annotations

from typing import Any

import pytest

# Imported at collection, not inside the test: importing schemathesis registers its random generator
# with hypothesis, which runs gc.collect() and gc.get_referrers() over the whole heap, some 10 s of CPU
# in a test process that has already run hundreds of tests, against well under a second here.
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from lms_bridge.app import state
from lms_bridge.store.models import ExamSession

from .test_api import bearer, make_token, people_app  # noqa: F401 - the fixture
from .test_roles import CODE

MAX_EXAMPLES = 10


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("who", ["member", "secretary"])
def test_the_api_holds_to_its_document_and_the_policy(people_app: Flask, who: str) -> None:  # noqa: F811

    token = make_token(people_app, who, who)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", people_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12
    checks = _checks()
    seen: dict[str, set[int]] = {}

    def fuzz(operation: Any) -> None:
        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            variants = [case]
            if "code" in (case.path_parameters or {}):
                aimed = operation.Case(path_parameters={**case.path_parameters, "code": CODE},
                                       headers=case.headers, query=case.query, body=case.body)
                variants.append(aimed)
            for variant in variants:
                response = variant.call(headers=bearer(token))
                variant.validate_response(response, checks=checks)
                seen.setdefault(operation.label, set()).add(response.status_code)
                if who == "member" and operation.method.upper() == "POST":
                    # No action without the right role: refused, or not found, never done.
                    assert response.status_code in (403, 404), (operation.label, response.status_code)

        run()

    for operation in operations:
        fuzz(operation)

    # The fuzz reached the real session, not only codes that do not exist.
    assert 200 in seen["GET /sessions/{code}"]
    if who == "member":
        assert 403 in seen["POST /sessions/{code}/seal"]
        with state(people_app).sessionmaker() as db:
            assert db.scalar(select(ExamSession.status)) == "imported"
